"""SimpleRNN, LSTM and GRU: outputs and weights against tf.keras 2.21 (every option gpunet takes), masks from
Embedding(mask_zero=True), training side by side with tf.keras, gradients through time by central differences in
float64, dropout, files both ways with tf.keras (.h5) and Keras 3 (.keras), refusals."""
import numpy as np
import pytest

import gpunet
from gpunet import backend as B
from gpunet import layers
from gpunet.models import Sequential

from graph_gradients import assert_classifier_trains_as_tf_keras, check_model_gradients
from keras_support import assert_files_travel

RNG = np.random.default_rng(31)
X = RNG.standard_normal((6, 5, 3)).astype("float32")

CASES = [("SimpleRNN", {}), ("SimpleRNN", {"activation": "relu", "use_bias": False, "return_sequences": True}),
         ("LSTM", {}), ("LSTM", {"return_sequences": True, "go_backwards": True}),
         ("LSTM", {"unit_forget_bias": False, "recurrent_activation": "hard_sigmoid"}),
         ("GRU", {}), ("GRU", {"reset_after": False, "return_sequences": True}), ("GRU", {"go_backwards": True})]
IDS = [f"{c}-{'-'.join(k)}" for c, k in CASES]


@pytest.mark.parametrize("cls, kwargs", CASES, ids=IDS)
def test_outputs_weights_and_configs_equal_tf_keras(tfk, ops, cls, kwargs):
    ref = getattr(tfk.layers, cls)(4, **kwargs)
    ref.build((None, 5, 3))
    with B.use_backend(ops):
        layer = getattr(layers, cls)(4, **kwargs)
        layer.build((None, 5, 3))
        assert [w.shape for w in layer.get_weights()] == [tuple(w.shape) for w in ref.get_weights()]
        assert [w.name for w in layer.weights] == [w.name.split("/")[-1].split(":")[0] for w in ref.weights]
        layer.set_weights(ref.get_weights())
        got = ops.to_host(layer(ops.asarray(X)))
    np.testing.assert_allclose(got, ref(X).numpy(), rtol=1e-5, atol=1e-6)
    config, ref_config = layer.get_config(), ref.get_config()
    for key, value in config.items():
        if key.endswith("_initializer"):
            assert value["class_name"] == ref_config[key]["class_name"], key
        elif key != "name":
            assert value == ref_config[key], key
    assert set(ref_config) - set(config) <= {"time_major", "implementation", "zero_output_for_mask"}


def test_the_initial_weights_are_keras_s(tfk):
    lstm = layers.LSTM(3)
    lstm.build((None, 4, 2))
    kernel, recurrent, bias = lstm.get_weights()
    np.testing.assert_array_equal(bias, [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])  # (unit_forget_bias)
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(3), atol=1e-5)  # (orthogonal rows)
    gru = layers.GRU(3)
    gru.build((None, 4, 2))
    assert gru.get_weights()[2].shape == (2, 9) and lstm.units == 3 and gru.reset_after


def _text_model(lib, cls):
    return lib.Sequential([lib.layers.Embedding(12, 4, mask_zero=True, input_length=7),
                           getattr(lib.layers, cls)(5), lib.layers.Dense(1, activation="sigmoid")])


