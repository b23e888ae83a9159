"""Shared fixtures of the benchmark suites.

- ``--smoke`` or ``GPUNET_BENCH_SMOKE=1``: small sizes, each benchmark run once
  (CI runs the suites this way, to prove they work, not to time them).
- ``framework``: parametrized over gpunet and its peers (PyTorch, Keras 3 on
  torch, tf-keras); a peer that is not installed is skipped with a message.
- ``run_bench(benchmark, fn, ...)``: times ``fn`` with the suite's rounds, and
  records what the report needs (suite, case, framework, unit, work per call).
- ``record_rounds(benchmark, seconds, ...)``: records rounds timed elsewhere (in the ranks of an
  mpirun job, or interleaved with another case) as that benchmark's result.
"""
import os

import pytest

# Keras 3 picks its backend when first imported; the peer is Keras 3 on torch.
os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from . import peers as _peers  # noqa: E402
from .machine import machine_info as _machine_info  # noqa: E402
from .workloads import Sizes, smoke_from_env  # noqa: E402

_loaded = {}
# The machine may be shared: other processes' load distorts timings (BLAS threads spin), so it is recorded.
_LOAD_AT_START = os.getloadavg() if hasattr(os, "getloadavg") else None


def pytest_addoption(parser):
    parser.addoption("--smoke", action="store_true", default=False,
                     help="gpunet benchmarks: small sizes, each benchmark run once (also GPUNET_BENCH_SMOKE=1)")
    parser.addoption("--bench-frameworks", default=None, metavar="NAMES",
                     help="gpunet benchmarks: run only these frameworks (comma-separated: gpunet, torch, keras3, "
                          "tf_keras, h5py); the report runs each in its own process")


def pytest_configure(config):
    # Keras 3 on torch warns about NumPy 2's copy keyword on every batch; it says nothing about speed.
    config.addinivalue_line("filterwarnings", "ignore:__array__ implementation doesn't accept a copy keyword")
    config.addinivalue_line("markers", "framework(name): the framework a non-parametrized benchmark measures")


_ORDER = {name: i for i, name in enumerate(_peers.FRAMEWORKS + ("h5py",))}


def framework_of(item):
    """The framework a benchmark item measures: its ``framework`` parameter, else its marker, else gpunet."""
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "framework" in callspec.params:
        return callspec.params["framework"]
    marker = item.get_closest_marker("framework")
    return marker.args[0] if marker else "gpunet"


def pytest_collection_modifyitems(config, items):
    """gpunet's benchmarks first, then each peer's (a peer's idle thread pools, once imported, can spin and
    steal CPU from whatever runs next); ``--bench-frameworks`` keeps only those named."""
    wanted = config.getoption("--bench-frameworks")
    if wanted:
        names = {n.strip() for n in wanted.split(",") if n.strip()}
        keep = [it for it in items if framework_of(it) in names]
        drop = [it for it in items if framework_of(it) not in names]
        if drop:
            config.hook.pytest_deselected(items=drop)
        items[:] = keep
    items.sort(key=lambda it: _ORDER.get(framework_of(it), len(_ORDER)))


def is_smoke(config):
    return bool(config.getoption("--smoke", default=False)) or smoke_from_env()


def pytest_benchmark_update_machine_info(config, machine_info):
    machine_info["gpunet_bench"] = _machine_info()
    machine_info["gpunet_bench"]["smoke"] = is_smoke(config)
    machine_info["gpunet_bench"]["load_start"] = _LOAD_AT_START
    machine_info["gpunet_bench"]["load_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None


@pytest.fixture(scope="session")
def smoke(request):
    return is_smoke(request.config)


@pytest.fixture(scope="session")
def sizes(smoke):
    return Sizes.get(smoke)


def load_peer(name):
    """The adapter for ``name``, or a skip saying why it cannot run (cached per session)."""
    if name not in _loaded:
        try:
            _loaded[name] = _peers.load(name)
        except _peers.Missing as exc:
            _loaded[name] = exc
    got = _loaded[name]
    if isinstance(got, Exception):
        pytest.skip(str(got))
    return got


@pytest.fixture(params=_peers.FRAMEWORKS)
def framework(request):
    return load_peer(request.param)


@pytest.fixture
def run_bench(smoke):
    """``run_bench(benchmark, fn, suite=, case=, framework=, unit=, work=, rounds=)``.

    ``unit`` is "us/step" (``work`` steps per call), "samples/s" (``work`` samples per
    call), "TFLOP/s" (``work`` TFLOPs per call) or "ms" (time of one call). ``setup``
    (untimed, before each call) returns the call's ``(args, kwargs)``. ``rounds=None`` lets pytest-benchmark calibrate
    (micro-benchmarks); otherwise ``rounds`` timed calls after one warm-up call.
    Smoke mode runs ``fn`` once.
    """
    def run(benchmark, fn, *, suite, case, framework, unit, work=1, rounds=None, warmup=1, setup=None):
        benchmark.group = f"{suite}: {case}"
        benchmark.extra_info.update({"suite": suite, "case": case, "framework": framework, "unit": unit,
                                     "work": work, "smoke": smoke})
        if smoke:
            return benchmark.pedantic(fn, rounds=1, iterations=1, warmup_rounds=0, setup=setup)
        if rounds is None and setup is None:
            return benchmark(fn)
        return benchmark.pedantic(fn, rounds=rounds or 3, iterations=1, warmup_rounds=warmup, setup=setup)

    return run


@pytest.fixture
def record_rounds(smoke):
    """``record_rounds(benchmark, seconds, iterations=1, suite=, case=, framework=, unit=, work=, **extra)``.

    For rounds pytest-benchmark cannot time itself: those of ranks started by mpirun (timed inside
    the ranks, between barriers) and those interleaved with another case in one loop (so that both
    see the same machine). ``seconds`` are the measured rounds of ``iterations`` calls each; they
    become the benchmark's statistics (per call), exactly as if pytest-benchmark had timed them.
    """
    def record(benchmark, seconds, *, iterations=1, suite, case, framework, unit, work=1, **extra):
        benchmark.group = f"{suite}: {case}"
        benchmark.extra_info.update({"suite": suite, "case": case, "framework": framework, "unit": unit,
                                     "work": work, "smoke": smoke, "timed_by": "the benchmark's own loop", **extra})
        if not seconds or min(seconds) <= 0:
            raise ValueError(f"{suite}: {case}: {framework}: expected positive round times, received {seconds!r}")
        # pytest-benchmark has no public call for rounds timed outside it; _make_stats is what its
        # own pedantic mode fills (and the smoke test fails if a new release renames it).
        benchmark._mode = "record_rounds(...)"
        stats = benchmark._make_stats(iterations)
        for s in seconds:
            stats.update(s)

    return record
