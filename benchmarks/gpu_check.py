"""Check and time gpunet's CUDA kernels on this machine's GPU, in one go.

    python benchmarks/gpu_check.py            # checks, then timings (sized for under 5 minutes)
    python benchmarks/gpu_check.py --quick    # fewer shapes and repeats, small workloads

1. Compiles every kernel module (NVRTC through CuPy, as on first use) and reports
   how long that took.
2. Runs the GPU tests (tests/test_cupy_backend.py: every kernel against the NumPy
   backend on both Dense paths, the optimizer steps, whole models trained on both
   backends; tests/test_gpu_plan.py: the training step plan, graph replay bit for bit
   against eager, streamed against resident data).
3. Times Dense forward + backward through the fused kernels and through cuBLAS
   plus the elementwise kernels for a range of layer sizes, prints which wins and
   what the dispatch rule in gpunet/backend/cupy_backend.py picks, so the rule's
   constants can be set from measurements.
4. Times each fused optimizer step against the reference array-op code, and the three GEMMs of
   a 4096-wide Dense layer in CuPy's layout against PyTorch's (the 4096x3 workload's gap), and
   one such GEMM through cupy.matmul, cublasSgemm directly, and with a 32 MiB cuBLAS workspace.
5. Times issue 8's five workloads for gpunet on CuPy and PyTorch on CUDA, from host
   NumPy arrays with the upload timed (benchmarks/gpu_workloads.py, as test_gpu.py
   runs them), and prints the ratios against the issue's targets.
6. Takes apart what is left of issue 8's gaps (benchmarks/gpu_diagnose.py): the 4096x3
   workload phase by phase, the upload every way, the one-launch step against the
   multi-launch step over model sizes.

Exit status 0 when every check passed (a missed speed target is reported, not failed).
"""
import argparse
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# (M, N, K): gpu_probe.log part C's grid (../shared/measurements/h200-2026-11-29), as the dispatch rule's table,
# plus the wide network's last layer; benchmarks/dense_timings_h200.txt holds this table's last run
DENSE_SHAPES = [(M, N, K) for M in (10, 128, 1024, 8192, 65536)
                for K, N in ((8, 12), (64, 64), (784, 512), (512, 512), (1024, 1024), (4096, 4096), (16, 1024),
                             (1024, 10), (512, 10))
                if not (K == 4096 and M > 1024)]
QUICK_SHAPES = [(32, 64, 32), (128, 256, 128), (1024, 10, 512), (512, 512, 512)]


