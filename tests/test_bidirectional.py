"""Bidirectional (Keras's wrapper) over SimpleRNN, LSTM and GRU: outputs for every merge mode on masked text
against tf.keras 2.21, training side by side, gradients by central differences, files both ways with tf.keras
(.h5) and Keras 3 (.keras), a backward layer of one's own, refusals."""
import numpy as np
import pytest

import gpunet
from gpunet import backend as B
from gpunet import layers
from gpunet.models import Sequential

from graph_gradients import assert_classifier_trains_as_tf_keras, check_model_gradients
from keras_support import assert_files_travel

RNG = np.random.default_rng(41)
TOKENS = RNG.integers(1, 12, (16, 7))
TOKENS[::2, 5:] = 0  # (half the rows padded: the mask reaches both directions)


def _text_model(lib, mode, inner="LSTM", second=True):
    stack = [lib.layers.Embedding(12, 4, mask_zero=True, input_length=7),
             lib.layers.Bidirectional(getattr(lib.layers, inner)(3, return_sequences=True), merge_mode=mode)]
    stack += [lib.layers.Bidirectional(lib.layers.GRU(2))] if second else [lib.layers.GlobalAveragePooling1D()]
    return lib.Sequential(stack + [lib.layers.Dense(1, activation="sigmoid")])


@pytest.mark.parametrize("mode, inner", [("concat", "LSTM"), ("sum", "GRU")])
def test_outputs_and_weights_equal_tf_keras(tfk, mode, inner):
    model, ref = _text_model(gpunet, mode, inner), _text_model(tfk, mode, inner)
    ref.build((None, 7))
    model.build((None, 7))
    assert [w.shape for w in model.get_weights()] == [w.shape for w in ref.get_weights()]
    model.set_weights(ref.get_weights())
    np.testing.assert_allclose(model.predict(TOKENS, verbose=0), ref(TOKENS).numpy(), rtol=1e-5, atol=1e-6)
    assert model.layers[1].output_shape == ref.layers[1].output_shape


@pytest.mark.parametrize("mode, merge", [("mul", lambda f, b: f * b), ("ave", lambda f, b: (f + b) / 2)])
def test_the_other_merge_modes_merge_the_two_directions(mode, merge):
    """(As the two modes tf.keras checks above: the forward output with the backward one turned back in time.)"""
    wrapper = layers.Bidirectional(layers.SimpleRNN(3, return_sequences=True), merge_mode=mode)
    x = np.random.default_rng(4).standard_normal((2, 5, 4)).astype("float32")
    got = wrapper(x).numpy()
    forward = wrapper.forward_layer(x).numpy()
    backward = wrapper.backward_layer(x).numpy()[:, ::-1]
    np.testing.assert_allclose(got, merge(forward, backward), rtol=1e-6)


def test_trains_as_in_tf_keras(tfk):
    y = (TOKENS[:, 0] > 6).astype("float32")[:, None]
    assert_classifier_trains_as_tf_keras(tfk, lambda lib: _text_model(lib, "concat", second=False), TOKENS, y,
                                         epochs=1, learning_rate=0.02, input_shape=(None, 7))


def test_gradients_by_central_differences(ops, f64):
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(2)
        model = Sequential([layers.Dense(2, input_shape=(4, 3), activation="tanh"),
                            layers.Bidirectional(layers.GRU(2, return_sequences=True), merge_mode="sum"),
                            layers.Flatten(), layers.Dense(2)])
        model.compile("sgd", "mse")
        x = np.random.default_rng(0).standard_normal((3, 4, 3))
        check_model_gradients(model, ops, ops.asarray(x), np.random.default_rng(1).standard_normal((3, 2)))


