"""fit on a generator or Sequence trains through the model's fused step on the CPU, its batches'
loss and metrics tallied a run at a time (models/source_steps.py): the same histories, batch logs
and weights as the layer path, with uneven batches, sample weights, regularizers, batch callbacks,
a progress bar and a stop mid-epoch, and the losses a layer of your own adds in its call."""
import numpy as np
import pytest

import gpunet
from gpunet import backend as B, layers as L
from cuda_emulator import EmulatedCupyBackend, emulator  # noqa: F401 (fixture)
from gpunet.backend.dense_plan import DensePlan
from gpunet.backend.gpu_graph_plan import GpuGraphPlan
from gpunet.backend.gpu_plan import GpuPlan
from gpunet.backend.graph_plan import GraphPlan
from gpunet.models import source_steps

RNG = np.random.default_rng(5)
X = RNG.standard_normal((47, 6))
Y = (X[:, :1] - X[:, 1:2] > 0).astype("float64")
SW = RNG.uniform(0.5, 2.0, 47)


@pytest.fixture(autouse=True)
def numpy_f64():
    B.set_floatx("float64")  # (conftest sets float32 back after each test)
    with B.use_backend("numpy"):  # (the CPU's plans by name: "auto" picks CuPy on a GPU machine)
        yield


def chain():
    return gpunet.Sequential([gpunet.Input((6,)), L.Dense(8, activation="relu", kernel_regularizer="l2"),
                              L.Dense(1, activation="sigmoid")])


def residual():
    i = gpunet.Input((6,))
    h = L.Dense(8, activation="relu")(i)
    return gpunet.Model(i, L.Dense(1, activation="sigmoid")(L.Add()([h, L.Dense(8, activation="tanh")(h)])))


class Penalized(L.Layer):
    """A layer of your own adding a loss in its call (the fused steps add it: backend/step_terms.py)."""

    def call(self, x):
        self.add_loss(1e-2 * gpunet.ops.sum(gpunet.ops.square(x)))
        return x


def adds_a_loss():
    i = gpunet.Input((6,))
    return gpunet.Model(i, L.Dense(1, activation="sigmoid")(Penalized()(L.Dense(8, activation="tanh")(i))))


def batches(weighted, size=10):
    """A generator of (x, y[, sample_weight]) batches, the last of each pass 7 rows."""
    while True:
        for lo in range(0, 47, size):
            part = slice(lo, lo + size)
            yield (X[part], Y[part], SW[part]) if weighted else (X[part], Y[part])


def run(make, planned, weighted=False, callbacks=(), verbose=0, epochs=3):
    gpunet.utils.set_random_seed(2)
    model = make()
    model.compile(optimizer=gpunet.optimizers.Adam(0.02), loss="binary_crossentropy", metrics=["accuracy"])
    if not planned:
        model._build_plan = lambda: None
    history = model.fit(batches(weighted), steps_per_epoch=5, epochs=epochs, verbose=verbose,
                        callbacks=list(callbacks)).history
    return model, history