@pytest.mark.parametrize("cls", ["SimpleRNN", "LSTM", "GRU"])
def test_masked_steps_and_training_as_in_tf_keras(tfk, cls):
    """(Post-padded sequences; the zero-output variant after, on pre-padded ones.)"""
    tokens = RNG.integers(1, 12, (32, 7))
    for row, length in enumerate(RNG.integers(2, 8, 32)):
        tokens[row, length:] = 0  # (padded at the end, as pad_sequences(padding="post") leaves them)
    y = (tokens[:, 0] > 6).astype("float32")[:, None]
    model, ref = assert_classifier_trains_as_tf_keras(tfk, lambda lib: _text_model(lib, cls), tokens, y, epochs=2,
                                                      learning_rate=0.02, input_shape=(None, 7))
    np.testing.assert_allclose(model.predict(tokens, verbose=0), ref(tokens).numpy(), rtol=1e-5, atol=1e-6)
    if cls == "GRU":  # zero_output_for_mask: masked steps give zeros (Keras's Bidirectional sets it)
        flipped = tokens[:, ::-1].copy()
        mine = Sequential([layers.Embedding(12, 4, mask_zero=True), layers.GRU(3, return_sequences=True,
                                                                             zero_output_for_mask=True)])
        theirs = tfk.Sequential([tfk.layers.Embedding(12, 4, mask_zero=True),
                                 tfk.layers.GRU(3, return_sequences=True, zero_output_for_mask=True)])
        theirs.build((None, 7))
        mine.build((None, 7))
        mine.set_weights(theirs.get_weights())
        got = mine.predict(flipped, verbose=0)
        np.testing.assert_allclose(got, theirs.predict(flipped, verbose=0), rtol=1e-5, atol=1e-6)
        assert (got[flipped == 0] == 0).all() and mine.layers[1].get_config()["zero_output_for_mask"]


@pytest.mark.parametrize("make", [lambda: layers.SimpleRNN(3, return_sequences=True), lambda: layers.LSTM(3),
                                  lambda: layers.GRU(3, go_backwards=True),
                                  lambda: layers.GRU(3, reset_after=False, return_sequences=True)],
                         ids=["simple", "lstm", "gru-backwards", "gru-reset-before"])
def test_gradients_through_time_by_central_differences(ops, f64, make):
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(4)
        model = Sequential([layers.Dense(3, input_shape=(4, 2), activation="tanh"), make(), layers.Flatten(),
                            layers.Dense(2)])
        model.compile("sgd", "mse")
        bias = model.layers[1].cell.bias
        bias.assign(np.random.default_rng(7).normal(0, 0.5, bias.shape))
        x = np.random.default_rng(0).standard_normal((3, 4, 2))
        check_model_gradients(model, ops, ops.asarray(x), np.random.default_rng(1).standard_normal((3, 2 if isinstance(
            model.layers[1], layers.LSTM) else model.output_shape[-1])))


def test_dropout_trains_and_leaves_inference_alone():
    model = Sequential([layers.LSTM(4, input_shape=(5, 3), dropout=0.3, recurrent_dropout=0.2), layers.Dense(1)])
    model.compile("adam", "mse")
    first = model.predict(X, verbose=0)
    np.testing.assert_array_equal(model.predict(X, verbose=0), first)
    trained = model(X, training=True).numpy()
    assert not np.allclose(trained, first)
    assert model.fit(X, X[:, 0, :1], epochs=2, verbose=0).history["loss"][0] > 0


def test_files_both_ways_with_tf_keras_and_keras_3(tfk, tmp_path):
    model = Sequential([layers.GRU(4, input_shape=(5, 3), return_sequences=True), layers.LSTM(3),
                        layers.Dense(2)])
    model.compile(loss="mse", optimizer="adam")
    model.fit(X, X[:, 0, :2], epochs=2, verbose=0)
    assert_files_travel(model, X, tmp_path, tfk)
    again = gpunet.models.model_from_json(model.to_json())
    assert [type(l).__name__ for l in again.layers] == ["GRU", "LSTM", "Dense"] and again.layers[0].return_sequences


@pytest.mark.parametrize("make, error, message", [
    (lambda: layers.GRU(3, time_major=True), NotImplementedError, r"GRU\(time_major=True\) is not implemented"),
    (lambda: layers.SimpleRNN(0), ValueError, "expected a positive integer, got 0"),
    (lambda: layers.GRU(3, dropout=1.5), ValueError, r"`dropout` must be in \[0, 1\], received 1.5"),
])
def test_refusals_name_what_was_expected(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_an_input_without_steps_is_refused_by_name():
    with pytest.raises(ValueError, match=r"expected ndim=3, found ndim=2. Full shape received: \(None, 3\)"):
        layers.LSTM(3).build((None, 3))
