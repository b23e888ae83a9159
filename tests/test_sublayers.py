"""Layers inside a user's layer (``self.dense = Dense(4)`` in ``__init__``, called in ``call``), as
Keras tracks them: their weights are the outer layer's (trained, counted, saved), the gradient flows
through them, a sublayer called twice sums its gradients; against tf.keras 2.21."""
import numpy as np
import pytest

import gpunet
from gpunet.models import load_model

from graph_gradients import assert_trains_alike, check_model_gradients


def _block_class(lib):
    class Block(lib.layers.Layer):
        """A residual block made of built-in layers, one of them applied twice, and a scale of its own."""

        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.inner = lib.layers.Dense(units, activation="relu", name=kwargs.get("name", "block") + "_inner")
            self.proj = lib.layers.Dense(units, name=kwargs.get("name", "block") + "_proj")

        def build(self, input_shape):
            self.scale = self.add_weight(name="scale", shape=(self.units,), initializer="ones")
            super().build(input_shape)

        def call(self, x):
            h = self.proj(self.inner(x))
            return x + self.scale * self.proj(h)  # proj used twice: one set of weights, gradients summed

        def get_config(self):
            return dict(super().get_config(), units=self.units)
    return Block


def _model(lib):
    Block = _block_class(lib)
    return lib.Sequential([lib.Input((6,)), lib.layers.Dense(5, activation="tanh", name="first"),
                           Block(5, name="block"), lib.layers.Dense(1, activation="sigmoid", name="out")]), Block


def _data(n=64):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(n, 6)).astype("float32")
    return x, (x[:, :3].sum(1) > 0).astype("float32")


def test_weights_are_tracked_and_train_as_in_tf_keras(tfk):
    x, y = _data()
    (model, _), (ref, _) = _model(gpunet), _model(tfk)
    assert [w.shape for w in model.weights] == [tuple(w.shape) for w in ref.weights]
    assert model.count_params() == ref.count_params() and len(model.get_layer("block").weights) == 5
    model.set_weights(ref.get_weights())
    for m, lib in ((model, gpunet), (ref, tfk)):
        m.compile(optimizer=lib.optimizers.SGD(0.1, momentum=0.9), loss="binary_crossentropy")
    h, r = assert_trains_alike(model, ref, x, y, history_atol=0)
    assert list(r.history) == ["loss"]


def test_gradients_match_finite_differences(f64, ops):
    model, _ = _model(gpunet)
    model.compile(loss="mse", optimizer="sgd")
    rng = np.random.default_rng(4)
    check_model_gradients(model, ops, ops.asarray(rng.normal(size=(4, 6))), rng.normal(size=(4, 1)))


def test_dropout_inside_follows_the_outer_training_flag():
    class Noisy(gpunet.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.drop = gpunet.layers.Dropout(0.5)

        def call(self, x, training=None):
            return self.drop(x)  # no training= here: the outer call's counts, as in Keras

    layer = Noisy()
    x = gpunet.backend.get_backend().asarray(np.ones((8, 50), "float32"))
    assert float((layer.forward(x, training=False) == 1).mean()) == 1.0
    kept = layer.forward(x, training=True)
    assert 0.2 < float((kept == 0).mean()) < 0.8 and float(kept.max()) == 2.0


def test_saved_and_loaded(tmp_path):
    x, y = _data()
    model, Block = _model(gpunet)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(x, y, epochs=2, verbose=0)
    for ext in ("h5", "keras"):
        model.save(str(tmp_path / f"m.{ext}"))
        back = load_model(str(tmp_path / f"m.{ext}"), custom_objects={"Block": Block})
        np.testing.assert_array_equal(back.predict(x, verbose=0), model.predict(x, verbose=0))
        assert len(back.weights) == len(model.weights) == 9


@pytest.mark.parametrize("kind", ["list", "dict"])
def test_sublayers_in_a_list_or_dict(kind):
    class Stack(gpunet.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            layers = [gpunet.layers.Dense(3), gpunet.layers.Dense(2)]
            self.parts = layers if kind == "list" else {"a": layers[0], "b": layers[1]}

        def call(self, x):
            parts = self.parts if kind == "list" else list(self.parts.values())
            return parts[1](parts[0](x))

    model = gpunet.Sequential([gpunet.Input((4,)), Stack()])
    assert [w.shape for w in model.weights] == [(4, 3), (3,), (3, 2), (2,)]
