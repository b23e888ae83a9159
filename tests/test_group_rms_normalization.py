"""GroupNormalization (tf.keras 2.21's and Keras 3's) and RMSNormalization (Keras 3's): outputs and configs
against them, gradients by central differences in float64, training side by side with tf.keras, files
both ways, refusals."""
import numpy as np
import pytest

import gpunet
from gpunet import backend as B
from gpunet import layers
from gpunet.models import Sequential

from graph_gradients import assert_classifier_trains_as_tf_keras, check_model_gradients
from keras_support import assert_files_travel, keras_on_torch

RNG = np.random.default_rng(12)

GROUP_CASES = [({"groups": 2}, (8,)), ({"groups": 4}, (3, 8)), ({"groups": 2, "axis": 1}, (4, 3)),
               ({"groups": -1}, (5, 6)), ({"groups": 1, "epsilon": 1e-5, "center": False}, (6,)),
               ({"groups": 3, "scale": False}, (2, 2, 6))]
RMS_CASES = [({}, (8,)), ({"axis": [1, 2]}, (3, 8)), ({"axis": 1, "epsilon": 1e-3}, (3, 4)), ({"axis": -2}, (4, 3))]


def _inputs(shape):
    return (RNG.standard_normal((4,) + shape) * 3 + 1).astype("float32")


def _same_weights(*built):
    weights = [RNG.standard_normal(tuple(w.shape)).astype("float32") for w in built[0].get_weights()]
    for layer in built:
        layer.set_weights(weights)


@pytest.mark.parametrize("kwargs, shape", GROUP_CASES, ids=[str(i) for i in range(len(GROUP_CASES))])
def test_group_normalization_is_tf_keras_and_keras_3(tfk, ops, kwargs, shape):
    keras = keras_on_torch()
    x = _inputs(shape)
    with B.use_backend(ops):
        mine = layers.GroupNormalization(**kwargs)
        mine.build((None,) + shape)
        theirs, k3 = tfk.layers.GroupNormalization(**kwargs), keras.layers.GroupNormalization(**kwargs)
        theirs.build((None,) + shape)
        k3.build((None,) + shape)
        assert [w.name for w in mine.weights] == [w.name.split(":")[0].split("/")[-1] for w in theirs.weights]
        _same_weights(mine, theirs, k3)
        got = ops.to_host(mine(ops.asarray(x)))
    np.testing.assert_allclose(got, theirs(x).numpy(), rtol=1e-5, atol=2e-6)
    np.testing.assert_allclose(got, k3(x).detach().numpy(), rtol=1e-5, atol=2e-6)
    ref_config = theirs.get_config()
    for key, value in mine.get_config().items():
        if key.endswith("_initializer"):
            assert value["class_name"] == ref_config[key]["class_name"]
        elif key != "name":
            assert value == ref_config[key], key


@pytest.mark.parametrize("kwargs, shape", RMS_CASES, ids=[str(i) for i in range(len(RMS_CASES))])
def test_rms_normalization_is_keras_3s(ops, kwargs, shape):
    keras = keras_on_torch()
    x = _inputs(shape)
    with B.use_backend(ops):
        mine = layers.RMSNormalization(**kwargs)
        mine.build((None,) + shape)
        mine.set_weights([RNG.standard_normal(mine.weights[0].shape).astype("float32")])
        got = ops.to_host(mine(ops.asarray(x)))
    axes = tuple(a % 3 if len(shape) == 2 else a % 2 for a in mine.axis)
    scale = mine.get_weights()[0].reshape([x.shape[a] if a in axes else 1 for a in range(x.ndim)])
    want = x / np.sqrt((x.astype("float64") ** 2).mean(axis=axes, keepdims=True) + mine.epsilon) * scale
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    if axes == tuple(range(x.ndim - len(axes), x.ndim)):  # (Keras 3 on torch takes trailing axes only)
        k3 = keras.layers.RMSNormalization(**kwargs)
        k3.build((None,) + shape)
        k3.set_weights(mine.get_weights())
        np.testing.assert_allclose(got, k3(x).detach().numpy(), rtol=1e-5, atol=1e-6)
        assert {**mine.get_config(), "dtype": None, "name": None} == {**k3.get_config(), "dtype": None, "name": None}
    assert [w.name for w in mine.weights] == ["scale"]


