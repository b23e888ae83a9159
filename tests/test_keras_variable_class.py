"""Keras 3's ``keras.Variable``: assigned to a layer's (or a subclassed model's) attribute it is that layer's
weight (trained, its gradient exact, saved and loaded, both ways with Keras 3); on its own, a value with
``assign`` and arithmetic; refusals."""
import numpy as np
import pytest

import gpunet
from gpunet import backend as B
from gpunet import layers
from gpunet.models import load_model

from graph_gradients import check_model_gradients
from keras_support import keras_on_torch

X = np.random.default_rng(2).random((16, 3)).astype("float32")


def _scale_class(lib):
    class Scale(lib.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.factor = lib.Variable(initializer=2.0, trainable=True, name="factor")
            self.frozen = lib.Variable(initializer=np.float32(0.5), trainable=False, name="frozen")

        def build(self, input_shape):
            self.bias = lib.Variable("zeros", shape=(input_shape[-1],), name="bias")

        def call(self, x):
            return x * self.factor * self.frozen + self.bias
    return Scale


def test_a_layers_variables_are_its_weights_and_train(f64):
    scale = _scale_class(gpunet)()
    model = gpunet.Sequential([gpunet.Input((3,)), scale, layers.Dense(2)])
    assert [w.path for w in model.weights] == ["scale/factor", "scale/bias", "scale/frozen", "dense/kernel",
                                               "dense/bias"]
    assert [w.name for w in scale.trainable_weights] == ["factor", "bias"]
    model.compile(gpunet.optimizers.SGD(0.1), "mse")
    check_model_gradients(model, B.get_backend(), B.get_backend().asarray(X.astype("float64")),
                          np.random.default_rng(1).standard_normal((16, 2)))
    model.fit(X, X[:, :2], epochs=2, verbose=0)
    assert scale.factor.numpy() != 2.0 and scale.frozen.numpy() == 0.5


def test_files_both_ways_with_keras_3(tmp_path):
    keras = keras_on_torch()
    mine_cls, theirs_cls = _scale_class(gpunet), _scale_class(keras)
    model = gpunet.Sequential([gpunet.Input((3,)), mine_cls(), layers.Dense(2)])
    model.compile("adam", "mse")
    model.fit(X, X[:, :2], epochs=2, verbose=0)
    want = model.predict(X, verbose=0)
    for name in ("m.keras", "m.h5"):
        model.save(tmp_path / name)
        back = load_model(tmp_path / name, custom_objects={"Scale": mine_cls})
        np.testing.assert_array_equal(back.predict(X, verbose=0), want)
    ref = keras.models.load_model(tmp_path / "m.keras", custom_objects={"Scale": theirs_cls})
    np.testing.assert_allclose(ref.predict(X, verbose=0), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ref.layers[0].factor.numpy(), model.layers[0].factor.numpy())
    ref.save(tmp_path / "k3.keras")
    again = load_model(tmp_path / "k3.keras", custom_objects={"Scale": mine_cls})
    np.testing.assert_allclose(again.predict(X, verbose=0), want, rtol=1e-5, atol=1e-6)


class Tempered(gpunet.Model):
    def __init__(self):
        super().__init__()
        self.dense = layers.Dense(2)
        self.temperature = gpunet.Variable(1.0, name="temperature")

    def call(self, x):
        return self.dense(x) / self.temperature


def test_a_subclassed_models_variable_is_its_own_weight(tmp_path):
    model = Tempered()
    model.compile(gpunet.optimizers.SGD(0.5), "mse")
    model.fit(X, X[:, :2] * 3, epochs=3, verbose=0)
    assert [w.path for w in model.weights][-1] == "tempered/temperature"
    assert model.temperature.numpy() != 1.0
    model.save(tmp_path / "t.keras")
    back = load_model(tmp_path / "t.keras", custom_objects={"Tempered": Tempered})
    np.testing.assert_array_equal(back.temperature.numpy(), model.temperature.numpy())


def test_on_its_own_a_variable_is_a_value():
    v = gpunet.Variable(np.arange(3.0), name="v")
    np.testing.assert_array_equal(B.get_backend().to_host((v * 2 + 1).data), [1.0, 3.0, 5.0])
    v.assign([5.0, 6.0, 7.0])
    v.assign_sub(1.0)
    np.testing.assert_array_equal(v.numpy(), [4.0, 5.0, 6.0])
    assert v.dtype == np.float32 and v.shape == (3,) and repr(v) == "<Variable v shape=(3,) trainable=True>"
    drawn = gpunet.Variable("random_normal", shape=(4, 2), dtype="float64")
    assert drawn.shape == (4, 2) and drawn.dtype == np.float64


@pytest.mark.parametrize("make, error, message", [
    (lambda: gpunet.Variable("zeros"), ValueError, r"an initializer \('zeros'\) needs a `shape`"),
    (lambda: gpunet.Variable(np.zeros(3), shape=(4,)), ValueError, r"initial value of shape \(3,\) does not match"),
])
def test_refusals_name_what_was_expected(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_a_variable_before_super_init_is_refused_by_name():
    class Early(layers.Layer):
        def __init__(self):
            self.w = gpunet.Variable(1.0)
            super().__init__()

    with pytest.raises(RuntimeError, match=r"Early: call super\(\).__init__\(\) before assigning a Variable"):
        Early()
