import os
import sys

import pytest

import gpunet
from gpunet import backend as B
from gpunet.backend import cupy_unavailable_reason

SHARED = os.environ.get("GPUNET_SHARED") or os.path.join(os.path.dirname(__file__), "..", "..", "shared")
DATA = os.path.join(SHARED, "data")
FIXTURES = os.path.join(SHARED, "keras_fixtures")

_CUPY_REASON = cupy_unavailable_reason()

BACKENDS = [
    pytest.param("numpy", id="numpy"),
    pytest.param("cupy", id="cupy", marks=[pytest.mark.gpu]),
]


def _needs_cuda(item):
    """gpu-marked, or skipped by a skipif whose reason starts with "no CUDA"."""
    if item.get_closest_marker("gpu") is not None:
        return True
    return any(str(m.kwargs.get("reason", "")).startswith("no CUDA") for m in item.iter_markers("skipif"))


def pytest_addoption(parser):
    parser.addoption("--gpu-dryrun", action="store_true",
                     help="run the gpu-marked tests without a GPU, on CupyBackend's code with the kernels "
                          "emulated (tests/gpu_dryrun.py); tests marked real_gpu stay skipped")
    parser.addoption("--gpu-dryrun-auto", action="store_true",
                     help="--gpu-dryrun with the default backend ('auto') the emulated CuPy too, as on a GPU "
                          "machine: the whole suite then finds tests that assume NumPy")
    parser.addoption("--gpu-dryrun-strict", action="store_true",
                     help="--gpu-dryrun-auto with device arrays that follow CuPy's rules (tests/strict_cupy.py): "
                          "a NumPy array mixed with one, or one converted to NumPy implicitly, raises TypeError")


def _bytecode_in_pytest_cache(config):
    """Where PYTHONDONTWRITEBYTECODE is set (CI's machines set it), every Python process of the suite compiled
    gpunet and rewrote the tests' asserts from source again: both workers and the ~60 processes the tests start
    (MPI ranks, the CLI, nested pytest runs), some 40 s of CPU. The suite keeps its bytecode in pytest's cache
    folder instead, never beside the sources, where the workers and those processes find it. Not where the
    cache is off (-p no:cacheprovider) or PYTHONPYCACHEPREFIX is yours."""
    cache = getattr(config, "cache", None)
    if cache is None or os.environ.get("PYTHONPYCACHEPREFIX"):
        return
    prefix = str(cache.mkdir("pycache"))
    os.environ["PYTHONPYCACHEPREFIX"] = sys.pycache_prefix = prefix  # the workers and subprocesses inherit it
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    sys.dont_write_bytecode = False


def pytest_configure(config):
    global _CUPY_REASON
    _bytecode_in_pytest_cache(config)
    strict = config.getoption("--gpu-dryrun-strict")
    if config.getoption("--gpu-dryrun") or config.getoption("--gpu-dryrun-auto") or strict:
        import gpu_dryrun
        gpu_dryrun.install(config, auto=config.getoption("--gpu-dryrun-auto") or strict, strict=strict)
        _CUPY_REASON = None


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config):
    """``-n auto`` (the README's command): a worker per core, at most 8. On a GPU machine every worker holds
    its own CUDA context and kernel cache on the one device, and past 8 the suite ends no sooner."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cores, 8))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Without CUDA every GPU test is skipped from this one line, so that ``pytest -ra``
    folds them into one summary line ("SKIPPED [852] tests/conftest.py:...: no CUDA: ...")
    rather than one line per test; the count still shows them all as skipped."""
    if _CUPY_REASON is not None and _needs_cuda(item):
        pytest.skip(f"no CUDA: {_CUPY_REASON}")
    if item.get_closest_marker("real_gpu") is not None and any(
            item.config.getoption(o) for o in ("--gpu-dryrun", "--gpu-dryrun-auto", "--gpu-dryrun-strict")):
        pytest.skip("needs a real GPU (streams, pinned memory, graph capture, NCCL or the driver): "
                    "the --gpu-dryrun emulation has none")


@pytest.fixture(params=BACKENDS)
def ops(request):
    """Each test runs once per backend; the CuPy case is marked `gpu` and skipped without CUDA."""
    with B.use_backend(request.param) as backend:
        yield backend


@pytest.fixture(autouse=True)
def _fresh_state():
    """Each test starts with the default float type, a fixed seed and fresh layer names."""
    from gpunet.layers.naming import reset_names
    reset_names()
    gpunet.utils.set_random_seed(1234)
    yield
    B.set_floatx("float32")


@pytest.fixture
def f64():
    """float64 for this test (`_fresh_state` sets float32 back after it)."""
    B.set_floatx("float64")


@pytest.fixture(scope="module")
def tfk():
    """tf_keras (Keras 2.x on TensorFlow), or a skip saying why not."""
    from keras_support import tf_keras_or_skip
    return tf_keras_or_skip()


def shared_path(*parts):
    path = os.path.join(SHARED, *parts)
    if not os.path.exists(path):
        pytest.fail(f"missing shared file {path}: CI runs with ../shared beside the clone")
    return path
