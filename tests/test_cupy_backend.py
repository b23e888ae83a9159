"""The CuPy backend on a real GPU against the NumPy backend: each kernel through
both Dense paths, each fused optimizer step, and whole models trained on both
backends from the same weights. Marked `gpu`; skipped without CUDA (the same
kernels are checked on the CPU by the test_kernel_* modules)."""
import os

import numpy
import pytest

from gpunet import backend as B
from gpunet.backend import NumpyBackend, cupy_unavailable_reason
from gpunet.backend import dense_launch as DL
from kernel_cases import (ACTIVATIONS, DTYPES, MODELS, OPTIMIZERS, SHAPES, TOL, act_id, assert_close,
                          assert_same_training, dense_inputs, elementwise_inputs, shape_id, train)

_REASON = cupy_unavailable_reason()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(_REASON is not None, reason=f"no CUDA: {_REASON}")]

REF = NumpyBackend()


@pytest.fixture
def cupy_ops():
    ops = B.resolve("cupy")
    yield ops
    vars(ops).pop("dense_path", None)  # back to the class's "auto" (an instance value would outlive the test)


def dense_round_trip(ops, shape, dtype, activation, params, inputs=None):
    inputs = dense_inputs(shape, dtype) if inputs is None else inputs
    x, w, b, dy = (ops.asarray(a) for a in inputs)
    (M, Kd), N = x.shape, w.shape[1]
    with numpy.errstate(invalid="ignore", over="ignore"):
        y, z = ops.dense_forward(x, w, b, activation, params)
    dw, db = ops.zeros((Kd, N), dtype), ops.zeros((N,), dtype)
    with numpy.errstate(invalid="ignore", over="ignore"):
        dx = ops.dense_backward(dy, x, w, z, y, activation, params, dw, db, True)
    return [ops.to_host(a) for a in (y, dx, dw, db)]


@pytest.mark.parametrize("path", ["fused", "cublas"])
@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: numpy.dtype(d).name)
@pytest.mark.parametrize("case", ACTIVATIONS, ids=act_id)
def test_gpu_dense_matches_numpy(cupy_ops, case, dtype, shape, path):
    cupy_ops.dense_path = path
    got = dense_round_trip(cupy_ops, shape, dtype, *case)
    ref = dense_round_trip(REF, shape, dtype, *case)
    for what, g, r in zip(("y", "dx", "dw", "db"), got, ref):
        assert_close(g, r, dtype, f"{case} {shape} {path}: {what}")


@pytest.mark.parametrize("path", ["fused", "cublas"])
@pytest.mark.parametrize("inputs", ["elementwise", "dense"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: numpy.dtype(d).name)
@pytest.mark.parametrize("case", ACTIVATIONS, ids=act_id)
def test_gpu_dense_nan_and_inf_as_numpy(cupy_ops, case, dtype, inputs, path):
    """NaN and inf come out where NumPy's reference puts them (kernel_cases)."""
    cupy_ops.dense_path = path
    shape = (65, 129, 33)
    data = elementwise_inputs(dtype) if inputs == "elementwise" else dense_inputs(shape, dtype, nonfinite=True)
    got = dense_round_trip(cupy_ops, shape, dtype, *case, inputs=data)
    ref = dense_round_trip(REF, shape, dtype, *case, inputs=data)
    for what, g, r in zip(("y", "dx", "dw", "db"), got, ref):
        assert_close(g, r, dtype, f"{case} {inputs} {path}: {what}")


@pytest.mark.parametrize("M", [10, 128, 1024])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: numpy.dtype(d).name)
def test_gpu_split_kernels_on_the_wide_network(cupy_ops, M, dtype):
    """784-512-512-10's layers through the fused kernels (split-K forward, split
    backward reductions finished in the same launch on real concurrent blocks): NumPy's
    results, the same bits on every repeat, the workspace counters back at 0."""
    cupy_ops.dense_path = "fused"
    for Kd, N in ((784, 512), (512, 512), (512, 10)):
        shape = (M, N, Kd)
        # tanh, not relu: among 500k pre-activations in float32 a few fall within rounding of 0, where
        # relu' flips between summation orders and moves a whole row of dX (seen on an H200)
        ref = dense_round_trip(REF, shape, dtype, "tanh", {})
        runs = [dense_round_trip(cupy_ops, shape, dtype, "tanh", {}) for _ in range(3)]
        for what, g, r in zip(("y", "dx", "dw", "db"), runs[0], ref):
            assert_close(g, r, dtype, f"{shape}: {what}")
        for run in runs[1:]:
            assert all(a.tobytes() == b.tobytes() for a, b in zip(run, runs[0])), shape
    assert DL.forward_splits(10, 512, 784, cupy_ops.sm_count) > 1 or cupy_ops.sm_count < 8
    for ws in cupy_ops._workspaces.values():
        for a in ws:
            if a.dtype == numpy.int32:
                assert int((a != 0).sum()) == 0


