"""``pytest --gpu-dryrun -m "gpu and not real_gpu"``: the gpu-marked tests run without a GPU, on
CupyBackend's own Python code with the kernels emulated on the CPU (cuda_emulator's
EmulatedCupyBackend standing in for ``resolve("cupy")``).

What this checks is everything a GPU-marked test does but the device: the plans, the launches'
arguments, the kernels' numerics, the test's own code. So a GPU session (rare, and short) spends its
minutes on what only a GPU can tell: timings, CuPy's streams, pinned memory, graph capture and
NCCL. Tests that exercise those carry the ``real_gpu`` marker and stay skipped here.
"""
import tempfile

import gpunet.backend as B

_installed = {}


def install(config, auto=False, strict=False):
    """Make ``resolve("cupy")`` the emulated backend and report CuPy as usable; "auto" and the
    default backend stay NumPy (``auto``: the emulated GPU too; ``strict``: its device arrays follow
    CuPy's rules, strict_cupy.py). Called from conftest's pytest_configure, before any test module
    is imported (they read ``cupy_unavailable_reason()`` at import)."""
    from cuda_emulator import EmulatedCupyBackend, KernelEmulator
    if strict:
        from strict_cupy import StrictCupyBackend as EmulatedCupyBackend  # noqa: F811
    cache = getattr(config, "cache", None)
    build_dir = str(cache.mkdir("gpunet-kernel-emulator")) if cache else tempfile.mkdtemp(prefix="gpunet-emu-")
    original = B.resolve

    def resolve(name=None):
        if auto and (name is None or (isinstance(name, str) and name.lower() == "auto")):
            name = "cupy"  # (--gpu-dryrun-auto: "auto" is the GPU, as on a GPU machine)
        if name == "cupy":
            if "cupy" not in _installed:
                _installed["cupy"] = EmulatedCupyBackend(KernelEmulator(build_dir))
            return _installed["cupy"]
        return original("numpy" if name in (None, "auto") else name)

    B.resolve = resolve
    B.cupy_unavailable_reason = lambda: None
    # gpunet.distribute.init picks this rank's GPU through the CUDA runtime (and NCCL between GPUs):
    # the emulation is one GPU with no runtime, so a process's one-rank world keeps it as it is
    from gpunet.distribute import runtime
    runtime._use_gpus = lambda world, nccl: None
