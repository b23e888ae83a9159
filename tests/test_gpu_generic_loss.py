"""The GPU step plan with a loss no kernel computes (step_kernels.generic_loss_kernel): the focal
losses, ignore_class, another reduction than Keras's default or "sum", a user's function or Loss
subclass (label smoothing of the plain cross-entropies has kernels: test_gpu_label_smoothing.py).
The step runs the loss's own ``compute`` between its forward and backward kernels, between two
captured graphs (before, such a model left the plan for the layer path). Through the kernels' CPU
emulation, against the NumPy backend: same histories and weights, float32 and float64."""
import numpy
import pytest

import gpunet
from cuda_emulator import EmulatedCupyBackend, emulator  # noqa: F401 (fixture)
from gpunet import backend as B
from gpunet import losses
from gpunet.backend.gpu_graphs import Between
from gpunet.backend.gpu_plan import GpuPlan
from gpunet.layers import Dense, Dropout
from gpunet.models import Sequential
from kernel_cases import assert_same_fit


def twice_mse(y_true, y_pred):
    """A user's loss function (gpunet.ops on the batch's tensors)."""
    return 2.0 * gpunet.ops.mean(gpunet.ops.square(y_true - y_pred), axis=-1)


class ScaledAbsolute(losses.Loss):
    """A user's Keras-style Loss subclass."""

    def call(self, y_true, y_pred):
        return gpunet.ops.mean(gpunet.ops.abs(y_true - y_pred) * 3.0, axis=-1)


# name: (units, output activation, loss, target kind, weighted, dropout)
CASES = {
    "focal-smoothing": (1, "sigmoid", lambda: losses.BinaryFocalCrossentropy(label_smoothing=0.1), "binary", True,
                        False),
    "cce-mean-with-sample-weight": (3, "softmax", lambda: losses.CategoricalCrossentropy(
        reduction="mean_with_sample_weight"), "onehot", True, False),
    "binary-focal-mean-with-sample-weight": (1, "sigmoid", lambda: losses.BinaryFocalCrossentropy(
        gamma=1.5, apply_class_balancing=True, reduction="mean_with_sample_weight"), "binary", True, False),
    "categorical-focal": (4, "softmax", lambda: losses.CategoricalFocalCrossentropy(alpha=0.3), "onehot", True, False),
    "sparse-ignore-class": (3, "softmax", lambda: losses.SparseCategoricalCrossentropy(ignore_class=0), "sparse",
                            False, False),
    "mse-none": (2, "linear", lambda: losses.MeanSquaredError(reduction="none"), "real", True, False),
    "user-function": (2, "tanh", lambda: twice_mse, "real", False, False),
    # (the GPU's dropout masks are not NumPy's: this case is checked on its own below)
    "dropout": (3, "softmax", lambda: losses.CategoricalFocalCrossentropy(label_smoothing=0.2), "onehot", False,
                True),
    "user-loss-class": (2, "linear", lambda: ScaledAbsolute(), "real", True, False),
}
N = 67  # not a multiple of the batch size: every epoch ends with a short batch
BATCH = 16


def _data(case):
    units, _, _, kind, weighted, _ = CASES[case]
    rng = numpy.random.default_rng(3)
    x = rng.standard_normal((N, 5))
    labels = rng.integers(0, units if units > 1 else 2, N)
    y = {"binary": lambda: labels[:, None].astype(float), "onehot": lambda: numpy.eye(units)[labels],
         "sparse": lambda: labels, "real": lambda: rng.standard_normal((N, units))}[kind]()
    return x, y, rng.uniform(0.2, 2.0, N) if weighted else None


def _fit(case, ops, epochs=3):
    units, activation, make_loss, kind, _, dropout = CASES[case]
    x, y, sw = _data(case)
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(5)
        layers = [Dense(7, input_dim=5, activation="relu")] + ([Dropout(0.25)] if dropout else [])
        net = Sequential(layers + [Dense(units, activation=activation)])
        net.compile(optimizer=gpunet.optimizers.Adam(learning_rate=0.02), loss=make_loss(),
                    metrics=["accuracy" if kind == "sparse" else "mae"])
        gpunet.utils.set_random_seed(9)  # the same shuffles (and dropout masks' seeds) on both backends
        history = net.fit(x, y, sample_weight=sw, batch_size=BATCH, epochs=epochs, verbose=0)
        logs = net.evaluate(x, y, sample_weight=sw, batch_size=BATCH, verbose=0, return_dict=True)
    return net, history.history, logs