def gpu_time(fn, repeats):
    """Median milliseconds of fn() on the current stream (after two warm-up calls)."""
    import cupy
    for _ in range(2):
        fn()
    times = []
    for _ in range(repeats):
        start, stop = cupy.cuda.Event(), cupy.cuda.Event()
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(cupy.cuda.get_elapsed_time(start, stop))
    return sorted(times)[len(times) // 2]


def compile_all():
    from gpunet.backend import cuda_kernels as K
    for module in K.KERNELS:
        t = time.perf_counter()
        mod = K._module(module)
        for name in K.name_expressions(module):
            mod.get_function(name)
        print(f"  {module}: {len(K.name_expressions(module))} kernels ready in {time.perf_counter() - t:.2f} s")


def time_dense(ops, shapes, repeats, activation="relu"):
    """Dense forward and backward apart, fused kernels against cuBLAS + the elementwise kernels, and
    what the dispatch rule picks: the table the rule's constants are fitted to (cupy_backend.py)."""
    import numpy
    from gpunet.backend import cupy_backend as CB
    print(f"\n  Dense {activation}, float32, forward and backward apart (ms, median of {repeats}); TF32 off")
    print(f"  {'M':>6} {'K':>5} {'N':>5} {'fwdF':>8} {'fwdC':>8} {'bwdF':>8} {'bwdC':>8}  fwd bwd  rule")
    rng = numpy.random.default_rng(0)
    disagree = 0
    for M, N, K in shapes:
        x, w, b, dy = (ops.asarray(a, dtype="float32") for a in (
            rng.standard_normal((M, K)), rng.standard_normal((K, N)) / K ** 0.5, rng.standard_normal(N) * 0.1,
            rng.standard_normal((M, N))))
        dw, db = ops.empty((K, N), "float32"), ops.empty((N,), "float32")
        ms = {}
        for path in ("fused", "cublas"):
            ops.dense_path = path
            y, z = ops.dense_forward(x, w, b, activation, {})
            ms["fwd", path] = gpu_time(lambda: ops.dense_forward(x, w, b, activation, {}), repeats)
            ms["bwd", path] = gpu_time(lambda: ops.dense_backward(dy, x, w, z, y, activation, {}, dw, db, True),
                                       repeats)
        vars(ops).pop("dense_path", None)
        won = ["F" if ms[d, "fused"] < ms[d, "cublas"] else "C" for d in ("fwd", "bwd")]
        picks = ["F" if ops._fused(M, N, K, d == "fwd") else "C" for d in ("fwd", "bwd")]
        mark = "" if picks == won else "  <- rule picks " + "/".join(picks)
        disagree += picks != won
        print(f"  {M:>6} {K:>5} {N:>5} {ms['fwd', 'fused']:8.3f} {ms['fwd', 'cublas']:8.3f} {ms['bwd', 'fused']:8.3f} "
              f"{ms['bwd', 'cublas']:8.3f}   {won[0]}   {won[1]}{mark}")
    print(f"  (rule: {CB.RULE}; disagrees on {disagree} of {len(shapes)} shapes)")


def time_optimizers(ops, n, repeats):
    import numpy
    from gpunet.backend.base import Backend
    print(f"\n  optimizer step over {n:,} float32 parameters (ms, median of {repeats})")
    rng = numpy.random.default_rng(1)
    p, g = (ops.asarray(rng.standard_normal(n), dtype="float32") for _ in range(2))
    z = lambda: ops.zeros((n,), "float32")  # noqa: E731 (fresh slots per optimizer)
    cases = {"adam_update": ((p, g, z(), z(), None), dict(lr=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7, t=3)),
             "sgd_update": ((p, g, z()), dict(lr=0.01, momentum=0.9, nesterov=True)),
             "rmsprop_update": ((p, g, z(), z(), None), dict(lr=1e-3, rho=0.9, momentum=0.5, epsilon=1e-7,
                                                             centered=False)),
             "adagrad_update": ((p, g, z()), dict(lr=1e-3, epsilon=1e-7)),
             "adamax_update": ((p, g, z(), z()), dict(lr=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7, t=3)),
             "nadam_update": ((p, g, z(), z()), dict(lr=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7, t=3, u_t=0.86,
                                                     u_next=0.87, u_product=0.65)),
             "adadelta_update": ((p, g, z(), z()), dict(lr=1.0, rho=0.95, epsilon=1e-7))}
    for method, (args, hyper) in cases.items():
        fused = gpu_time(lambda: getattr(ops, method)(*args, **hyper), repeats)
        reference = gpu_time(lambda: getattr(Backend, method)(ops, *args, **hyper), repeats)
        print(f"  {method:>15}: fused {fused:8.3f}   array ops {reference:8.3f}   x{reference / fused:5.1f}")


def time_gemm_layouts(n, repeats):
    """A Dense layer's three GEMMs at M = K = N = ``n``, float32, TF32 off: gpunet's layout (w is
    (K, N): x @ w, x.T @ dz, dz @ w.T through cupy.matmul) against PyTorch's (W is (N, K): x @ W.T,
    dz.T @ x, dz @ W through torch.matmul), to place the 4096x3 workload's gap with PyTorch."""
    import cupy
    try:
        import torch
    except ImportError:
        print("  skipped: PyTorch is not installed")
        return
    torch.backends.cuda.matmul.allow_tf32 = False
    x, w, dz = (cupy.random.standard_normal((n, n), dtype=cupy.float32) for _ in range(3))
    tx, tw, tdz = (torch.randn(n, n, device="cuda") for _ in range(3))
    flop = 2.0 * n ** 3
    cases = {"cupy x @ w": lambda: cupy.matmul(x, w), "cupy x.T @ dz": lambda: cupy.matmul(x.T, dz),
             "cupy dz @ w.T": lambda: cupy.matmul(dz, w.T), "torch x @ W.T": lambda: torch.matmul(tx, tw.T),
             "torch dz.T @ x": lambda: torch.matmul(tdz.T, tx), "torch dz @ W": lambda: torch.matmul(tdz, tw)}
    for name, fn in cases.items():
        if name.startswith("torch"):
            torch.cuda.synchronize()
            start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            fn(), fn()
            times = []
            for _ in range(repeats):
                start.record()
                fn()
                stop.record()
                stop.synchronize()
                times.append(start.elapsed_time(stop))
            ms = sorted(times)[len(times) // 2]
        else:
            ms = gpu_time(fn, repeats)
        print(f"  {name:>16}: {ms:8.3f} ms  {flop / ms / 1e9:6.1f} TFLOP/s")


def gemm_variants(n, repeats):
    """One (n, n) @ (n, n) float32 GEMM three ways on CuPy's cuBLAS handle: ``cupy.matmul`` as
    gpunet calls it, ``cublasSgemm`` called directly, and ``cupy.matmul`` again after giving the
    handle a 32 MiB workspace (as PyTorch gives its handles): whether the call or the workspace,
    rather than the layout, is what a gap with PyTorch's GEMMs comes from. Returns {way: TFLOP/s}."""
    import cupy
    import numpy
    from cupy_backends.cuda.libs import cublas
    a, b = (cupy.random.standard_normal((n, n), dtype=cupy.float32) for _ in range(2))
    c = cupy.empty((n, n), dtype=cupy.float32)
    handle = cupy.cuda.device.get_cublas_handle()
    one, zero = numpy.ones(1, numpy.float32), numpy.zeros(1, numpy.float32)

    def direct():  # row-major c = a @ b is column-major c^T = b^T a^T: no transposes, b first
        cublas.sgemm(handle, cublas.CUBLAS_OP_N, cublas.CUBLAS_OP_N, n, n, n, one.ctypes.data, b.data.ptr, n,
                     a.data.ptr, n, zero.ctypes.data, c.data.ptr, n)
    out, flop = {}, 2.0 * n ** 3
    ways = [("cupy.matmul", lambda: cupy.matmul(a, b, out=c)), ("cublasSgemm directly", direct)]
    workspace = cupy.empty((32 << 20,), dtype=cupy.uint8)  # alive while the handle may use it
    try:
        for way, fn in ways + [("cupy.matmul, 32 MiB workspace", None)]:
            try:
                if fn is None:
                    _set_workspace(cublas, handle, workspace.data.ptr, workspace.nbytes)
                    fn = ways[0][1]
                out[way] = flop / gpu_time(fn, repeats) / 1e9
                print(f"  {way:>32}: {out[way]:6.1f} TFLOP/s", flush=True)
            except Exception as exc:  # noqa: BLE001 - a CuPy without the call: say so, go on
                print(f"  {way:>32}: not measured ({type(exc).__name__}: {exc})")
    finally:  # back to cuBLAS's own workspace: later parts time gpunet as users run it
        try:
            _set_workspace(cublas, handle, 0, 0)
        except Exception:  # noqa: BLE001 - never set
            pass
        cupy.cuda.Device().synchronize()
    if out:  # the last way's product is right (a corner, against a GEMM of its own)
        numpy.testing.assert_allclose(cupy.asnumpy(c[:4, :4]), cupy.asnumpy(a[:4] @ b[:, :4]), rtol=1e-3, atol=1e-2)
    return out


def _set_workspace(cublas, handle, ptr, nbytes):
    """cublasSetWorkspace: CuPy's binding where it has one (not 14.2), else the library's symbol."""
    if hasattr(cublas, "setWorkspace"):
        return cublas.setWorkspace(handle, ptr, nbytes)
    import ctypes
    for name in ("libcublas.so.13", "libcublas.so.12"):  # already loaded by CuPy: the same library
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        status = lib.cublasSetWorkspace_v2(ctypes.c_void_p(handle), ctypes.c_void_p(ptr), ctypes.c_size_t(nbytes))
        if status != 0:
            raise RuntimeError(f"cublasSetWorkspace_v2 returned status {status}")
        return None
    raise RuntimeError("no libcublas.so.13 or .so.12 to call cublasSetWorkspace_v2 in")


def run_workloads(sizes, rounds, peers=None, cases=None):
    """Time every (workload, implementation) of gpu_workloads.CASES and print them with gpunet's
    ratios and issue 8's targets; returns the report's rows. ``peers``: {impl: adapter} to
    replace implementations (a CPU stand-in in tests); ``cases``: a subset of the cases."""
    from benchmarks import gpu_workloads as G
    from benchmarks import report as R
    from benchmarks.workloads import GPU_CASES, GPU_SUITE, GPU_TARGETS
    rows = {}
    for key, impl in cases or G.CASES:
        peer = (peers or {}).get(impl)
        reason = None if peer else G.unavailable(impl)
        if reason:
            print(f"  {GPU_CASES[key]:>44}  {impl:>18}: skipped ({reason})")
            continue
        timed = G.prepare(key, impl, sizes, peer)
        value = G.value(timed, G.time_case(timed, rounds))
        rows.setdefault((GPU_SUITE, GPU_CASES[key]), {})[impl] = (value, timed.unit)
        print(f"  {GPU_CASES[key]:>44}  {impl:>18}: {R._fmt(value, timed.unit)}", flush=True)
    print("\n  targets (issue 8)")
    for t, measured, holds in R.check_targets(rows, GPU_TARGETS):
        shown = "not measured" if measured is None else R._target_measured(t, measured)
        state = "" if measured is None else ("  holds" if holds else "  MISSED")
        print(f"  {t.text}: {shown}{state}")
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer shapes and repeats")
    parser.add_argument("--no-tests", action="store_true", help="skip the GPU test run")
    parser.add_argument("--no-workloads", action="store_true", help="skip the workloads against PyTorch")
    parser.add_argument("--no-diagnose", action="store_true", help="skip part 6 (gpu_diagnose.py)")
    args = parser.parse_args()
    from gpunet.backend import cupy_unavailable_reason, resolve
    reason = cupy_unavailable_reason()
    if reason:
        print(f"No GPU to check: {reason}")
        return 2
    import cupy
    props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
    print(f"GPU: {props['name'].decode()}, {props['multiProcessorCount']} SMs, CuPy {cupy.__version__}, "
          f"CUDA runtime {cupy.cuda.runtime.runtimeGetVersion()}")
    print("\n1. compiling the kernel modules")
    compile_all()
    status = 0
    if not args.no_tests:
        print("\n2. GPU tests")
        cmd = [sys.executable, "-m", "pytest", "-q", "-m", "gpu", os.path.join(ROOT, "tests", "test_cupy_backend.py"),
               os.path.join(ROOT, "tests", "test_gpu_plan.py")]
        if args.quick:
            cmd += ["-k", "not 67589 and not float64"]
        status = subprocess.call(cmd, cwd=ROOT)
    ops = resolve("cupy")
    repeats = 5 if args.quick else 20
    print("\n3. Dense timings")
    time_dense(ops, QUICK_SHAPES if args.quick else DENSE_SHAPES, repeats)
    print("\n4. optimizer timings")
    time_optimizers(ops, 1_000_000 if args.quick else 10_000_000, repeats)
    print("\n4b. the 4096x3 MLP's GEMMs, CuPy against PyTorch, as each lays out its weights")
    time_gemm_layouts(1024 if args.quick else 4096, repeats)
    gemm_variants(1024 if args.quick else 4096, repeats)
    if not args.no_workloads:
        from benchmarks.workloads import Sizes
        print("\n5. workloads against PyTorch on CUDA (from host NumPy arrays, upload timed)")
        sizes = Sizes.get(args.quick)
        run_workloads(sizes, 1 if args.quick else sizes.gpu_rounds)
    if not args.no_diagnose:
        from benchmarks import gpu_diagnose
        print("\n6. where the time goes (gpu_diagnose.py)")
        gpu_diagnose.main(["--quick"] if args.quick else [])
    print("\nall checks passed" if status == 0 else f"\nGPU tests FAILED (pytest exit {status})")
    return 0 if status == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
