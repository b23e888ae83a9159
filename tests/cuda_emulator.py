"""Runs gpunet's CUDA kernels on the CPU: the kernel modules' exact source text
(kernel_source.module_source, the string NVRTC compiles) built by g++ under
tests/cuda_emulation.h, and launched from the same plans (cuda_kernels.Launch)
the CuPy backend launches.

    emu = KernelEmulator(build_dir)
    emu(plan)                     # like CupyLauncher()(plan), on NumPy arrays
    EmulatedCupyBackend(emu)      # CupyBackend's own code, on NumPy arrays and emu
"""
import ctypes
import fcntl
import hashlib
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import numpy
import pytest

from gpunet.backend import cuda_kernels
from gpunet.backend.cupy_backend import CupyBackend
from gpunet.backend.kernel_source import module_source

H100_SMS = 132  # emulated launches get the geometry an H100 would
HERE = os.path.dirname(os.path.abspath(__file__))
HEADER = os.path.join(HERE, "cuda_emulation.h")
CXX = os.environ.get("CXX", "g++")
CXXFLAGS = ["-std=c++20", "-O2", "-fPIC", "-shared", "-pthread", "-Wall", "-Wno-unknown-pragmas"]

ERRORS = {1: "barrier deadlock: some thread of a block never reached a __syncthreads() the others wait at",
          2: "launch geometry outside CUDA's limits",
          3: "arguments do not match the kernel's parameters (count, kind or size)",
          4: "no such kernel in the module"}


class KernelError(RuntimeError):
    pass


def harness_source(source, names):
    """A translation unit: the emulation header, a module's source, and one C
    entry point that looks a kernel up by its name expression."""
    lines = [f'#include "{HEADER}"', "", source, "",
             'extern "C" int gn_launch(const char* name, const unsigned* geom, void** args, int nargs,',
             '                         const char* kinds, const int* sizes, int workers) {']
    for expr in names:
        lines.append(f'    if (std::strcmp(name, "{expr}") == 0)')
        lines.append(f"        return gn_emu::launch(&{expr}, geom, args, nargs, kinds, sizes, workers);")
    lines += ["    return 4;", "}", ""]
    return "\n".join(lines)


def compile_library(source, build_dir, tag):
    """Builds source into a shared library under build_dir, reusing an earlier
    build of the same text (header, flags and compiler included) when present."""
    with open(HEADER, "rb") as f:
        header = f.read()
    key = hashlib.sha256(source.encode() + header + " ".join([CXX] + CXXFLAGS).encode()).hexdigest()[:16]
    lib = os.path.join(build_dir, f"{tag}-{key}.so")
    os.makedirs(build_dir, exist_ok=True)
    with open(os.path.join(build_dir, f"{tag}.lock"), "w") as lock:
        # pytest-xdist's workers start together on a fresh clone: one builds, the others wait and load its build
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build(source, build_dir, tag, key, lib)


def _build(source, build_dir, tag, key, lib):
    if not os.path.exists(lib):
        cpp = os.path.join(build_dir, f"{tag}-{key}.cpp")
        with open(cpp, "w") as f:
            f.write(source)
        tmp = f"{lib}.{os.getpid()}.tmp"
        proc = subprocess.run([CXX, *CXXFLAGS, "-o", tmp, cpp], capture_output=True, text=True)
        if proc.returncode != 0:
            raise KernelError(f"g++ failed on {cpp}:\n{proc.stderr[-4000:]}")
        os.replace(tmp, lib)
        for old in os.listdir(build_dir):  # earlier builds of this tag are dead weight
            if old.startswith(tag + "-") and not old.startswith(f"{tag}-{key}"):
                os.remove(os.path.join(build_dir, old))
    return lib


def have_compiler():
    return shutil.which(CXX) is not None


