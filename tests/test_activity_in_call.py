"""An activity regularizer on a layer called inside a ``call`` (a subclassed model's, a layer of your own's)
counts in the loss as tf.keras 2 counts it (``model.losses``): its penalty over the batch size, and its
gradient. It used to be left out silently (layers/sublayers.py `penalized`)."""
import numpy as np
import pytest

import gpunet
from gpunet import regularizers
from gpunet.layers import Dense, Input, Layer
from gpunet.models import Sequential

from graph_gradients import assert_trains_alike, check_loss_gradient


def _encoder_class(lib):
    class Encoder(lib.Model):
        """The Keras blog's sparse autoencoder as a subclass: an L1 activity penalty on the code."""

        def __init__(self):
            super().__init__()
            self.code = lib.layers.Dense(3, activation="relu", activity_regularizer=lib.regularizers.l1(0.05))
            self.decode = lib.layers.Dense(6, activation="sigmoid")

        def call(self, inputs):
            return self.decode(self.code(inputs))
    return Encoder


Encoder = _encoder_class(gpunet)


class Block(Layer):
    """A layer of your own holding a Dense with an L2 activity penalty."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.inner = Dense(4, activation="tanh", activity_regularizer=regularizers.l2(0.1))

    def call(self, inputs):
        return self.inner(inputs)


def _data():
    rng = np.random.default_rng(9)
    return rng.uniform(0, 1, (40, 6))


def _flat_twin(model):
    """The same computation as a Sequential (the layer path the engine adds activity penalties on)."""
    twin = Sequential([Input((6,)), Dense(3, activation="relu", activity_regularizer=regularizers.l1(0.05)),
                       Dense(6, activation="sigmoid")])
    twin.set_weights(model.get_weights())
    return twin


def _same_loss_and_its_gradient(model, twin, x):
    """``model`` (built here) with ``twin``'s weights: its loss (its penalties inside call) equals ``twin``'s (the
    engine's), and its gradient finite differences of it."""
    model.build((None, 6))
    twin.set_weights(model.get_weights())
    for m in (model, twin):
        m.compile(optimizer="sgd", loss="mse")
    np.testing.assert_allclose(model.evaluate(x, x[:, :1], verbose=0), twin.evaluate(x, x[:, :1], verbose=0),
                               rtol=1e-12)
    check_loss_gradient(model, x, x[:, :1], points=2)


def test_a_subclassed_models_layer_penalty_trains_as_the_sequentials(f64):
    x = _data()
    model = Encoder()
    model.build((None, 6))
    twin = _flat_twin(model)
    for m in (model, twin):
        m.compile(optimizer=gpunet.optimizers.SGD(0.5), loss="binary_crossentropy")
    plain = Encoder()
    plain.build((None, 6))
    plain.code.activity_regularizer = None
    plain.set_weights(model.get_weights())
    plain.compile(optimizer="sgd", loss="binary_crossentropy")
    assert model.evaluate(x, x, verbose=0) > plain.evaluate(x, x, verbose=0) + 1e-3  # (the penalty counts)
    histories = [m.fit(x, x, batch_size=8, epochs=3, shuffle=False, verbose=0).history["loss"] for m in (model, twin)]
    np.testing.assert_allclose(histories[0], histories[1], rtol=1e-10)
    for a, b in zip(model.get_weights(), twin.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_the_penalty_gradient_matches_finite_differences(f64):
    x = _data()
    model = Sequential([Input((6,)), Block(), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    check_loss_gradient(model, x, x[:, :1], points=2)
    held = Encoder()
    held.compile(optimizer="sgd", loss="mse")
    check_loss_gradient(held, x, x, points=2)


def test_trains_as_tf_keras(tfk):
    x = _data().astype("float32")
    model, ref = Encoder(), _encoder_class(tfk)()
    model.build((None, 6))
    ref(x[:1])
    model.set_weights(ref.get_weights())
    for m, lib in ((model, gpunet), (ref, tfk)):
        m.compile(optimizer=lib.optimizers.SGD(0.5), loss="binary_crossentropy")
    assert_trains_alike(model, ref, x, x)


@pytest.mark.parametrize("where", ["predict", "call"])
def test_predicting_adds_nothing_and_needs_no_loss(where):
    x = _data().astype("float32")
    model = Encoder()
    out = model.predict(x, verbose=0) if where == "predict" else model(x)
    assert tuple(out.shape) == (40, 6)


def test_a_layer_of_your_own_with_a_penalty_inside_a_call_counts_once(f64):
    """Top level, the engine adds its penalty; inside a subclassed model's call, the call does (once)."""
    x = _data()

    class Outer(gpunet.models.Model):
        def __init__(self):
            super().__init__()
            self.block = Block(activity_regularizer=regularizers.l1(0.2))
            self.out = Dense(1)

        def call(self, inputs):
            return self.out(self.block(inputs))
    outer = Outer()
    flat = Sequential([Input((6,)), Block(activity_regularizer=regularizers.l1(0.2)), Dense(1)])
    _same_loss_and_its_gradient(outer, flat, x)


def test_a_merge_layers_penalty_inside_a_call_counts_as_in_a_functional_graph(f64):
    x = _data()

    class Joined(gpunet.models.Model):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.out = Dense(3), Dense(3), Dense(1)
            self.add = gpunet.layers.Add(activity_regularizer=regularizers.l2(0.3))

        def call(self, inputs):
            return self.out(self.add([self.a(inputs), self.b(inputs)]))
    joined = Joined()
    i = Input((6,))
    graph = gpunet.models.Model(i, Dense(1)(gpunet.layers.Add(activity_regularizer=regularizers.l2(0.3))(
        [Dense(3)(i), Dense(3)(i)])))
    _same_loss_and_its_gradient(joined, graph, x)


def test_a_layer_of_your_own_on_several_tensors_inside_a_call_adds_its_penalty(f64):
    x = _data()

    class Mix(Layer):
        def call(self, inputs):
            a, b = inputs
            return a * b

    class Mixed(gpunet.models.Model):
        def __init__(self, reg):
            super().__init__()
            self.a, self.b, self.out = Dense(3), Dense(3), Dense(1)
            self.mix = Mix(activity_regularizer=regularizers.l1(0.4) if reg else None)

        def call(self, inputs):
            return self.out(self.mix([self.a(inputs), self.b(inputs)]))
    models = [Mixed(reg) for reg in (True, False)]
    for m in models:
        m.build((None, 6))
        m.compile(optimizer="sgd", loss="mse")
    models[1].set_weights(models[0].get_weights())
    hidden = models[0].a(x).numpy() * models[0].b(x).numpy()
    np.testing.assert_allclose(models[0].evaluate(x, x[:, :1], verbose=0) - models[1].evaluate(x, x[:, :1], verbose=0),
                               0.4 * np.abs(hidden).sum() / len(x), rtol=1e-10)
    check_loss_gradient(models[0], x, x[:, :1], points=2)


class Scaled(Layer):
    """A layer of your own taking an extra argument: ``scale``."""

    def call(self, inputs, scale=1.0):
        return inputs * scale


@pytest.mark.parametrize("where", ["inside-a-call", "functional-graph"])
def test_a_layer_of_your_own_called_with_more_arguments_adds_its_penalty_once(f64, where):
    x = _data()

    def build(reg):
        scaled = Scaled(activity_regularizer=regularizers.l1(0.4) if reg else None)
        if where == "functional-graph":
            i = Input((6,))
            return gpunet.models.Model(i, Dense(1)(scaled(Dense(3)(i), scale=2.0)))

        class Outer(gpunet.models.Model):
            def __init__(self):
                super().__init__()
                self.a, self.scaled, self.out = Dense(3), scaled, Dense(1)

            def call(self, inputs):
                return self.out(self.scaled(self.a(inputs), scale=2.0))
        return Outer()
    models = [build(reg) for reg in (True, False)]
    for m in models:
        m.build((None, 6))
        m.compile(optimizer="sgd", loss="mse")
    models[1].set_weights(models[0].get_weights())
    dense = models[0].layers[1] if where == "functional-graph" else models[0].a
    hidden = 2.0 * dense(x).numpy()
    np.testing.assert_allclose(models[0].evaluate(x, x[:, :1], verbose=0) - models[1].evaluate(x, x[:, :1], verbose=0),
                               0.4 * np.abs(hidden).sum() / len(x), rtol=1e-10)
    check_loss_gradient(models[0], x, x[:, :1], points=2)
