"""Subclassed models (``class M(Model)`` with layers set in ``__init__`` and a ``call``) on the fused graph
steps: ``call`` traced on a symbolic input into a graph of the model's own layers (models/call_trace.py)
trains on NumPy's graph plan and the GPU's graph step and forward plan (kernels emulated on the CPU) as the
tape trains it layer by layer; a ``call`` whose trace could train differently keeps the tape, and leaves
nothing of the trace behind."""
import numpy
import pytest

import gpunet
from cuda_emulator import emulator  # noqa: F401 (fixture)
from gpunet import backend as B
from gpunet import backend as K
from gpunet.layers import (Activation, BatchNormalization, Dense, Dropout, GaussianNoise, Input, Layer,
                           naming)
from gpunet.layers.symbolic import nodes_of
from gpunet.models import Model, Sequential
import test_op_layer_plans as op_plans
from test_user_layer_plans import Linear, ScaledPenalty
from test_masked_plans import backend as path_backend

N = 101


def data():
    rng = numpy.random.default_rng(8)
    x = rng.standard_normal((N, 8))
    return x, (x[:, :3].sum(1, keepdims=True) > 0).astype("float64")


class MLP(Model):
    """The tutorial's network as a subclass, ``training`` taken and passed on."""

    def __init__(self):
        super().__init__()
        self.hidden, self.more = Dense(12, activation="relu"), Dense(8, activation="relu")
        self.out = Dense(1, activation="sigmoid")

    def call(self, inputs, training=None):
        return self.out(self.more(self.hidden(inputs), training=training))


class Residual(Model):
    """A skip connection by an operator, and backend functions."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = Dense(12, activation="relu"), Dense(12), Dense(6, activation="relu")
        self.out = Dense(1, activation="sigmoid")

    def call(self, x):
        h = self.a(x)
        h = K.tanh(h + self.b(h))
        return self.out(K.concatenate([h, self.c(x)]))


class Normalized(Model):
    """A BatchNormalization following ``training`` (after a Dense without bias, as Keras advises: a bias
    there only has rounding noise for a gradient) and a block of your own."""

    def __init__(self):
        super().__init__()
        self.a, self.norm, self.block = Dense(12, use_bias=False), BatchNormalization(), Linear(10)
        self.out = Dense(1, activation="sigmoid")

    def call(self, x, training=False):
        h = Activation("relu")(self.norm(self.a(x), training=training))
        return self.out(self.block(h))


class SharedAndNested(Model):
    """A Dense layer called twice and a nested Sequential base."""

    def __init__(self):
        super().__init__()
        self.base = Sequential([Dense(12, activation="relu", input_shape=(8,)), Dense(8, activation="relu")])
        self.twice, self.out = Dense(8, activation="tanh"), Dense(1, activation="sigmoid")

    def call(self, x):
        return self.out(self.twice(self.twice(self.base(x))))


class Encoder(Model):
    """A subclassed model to nest: its call runs on the tape inside the outer model's steps."""

    def __init__(self):
        super().__init__()
        self.a, self.b = Dense(12, activation="relu"), Dense(6, activation="tanh")

    def call(self, x, training=None):
        return self.b(self.a(x))


class HoldsAModel(Model):
    """A subclassed model holding one (an encoder), beside a Dense layer of its own."""

    def __init__(self):
        super().__init__()
        self.encoder, self.out = Encoder(), Dense(1, activation="sigmoid")

    def call(self, x, training=None):
        return self.out(self.encoder(x, training=training))


class PenalizedEncoder(Encoder):
    """An encoder holding a layer that adds a loss at each call (the steps add it to each step's)."""

    def __init__(self):
        super().__init__()
        self.penalty = ScaledPenalty()

    def call(self, x, training=None):
        return self.penalty(super().call(x))


def holds_an_encoder_adding_a_loss():
    i = Input((8,))
    return Model(i, Dense(1, activation="sigmoid")(PenalizedEncoder()(i)))


def functional_over_a_subclassed_model():
    i = Input((8,))
    return Model(i, Dense(1, activation="sigmoid")(Dense(6, activation="relu")(Encoder()(i))))


# name: (model class, calls by their own code in the GPU step: forward entries, backward entries)
CASES = {"mlp": (MLP, (0, 0)), "residual": (Residual, (3, 3)), "normalized": (Normalized, (1, 1)),
         "shared-and-nested": (SharedAndNested, (1, 1)), "holds-a-subclassed-model": (HoldsAModel, (1, 1)),
         "functional-over-a-subclassed-model": (functional_over_a_subclassed_model, (1, 1)),
         "nested-adding-a-loss": (holds_an_encoder_adding_a_loss, (1, 1))}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_subclassed_model_trains_on_the_graph_steps_as_on_the_tape(emulator, case):
    op_plans.assert_graph_steps_train_as_the_layer_path(emulator, *CASES[case], data=data)


