"""Label smoothing and the "sum" reduction on the GPU step plans' loss kernels. Keras's label smoothing
of a binary or categorical cross-entropy is that loss of smoothed targets, so the plan smooths the
epoch's targets once as it loads them (step_kernels.smooth_targets, into a buffer of its own) and the
loss kernel runs as without smoothing; "sum" only changes the gradient's scale. Before, both took the
generic step (the loss's compute between the kernels: a few CuPy launches a step, never captured in a
CUDA graph nor run as the one-launch step). Through the kernels' CPU emulation, against NumPy."""
import numpy
import pytest

import gpunet
from cuda_emulator import EmulatedCupyBackend, emulator  # noqa: F401 (fixture)
from gpunet import backend as B
from gpunet import losses
from gpunet.backend.gpu_plan import GpuPlan
from gpunet.layers import Dense
from gpunet.models import Sequential
from kernel_cases import assert_same_fit

# name: (units, output activation, loss, targets, weighted)
CASES = {
    "bce-sigmoid": (1, "sigmoid", lambda: losses.BinaryCrossentropy(label_smoothing=0.1), "binary", True),
    "bce-logits": (2, "linear", lambda: losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.25), "binary",
                   False),
    "cce-softmax": (3, "softmax", lambda: losses.CategoricalCrossentropy(label_smoothing=0.2), "onehot", True),
    "cce-logits": (4, "linear", lambda: losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
                   "onehot", False),
    "cce-softmax-sum": (3, "softmax", lambda: losses.CategoricalCrossentropy(label_smoothing=0.2, reduction="sum"),
                        "onehot", True),
    "bce-sum": (1, "sigmoid", lambda: losses.BinaryCrossentropy(reduction="sum"), "binary", False),
    "huber-sum": (2, "linear", lambda: losses.Huber(delta=0.5, reduction="sum"), "real", True),
}
N, BATCH = 67, 16  # every epoch ends with a short batch


def _data(case, dtype):
    units, _, _, kind, weighted = CASES[case]
    rng = numpy.random.default_rng(8)
    x = rng.standard_normal((N, 5)).astype(dtype)
    labels = rng.integers(0, max(units, 2), N)
    y = {"binary": lambda: (rng.random((N, units)) < 0.4).astype(dtype), "onehot": lambda: numpy.eye(units)[labels],
         "real": lambda: rng.standard_normal((N, units))}[kind]().astype(dtype)
    return x, y, rng.uniform(0.2, 2.0, N).astype(dtype) if weighted else None


def _fit(case, ops, callbacks=()):
    units, activation, make_loss, _, _ = CASES[case]
    x, y, sw = _data(case, B.floatx())
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(5)
        net = Sequential([Dense(7, input_dim=5, activation="tanh"), Dense(units, activation=activation)])
        net.compile(optimizer=gpunet.optimizers.Adam(learning_rate=0.02), loss=make_loss(), metrics=["mae"])
        gpunet.utils.set_random_seed(9)
        history = net.fit(x, y, sample_weight=sw, batch_size=BATCH, epochs=3, verbose=0, callbacks=list(callbacks))
        logs = net.evaluate(x, y, sample_weight=sw, batch_size=BATCH, verbose=0, return_dict=True)
    return net, history.history, logs, y


@pytest.mark.parametrize("fused_step", ["1", "0"], ids=["one-launch-allowed", "multi-launch"])
@pytest.mark.parametrize("floatx", ["float32", "float64"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_the_loss_kernel_trains_with_smoothing_and_sum_as_numpy(emulator, case, floatx, fused_step, monkeypatch):
    monkeypatch.setenv("GPUNET_FUSED_STEP", fused_step)
    B.set_floatx(floatx)
    emulator.launches.clear()
    got = _fit(case, EmulatedCupyBackend(emulator))
    plan = got[0]._plan
    assert isinstance(plan, GpuPlan) and not plan.loss_kernel.generic, "the loss kernel, not the loss's compute"
    kernels = {k.split("<")[0] for k, _, _ in emulator.launches}
    # the whole step in one launch where allowed (a model this small), else the step's launches
    assert ("mlp_step" in kernels) == (fused_step == "1")
    assert fused_step == "1" or {"batch_gather", "loss_grad", "dense_forward", "dense_backward"} <= kernels
    assert all(step.capturable for step in plan._steps.values()), "no callable entry: captured as a CUDA graph"
    assert_same_fit(got, _fit(case, B.resolve("numpy")), 1e-10 if floatx == "float64" else 3e-5)
    numpy.testing.assert_array_equal(got[3], _data(case, floatx)[1])  # (the caller's targets untouched)


def test_smoothing_a_callback_sets_mid_epoch_is_followed(emulator):
    """A batch callback changes the label smoothing: from the next step on the plan's steps read the
    targets smoothed afresh (no rebuild), as the layer path computes its loss; here on NumPy's."""
    from gpunet.callbacks import LambdaCallback
    B.set_floatx("float64")

    def callback(net_holder):
        def at(batch, logs):
            if batch == 1:
                loss = net_holder[0].loss  # (compiled with 0.2: 0.1 from the first epoch's third batch, then 0.3)
                loss.label_smoothing = 0.3 if loss.label_smoothing == 0.1 else 0.1
        return LambdaCallback(on_batch_end=at)

    runs = []
    for ops in (EmulatedCupyBackend(emulator), B.resolve("numpy")):
        holder = []
        units, activation, make_loss, _, _ = CASES["cce-softmax"]
        x, y, sw = _data("cce-softmax", "float64")
        with B.use_backend(ops):
            gpunet.utils.set_random_seed(5)
            net = Sequential([Dense(7, input_dim=5, activation="tanh"), Dense(units, activation=activation)])
            net.compile(optimizer="adam", loss=make_loss())
            holder.append(net)
            history = net.fit(x, y, sample_weight=sw, batch_size=BATCH, epochs=2, verbose=0, shuffle=False,
                              callbacks=[callback(holder)]).history
        runs.append((net, history))
    (gpu, history), (ref, want) = runs
    assert isinstance(gpu._plan, GpuPlan) and gpu._plan._smoothing == (0.3,)
    numpy.testing.assert_allclose(history["loss"], want["loss"], rtol=1e-10)
    for a, b in zip(gpu.get_weights(), ref.get_weights()):
        numpy.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


_NO_CUDA = B.cupy_unavailable_reason()


@pytest.mark.gpu
@pytest.mark.real_gpu
@pytest.mark.skipif(_NO_CUDA is not None, reason=f"no CUDA: {_NO_CUDA}")
@pytest.mark.parametrize("case", ["bce-sigmoid", "cce-logits", "huber-sum"])
def test_on_cupy_smoothing_and_sum_steps_are_captured_and_train_as_numpy(case, monkeypatch):
    from gpunet.backend import gpu_graphs
    monkeypatch.setattr(gpu_graphs, "UNROLL", 2)  # graphs of 2 steps within these short epochs
    monkeypatch.setenv("GPUNET_CUDA_GRAPHS", "1")
    monkeypatch.setenv("GPUNET_FUSED_STEP", "0")  # (the multi-launch step: its CUDA graph)
    B.set_floatx("float32")
    got = _fit(case, B.resolve("cupy"))
    assert not got[0]._plan.loss_kernel.generic and got[0]._plan._graphs.captures > 0
    assert_same_fit(got, _fit(case, B.resolve("numpy")), 3e-5)
