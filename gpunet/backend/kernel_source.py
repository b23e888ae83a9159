"""Where the CUDA sources live, and the exact text each kernel module compiles.

The ``.cu`` / ``.cuh`` files sit in ``kernels/`` at the top of a source checkout;
a built wheel carries them as ``gpunet/_kernels/`` (see pyproject.toml). A module's
source is its files concatenated in a fixed order, shared headers first: NVRTC
gets one string with no ``#include`` (it ships no toolkit headers, and CuPy's
compile cache keys on the source text, which an include would hide), and the CPU
emulation in tests/ compiles this same string with g++.
"""
import os

# Module name -> its files, in the order they are concatenated.
MODULE_FILES = {
    "dense": ("gn_math.cuh", "activations.cuh", "gemm_tile.cuh", "dense_forward.cu", "dense_backward.cu",
              "bias_act.cu", "softmax.cu"),
    "optimizers": ("gn_math.cuh", "optimizers.cu", "grad_transforms.cu"),
    # softmax.cu for its row_reduce; activations.cuh and optimizers.cu for the single-block step;
    # batch_norm.cu before mlp_step.cu, which runs its column functions, and layer_norm.cu (its column total)
    "step": ("gn_math.cuh", "activations.cuh", "softmax.cu", "optimizers.cu", "step.cu", "loss.cu", "focal_loss.cu",
             "batch_norm.cu", "layer_norm.cu", "mlp_step.cu", "mlp_forward.cu"),
}

_HERE = os.path.dirname(os.path.abspath(__file__))
_CANDIDATES = (
    os.path.join(_HERE, "..", "_kernels"),        # installed wheel: gpunet/_kernels
    os.path.join(_HERE, "..", "..", "kernels"),   # source checkout / editable install
)


def kernel_dir():
    """The directory holding the kernel sources; FileNotFoundError naming where it looked."""
    for path in _CANDIDATES:
        if os.path.isfile(os.path.join(path, "gn_math.cuh")):
            return os.path.normpath(path)
    raise FileNotFoundError("gpunet's CUDA kernel sources were not found in "
                            + " or ".join(os.path.normpath(p) for p in _CANDIDATES)
                            + ": reinstall gpunet (the wheel carries them as gpunet/_kernels).")


def module_source(module):
    """The full source text of a kernel module (see MODULE_FILES)."""
    if module not in MODULE_FILES:
        raise ValueError(f"Unknown kernel module {module!r}: expected one of {sorted(MODULE_FILES)}.")
    root = kernel_dir()
    parts = []
    for name in MODULE_FILES[module]:
        with open(os.path.join(root, name), encoding="utf-8") as f:
            parts.append(f"// ---- {name} ----\n" + f.read())
    return "\n".join(parts)
