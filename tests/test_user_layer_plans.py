"""Layers of your own (``build`` with ``add_weight``, ``call`` on the tape: the Keras guide's subclassed
layers) inside the fused graph steps: NumPy's graph plan and the GPU's graph step and forward plan (kernels
emulated on the CPU) run each such call by its own code on the tape, forward and backward, as the layer
path runs it, and the Dense layers around it in their own buffers and kernels. Such a model trained layer
by layer before, whatever its layer did. The losses such a layer adds (``self.add_loss`` in ``call``: the
Keras guide's ``ActivityRegularizationLayer``) join each step's loss (their gradients come back through its
tape), in fit's epoch and batch logs, train_on_batch, evaluate and ``model.losses``, and the metrics it logs
(``self.add_metric``) are the model's as on the layer path; one holding a layer with an activity regularizer
keeps the layer path (layers/user_terms.py); one that adds a term its code does not show stops with an
error naming it."""
import numpy
import pytest

import gpunet
from cuda_emulator import emulator  # noqa: F401 (fixture)
from gpunet import backend as B
from gpunet import backend as K
from gpunet.layers import Dense, Dropout, Input, Layer
from gpunet.layers.user_terms import added_terms
from gpunet.models import Sequential
import test_op_layer_plans as op_plans
from test_masked_plans import backend as path_backend

N = 101


def data():
    rng = numpy.random.default_rng(6)
    x = rng.standard_normal((N, 8))
    return x, (x[:, :3].sum(1, keepdims=True) > 0).astype("float64")


class Linear(Layer):
    """The Keras guide's ``Linear``: ``w`` and ``b`` made in build, ``inputs @ w + b`` in call."""

    def __init__(self, units=8, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(name="w", shape=(input_shape[-1], self.units), initializer="random_normal")
        self.b = self.add_weight(name="b", shape=(self.units,), initializer="zeros")

    def call(self, inputs):
        return K.tanh(K.dot(inputs, self.w) + self.b)


class Gate(Layer):
    """A block holding built-in layers (their own backward on the tape) and a Dropout that follows ``training``."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.inner, self.drop = Dense(12, activation="sigmoid"), Dropout(0.25)

    def call(self, x, training=None):
        return x * self.inner(self.drop(x, training=training))


class Penalized(Layer):
    """The Keras guide's ``ActivityRegularizationLayer``: its call adds a loss."""

    def call(self, x):
        self.add_loss(1e-2 * K.sum(K.square(x)))
        return x


class ScaledPenalty(Layer):
    """A weight of its own, and a loss of its output added in every call (training or not)."""

    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(input_shape[-1],), initializer="ones")

    def call(self, x):
        y = K.tanh(x * self.scale)
        self.add_loss(1e-2 * K.mean(K.sum(K.square(y), axis=-1)))
        return y


class Logged(Layer):
    """A call adding a metric through a helper method, in training only."""

    def call(self, x, training=None):
        if training:
            self._log(x)
        return x

    def _log(self, x):
        self.add_metric(K.mean(x), name="mean_activation")


class LoggedAlways(Layer):
    """A weight, and a metric of its output logged in every call (fit, evaluate)."""

    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(input_shape[-1],), initializer="ones")

    def call(self, x):
        y = x * self.scale
        self.add_metric(K.mean(K.abs(y)), name="mean_abs")
        return y


class HoldsActivityPenalty(Layer):
    """A layer holding one with an activity regularizer (its penalty the layer path's alone)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.inner = Dense(12, activity_regularizer="l2")

    def call(self, x):
        return self.inner(x)


def functional_linear():
    i = Input((8,))
    h = Linear(12)(Dense(12, activation="relu")(i))
    return gpunet.Model(i, Dense(1, activation="sigmoid")(h + Dense(12)(i)))  # (the + an op: its own code too)


def sequential_gate():
    return Sequential([Dense(12, activation="relu", input_shape=(8,)), Gate(), Dense(1, activation="sigmoid")])


def nested_linear():
    """A nested model holding a layer of your own (a transfer-learning base written with one)."""
    base = Sequential([Dense(12, activation="relu", input_shape=(8,)), Linear(12)])
    i = Input((8,))
    return gpunet.Model(i, Dense(1, activation="sigmoid")(Dense(6, activation="relu")(base(i))))


def adds_losses():
    """Two layers adding losses (one holding a weight), beside a regularized Dense layer's penalty."""
    i = Input((8,))
    h = ScaledPenalty()(Dense(12, activation="relu", kernel_regularizer="l2")(i))
    return gpunet.Model(i, Dense(1, activation="sigmoid")(Penalized()(Dense(6)(h))))


