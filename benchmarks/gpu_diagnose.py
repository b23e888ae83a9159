"""Where the GPU time goes: the measurements that place issue 8's open gaps (gpu_check part 6).

    python benchmarks/gpu_diagnose.py [--quick]      (benchmarks/gpu_session.sh runs it too)

6a. The 4096x3 workload (0.87x PyTorch on the last H200 run, target 0.95x) taken apart, for
    gpunet and PyTorch alike: the upload alone, `fit` on data already on the device, and `fit`
    from host arrays (for gpunet also fit's data preparation: upload and checks, no training);
    then where gpunet's host time goes in that last call (cProfile). Resident against resident
    tells whether the GEMMs lag; upload + resident against the whole tells what the upload costs
    inside `fit` and whether it overlaps.
6b. The upload of that workload's x (512 MB of float32) every way there is: CuPy's plain copy
    from pageable memory, `to_device` as it stands, `upload_chunked` over chunk sizes and copy
    threads, the host array pinned in place (cudaHostRegister) and copied in one DMA, and
    PyTorch's ``.to("cuda")``: GiB/s each, to set upload.py's CHUNK_BYTES and copy threads.
6c. The one-launch step (gpu_fused_step.py) against the multi-launch step over model sizes,
    with its MAX_MACS / MAX_PARAMS limits lifted, to set them from measurements.
6d. Models the step plan took in after the last GPU run (BatchNormalization, AdamW with
    clipnorm, Nadam, Huber; session 16's LayerNormalization, noise layers, Adadelta, Ftrl and a
    user's loss between two captured graphs; session 17's activity regularizer, AlphaDropout and a
    text classifier's Embedding and pooling run by their own code inside the step; session 18's
    masked text classifier, frozen nested base model and frozen first Dense layer on the graph step;
    session 19's layer of your own, its call on the tape between the graph step's graphs)
    on the plan and on the layer path: what the plan saves there, and
    whether batch_norm.cu's column-per-thread kernels hold up on tall batches.
6e. predict through the one-launch forward (gpu_fused_forward.py) against the forward plan's
    launches per batch, over model sizes, its MAX_PARAMS limit lifted, to set it from measurements.
6f. predict of a residual graph through its forward plan (gpu_graph_forward.py) against the layer
    path it took before, at the Pima network's size and a wide one.

Every part takes the backend and the device synchronization as arguments, so that
tests/test_gpu_diagnose.py runs the same code on the CPU (NumPy, the kernels' emulation).
"""
import argparse
import cProfile
import io
import os
import pstats
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import numpy  # noqa: E402

from benchmarks import gpu_workloads as G  # noqa: E402
from benchmarks.gpu_workloads import median_seconds  # noqa: E402
from benchmarks.gpu_plan_sweeps import (FORWARD_CASES, FUSED_CASES, GRAPH_CASES, beyond_dense_sweep,  # noqa: E402
                                     fused_forward_sweep, fused_step_sweep, graph_forward_sweep)

GIB = float(1 << 30)
CHUNKS_MB = (4, 16, 64)
THREADS = (1, 4, 8, 16)


# ---- 6a ------------------------------------------------------------------------------------------

def big_breakdown(sizes, gpunet_peer, torch_peer=None, rounds=3, top=12, workload=None):
    """Print and return {(framework, phase): seconds} for the 4096x3 workload (``sizes``' rows);
    ``workload``: another (spec, x, y, batch, epochs) in its place (a small one for tests)."""
    from benchmarks.workloads import initial_weights
    from gpunet.backend.upload import to_device
    spec, x, y, batch, epochs = workload or G._training("big", sizes)
    flop = 6 * spec.n_params * epochs * x.shape[0]
    out = {}
    ops = gpunet_peer.B.resolve(gpunet_peer.backend)
    model = gpunet_peer.mlp(spec, initial_weights(spec))
    resident = {}

    def upload():
        resident["x"], resident["y"] = to_device(ops, x), to_device(ops, y)
    from gpunet.models import streaming
    phases = {"upload x, y": upload,
              "fit's data preparation": lambda: streaming.fit_data(model, x, y, None, None, None, None, True),
              "fit, data on the device": lambda: gpunet_peer.fit(model, resident["x"], resident["y"], epochs, batch),
              "fit from host arrays": lambda: gpunet_peer.fit(model, x, y, epochs, batch)}
    upload()
    for phase, fn in phases.items():
        out["gpunet", phase] = median_seconds(fn, rounds, gpunet_peer.sync)
    if torch_peer is not None:
        torch = torch_peer.torch
        tmodel = torch_peer.mlp(spec, initial_weights(spec))
        dev = torch_peer.device

        def tupload():
            resident["tx"], resident["ty"] = (torch.from_numpy(a).to(dev) if dev else torch.from_numpy(a)
                                              for a in (x, y))
        tupload()
        tphases = {"upload x, y": tupload,
                   "fit, data on the device": lambda: torch_peer.fit(tmodel, resident["tx"], resident["ty"], epochs,
                                                                     batch),
                   "fit from host arrays": lambda: torch_peer.fit(tmodel, x, y, epochs, batch)}
        for phase, fn in tphases.items():
            out["torch", phase] = median_seconds(fn, rounds, torch_peer.sync)
    print(f"  {spec.name}, batch {batch}, {x.shape[0]} rows x {epochs} epochs ({x.nbytes * 2 / 1e6:.0f} MB of x and y);"
          f" median of {rounds}")
    for (framework, phase), s in out.items():
        trains = phase in ("fit, data on the device", "fit from host arrays")
        rate = f"{flop / s / 1e12:7.1f} TFLOP/s" if trains else f"{x.nbytes * 2 / s / GIB:7.1f} GiB/s"
        print(f"  {framework:>7}  {phase:>26}: {s * 1e3:9.1f} ms  {rate}")
    for framework in ("gpunet", "torch"):
        if (framework, "fit from host arrays") in out:
            extra = out[framework, "fit from host arrays"] - out[framework, "fit, data on the device"]
            print(f"  {framework:>7}  host arrays cost {extra * 1e3:.1f} ms over resident data "
                  f"(the upload alone: {out[framework, 'upload x, y'] * 1e3:.1f} ms)")
    profile = cProfile.Profile()
    profile.enable()
    gpunet_peer.fit(model, x, y, epochs, batch)
    gpunet_peer.sync()
    profile.disable()
    text = io.StringIO()
    pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(top)
    print(f"\n  gpunet fit from host arrays under cProfile, top {top} by own time:")
    print("\n".join("    " + line for line in text.getvalue().splitlines() if line.strip()))
    return out