@pytest.mark.parametrize("fused_step", ["1", "0"], ids=["one-launch-allowed", "multi-launch"])
@pytest.mark.parametrize("floatx", ["float32", "float64"])
@pytest.mark.parametrize("case", sorted(set(CASES) - {"dropout"}))
def test_the_gpu_plan_trains_with_the_loss_as_numpy(emulator, case, floatx, fused_step, monkeypatch):
    monkeypatch.setenv("GPUNET_FUSED_STEP", fused_step)
    B.set_floatx(floatx)
    emulator.launches.clear()
    net, history, logs = _fit(case, EmulatedCupyBackend(emulator))
    assert isinstance(net._plan, GpuPlan) and net._plan.loss_kernel.generic, "the model trained on the GPU plan"
    kernels = {k.split("<")[0] for k, _, _ in emulator.launches}
    assert {"batch_gather", "loss_grad", "dense_forward", "dense_backward", "adam_update"} <= kernels
    assert "mlp_step" not in kernels  # (the one-launch step has no place for a loss computed outside it)
    # captured in two graphs around the loss's compute (a Between entry: its CuPy operations allocate)
    assert all(step.capturable and sum(isinstance(e, Between) for e in step.entries) == 1
               for step in net._plan._steps.values())
    ref = _fit(case, B.resolve("numpy"))
    assert len(history) == 2
    assert_same_fit((net, history, logs), ref, 1e-10 if floatx == "float64" else 2e-5)


def test_dropout_trains_on_the_generic_step(emulator):
    B.set_floatx("float32")
    net, history, _ = _fit("dropout", EmulatedCupyBackend(emulator), epochs=6)
    assert isinstance(net._plan, GpuPlan) and net._plan.loss_kernel.generic
    assert {k.split("<")[0] for k, _, _ in emulator.launches} >= {"dropout_forward", "dropout_backward"}
    assert history["loss"][-1] < history["loss"][0]


def test_the_epoch_reads_the_device_a_fixed_number_of_times(emulator):
    """The loss's compute runs on the device arrays: no read per step (a focal loss here)."""
    B.set_floatx("float32")
    ops = EmulatedCupyBackend(emulator)
    x, y, sw = _data("focal-smoothing")
    _, _, make_loss, _, _, _ = CASES["focal-smoothing"]
    with B.use_backend(ops):
        net = Sequential([Dense(7, input_dim=5, activation="relu"), Dense(1, activation="sigmoid")])
        net.compile(optimizer="adam", loss=make_loss())
        reads = []
        for batch in (8, 32):
            net.fit(x, y, sample_weight=sw, batch_size=batch, epochs=1, verbose=0)  # builds the step
            before = ops.host_reads
            net.fit(x, y, sample_weight=sw, batch_size=batch, epochs=1, verbose=0)
            reads.append(ops.host_reads - before)
    assert isinstance(net._plan, GpuPlan) and reads[0] == reads[1], reads


def test_what_the_generic_step_does_not_take_stays_on_the_layer_path(emulator):
    """Targets of another width than the output (a user's loss may take any) and a model with
    added losses only keep the layer path, which reports or handles them."""
    B.set_floatx("float64")
    ops = EmulatedCupyBackend(emulator)

    def first_column_mse(y_true, y_pred):
        return gpunet.ops.mean(gpunet.ops.square(y_true[:, :1] - y_pred), axis=-1)

    rng = numpy.random.default_rng(0)
    x, y = rng.standard_normal((20, 5)), rng.standard_normal((20, 3))
    with B.use_backend(ops):
        net = Sequential([Dense(4, input_dim=5, activation="relu"), Dense(1)])
        net.compile(optimizer="sgd", loss=first_column_mse)
        loss = net.fit(x, y, epochs=1, batch_size=8, verbose=0).history["loss"]
        assert not isinstance(net._plan, GpuPlan) or not net._plan.accepts(x, y)
    with B.use_backend("numpy"):
        ref = Sequential([Dense(4, input_dim=5, activation="relu"), Dense(1)])
        ref.compile(optimizer="sgd", loss=first_column_mse)
        ref.set_weights(net.get_weights())
        want = ref.evaluate(x, y, verbose=0)
    with B.use_backend(ops):
        assert net.evaluate(x, y, verbose=0) == pytest.approx(want, rel=1e-12) and numpy.isfinite(loss[0])
    from gpunet.backend import step_kernels as S
    assert S.generic_loss_kernel(losses.get("mse")).generic
    assert S.generic_loss_kernel(losses.AddedLossesOnly()) is None