class KernelEmulator:
    """Launches plans on NumPy arrays; ``workers`` OS threads share the blocks."""

    def __init__(self, build_dir, workers=None, modules=None):
        """``modules``: {name: (source, name expressions)}; gpunet's own by default."""
        self.workers = workers or min(4, os.cpu_count() or 1)
        if modules is None:
            modules = {m: (module_source(m), cuda_kernels.name_expressions(m)) for m in cuda_kernels.KERNELS}
        with ThreadPoolExecutor(len(modules)) as pool:  # g++ runs are independent
            libs = pool.map(lambda m: compile_library(harness_source(*modules[m]), build_dir, f"emu-{m}"), modules)
        self._libs = {}
        for module, path in zip(modules, libs):
            lib = ctypes.CDLL(path)
            lib.gn_launch.restype = ctypes.c_int
            lib.gn_launch.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_uint), ctypes.POINTER(ctypes.c_void_p),
                                      ctypes.c_int, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
            self._libs[module] = lib
        self.launches = []  # (kernel, grid, block) of every launch, for tests of the dispatch

    def __call__(self, plan):
        values, kinds, sizes = [], [], []
        for a in plan.args:
            if isinstance(a, numpy.ndarray):
                if not a.flags.c_contiguous:
                    raise KernelError(f"{plan.kernel}: array arguments must be C-contiguous")
                values.append(ctypes.c_void_p(a.ctypes.data))
                kinds.append("p")
                sizes.append(ctypes.sizeof(ctypes.c_void_p))
            elif isinstance(a, numpy.generic) and a.dtype.kind in "iuf":
                # the bytes CuPy would pack for this scalar
                values.append(ctypes.create_string_buffer(a.tobytes(), a.dtype.itemsize))
                kinds.append({"i": "i", "u": "I", "f": "f"}[a.dtype.kind])
                sizes.append(a.dtype.itemsize)
            else:
                raise KernelError(f"{plan.kernel}: argument {a!r} is neither an array nor a NumPy scalar; "
                                  "CuPy would guess its C type")
        ptrs = (ctypes.c_void_p * len(values))(*[ctypes.cast(ctypes.pointer(v), ctypes.c_void_p) for v in values])
        geom = (ctypes.c_uint * 6)(*plan.grid, *plan.block)
        rc = self._libs[plan.module].gn_launch(plan.kernel.encode(), geom, ptrs, len(values), "".join(kinds).encode(),
                                               (ctypes.c_int * len(sizes))(*sizes), self.workers)
        if rc != 0:
            raise KernelError(f"{plan.kernel} grid={plan.grid} block={plan.block}: {ERRORS.get(rc, rc)}")
        self.launches.append((plan.kernel, tuple(plan.grid), tuple(plan.block)))


class EmulatedCupyBackend(CupyBackend):
    """CupyBackend's Python code (dispatch, buffers, plans) with NumPy for CuPy
    and the emulator for the GPU: what it computes is what the GPU would."""

    def __init__(self, emulator, sm_count=H100_SMS, dense_path="auto"):
        self.xp = numpy
        self.launch = emulator
        self.sm_count = sm_count
        self.allow_tf32 = False
        self.dense_path = dense_path

    host_reads = 0  # device-to-host copies so far (tests of the GPU plan's budget count them)

    def to_host(self, x):  # the device-to-host copy, here a no-op
        self.host_reads += 1
        return numpy.asarray(x)

    def to_scalar(self, x):  # a device read too
        self.host_reads += 1
        return float(x)


def build_dir(request, tmp_path_factory):
    """pytest's cache directory (builds survive across runs), or one temp dir for the session when the cache is
    off (-p no:cacheprovider): each test module that imports `emulator` holds a fixture of its own, which must
    find the first one's builds there rather than compile them again."""
    if not have_compiler():
        pytest.fail(f"{CXX} not found: the kernel tests compile kernels/*.cu with g++ (CXX to choose another)")
    cache = getattr(request.config, "cache", None)
    return str(cache.mkdir("gpunet-kernel-emulator") if cache else tmp_path_factory.getbasetemp() / "kernel-emulator")


@pytest.fixture(scope="session")
def emulator(request, tmp_path_factory):
    """gpunet's kernel modules built once per session (and cached across sessions)."""
    return KernelEmulator(build_dir(request, tmp_path_factory))