# ---- 6b ------------------------------------------------------------------------------------------

def upload_sweep(ops, transport, rows, width, sync, rounds=3, torch_peer=None, chunks_mb=CHUNKS_MB, threads=THREADS):
    """Print and return {way: GiB/s} for uploading a (rows, width) float32 host array."""
    from gpunet.backend import upload as U
    x = numpy.full((rows, width), 1.5, dtype=numpy.float32)  # touched: no page faults inside the timing
    ways = {"plain copy (pageable)": lambda: ops.xp.asarray(x),
            "to_device as it stands": lambda: U.to_device(ops, x)}
    for mb in chunks_mb:
        for n in threads:
            ways[f"chunks of {mb} MB, {n} copy threads"] = (
                lambda mb=mb, n=n: _with_threads(n, lambda: U.upload_chunked(transport, x, chunk_bytes=mb << 20).ready()))
    if type(transport).__name__ == "CudaTransport":
        ways["pinned in place (cudaHostRegister), one DMA"] = lambda: _registered_copy(x)
    if torch_peer is not None and torch_peer.device:
        torch = torch_peer.torch
        ways['torch .to("cuda") (pageable)'] = lambda: torch.from_numpy(x).to(torch_peer.device)
        ways["torch pin_memory() then .to(non_blocking)"] = (
            lambda: torch.from_numpy(x).pin_memory().to(torch_peer.device, non_blocking=True))
    out = {}
    print(f"  upload of a ({rows}, {width}) float32 host array ({x.nbytes / 1e6:.0f} MB), median of {rounds}; "
          f"to_device uses {U.CHUNK_BYTES >> 20} MB chunks and {U.copy_threads()} threads")
    for way, fn in ways.items():
        sync_all = (lambda: (sync(), torch_peer.sync())) if way.startswith("torch") else sync
        out[way] = x.nbytes / median_seconds(fn, rounds, sync_all) / GIB
        print(f"  {way:>48}: {out[way]:6.1f} GiB/s", flush=True)
    if hasattr(_registered_copy, "last_register_s"):
        print(f"  (of the in-place copy, cudaHostRegister alone took {_registered_copy.last_register_s * 1e3:.1f} ms)")
    return out


def _with_threads(n, fn):
    with G.env("GPUNET_UPLOAD_THREADS", n):
        return fn()


def _registered_copy(x):
    """Pin the host array in place, copy it in one DMA, unpin: no staging copy on the host."""
    import cupy
    runtime = cupy.cuda.runtime
    ptr = x.ctypes.data
    t = time.perf_counter()
    runtime.hostRegister(ptr, x.nbytes, 0)
    registered = time.perf_counter() - t
    try:
        out = cupy.empty(x.shape, x.dtype)
        runtime.memcpy(out.data.ptr, ptr, x.nbytes, runtime.memcpyHostToDevice)
    finally:
        runtime.hostUnregister(ptr)
    _registered_copy.last_register_s = registered
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one round")
    args = parser.parse_args(argv)
    from benchmarks import peers
    from benchmarks.workloads import Sizes
    from gpunet.backend import cupy_unavailable_reason, resolve
    from gpunet.backend.upload import transport_for
    reason = cupy_unavailable_reason()
    if reason:
        print(f"No GPU to diagnose: {reason}")
        return 2
    import cupy
    sync = cupy.cuda.Device().synchronize
    try:
        torch_peer = peers.load("torch cuda")
    except peers.Missing as exc:
        print(f"  (PyTorch left out: {exc})")
        torch_peer = None
    ops, sizes, rounds = resolve("cupy"), Sizes.get(args.quick), 1 if args.quick else 3
    print("\n6a. the 4096x3 workload taken apart")
    big_breakdown(sizes, peers.GpunetPeer(backend="cupy"), torch_peer, rounds)
    print("\n6b. host-to-device upload, every way")
    upload_sweep(ops, transport_for(ops), 4096 if args.quick else 32768, 4096, sync, rounds, torch_peer)
    print("\n6c. the one-launch step against the multi-launch step")
    fused_step_sweep(ops, sync, FUSED_CASES[:2] if args.quick else FUSED_CASES, rounds=rounds)
    print("\n6d. models the plan took in since the last GPU run: on the plan and on the layer path")
    beyond_dense_sweep(ops, sync, (128,) if args.quick else (128, 2048), rounds=rounds)
    print("\n6e. predict: the one-launch forward against the per-batch launches")
    fused_forward_sweep(ops, sync, FORWARD_CASES[:2] if args.quick else FORWARD_CASES,
                        rows=2000 if args.quick else 20000, rounds=rounds)
    print("\n6f. predict of a residual graph: its forward plan against the layer path")
    graph_forward_sweep(ops, sync, GRAPH_CASES[:1] if args.quick else GRAPH_CASES,
                        rows=2000 if args.quick else 20000, rounds=rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
