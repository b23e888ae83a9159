"""The CuPy backend: CUDA GPUs. Overrides only what has a custom kernel."""
from .base import Backend


def cupy_unavailable_reason():
    """None when CuPy can run here, else a sentence saying why not and what to do."""
    try:
        import cupy
    except ImportError as exc:
        return (f"CuPy is not installed ({exc}). Install gpunet with a CUDA extra: "
                "pip install 'gpunet[cuda12]' (CUDA 12) or 'gpunet[cuda13]' (CUDA 13).")
    try:
        available = cupy.cuda.is_available()
    except Exception as exc:  # a broken driver raises rather than answering False
        return f"CuPy is installed but cannot use CUDA: {exc}."
    if not available:
        return ("CuPy is installed but no usable CUDA GPU was found "
                "(cupy.cuda.is_available() is False): check the NVIDIA driver and CUDA_VISIBLE_DEVICES.")
    return None


class CupyBackend(Backend):
    name = "cupy"
    device = "gpu"

    def __init__(self):
        reason = cupy_unavailable_reason()
        if reason is not None:
            raise RuntimeError("The 'cupy' backend cannot run here: " + reason)
        import cupy
        self.xp = cupy

    def to_host(self, x):
        return self.xp.asnumpy(x)

    def asarray(self, x, dtype=None):
        return self.xp.asarray(x, dtype=dtype)
