"""Subclassed models (``class M(Model)`` with layers in ``__init__`` and ``call``), as Keras writes them:
trained against tf.keras 2.21, gradients, weights files both ways, what cannot be saved."""
import numpy as np
import pytest

import gpunet
from gpunet.models import Model

from graph_gradients import assert_trains_alike, check_model_gradients


def _model_class(lib):
    class Residual(lib.Model):
        """Two branches and a skip connection, a layer used twice, Dropout following training."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.hidden = lib.layers.Dense(6, activation="tanh", name="hidden")
            self.mix = lib.layers.Dense(6, name="mix")
            self.drop = lib.layers.Dropout(0.0, name="drop")
            self.head = lib.layers.Dense(1, activation="sigmoid", name="head")

        def call(self, inputs, training=None):
            h = self.hidden(inputs)
            h = h + self.mix(self.mix(h))
            return self.head(self.drop(h, training=training))
    return Residual


def _data(n=64):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(n, 6)).astype("float32")
    return x, (x[:, :3].sum(1) > 0).astype("float32")


def test_trains_as_tf_keras(tfk):
    x, y = _data()
    model, ref = _model_class(gpunet)(), _model_class(tfk)()
    model.build((None, 6))
    ref.build((None, 6))
    assert [l.name for l in model.layers] == [l.name for l in ref.layers]
    assert [w.shape for w in model.weights] == [tuple(w.shape) for w in ref.weights]
    model.set_weights(ref.get_weights())
    for m, lib in ((model, gpunet), (ref, tfk)):
        m.compile(optimizer=lib.optimizers.SGD(0.1, momentum=0.9), loss="binary_crossentropy", metrics=["accuracy"])
    assert_trains_alike(model, ref, x, y)
    np.testing.assert_allclose(model(x[:4]).numpy(), ref(x[:4]).numpy(), rtol=1e-5, atol=1e-6)  # (a GPU's: copied)


def test_weights_files_both_ways(tmp_path, tfk):
    x, y = _data()
    model = _model_class(gpunet)()
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    model.save_weights(str(tmp_path / "g.h5"))
    ref = _model_class(tfk)()
    ref.build((None, 6))
    ref.load_weights(str(tmp_path / "g.h5"))
    np.testing.assert_allclose(ref.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    ref.save_weights(str(tmp_path / "t.h5"))
    back = _model_class(gpunet)()
    back.build((None, 6))
    back.load_weights(str(tmp_path / "t.h5"))
    np.testing.assert_array_equal(back.predict(x, verbose=0), model.predict(x, verbose=0))


def test_gradients_match_finite_differences(f64, ops):
    model = _model_class(gpunet)()
    model.compile(loss="mse", optimizer="sgd")
    rng = np.random.default_rng(6)
    check_model_gradients(model, ops, ops.asarray(rng.normal(size=(4, 6))), rng.normal(size=(4, 1)))


def test_as_a_layer_and_frozen_layers():
    x, y = _data()
    inner = _model_class(gpunet)()
    outer = gpunet.Sequential([gpunet.Input((6,)), gpunet.layers.Dense(6, name="first"), inner])
    inner.hidden.trainable = False
    outer.compile(optimizer="sgd", loss="binary_crossentropy")
    outer.fit(x, y, epochs=1, verbose=0)  # builds inner on its first call
    frozen = inner.hidden.get_weights()
    outer.fit(x, y, epochs=1, verbose=0)
    for a, b in zip(frozen, inner.hidden.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert len(outer.trainable_weights) == 2 + 2 + 2 and len(outer.weights) == 2 + 6


def test_what_cannot_be_done_says_so(tmp_path):
    model = _model_class(gpunet)()
    model.build((None, 6))
    with pytest.raises(NotImplementedError, match="is a subclassed model: its architecture is Python code"):
        model.to_json()
    with pytest.raises(NotImplementedError, match="is a subclassed model"):
        model.save(str(tmp_path / "m.h5"))
    assert not (tmp_path / "m.h5").exists()
    with pytest.raises(ValueError, match="received the subclassed model"):
        gpunet.models.clone_model(model)

    class NoCall(Model):
        pass
    with pytest.raises(NotImplementedError, match="defines no call"):
        NoCall()
    with pytest.raises(ValueError, match=r"build\(\) needs an input_shape"):
        _model_class(gpunet)().build()