@pytest.mark.real_gpu
def test_gpu_tf32_is_off_by_default(cupy_ops):
    """A float32 cuBLAS GEMM keeps float32 accuracy unless TF32 is allowed."""
    if os.environ.get("CUPY_TF32") == "1":
        pytest.skip("CUPY_TF32=1 allows TF32 for every CuPy GEMM")
    cupy_ops.dense_path = "cublas"
    assert not cupy_ops.allow_tf32
    rng = numpy.random.default_rng(0)
    x, w = rng.standard_normal((256, 512)).astype("float32"), rng.standard_normal((512, 256)).astype("float32")
    y, _ = cupy_ops.dense_forward(cupy_ops.asarray(x), cupy_ops.asarray(w), None, "linear", {})
    exact = x.astype("float64") @ w.astype("float64")
    assert numpy.abs(cupy_ops.to_host(y) - exact).max() < 1e-3  # float32 errs by ~1e-4 here, TF32 by ~1e-2
    cupy_ops.allow_tf32 = True
    try:
        y, _ = cupy_ops.dense_forward(cupy_ops.asarray(x), cupy_ops.asarray(w), None, "linear", {})
    finally:
        cupy_ops.allow_tf32 = False
    if int(cupy_ops.xp.cuda.Device().compute_capability) >= 80:  # TF32 exists from Ampere on
        assert numpy.abs(cupy_ops.to_host(y) - exact).max() > 1e-3


@pytest.mark.parametrize("floatx", ["float64", "float32"])
@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=lambda o: o["class_name"])
@pytest.mark.parametrize("activations", MODELS, ids="-".join)
def test_gpu_model_trains_like_numpy(activations, optimizer, floatx):
    """The same model, weights and data trained for 3 epochs on each backend ends
    with the same weights and loss history."""
    B.set_floatx(floatx)
    ref = train(B.resolve("numpy"), activations, optimizer)
    got = train(B.resolve("cupy"), activations, optimizer)
    assert_same_training(got, ref, floatx)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: numpy.dtype(d).name)
def test_gpu_optimizer_steps_match_numpy(cupy_ops, dtype):
    """Two steps of each fused optimizer over more parameters than a wave has threads."""
    rng = numpy.random.default_rng(5)
    n = 2 * 132 * 2048 + 7
    for method, slots, hyper in [
        ("adam_update", 3, dict(lr=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-7)),
        ("sgd_update", 1, dict(lr=0.05, momentum=0.9, nesterov=True)),
        ("rmsprop_update", 3, dict(lr=0.01, rho=0.9, momentum=0.5, epsilon=1e-7, centered=True)),
    ]:
        host = [rng.standard_normal(n).astype(dtype)] + [numpy.zeros(n, dtype) for _ in range(slots)]
        dev = [cupy_ops.asarray(a.copy()) for a in host]
        for t in (1, 2):
            g = rng.standard_normal(n).astype(dtype)
            step = dict(hyper, t=t) if method == "adam_update" else hyper
            getattr(REF, method)(host[0], g, *host[1:], **step)
            getattr(cupy_ops, method)(dev[0], cupy_ops.asarray(g), *dev[1:], **step)
        assert numpy.isfinite(host[0]).all()
        for h, d in zip(host, dev):
            numpy.testing.assert_allclose(cupy_ops.to_host(d), h, rtol=TOL[dtype] * 10, atol=TOL[dtype], err_msg=method)