def nested_adds_a_loss():
    """A nested base model holding a layer that adds a loss."""
    base = Sequential([Dense(12, activation="relu", input_shape=(8,)), ScaledPenalty()])
    i = Input((8,))
    return gpunet.Model(i, Dense(1, activation="sigmoid")(base(i)))


def logs_metrics():
    """A metric logged in every call beside one logged in training only, and a loss added."""
    i = Input((8,))
    h = Logged()(LoggedAlways()(Dense(12, activation="relu")(i)))
    return gpunet.Model(i, Dense(1, activation="sigmoid")(Penalized()(h)))


# name: (builder, calls by their own code in the GPU step: forward entries, backward entries)
CASES = {"functional-linear": (functional_linear, (2, 2)), "sequential-gate": (sequential_gate, (1, 1)),
         "nested-linear": (nested_linear, (1, 1)), "adds-losses": (adds_losses, (2, 2)),
         "nested-adds-a-loss": (nested_adds_a_loss, (1, 1)), "logs-metrics": (logs_metrics, (3, 3))}


def run(path, build, emulator=None):
    """(model, History dict, predictions, evaluate's results) on ``path``: test_masked_plans.run's."""
    return op_plans.run(path, build, emulator, data)


@pytest.mark.parametrize("case", sorted(CASES))
def test_layers_of_your_own_train_inside_the_graph_steps_as_on_the_layer_path(emulator, case):
    op_plans.assert_graph_steps_train_as_the_layer_path(emulator, *CASES[case], data=data)


def test_a_layer_holding_an_activity_regularizer_keeps_the_layer_path(emulator):
    """Its penalty is the layer path's alone: the steps do not compute it."""
    B.set_floatx("float64")

    def build():
        i = Input((8,))
        return gpunet.Model(i, Dense(1, activation="sigmoid")(HoldsActivityPenalty()(Dense(12, activation="relu")(i))))
    for path in ("numpy", "emulated-gpu"):
        model, history = run(path, build, emulator)[:2]
        assert model._train_plan() is None and added_terms(model.layers[2]) == {"loss", "other"}
        assert numpy.isfinite(history["loss"]).all()


@pytest.mark.parametrize("build", [adds_losses, logs_metrics])
@pytest.mark.parametrize("path", ["numpy", "emulated-gpu"])
def test_added_terms_are_in_every_batch_log_train_on_batch_and_model_losses_as_on_the_layer_path(emulator, path,
                                                                                                 build):
    B.set_floatx("float64")
    x, y = data()
    got = {}
    for which in ("layer-path", path):
        with B.use_backend(path_backend(which, emulator)):
            gpunet.utils.set_random_seed(3)
            model = build()
            model.compile(optimizer=gpunet.optimizers.Adam(0.01), loss="binary_crossentropy")
            if which == "layer-path":
                model._train_plan = lambda: None
            logs = []
            seen = gpunet.callbacks.LambdaCallback(on_train_batch_end=lambda b, l: logs.append(dict(l)))
            model.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False, callbacks=[seen])
            one = model.train_on_batch(x[:20], y[:20], return_dict=True)
            got[which] = (logs, one, [float(v) for v in model.losses], model._plan)
    want = got["layer-path"]
    assert len(got[path][0]) == len(want[0]) == 14 and set(got[path][1]) == set(want[1])
    for logs, ref in zip(got[path][0] + [got[path][1]], want[0] + [want[1]]):
        assert sorted(logs) == sorted(ref)
        for key in ref:
            numpy.testing.assert_allclose(logs[key], ref[key], rtol=1e-10, err_msg=key)
    numpy.testing.assert_allclose(got[path][2], want[2], rtol=1e-10)  # (the last batch's terms)
    assert type(got[path][3]).__name__ == ("GraphPlan" if path == "numpy" else "GpuGraphPlan")


