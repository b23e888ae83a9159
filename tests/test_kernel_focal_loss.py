"""The binary focal cross-entropy's own loss kernel (kernels/focal_loss.cu focal_loss_grad): its gradient and
outputs against gpunet's BinaryFocalCrossentropy.compute on NumPy (tf.keras 2.21's arithmetic), from
probabilities and from logits, gamma 0, below 1 and 2, class balancing on and off, at the clip's edges
and with NaN; and models trained with it on the GPU step plan as on NumPy. Before, the focal loss ran
its compute between the step's kernels (a few CuPy launches a step, outside the CUDA graphs)."""
import numpy
import pytest

import gpunet
from cuda_emulator import EmulatedCupyBackend, emulator  # noqa: F401 (fixture)
from gpunet import backend as B
from gpunet import losses
from gpunet.backend import step_kernels as S
from gpunet.backend.gpu_plan import GpuPlan
from gpunet.layers import Dense
from gpunet.models import Sequential
from kernel_cases import DTYPES, guarded, intact
from plan_cases import data


def _inputs(shape, dtype, logits, special):
    rng = numpy.random.default_rng(shape[0] * 10 + shape[1])
    y = (rng.random(shape) < 0.4).astype(dtype)
    y[0, 0] = 0.3  # (a soft label)
    z = (rng.standard_normal(shape) * 3).astype(dtype) if logits else rng.uniform(0, 1, shape).astype(dtype)
    if special and not logits:  # the clip's edges, its outside, 0 and 1
        eps = dtype(B.epsilon())
        z.flat[:6] = [0.0, 1.0, eps, dtype(1.0 - B.epsilon()), eps / 2, 1.0 - eps / 4]
    if special:
        z.flat[-1], z.flat[-2] = numpy.nan, numpy.inf if logits else 0.5
    return z, y, rng.uniform(0.3, 2.0, shape[0]).astype(dtype)


@pytest.mark.parametrize("special", [False, True], ids=["finite", "edges-nan"])
@pytest.mark.parametrize("gamma,balanced", [(2.0, False), (0.5, True), (0.0, True)], ids=["g2", "g0.5-balanced",
                                                                                       "g0-balanced"])
@pytest.mark.parametrize("logits", [False, True], ids=["probabilities", "logits"])
@pytest.mark.parametrize("shape", [(7, 1), (37, 3)], ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: numpy.dtype(d).name)
def test_the_kernel_matches_the_loss_on_numpy(emulator, dtype, shape, logits, gamma, balanced, special):
    B.set_floatx(numpy.dtype(dtype).name)
    loss = losses.BinaryFocalCrossentropy(apply_class_balancing=balanced, alpha=0.3, gamma=gamma, from_logits=logits)
    z, y, sw = _inputs(shape, dtype, logits, special)
    with B.use_backend("numpy"), numpy.errstate(all="ignore"):
        want = loss.compute(B.resolve("numpy"), y, z, sw)[1]
    kernel = S.loss_kernel("linear" if logits else "sigmoid", {}, loss)
    assert kernel.kind == (S.BFOCAL_LOGITS if logits else S.BFOCAL) and not kernel.generic
    M, N = shape
    stride, batch = M + 3, 2  # (the batch's rows at its place in the epoch's outputs)
    out = guarded(numpy.zeros((batch + 1) * stride * N, dtype)).reshape(-1, N)
    dz = guarded(numpy.zeros(M * N, dtype)).reshape(shape)
    state = numpy.array([0, batch, 0], numpy.int64)
    emulator(S.plan_loss_grad(kernel, guarded(z.reshape(-1)).reshape(shape), y, guarded(sw), out, dz, state, stride,
                              B.epsilon(), kernel.scale(M), 4))
    tol = dict(rtol=2e-6, atol=1e-7) if dtype == numpy.float32 else dict(rtol=1e-13, atol=1e-15)
    numpy.testing.assert_allclose(dz, want, **tol)  # (NaN exactly where the reference has NaN)
    numpy.testing.assert_array_equal(out[batch * stride:batch * stride + M], z)
    assert state[0] == batch + 1 and intact(dz) and intact(out)


@pytest.mark.parametrize("floatx", ["float64", "float32"])
@pytest.mark.parametrize("case", ["sigmoid", "logits-balanced-sum"])
def test_a_model_with_the_focal_loss_trains_on_the_step_as_numpy(emulator, case, floatx):
    B.set_floatx(floatx)
    x, y, _ = data("pima")
    sw = numpy.linspace(0.5, 1.5, len(x))
    make = {"sigmoid": lambda: losses.BinaryFocalCrossentropy(gamma=2.0),
            "logits-balanced-sum": lambda: losses.BinaryFocalCrossentropy(apply_class_balancing=True, gamma=1.5,
                                                                          from_logits=True, reduction="sum")}[case]
    runs = []
    for ops in (EmulatedCupyBackend(emulator), B.resolve("numpy")):
        with B.use_backend(ops):
            gpunet.utils.set_random_seed(5)
            net = Sequential([Dense(12, input_dim=8, activation="relu"),
                              Dense(1, activation="linear" if "logits" in case else "sigmoid")])
            net.compile(optimizer=gpunet.optimizers.Adam(learning_rate=0.01), loss=make(), metrics=["accuracy"])
            gpunet.utils.set_random_seed(9)
            emulator.launches.clear()
            history = net.fit(x, y, sample_weight=sw, batch_size=10, epochs=2, verbose=0).history
            runs.append((net, history, {k.split("<")[0] for k, _, _ in emulator.launches}))
    (gpu, history, kernels), (ref, want, _) = runs
    assert isinstance(gpu._plan, GpuPlan) and not gpu._plan.loss_kernel.generic
    assert "focal_loss_grad" in kernels and "mlp_step" not in kernels
    assert all(step.capturable and not any(callable(e) for e in step.entries) for step in gpu._plan._steps.values())
    tol = 1e-10 if floatx == "float64" else 3e-5
    for key in want:
        numpy.testing.assert_allclose(history[key], want[key], rtol=tol, err_msg=key)
    for a, b in zip(gpu.get_weights(), ref.get_weights()):
        numpy.testing.assert_allclose(a, b, rtol=tol * 10, atol=tol)