def assert_alike(a, b, rtol=1e-12):
    (model, history), (ref, want) = a, b
    assert sorted(history) == sorted(want)
    for key in want:
        np.testing.assert_allclose(history[key], want[key], rtol=rtol, err_msg=key)
    for got, expected in zip(model.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(got, expected, rtol=10 * rtol, atol=1e-13)


@pytest.mark.parametrize("make, plan", [(chain, DensePlan), (residual, GraphPlan), (adds_a_loss, GraphPlan)])
@pytest.mark.parametrize("weighted", [False, True])
def test_a_generator_trains_on_the_fused_step_as_on_the_layer_path(make, plan, weighted):
    got, want = run(make, True, weighted), run(make, False, weighted)
    assert isinstance(got[0]._plan, plan) and want[0]._plan is False
    assert_alike(got, want)


@pytest.mark.parametrize("make", [chain, residual])
def test_batch_logs_a_progress_bar_and_a_stop_mid_epoch(make, capsys):
    def logger(seen):
        return gpunet.callbacks.LambdaCallback(on_batch_end=lambda b, logs: seen.append(dict(logs)))

    seen, ref_seen = [], []
    got, want = run(make, True, callbacks=[logger(seen)]), run(make, False, callbacks=[logger(ref_seen)])
    assert_alike(got, want)
    assert len(seen) == len(ref_seen) == 15
    for logs, ref_logs in zip(seen, ref_seen):
        for key in ref_logs:
            assert logs[key] == pytest.approx(ref_logs[key], rel=1e-12), key
    got, want = run(make, True, verbose=1), run(make, False, verbose=1)  # the bar's redraws read the logs
    assert_alike(got, want)
    bars = capsys.readouterr().out
    assert bars.count("5/5") == 6

    class StopAtThird(gpunet.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 2:
                self.model.stop_training = True

    got, want = run(make, True, callbacks=[StopAtThird()]), run(make, False, callbacks=[StopAtThird()])
    assert_alike(got, want)
    assert got[0].optimizer.iterations == 3


def test_a_run_is_tallied_whenever_its_outputs_reach_the_bound(monkeypatch):
    want = run(residual, True)
    monkeypatch.setattr(source_steps, "_RUN_BYTES", 1)  # every batch tallied alone
    assert_alike(run(residual, True), want)


def test_a_batch_the_plan_does_not_take_trains_layer_by_layer_in_between(monkeypatch):
    """Where the plan refuses a batch (NumPy's plans take every batch; a GPU plan checks widths), that
    batch trains layer by layer between the plan's runs, in order: here the short last batch of each
    pass is refused."""
    accepts = GraphPlan.accepts
    monkeypatch.setattr(GraphPlan, "accepts", lambda plan, x, y, sw=None: x.shape[0] != 7 and accepts(plan, x, y, sw))
    got, want = run(residual, True), run(residual, False)
    assert isinstance(got[0]._plan, GraphPlan)
    assert_alike(got, want)


@pytest.mark.parametrize("make, plan", [(chain, GpuPlan), (residual, GpuGraphPlan), (adds_a_loss, GpuGraphPlan)])
@pytest.mark.parametrize("weighted", [False, True])
def test_on_a_gpu_a_generator_trains_on_the_gpu_plan_as_numpys_layer_path(emulator, make, plan, weighted):  # noqa: F811
    """The emulated CuPy (g++ kernels, float64): the GPU plans' step for each batch, outputs, targets
    and the chain's L2 penalty kept on the device until the tally; the short last batch of each pass
    is a second batch size (its own step) and the batch logs are read through a callback."""
    seen, ref_seen = [], []
    logger = lambda seen: gpunet.callbacks.LambdaCallback(on_batch_end=lambda b, logs: seen.append(dict(logs)))  # noqa: E731
    with B.use_backend(EmulatedCupyBackend(emulator)):
        got = run(make, True, weighted)
        got_logged = run(make, True, weighted, callbacks=[logger(seen)])
    want, want_logged = run(make, False, weighted), run(make, False, weighted, callbacks=[logger(ref_seen)])
    assert type(got[0]._plan) is plan and isinstance(got[0].ops, EmulatedCupyBackend) and want[0]._plan is False
    assert_alike(got, want, rtol=1e-10)
    assert_alike(got_logged, want_logged, rtol=1e-10)
    assert len(seen) == len(ref_seen) == 15
    for logs, ref_logs in zip(seen, ref_seen):
        for key in ref_logs:
            assert logs[key] == pytest.approx(ref_logs[key], rel=1e-10), key


def test_on_a_gpu_the_plan_reads_the_device_once_an_epoch_whatever_the_number_of_batches(emulator):  # noqa: F811
    """The backend's reads (to_host, to_scalar) of an epoch from a generator: the plan's loss,
    metrics and L2 penalty wait on the device for the tally (a fixed number of reads), where the layer
    path reads each batch's penalty. Each batch's NaN/inf check runs on its host arrays, before the
    upload (its check on the device would read it: wait for the steps queued before)."""
    ops = EmulatedCupyBackend(emulator)

    def reads(planned, steps):
        with B.use_backend(ops):
            gpunet.utils.set_random_seed(2)
            model = chain()
            model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
            if not planned:
                model._build_plan = lambda: None
            model.fit(batches(False), steps_per_epoch=1, epochs=1, verbose=0)  # builds, compiles
            before = ops.host_reads
            model.fit(batches(False, size=8), steps_per_epoch=steps, epochs=1, verbose=0)
            assert (model._plan is False) != planned
            return ops.host_reads - before
    assert reads(True, 3) == reads(True, 4) == reads(True, 5)
    assert reads(False, 5) - reads(False, 4) >= 1


def test_on_a_gpu_each_batch_size_builds_its_step_once(emulator, monkeypatch):  # noqa: F811
    """A generator's batches are loaded into the plan one by one (10 rows, then the pass's last 7):
    each size's step is built once, then reused (on a GPU: its CUDA graph replayed)."""
    built = []
    build = GpuPlan._build
    monkeypatch.setattr(GpuPlan, "_build", lambda plan, key, x_batch=None: built.append(key) or build(plan, key, x_batch))
    with B.use_backend(EmulatedCupyBackend(emulator)):
        model, _ = run(residual, True, epochs=4)
    assert type(model._plan) is GpuGraphPlan
    assert sorted(built) == [(7, 7, None), (10, 10, None)]


@pytest.mark.parametrize("make", [chain, residual], ids=["regularized-chain", "graph"])
def test_on_a_gpu_each_batchs_outputs_are_read_after_the_plans_stream_is_published(emulator, monkeypatch, make):  # noqa: F811
    """A GPU plan works on a stream of its own: each batch's outputs and targets are copied on the
    caller's stream after `publish` (an event it waits on), with or without a regularizer's penalty
    to read (the emulation has no streams: a missing publish would race the step only on a GPU)."""
    after_steps = []
    publish = GpuPlan.publish
    monkeypatch.setattr(GpuPlan, "publish", lambda plan: after_steps.append(plan._next) or publish(plan))
    with B.use_backend(EmulatedCupyBackend(emulator)):
        model, _ = run(make, True, epochs=2)
    assert isinstance(model._plan, GpuPlan)
    assert after_steps.count(1) >= 2 * 5 and all(n == 1 for n in after_steps)  # (each batch is a plan's one step)