def test_predict_on_the_gpu_forward_plan_logs_no_metric_as_on_the_layer_path(emulator):
    """evaluate's forward plan gives the model's metrics each batch's values; predict's run gives them none."""
    B.set_floatx("float64")
    x, y = data()
    with B.use_backend(path_backend("emulated-gpu", emulator)):
        gpunet.utils.set_random_seed(3)
        model = logs_metrics()
        model.compile(optimizer="adam", loss="binary_crossentropy")
        logs = model.evaluate(x, y, verbose=0, return_dict=True)
        assert type(model._gpu_forward).__name__ == "GpuGraphForward" and "mean_abs" in logs
        before = {m.name: m.result() for m in model.metrics}
        model.predict(x, verbose=0)
        assert {m.name: m.result() for m in model.metrics} == before


def _add_quietly(layer, x):
    """A loss added by a function outside the layer's class (which user_terms.py cannot see)."""
    layer.add_loss(K.mean(x))


class Sneaky(Layer):
    def call(self, x, training=None):
        if training:
            _add_quietly(self, x)
        return x


def test_a_loss_added_outside_the_layers_code_stops_the_step_with_its_name():
    """A fused step would leave the term out of the loss: an error naming the layer, not a wrong loss;
    the failed first step changed no weight."""
    B.set_floatx("float64")
    x, y = data()
    with B.use_backend(B.resolve("numpy")):
        gpunet.utils.set_random_seed(3)
        i = Input((8,))
        model = gpunet.Model(i, Dense(1, activation="sigmoid")(Sneaky(name="sneaky")(Dense(12)(i))))
        model.compile("adam", "binary_crossentropy")
        before = model.get_weights()
        with pytest.raises(RuntimeError, match="Layer 'sneaky' added a loss \\(add_loss\\) in a step gpunet fuses"):
            model.fit(x, y, epochs=1, batch_size=16, verbose=0)
        for b, a in zip(before, model.get_weights()):
            numpy.testing.assert_array_equal(a, b)


def test_added_terms_reads_every_method_sublayers_and_the_probe():
    class Helper(Layer):  # add_loss in a method call() reaches
        def call(self, x):
            return self.more(x)

        def more(self, x):
            self.add_loss(K.sum(x))
            return x

    class Holder(Layer):  # a sublayer that adds one
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.inner = Penalized()

        def call(self, x):
            return self.inner(x)

    class Quiet(Layer):
        def call(self, x):
            return x * 2.0

    class Regularized(Layer):  # a built-in sublayer with an activity regularizer
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.inner = Dense(3, activity_regularizer="l2")

        def call(self, x):
            return self.inner(x)

    class Probed(Layer):  # a loss through a function: the output-shape probe (inference) sees it
        def call(self, x):
            _add_quietly(self, x)
            return x
    i = Input((12,))
    made = {cls: cls() for cls in (Helper, Holder, Quiet, Regularized, Probed, Sneaky, Linear, Gate, Logged)}
    for layer in made.values():
        layer(i)
    got = {cls.__name__: added_terms(layer) for cls, layer in made.items()}
    # (Regularized: its sublayer's activity penalty is a loss its call adds, layers/sublayers.py `penalized`)
    assert got == {"Helper": {"loss"}, "Holder": {"loss"}, "Quiet": set(), "Regularized": {"loss", "other"},
                   "Probed": {"loss"}, "Sneaky": set(), "Linear": set(), "Gate": set(), "Logged": {"metric"}}


@pytest.mark.gpu
@pytest.mark.parametrize("case", sorted(CASES))
def test_on_a_gpu_layers_of_your_own_train_on_the_graph_step_as_on_the_layer_path(case):
    op_plans.assert_gpu_graph_step_trains_as_the_layer_path(CASES[case][0], data=data)
