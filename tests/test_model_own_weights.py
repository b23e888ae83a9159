"""A subclassed model's own weights (``self.add_weight`` on the model, in ``__init__`` or in a ``build`` of its
own, which need not call ``super().build``), as tf.keras 2 has them: trained on the tape as tf.keras trains
them, listed after the layers' weights, gradients by finite differences, and saved and loaded with tf.keras 2's
.h5 (``top_level_model_weights``) both ways (models/own_weights.py)."""
import numpy as np
import pytest

import gpunet
from gpunet.models import Model

from graph_gradients import assert_trains_alike, check_model_gradients


def _model_class(lib, calls_super=False, norm=True):
    class Tempered(lib.Model):
        """A learnt temperature made in __init__, a learnt input scale and a step counter made in build."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.hidden = lib.layers.Dense(5, activation="tanh", name="hidden")
            # (BatchNormalization: its statistics are weights that do not train; Activation: training and
            # inference compute alike, as the finite differences need)
            self.norm = lib.layers.BatchNormalization(name="norm") if norm else lib.layers.Activation("linear")
            self.head = lib.layers.Dense(1, activation="sigmoid", name="head")
            self.temperature = self.add_weight(name="temperature", shape=(), initializer="ones")

        def build(self, input_shape):
            self.scale = self.add_weight(name="scale", shape=(input_shape[-1],), initializer="ones",
                                         regularizer=lib.regularizers.l2(0.01))
            self.seen = self.add_weight(name="seen", shape=(), initializer="zeros", trainable=False)
            if calls_super:
                super().build(input_shape)  # (Keras builds the rest: call runs once)

        def call(self, inputs, training=None):
            return self.head(self.norm(self.hidden(inputs * self.scale), training=training) / self.temperature)
    return Tempered


def _data(n=64):
    rng = np.random.default_rng(8)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, (x[:, :2].sum(1) > 0).astype("float32")


@pytest.mark.parametrize("calls_super", [False, True], ids=["own-build", "build-calling-super"])
def test_trains_as_tf_keras(tfk, calls_super):
    x, y = _data()
    model, ref = _model_class(gpunet, calls_super)(), _model_class(tfk)()
    model.build((None, 4))
    ref(x[:1])  # (tf.keras builds a model with a build of its own at its first call)
    assert [w.shape for w in model.weights] == [tuple(w.shape) for w in ref.weights]
    assert [w.name for w in model.weights][-3:] == ["temperature", "scale", "seen"]
    assert len(model.trainable_weights) == len(ref.trainable_weights) == 8
    model.set_weights(ref.get_weights())
    for m, lib in ((model, gpunet), (ref, tfk)):
        m.compile(optimizer=lib.optimizers.SGD(0.1, momentum=0.9), loss="binary_crossentropy")
    assert_trains_alike(model, ref, x, y)
    assert abs(float(model.temperature.numpy()) - 1.0) > 1e-4  # (it trained)


def test_gradients_match_finite_differences(f64, ops):
    model = _model_class(gpunet, norm=False)()
    model.compile(loss="mse", optimizer="sgd")
    rng = np.random.default_rng(6)
    check_model_gradients(model, ops, ops.asarray(rng.normal(size=(4, 4))), rng.normal(size=(4, 1)))


def test_weights_files_both_ways_with_tf_keras(tmp_path, tfk):
    x, y = _data()
    model = _model_class(gpunet)()
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(x, y, epochs=2, verbose=0)
    model.save_weights(str(tmp_path / "g.h5"))
    ref = _model_class(tfk)()
    ref(x[:1])
    ref.load_weights(str(tmp_path / "g.h5"))
    np.testing.assert_allclose(ref.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ref.temperature.numpy(), model.temperature.numpy())
    ref.save_weights(str(tmp_path / "t.h5"))
    back = _model_class(gpunet)()
    back.build((None, 4))
    back.load_weights(str(tmp_path / "t.h5"))
    np.testing.assert_array_equal(back.predict(x, verbose=0), model.predict(x, verbose=0))
    np.testing.assert_array_equal(back.scale.numpy(), model.scale.numpy())


def test_a_model_without_those_weights_refuses_the_file(tmp_path):
    model = _model_class(gpunet)()
    model.build((None, 4))
    model.save_weights(str(tmp_path / "own.h5"))
    plain = _model_class(gpunet)()
    plain.build((None, 4))
    plain._own_weights.pop()  # (a model of the same layers without its step counter)
    before = [w.copy() for w in plain.get_weights()]
    with pytest.raises(ValueError, match=r"Layer 'tempered_\d+' has 2 weights.*has 3"):
        plain.load_weights(str(tmp_path / "own.h5"))
    for a, b in zip(plain.get_weights(), before):  # (nothing loaded)
        np.testing.assert_array_equal(a, b)


def test_a_functional_model_refuses_add_weight():
    inputs = gpunet.Input((3,))
    model = Model(inputs, gpunet.layers.Dense(1)(inputs))
    with pytest.raises(NotImplementedError, match="functional model: its weights are its layers'"):
        model.add_weight(name="w", shape=(1,))
