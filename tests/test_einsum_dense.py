"""EinsumDense (Keras 3's core layer, tf.keras 2's ``layers.EinsumDense``): weights, outputs and shapes
against tf.keras 2.21 and Keras 3 on torch for each form of equation, gradients by central differences in
float64, training side by side with tf.keras, initializer fans as Keras 3's, files both ways, refusals."""
import numpy as np
import pytest

import gpunet
from gpunet import backend as B
from gpunet import layers
from gpunet.models import Sequential, load_model, model_from_json

from graph_gradients import assert_classifier_trains_as_tf_keras, check_model_gradients
from keras_support import assert_files_travel, keras_on_torch

RNG = np.random.default_rng(4)

CASES = [  # (equation, output_shape, bias_axes, input shape without the batch axis)
    ("ab,bc->ac", 6, "c", (5,)),
    ("abc,cd->abd", (None, 4), "d", (3, 5)),
    ("...x,xy->...y", 4, "y", (3, 5)),
    ("...x,xy->...y", 4, "y", (2, 3, 5)),
    ("abc,cde->abde", (None, 2, 3), "de", (3, 5)),
    ("abc,cde->abde", (None, 2, 3), "e", (3, 5)),
    ("ab...,bc->ac...", 4, "c", (3, 2)),
    ("abc,cd->ad", 4, None, (3, 5)),
    ("abc,bd->acd", (5, 4), "cd", (3, 5)),
]
IDS = [f"{eq}-{bias}-{len(shape)}d" for eq, _, bias, shape in CASES]


def _weights(shapes):
    return [RNG.standard_normal(s).astype("float32") for s in shapes]


@pytest.mark.parametrize("equation, output_shape, bias_axes, shape", CASES, ids=IDS)
def test_weights_outputs_and_config_equal_tf_keras_and_keras_3(tfk, ops, equation, output_shape, bias_axes, shape):
    x = RNG.standard_normal((4,) + shape).astype("float32")
    with B.use_backend(ops):
        model = Sequential([gpunet.Input(shape), layers.EinsumDense(equation, output_shape, bias_axes=bias_axes,
                                                                     activation="relu")])
        layer = model.layers[0]
        ref = tfk.layers.EinsumDense(equation, output_shape, bias_axes=bias_axes, activation="relu")
        ref.build((None,) + shape)
        assert [w.shape for w in layer.get_weights()] == [tuple(w.shape) for w in ref.get_weights()]
        assert [w.name for w in layer.weights] == [w.name.split(":")[0] for w in ref.weights]
        weights = _weights([w.shape for w in ref.get_weights()])
        layer.set_weights(weights)
        ref.set_weights(weights)
        want = ref(x).numpy()
        np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)
        assert model.output_shape[1:] == want.shape[1:]  # (Keras leaves a shared axis None; gpunet knows it)
    config, ref_config = layer.get_config(), ref.get_config()
    for key in ("output_shape", "equation", "activation", "bias_axes"):
        assert config[key] == ref_config[key], key
    keras = keras_on_torch()
    k3 = keras.layers.EinsumDense(equation, output_shape, bias_axes=bias_axes, activation="relu")
    k3.build((None,) + shape)
    k3.set_weights(weights)
    np.testing.assert_allclose(k3(x).detach().numpy(), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("equation, output_shape, bias_axes, shape", CASES, ids=IDS)
def test_gradients_by_central_differences(ops, f64, equation, output_shape, bias_axes, shape):
    """The kernel's, the bias's and the input's gradients (the input's reaches the Dense before it)."""
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(5)
        model = Sequential([layers.Dense(shape[-1], input_shape=shape, activation="tanh"),
                            layers.EinsumDense(equation, output_shape, bias_axes=bias_axes, activation="tanh",
                                               bias_initializer="random_normal"),
                            layers.Flatten(), layers.Dense(3)])
        model.compile("sgd", "mse")
        x = np.random.default_rng(0).standard_normal((3,) + shape)
        upstream = np.random.default_rng(3).standard_normal((3, 3))
        check_model_gradients(model, ops, ops.asarray(x), upstream)


def _sequence_model(lib, seq_len=3):
    return lib.Sequential([lib.layers.EinsumDense("abc,cd->abd", (seq_len, 8), bias_axes="d", activation="relu",
                                                  input_shape=(seq_len, 5)),
                           lib.layers.EinsumDense("...x,xy->...y", 2, bias_axes="y"),
                           lib.layers.Flatten(), lib.layers.Dense(1, activation="sigmoid")])


def test_trains_as_in_tf_keras(tfk):
    x = RNG.standard_normal((48, 3, 5)).astype("float32")
    y = (x[:, 0, 0] + x[:, 2, 1] > 0).astype("float32")[:, None]
    assert_classifier_trains_as_tf_keras(tfk, _sequence_model, x, y)


def test_kernel_initializer_fans_are_the_kernels_input_and_output_axes():
    """Glorot uniform on a (c, d, e) kernel of "abc,cde->abde": limit sqrt(6 / (c + d*e)), as Keras 3 (tf.keras 2
    took (d*c, e*c), a convolution's fans); the initializer's own config is unchanged."""
    layer = layers.EinsumDense("abc,cde->abde", (None, 40, 30), kernel_initializer="glorot_uniform")
    layer.build((None, 3, 60))
    kernel = layer.get_weights()[0]
    limit = np.sqrt(6 / (60 + 40 * 30))
    assert kernel.shape == (60, 40, 30) and np.abs(kernel).max() <= limit
    np.testing.assert_allclose(kernel.std(), limit / np.sqrt(3), rtol=0.02)
    assert layer.get_config()["kernel_initializer"]["config"] == {"seed": None}
    keras = keras_on_torch()
    k3 = keras.layers.EinsumDense("abc,cde->abde", (None, 40, 30))
    k3.build((None, 3, 60))
    np.testing.assert_allclose(k3.get_weights()[0].std(), limit / np.sqrt(3), rtol=0.02)


def test_variance_scaling_takes_keras_3_axes_and_writes_them_only_when_set():
    from gpunet import initializers
    init = initializers.get({"class_name": "VarianceScaling", "module": "keras.initializers", "config": {
        "scale": 2.0, "mode": "fan_in", "distribution": "untruncated_normal", "seed": 3,
        "input_axes": [0, 1], "output_axes": [2]}})
    values = B.get_backend().to_host(init((50, 40, 3)))
    np.testing.assert_allclose(values.std(), np.sqrt(2.0 / 2000), rtol=0.03)
    assert init.get_config()["input_axes"] == [0, 1] and init.get_config()["output_axes"] == [2]
    assert "input_axes" not in initializers.HeNormal().get_config()
    with pytest.raises(TypeError, match="`input_axes` must be None or a list of ints, received 'a'"):
        initializers.GlorotUniform(input_axes="a")


def test_files_both_ways_with_tf_keras_and_keras_3(tfk, tmp_path):
    x = RNG.standard_normal((10, 3, 5)).astype("float32")
    model = _sequence_model(gpunet)
    model.compile(loss="binary_crossentropy", optimizer="adam")
    model.fit(x, (x[:, 0, 0] > 0).astype("float32"), epochs=2, verbose=0)
    assert_files_travel(model, x, tmp_path, tfk)
    np.testing.assert_array_equal(model_from_json(model.to_json()).layers[0].get_config()["output_shape"], [3, 8])


def test_a_keras_3_functional_model_with_einsum_dense_loads_and_resumes(tmp_path):
    keras = keras_on_torch()
    inputs = keras.Input((4, 6))
    hidden = keras.layers.EinsumDense("...x,xy->...y", 8, bias_axes="y", activation="gelu")(inputs)
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(hidden))
    ref = keras.Model(inputs, outputs)
    ref.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = RNG.standard_normal((16, 4, 6)).astype("float32")
    y = (x[:, 0, 0] > 0).astype("int64")
    ref.fit(x, y, epochs=1, verbose=0)
    ref.save(tmp_path / "k3.keras")
    model = load_model(tmp_path / "k3.keras")
    np.testing.assert_allclose(model.predict(x, verbose=0), ref.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    loss = model.fit(x, y, epochs=1, batch_size=16, verbose=0).history["loss"][0]
    ref_loss = ref.fit(x, y, epochs=1, batch_size=16, verbose=0).history["loss"][0]
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-4)


