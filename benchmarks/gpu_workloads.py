"""The GPU workloads of issue 8, for gpunet on CuPy and PyTorch on CUDA, side by side.

Used by benchmarks/test_gpu.py (through pytest-benchmark) and benchmarks/gpu_check.py
(timed directly), so both measure the very same calls. Every training call starts
from host NumPy arrays and uploads inside the timed region (gpunet's ``fit`` uploads,
PyTorch's loop calls ``.to("cuda")``), and ends with the device synchronized.

``prepare(key, impl, sizes)`` returns a `Timed`: ``fn(*setup())`` is one timed call
doing ``work`` units of ``unit``. Implementations: "gpunet cupy" (the default path,
CUDA graphs where gpunet captures them), "gpunet cupy eager" (``GPUNET_CUDA_GRAPHS=0``
during the call), "torch cuda" (eager), "torch cuda graph" (the Pima step replayed
from a CUDA graph on a static batch already on the GPU: PyTorch's best case, as
../shared/measurements/h200-2026-11-29/scripts/gpu_probe.py timed it). "residual" is the seed's data
through a functional graph (residual.py): gpunet's graph step (gpu_graph_plan.py) against PyTorch.
"""
import os
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import numpy

from . import peers
from .residual import residual_model
from .workloads import BIG, PIMA, RESIDUAL, WIDE, initial_weights, mnist_like, pima_data

IMPLS = ("gpunet cupy", "gpunet cupy eager", "torch cuda", "torch cuda graph")
FRAMEWORK = {"gpunet cupy": "gpunet", "gpunet cupy eager": "gpunet", "torch cuda": "torch",
             "torch cuda graph": "torch"}  # the report's process groups
CASES = [("seed", impl) for impl in IMPLS] + [
    (key, impl) for key in ("wide_b128", "wide_b1024", "big", "predict_first", "predict_warm")
    for impl in ("gpunet cupy", "torch cuda")] + [("residual", impl) for impl in IMPLS[:3]]


@dataclass
class Timed:
    fn: object
    work: float
    unit: str
    setup: object = None  # returns the arguments of one call (untimed): a fresh model for a first call


def unavailable(impl):
    """None when ``impl`` can run here, else why not."""
    from gpunet.backend import cupy_unavailable_reason
    if impl.startswith("gpunet"):
        return cupy_unavailable_reason()
    try:
        _peer(impl)
    except peers.Missing as exc:
        return str(exc)
    return None


_PEERS = {}


def _peer(impl):
    if impl not in _PEERS:
        _PEERS[impl] = peers.GpunetPeer(backend="cupy") if impl.startswith("gpunet") else peers.load("torch cuda")
    return _PEERS[impl]


@contextmanager
def env(name, value):
    """Environment variable ``name`` set to ``value`` (None: unset) inside the block."""
    before = os.environ.get(name)
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = str(value)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def _graphs(impl):
    """``GPUNET_CUDA_GRAPHS=0`` during an eager gpunet call."""
    return env("GPUNET_CUDA_GRAPHS", "0") if impl == "gpunet cupy eager" else nullcontext()


def _training(key, sizes):
    """(spec, x, y, batch, epochs) of a training workload."""
    if key in ("seed", "residual"):
        x, y = pima_data(768)
        return (PIMA if key == "seed" else RESIDUAL), x, y, 10, sizes.gpu_seed_epochs
    if key in ("wide_b128", "wide_b1024"):
        rows = sizes.gpu_wide_b128_rows if key == "wide_b128" else sizes.gpu_wide_b1024_rows
        x, y = mnist_like(rows)
        return WIDE, x, y, int(key[6:]), sizes.gpu_epochs
    rng = numpy.random.default_rng(0)
    x = rng.standard_normal((sizes.gpu_big_rows, BIG.input_dim), dtype=numpy.float32)
    y = rng.standard_normal((sizes.gpu_big_rows, BIG.input_dim), dtype=numpy.float32)
    return BIG, x, y, 4096, sizes.gpu_epochs


def prepare(key, impl, sizes, peer=None):
    """A `Timed` for workload ``key`` (a key of workloads.GPU_CASES) run by ``impl``; ``peer``
    replaces the implementation's adapter (tests run the plumbing on CPU peers)."""
    peer = peer or _peer(impl)
    if key.startswith("predict"):
        x, _ = mnist_like(60000 if not sizes.smoke else sizes.predict_rows)
        build = lambda: (peer.mlp(WIDE, initial_weights(WIDE)),)  # noqa: E731

        def call(model):
            with _graphs(impl):
                peer.predict(model, x, 1024)  # returns host NumPy: synchronized
        if key == "predict_first":
            return Timed(call, x.shape[0], "samples/s", setup=lambda: (build(), {}))
        model = build()
        return Timed(lambda: call(*model), x.shape[0], "samples/s")
    spec, x, y, batch, epochs = _training(key, sizes)
    steps = epochs * ((x.shape[0] + batch - 1) // batch)
    unit, work = ("us/step", steps) if key in ("seed", "residual") else ("samples/s", epochs * x.shape[0])
    if key == "big":
        unit, work = "TFLOP/s", 6 * spec.n_params * epochs * x.shape[0] / 1e12
    if impl == "torch cuda graph":
        model = peer.mlp(spec, initial_weights(spec), capturable=True)
        replay = peer.graph_step(model, x[:batch], y[:batch])

        def replays():
            for _ in range(steps):
                replay()
            peer.sync()
        return Timed(replays, steps, unit)
    model = residual_model(peer, initial_weights(spec)) if key == "residual" else peer.mlp(spec, initial_weights(spec))

    def fit():
        with _graphs(impl):
            peer.fit(model, x, y, epochs, batch)
        peer.sync()
    return Timed(fit, work, unit)


def time_case(timed, rounds, warmup=1):
    """Median seconds of ``rounds`` calls after ``warmup`` untimed ones (gpu_check's timer)."""
    import time
    times = []
    for i in range(warmup + rounds):
        args = timed.setup()[0] if timed.setup else ()
        t = time.perf_counter()
        timed.fn(*args)
        if i >= warmup:
            times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def value(timed, seconds):
    """The workload's figure from one call's seconds, in ``timed.unit``."""
    if timed.unit == "us/step":
        return seconds / timed.work * 1e6
    return timed.work / seconds


def median_seconds(fn, rounds, sync, warmup=1):
    """Median wall seconds of ``rounds`` calls of fn() (device synchronized after each), after
    ``warmup`` untimed calls: `time_case`, gpu_check's timer."""
    return time_case(Timed(lambda: (fn(), sync()), 0, "s"), rounds, warmup)
