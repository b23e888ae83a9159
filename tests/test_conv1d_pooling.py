"""Conv1D, MaxPooling1D and AveragePooling1D: values and configs against tf.keras 2.21 for every padding,
stride and dilation, gradients by central differences in float64, a text CNN trained side by side with
tf.keras, files both ways with tf.keras (.h5) and Keras 3 (.keras), refusals."""
import json

import numpy as np
import pytest

import gpunet
from gpunet import backend as B
from gpunet import layers
from gpunet.models import Sequential

from graph_gradients import assert_classifier_trains_as_tf_keras, check_model_gradients
from keras_support import assert_files_travel

RNG = np.random.default_rng(51)
X = RNG.standard_normal((3, 11, 4)).astype("float32")

CASES = [("Conv1D", dict(filters=5, kernel_size=3)),
         ("Conv1D", dict(filters=5, kernel_size=3, padding="same", strides=2)),
         ("Conv1D", dict(filters=2, kernel_size=4, padding="causal", dilation_rate=2, activation="relu")),
         ("Conv1D", dict(filters=2, kernel_size=2, padding="same", use_bias=False)),
         ("MaxPooling1D", dict()), ("MaxPooling1D", dict(pool_size=3, strides=2, padding="same")),
         ("AveragePooling1D", dict(pool_size=4, padding="same")), ("AveragePooling1D", dict(pool_size=3, strides=1))]
IDS = [f"{c}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for c, kw in CASES]


@pytest.mark.parametrize("cls, kwargs", CASES, ids=IDS)
def test_values_and_configs_equal_tf_keras(tfk, ops, cls, kwargs):
    ref = getattr(tfk.layers, cls)(**kwargs)
    want = ref(X).numpy()
    with B.use_backend(ops):
        layer = getattr(layers, cls)(**kwargs)
        if ref.weights:
            layer.build((None, 11, 4))
            layer.set_weights(ref.get_weights())
        got = ops.to_host(layer(ops.asarray(X)))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert layer.compute_output_shape((None, 11, 4)) == tuple(ref.compute_output_shape((None, 11, 4)))
    config, ref_config = json.loads(json.dumps(layer.get_config())), json.loads(json.dumps(ref.get_config()))
    for key in ref_config:
        if key.endswith("_initializer"):
            assert config[key]["class_name"] == ref_config[key]["class_name"], key
        elif key != "name":
            assert config[key] == ref_config[key], key


@pytest.mark.parametrize("make", [lambda: layers.Conv1D(3, 3, padding="same", activation="tanh"),
                                  lambda: layers.Conv1D(2, 2, padding="causal", dilation_rate=2),
                                  lambda: layers.MaxPooling1D(3, strides=2, padding="same"),
                                  lambda: layers.AveragePooling1D(2, padding="same")],
                         ids=["conv-same", "conv-causal-dilated", "max-same", "average-same"])
def test_gradients_by_central_differences(ops, f64, make):
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(3)
        model = Sequential([layers.Dense(3, input_shape=(7, 2), activation="tanh"), make(), layers.Flatten(),
                            layers.Dense(2)])
        model.compile("sgd", "mse")
        x = np.random.default_rng(0).standard_normal((3, 7, 2))
        check_model_gradients(model, ops, ops.asarray(x), np.random.default_rng(1).standard_normal((3, 2)))


def _text_cnn(lib):
    return lib.Sequential([lib.layers.Embedding(20, 6, input_length=12), lib.layers.Conv1D(8, 3, activation="relu"),
                           lib.layers.MaxPooling1D(2), lib.layers.Conv1D(4, 2, padding="same", activation="relu"),
                           lib.layers.GlobalMaxPooling1D(), lib.layers.Dense(1, activation="sigmoid")])


TOKENS = RNG.integers(0, 20, (48, 12))


def test_a_text_cnn_trains_as_in_tf_keras(tfk):
    y = (TOKENS[:, :3].sum(1) > 28).astype("float32")[:, None]
    assert_classifier_trains_as_tf_keras(tfk, _text_cnn, TOKENS, y, input_shape=(None, 12))


def test_files_both_ways_with_tf_keras_and_keras_3(tfk, tmp_path):
    model = _text_cnn(gpunet)
    model.compile(loss="binary_crossentropy", optimizer="adam")
    model.fit(TOKENS, (TOKENS[:, 0] > 9).astype("float32"), epochs=1, verbose=0)
    assert_files_travel(model, TOKENS, tmp_path, tfk)
    assert layers.Convolution1D is layers.Conv1D and layers.MaxPool1D is layers.MaxPooling1D


@pytest.mark.parametrize("make, shape, error, message", [
    (lambda: layers.Conv1D(3, 2, groups=2), None, ValueError, "filters must be evenly divisible by the number of"),
    (lambda: layers.Conv1D(3, 2, strides=2, dilation_rate=2), None, ValueError,
     "`strides > 1` not supported in conjunction with `dilation_rate > 1`"),
    (lambda: layers.Conv1D(3, 2, padding="full"), None, ValueError, "`padding` must be one of"),
    (lambda: layers.Conv1D(0, 2), None, ValueError, "`filters` must be an int >= 1"),
    (lambda: layers.MaxPooling1D(2, padding="causal"), None, ValueError,
     r"`padding` must be one of \['valid', 'same'\]"),
    (lambda: layers.Conv1D(3, 2), (None, 4), ValueError, r"expects inputs \(batch, steps, channels\)"),
])
def test_refusals_name_what_was_expected(make, shape, error, message):
    with pytest.raises(error, match=message):
        layer = make()
        layer.build(shape)


def test_a_window_longer_than_the_sequence_is_refused_by_name():
    with pytest.raises(ValueError, match="A window of 5 step"):
        layers.Conv1D(2, 5)(np.zeros((1, 3, 2), "float32"))