@pytest.mark.parametrize("make, shape, error, message", [
    (lambda: layers.EinsumDense("ab,bc", 4), None, ValueError, r"Equations must be in the form \[X\],\[Y\]->\[Z\]"),
    (lambda: layers.EinsumDense("aab,bc->ac", 4), None, ValueError, "an axis named twice within one operand"),
    (lambda: layers.EinsumDense(3, 4), None, TypeError, "expects an einsum equation string, received 3"),
    (lambda: layers.EinsumDense("ab,bc->ac", "4"), None, ValueError, "expects `output_shape` as a positive int"),
    (lambda: layers.EinsumDense("ab,bc->ac", 4, bias_axes=["c"]), None, TypeError, "`bias_axes` as a string"),
    (lambda: layers.EinsumDense("ab,bc->ac", 4, bias_axes="d"), (None, 5), ValueError,
     "Bias dimension 'd' was requested, but is not part of the output spec 'ac'"),
    (lambda: layers.EinsumDense("ab,bc->acd", (4, 2)), (None, 5), ValueError,
     "Dimension 'd' was specified in the output 'acd' but has no corresponding dim"),
    (lambda: layers.EinsumDense("ab,bcd->ac", 4), (None, 5), ValueError, "Weight dimension 'd' did not have a match"),
    (lambda: layers.EinsumDense("ab,bc->ac", 4), (None, 3, 5), ValueError,
     r"expects inputs of rank 2, received input shape \(None, 3, 5\)"),
    (lambda: layers.EinsumDense("abc,cd->abd", (3, 4)), (None, 2, 5), ValueError,
     "do not match at shared dimension 'b'. Input shape is 2, and output shape is 3"),
    (lambda: layers.EinsumDense("ab,bc->ac", (4, 2)), (None, 5), ValueError, r"output_shape \(4, 2\) gives 2"),
])
def test_refusals_name_what_was_expected(make, shape, error, message):
    with pytest.raises(error, match=message):
        layer = make()
        layer.build(shape)


def test_an_input_of_another_shape_is_refused_by_name():
    layer = layers.EinsumDense("abc,cd->abd", (None, 4))
    layer(np.zeros((2, 3, 5), "float32"))
    with pytest.raises(ValueError, match=r"expects inputs of shape \(None, 3, 5\), received \(2, 3, 6\)"):
        layer(np.zeros((2, 3, 6), "float32"))