@pytest.mark.parametrize("make, shape", [
    (lambda: layers.GroupNormalization(groups=2), (None, 6)),
    (lambda: layers.GroupNormalization(groups=3, axis=1), (None, 6, 2)),
    (lambda: layers.GroupNormalization(groups=-1, center=False), (None, 3, 4)),
    (lambda: layers.RMSNormalization(), (None, 6)),
    (lambda: layers.RMSNormalization(axis=[1, 2]), (None, 3, 4)),
], ids=["group", "group-axis1", "instance", "rms", "rms-2axes"])
def test_gradients_by_central_differences(ops, f64, make, shape):
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(2)
        model = Sequential([layers.Dense(shape[-1], input_shape=shape[1:], activation="tanh"), make(),
                            layers.Flatten(), layers.Dense(3)])
        model.compile("sgd", "mse")
        norm = model.layers[1]
        norm.set_weights([w + np.random.default_rng(1).normal(0, 0.3, w.shape) for w in norm.get_weights()])
        x = np.random.default_rng(0).standard_normal((5,) + shape[1:])
        check_model_gradients(model, ops, ops.asarray(x), np.random.default_rng(3).standard_normal((5, 3)))


def _net(lib):
    return lib.Sequential([lib.layers.Dense(8, input_shape=(5,), activation="relu"),
                           lib.layers.GroupNormalization(groups=4), lib.layers.Dense(1, activation="sigmoid")])


def test_trains_as_in_tf_keras(tfk):
    x = RNG.standard_normal((48, 5)).astype("float32")
    y = (x[:, 0] - x[:, 3] > 0).astype("float32")[:, None]
    assert_classifier_trains_as_tf_keras(tfk, _net, x, y)


def test_files_both_ways_with_tf_keras_and_keras_3(tfk, tmp_path):
    x = RNG.standard_normal((10, 5)).astype("float32")
    model = Sequential([layers.Dense(8, input_shape=(5,), activation="relu"), layers.GroupNormalization(groups=2),
                        layers.RMSNormalization(), layers.Dense(1)])
    model.compile(loss="mse", optimizer="adam")
    model.fit(x, x[:, :1], epochs=2, verbose=0)
    assert_files_travel(model, x, tmp_path)
    assert_files_travel(Sequential(model.layers[:2]), x, tmp_path, tfk, keras3=False)  # (tf.keras 2: no RMSNorm)


@pytest.mark.parametrize("make, shape, error, message", [
    (lambda: layers.GroupNormalization(groups=4), (None, 6), ValueError,
     r"Number of groups \(4\) must be a multiple of the number of channels \(6\)"),
    (lambda: layers.GroupNormalization(groups=8), (None, 6), ValueError,
     r"Number of groups \(8\) cannot be more than the number of channels \(6\)"),
    (lambda: layers.GroupNormalization(groups=0), None, ValueError, "a positive int `groups` \\(or -1\\), received 0"),
    (lambda: layers.GroupNormalization(axis=0), (None, 6), ValueError, "invalid axis 0 for an input of rank 2"),
    (lambda: layers.GroupNormalization(groups=2, axis=1), (None, None, 4), ValueError,
     "Axis 1 of input tensor should have a defined dimension"),
    (lambda: layers.RMSNormalization(axis="last"), None, TypeError, "expected an int or a list/tuple of ints"),
    (lambda: layers.RMSNormalization(axis=[1, -1]), (None, 6), ValueError, "must name distinct axes"),
])
def test_refusals_name_what_was_expected(make, shape, error, message):
    with pytest.raises(error, match=message):
        make().build(shape)


def test_an_input_of_another_shape_is_refused_by_name():
    layer = layers.GroupNormalization(groups=2)
    layer(np.zeros((2, 6), "float32"))
    with pytest.raises(ValueError, match=r"expects inputs of shape \(None, 6\), received \(2, 4\)"):
        layer(np.zeros((2, 4), "float32"))