def test_its_dropout_follows_the_steps_mode_as_on_the_tape():
    """``self.drop(x, training=training)``: dropped in fit, not in evaluate and predict; NumPy's graph plan
    draws the tape's masks."""
    class Dropped(Model):
        def __init__(self):
            super().__init__()
            self.a, self.drop, self.out = Dense(16, activation="relu"), Dropout(0.3), Dense(1, activation="sigmoid")

        def call(self, x, training=None):
            return self.out(self.drop(self.a(x), training=training))
    B.set_floatx("float64")
    ref, got = op_plans.run("layer-path", Dropped, data=data), op_plans.run("numpy", Dropped, data=data)
    assert type(got[0]._plan).__name__ == "GraphPlan"
    assert [n.training for n in got[0]._plan_graph()[1]] == [None, None, None]
    op_plans.assert_alike(got, ref, 1e-10)


def _fit(model, path="numpy", emulator=None):
    x, y = data()
    with B.use_backend(path_backend(path, emulator)):
        gpunet.utils.set_random_seed(5)  # (the noise drawn, the layers made in call)
        model.compile(optimizer=gpunet.optimizers.Adam(0.01), loss="binary_crossentropy")
        history = model.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False).history
    return history


class BranchesOnTraining(Model):
    def __init__(self):
        super().__init__()
        self.a, self.noise, self.out = Dense(12, activation="relu"), GaussianNoise(0.1), Dense(1, activation="sigmoid")

    def call(self, x, training=None):
        h = self.a(x)
        if training:
            h = self.noise(h)
        return self.out(h)


class ScalesInTraining(Model):  # (an op's constant that follows training)
    def __init__(self):
        super().__init__()
        self.a, self.out = Dense(12, activation="relu"), Dense(1, activation="sigmoid")

    def call(self, x, training=None):
        return self.out(self.a(x) * (0.5 if training else 1.0))


class UsesAKernel(Model):  # (an op given a weight: a constant in a graph, without its gradient)
    def __init__(self):
        super().__init__()
        self.a, self.out = Dense(12, activation="relu"), Dense(1, activation="sigmoid")

    def call(self, x):
        h = self.a(x)
        return self.out(h + K.dot(x, self.a.kernel))


class MakesADense(Model):  # (new weights at each call)
    def __init__(self):
        super().__init__()
        self.out = Dense(1, activation="sigmoid")

    def call(self, x):
        return self.out(Dense(4)(x))


class BranchesOnValues(Model):
    def __init__(self):
        super().__init__()
        self.a, self.out = Dense(12, activation="relu"), Dense(1, activation="sigmoid")

    def call(self, x):
        h = self.a(x)
        return self.out(h * 2.0 if K.sum(h) > 0 else h)


class AddsALoss(Model):
    def __init__(self):
        super().__init__()
        self.a, self.out = Dense(12, activation="relu"), Dense(1, activation="sigmoid")

    def call(self, x):
        h = self.a(x)
        self.add_loss(1e-3 * K.sum(K.square(h)))
        return self.out(h)


class ReturnsTwo(Model):
    def __init__(self):
        super().__init__()
        self.a, self.out = Dense(12, activation="relu"), Dense(1, activation="sigmoid")

    def call(self, x):
        return [self.out(self.a(x))]


REFUSED = [BranchesOnTraining, ScalesInTraining, UsesAKernel, MakesADense, BranchesOnValues, AddsALoss]


@pytest.mark.parametrize("cls", REFUSED, ids=lambda c: c.__name__)
def test_a_call_the_graph_could_train_differently_keeps_the_tape_and_leaves_no_trace(cls):
    B.set_floatx("float64")
    gpunet.utils.set_random_seed(3)
    model = cls()
    model.build((None, 8))
    layers = list(model.layers)
    calls = [len(nodes_of(layer)) for layer in layers]
    names = dict(naming._name_counts)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model._pack()
    assert model._plan_graph() is None and model._train_plan() is None
    assert [len(nodes_of(layer)) for layer in layers] == calls and naming._name_counts == names
    gpunet.utils.set_random_seed(3)
    ref = cls()
    ref.build((None, 8))
    ref.compile(optimizer="adam", loss="binary_crossentropy")
    ref._train_plan = lambda: None
    model.set_weights(ref.get_weights())
    got, want = _fit(model), _fit(ref)
    for key in want:
        numpy.testing.assert_allclose(got[key], want[key], rtol=1e-12, err_msg=key)


def test_a_trace_keeps_one_call_per_layer_and_takes_no_name():
    B.set_floatx("float64")
    model = Residual()
    model.build((None, 8))
    names = dict(naming._name_counts)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model._pack()
    inputs, nodes, outputs, _ = model._plan_graph()
    assert [len(nodes_of(layer)) for layer in (model.a, model.b, model.c, model.out)] == [1, 1, 1, 1]
    assert naming._name_counts == names and outputs[0].node.layer is model.out and len(nodes) == 7
    model.compile(optimizer="sgd", loss="binary_crossentropy")  # (packed again: the same layers, the same trace)
    model._pack()
    assert model._plan_graph()[1] is nodes
    model.out = Dense(1, activation="sigmoid")  # (another layer: traced again)
    model.build((None, 8))
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    model._pack()
    assert model._plan_graph()[2][0].node.layer is model.out


