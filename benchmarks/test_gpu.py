"""Suite 6, GPU (skipped without CUDA): the five workloads of issue 8 for gpunet on CuPy
and PyTorch on CUDA, from host NumPy arrays with the upload timed (gpu_workloads.py);
the CuPy backend's fused Dense forward and backward (``ops.dense_forward`` /
``ops.dense_backward``) against the same computation in plain CuPy (``cupy.matmul`` +
bias + activation, unfused); and whole-model training steps per backend (NumPy vs CuPy)
on the seed and wide workloads."""
import pytest

from gpunet.backend import cupy_unavailable_reason

from . import gpu_workloads, peers
from .workloads import GPU_CASES, GPU_SUITE, PIMA, WIDE, initial_weights, mnist_like, pima_data

_REASON = cupy_unavailable_reason()
pytestmark = pytest.mark.skipif(_REASON is not None, reason=f"no CUDA: {_REASON}")

SHAPES = [(10, 8, 12), (128, 784, 256), (1024, 1024, 1024), (4096, 1024, 4096), (32768, 768, 768)]
SMOKE_SHAPES = SHAPES[:2]


@pytest.mark.parametrize("key, impl", [
    pytest.param(key, impl, id=f"{key}-{impl.replace(' ', '_')}",
                 marks=pytest.mark.framework(gpu_workloads.FRAMEWORK[impl]))
    for key, impl in gpu_workloads.CASES])
def test_gpu_workload(benchmark, key, impl, sizes, run_bench):
    reason = gpu_workloads.unavailable(impl)
    if reason:
        pytest.skip(f"{impl} cannot run here: {reason}")
    timed = gpu_workloads.prepare(key, impl, sizes)
    run_bench(benchmark, timed.fn, suite=GPU_SUITE, case=GPU_CASES[key], framework=impl, unit=timed.unit,
              work=timed.work, rounds=sizes.gpu_rounds, setup=timed.setup)


def _ids(shape):
    return "x".join(str(d) for d in shape)


@pytest.fixture(params=SHAPES, ids=[_ids(s) for s in SHAPES])
def mkn(request, smoke):
    if smoke and request.param not in SMOKE_SHAPES:
        pytest.skip("smoke mode runs the two small shapes")
    return request.param


@pytest.fixture
def cupy_ops():
    from gpunet.backend import resolve
    return resolve("cupy")


def _operands(cp, m, k, n):
    rng = cp.random.default_rng(0)
    x = rng.standard_normal((m, k), dtype=cp.float32)
    w = (rng.standard_normal((k, n), dtype=cp.float32) * (2.0 / k) ** 0.5).astype(cp.float32)
    b = rng.standard_normal((n,), dtype=cp.float32) * 0.1
    dy = rng.standard_normal((m, n), dtype=cp.float32)
    return x, w, b, dy


def _synced(fn):
    import cupy as cp

    def run():
        out = fn()
        cp.cuda.get_current_stream().synchronize()
        return out
    return run


@pytest.mark.parametrize("how", ["fused", "unfused"])
def test_dense_forward(benchmark, mkn, how, cupy_ops, run_bench):
    import cupy as cp
    m, k, n = mkn
    x, w, b, _ = _operands(cp, m, k, n)
    if how == "fused":
        fn = lambda: cupy_ops.dense_forward(x, w, b, "relu", {})  # noqa: E731
    else:
        def fn():
            z = cp.matmul(x, w)
            z += b
            return cp.maximum(z, 0), z
    y_f = cupy_ops.dense_forward(x, w, b, "relu", {})[0]
    z = cp.matmul(x, w) + b
    cp.testing.assert_allclose(y_f, cp.maximum(z, 0), rtol=1e-3, atol=1e-3)
    run_bench(benchmark, _synced(fn), suite="gpu dense forward", case=f"relu {_ids(mkn)}",
              framework=f"gpunet {how}", unit="us/step", work=1, rounds=None)


@pytest.mark.parametrize("how", ["fused", "unfused"])
def test_dense_backward(benchmark, mkn, how, cupy_ops, run_bench):
    import cupy as cp
    m, k, n = mkn
    x, w, b, dy = _operands(cp, m, k, n)
    y, z = cupy_ops.dense_forward(x, w, b, "relu", {})
    z = cp.matmul(x, w) + b if z is None else z
    dw, db = cp.empty_like(w), cp.empty_like(b)
    if how == "fused":
        fn = lambda: cupy_ops.dense_backward(dy, x, w, z, y, "relu", {}, dw, db, True)  # noqa: E731
    else:
        def fn():
            dz = dy * (z > 0)
            cp.matmul(x.T, dz, out=dw)
            dz.sum(axis=0, out=db)
            return cp.matmul(dz, w.T)
    run_bench(benchmark, _synced(fn), suite="gpu dense backward", case=f"relu {_ids(mkn)}",
              framework=f"gpunet {how}", unit="us/step", work=1, rounds=None)


@pytest.mark.parametrize("backend", ["numpy", "cupy"])
@pytest.mark.parametrize("workload", ["seed", "wide"])
def test_training_steps_per_backend(benchmark, backend, workload, sizes, run_bench):
    peer = peers.GpunetPeer(backend=backend)
    if workload == "seed":
        spec, (x, y), batch = PIMA, pima_data(sizes.seed_rows), 10
    else:
        spec, (x, y), batch = WIDE, mnist_like(sizes.gpu_wide_samples), 128
    try:
        model = peer.mlp(spec, initial_weights(spec))
    except ValueError as exc:
        pytest.skip(f"gpunet cannot build the {workload} model yet: {exc}")
    steps = (x.shape[0] + batch - 1) // batch

    def epoch():
        peer.fit(model, x, y, 1, batch)
        if backend == "cupy":
            import cupy as cp
            cp.cuda.get_current_stream().synchronize()

    run_bench(benchmark, epoch, suite="gpu training steps", case=f"{spec.name} batch {batch}",
              framework=f"gpunet {backend}", unit="us/step", work=steps, rounds=3)