def test_files_both_ways_with_tf_keras_and_keras_3(tfk, tmp_path):
    model = _text_model(gpunet, "concat")
    model.compile(loss="binary_crossentropy", optimizer="adam")
    model.fit(TOKENS, (TOKENS[:, 0] > 6).astype("float32"), epochs=1, verbose=0)
    assert_files_travel(model, TOKENS, tmp_path, tfk)
    wrapper = model.layers[1]
    assert (wrapper.forward_layer.name, wrapper.backward_layer.name) == ("forward_lstm", "backward_lstm")
    assert wrapper.get_config()["layer"]["config"]["name"] == "lstm"


def test_a_backward_layer_of_ones_own(tfk):
    forward, backward = layers.LSTM(3), layers.GRU(3, go_backwards=True)
    wrapper = layers.Bidirectional(forward, backward_layer=backward)
    out = wrapper(np.random.default_rng(3).standard_normal((2, 5, 4)).astype("float32"))
    assert out.shape == (2, 6) and type(wrapper.backward_layer).__name__ == "GRU"
    assert wrapper.get_config()["backward_layer"]["class_name"] == "GRU"


@pytest.mark.parametrize("make, message", [
    (lambda: layers.Bidirectional(layers.Dense(3)), "initialize `Bidirectional` layer with a recurrent layer"),
    (lambda: layers.Bidirectional(layers.LSTM(3), merge_mode="max"), r"Invalid merge mode. Received: 'max'"),
    (lambda: layers.Bidirectional(layers.LSTM(3), backward_layer=layers.LSTM(3)),
     "should have different `go_backwards` value"),
])
def test_refusals_name_what_was_expected(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def _bidirectional_seq2seq(lib):
    """A seq2seq model whose encoder is bidirectional: its four final states joined two by two start the decoder."""
    L = lib.layers
    enc_in, dec_in = lib.Input((7,)), lib.Input((5, 3))
    emb = L.Embedding(12, 4, mask_zero=True)(enc_in)
    _, fh, fc, bh, bc = L.Bidirectional(L.LSTM(3, return_state=True))(emb)
    states = [L.Concatenate()([fh, bh]), L.Concatenate()([fc, bc])]
    dec, _, _ = L.LSTM(6, return_sequences=True, return_state=True)(dec_in, initial_state=states)
    return lib.Model([enc_in, dec_in], L.Dense(1)(dec))


def test_return_state_trains_as_tf_keras_and_files_travel(tfk, tmp_path):
    model, ref = _bidirectional_seq2seq(gpunet), _bidirectional_seq2seq(tfk)
    model.set_weights(ref.get_weights())
    dec = RNG.random((16, 5, 3)).astype("float32")
    y = RNG.random((16, 5, 1)).astype("float32")
    for m, lib in ((model, gpunet), (ref, tfk)):
        m.compile(optimizer=lib.optimizers.Adam(0.01), loss="mse")
    from graph_gradients import assert_trains_alike
    assert_trains_alike(model, ref, [TOKENS, dec], y, epochs=2)
    assert_files_travel(model, [TOKENS, dec], tmp_path, tfk)


def test_unmerged_outputs_states_and_initial_state_as_tf_keras(tfk):
    x = RNG.random((4, 6, 3)).astype("float32")
    start = [RNG.random((4, 2)).astype("float32") for _ in range(4)]

    def make(lib):
        inp, states = lib.Input((6, 3)), [lib.Input((2,)) for _ in range(4)]
        outs = lib.layers.Bidirectional(lib.layers.LSTM(2, return_sequences=True, return_state=True),
                                        merge_mode=None)(inp, initial_state=states)
        return lib.Model([inp] + states, outs)
    model, ref = make(gpunet), make(tfk)
    model.set_weights(ref.get_weights())
    got, want = model.predict([x] + start, verbose=0), ref.predict([x] + start, verbose=0)
    assert [g.shape for g in got] == [(4, 6, 2), (4, 6, 2)] + [(4, 2)] * 4
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert model.layers[5].compute_output_shape((None, 6, 3)) == [(None, 6, 2)] * 2 + [(None, 2)] * 4