def test_a_call_returning_a_list_of_one_tensor_is_traced_as_that_tensor():
    """(Several tensors: tests/test_subclassed_outputs.py.)"""
    model = ReturnsTwo()
    model.build((None, 8))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model._pack()
    outputs = model._plan_graph()[2]
    assert len(outputs) == 1 and outputs[0].node.layer is model.out and model.output_shape == (None, 1)


@pytest.mark.gpu
@pytest.mark.parametrize("case", sorted(CASES))
def test_on_a_gpu_a_subclassed_model_trains_on_the_graph_step_as_on_the_tape(case):
    op_plans.assert_gpu_graph_step_trains_as_the_layer_path(CASES[case][0], data=data)


class HoldsABase(Layer):
    """A layer of your own calling a model it holds (a transfer-learning base) in its ``call``."""

    def __init__(self, base, **kwargs):
        super().__init__(**kwargs)
        self.base = base

    def call(self, x):
        return self.base(x)


@pytest.mark.parametrize("kind", ["sequential", "functional"])
def test_a_model_called_inside_a_call_trains_on_the_tape_as_in_a_graph(kind):
    """A model called on the tape's tensors used to return plain arrays: the tape lost the call and nothing
    before the loss trained (a constant loss). Now its forward and backward are on the tape, as a layer's."""
    B.set_floatx("float64")
    x, y = data()

    def base():
        if kind == "sequential":
            return Sequential([Dense(12, activation="relu", input_shape=(8,)), Dense(6, activation="relu")])
        i = Input((8,))
        return Model(i, Dense(6, activation="relu")(Dense(12, activation="relu")(i)))
    histories = []
    for how in ("in-the-graph", "in-a-call"):
        gpunet.utils.set_random_seed(3)
        inner, out, i = base(), Dense(1, activation="sigmoid"), Input((8,))
        model = Model(i, out(inner(i) if how == "in-the-graph" else HoldsABase(inner)(i)))
        model.compile(optimizer=gpunet.optimizers.Adam(0.01), loss="binary_crossentropy")
        model._train_plan = lambda: None
        histories.append(model.fit(x, y, batch_size=16, epochs=3, verbose=0, shuffle=False).history["loss"])
    numpy.testing.assert_allclose(histories[1], histories[0], rtol=1e-12)
    assert histories[1][-1] < histories[1][0] - 0.01


class Counts(Model):
    """Python code in ``call``: runs at the trace under Keras's ``tf.function`` and here, each step eagerly."""

    def __init__(self):
        super().__init__()
        self.calls, self.a, self.out = 0, Dense(12, activation="relu"), Dense(1, activation="sigmoid")

    def call(self, x):
        self.calls += 1
        return self.out(self.a(x))


@pytest.mark.parametrize("eagerly", [False, True])
def test_run_eagerly_runs_call_at_every_step_as_in_keras(eagerly):
    B.set_floatx("float64")
    x, y = data()
    model = Counts()
    model.compile(optimizer="adam", loss="binary_crossentropy", run_eagerly=eagerly)
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    steps = 2 * 7
    assert model.run_eagerly is eagerly and (model._plan_graph() is None) is eagerly
    assert model.calls > steps if eagerly else model.calls < 5  # (the build's probe and the two traces)
    model.run_eagerly = not eagerly  # (settable, as Keras's attribute)
    assert (model._plan_graph() is None) is not eagerly


def test_a_models_own_weight_keeps_the_tape_and_trains():
    """It used to be made, used in call, and never trained nor saved (tests/test_model_own_weights.py: as
    tf.keras trains it)."""
    class Tempered(Model):
        def __init__(self):
            super().__init__()
            self.out = Dense(1)
            self.temperature = self.add_weight(name="temperature", shape=(1,), initializer="ones")

        def call(self, x):
            return self.out(x) * self.temperature
    x, y = data()
    model = Tempered()
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, epochs=1, verbose=0)
    assert model._plan_graph() is None and model.weights[-1] is model.temperature
    assert float(model.temperature.numpy()[0]) != 1.0


class CallsAnEncodersLayerToo(Model):
    """A layer of a model it holds called directly as well (its gradients the nested model's and its own)."""

    def __init__(self):
        super().__init__()
        self.encoder, self.out = Encoder(), Dense(1, activation="sigmoid")

    def call(self, x):
        return self.out(self.encoder(x) + self.encoder.b(self.encoder.a(x)))


def test_a_nested_models_layer_called_directly_too_keeps_the_tape():
    B.set_floatx("float64")
    model = CallsAnEncodersLayerToo()
    model.build((None, 8))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model._pack()
    assert model._plan_graph() is None
    history = _fit(model)
    assert numpy.isfinite(history["loss"]).all()