_NO_CUDA = B.cupy_unavailable_reason()


@pytest.mark.gpu
@pytest.mark.real_gpu
@pytest.mark.skipif(_NO_CUDA is not None, reason=f"no CUDA: {_NO_CUDA}")
@pytest.mark.parametrize("case", ["focal-smoothing", "categorical-focal", "sparse-ignore-class", "user-loss-class"])
def test_on_cupy_the_generic_step_trains_as_numpy(case, monkeypatch):
    """On a GPU: the loss's compute runs on the plan's stream between two captured graphs."""
    from gpunet.backend import gpu_graphs
    monkeypatch.setattr(gpu_graphs, "UNROLL", 2)  # (graphs of 2 steps within these short epochs too)
    monkeypatch.setenv("GPUNET_CUDA_GRAPHS", "1")
    monkeypatch.setenv("GPUNET_FUSED_STEP", "0")
    B.set_floatx("float32")
    net, history, logs = _fit(case, B.resolve("cupy"))
    assert isinstance(net._plan, GpuPlan) and net._plan.loss_kernel.generic
    assert net._plan._graphs.captures > 0
    ref, ref_history, ref_logs = _fit(case, B.resolve("numpy"))
    for key in ref_history:
        numpy.testing.assert_allclose(history[key], ref_history[key], rtol=2e-5, atol=2e-5, err_msg=key)
    for got, want in zip(net.get_weights(), ref.get_weights()):
        numpy.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-4, err_msg="weights")


# ---- functional graphs (the GPU graph step, gpu_graph_step.py) -------------------------------------------
GRAPH_LOSSES = {
    "sparse": lambda: "sparse_categorical_crossentropy",  # a kernel's; its gradient buffer was one column wide
    "sparse-ignore-class": lambda: losses.SparseCategoricalCrossentropy(ignore_class=1),
    "cce-mean-with-sample-weight": lambda: losses.CategoricalCrossentropy(reduction="mean_with_sample_weight"),
    "categorical-focal": lambda: losses.CategoricalFocalCrossentropy(),
    "user-function": lambda: twice_mse,
}


def _fit_graph(case, ops):
    from gpunet.layers import Add, Input
    rng = numpy.random.default_rng(4)
    x, labels = rng.standard_normal((N, 5)), rng.integers(0, 4, N)
    y = labels if "sparse" in case else numpy.eye(4)[labels]
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(1)
        inputs = Input((5,))
        merged = Add()([Dense(6, activation="relu")(inputs), Dense(6, activation="tanh")(inputs)])
        net = gpunet.Model(inputs, Dense(4, activation="softmax")(merged))
        net.compile(optimizer=gpunet.optimizers.Adam(learning_rate=0.02), loss=GRAPH_LOSSES[case]())
        gpunet.utils.set_random_seed(9)
        history = net.fit(x, y, batch_size=BATCH, epochs=3, verbose=0, validation_data=(x[:20], y[:20])).history
        history["evaluate"] = net.evaluate(x, y, batch_size=BATCH, verbose=0)
    return net, history


@pytest.mark.parametrize("case", sorted(GRAPH_LOSSES))
def test_the_gpu_graph_step_trains_with_the_loss_as_numpy(emulator, case):
    from gpunet.backend.gpu_graph_plan import GpuGraphPlan
    B.set_floatx("float64")
    net, history = _fit_graph(case, EmulatedCupyBackend(emulator))
    assert isinstance(net._plan, GpuGraphPlan) and net._plan.loss_kernel.generic == (case != "sparse")
    ref, ref_history = _fit_graph(case, B.resolve("numpy"))
    for key in ("loss", "val_loss", "evaluate"):
        numpy.testing.assert_allclose(history[key], ref_history[key], rtol=1e-10, err_msg=key)
    for got, want in zip(net.get_weights(), ref.get_weights()):
        numpy.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
