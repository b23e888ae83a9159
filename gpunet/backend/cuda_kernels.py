"""The CUDA kernels of the CuPy backend: launch plans and loading.

A *plan* (`Launch`) is a kernel name expression, a grid, a block and the argument
tuple, computed by plain Python from array shapes and dtypes. `CupyBackend` runs
plans on the GPU through `CupyLauncher`; the tests run the very same plans through
a g++ build of the same sources (tests/cuda_emulator.py), so the geometry checked
on the CPU is the geometry used on the GPU.

Arguments follow CuPy's packing: arrays are device pointers, scalars are NumPy
scalars of the kernel parameter's exact C type (``int32`` for ``int``, ``int64``
for ``long long``, the array dtype for ``T``), and a null pointer is
``uint64(0)``. Nothing compiles at import: each module compiles on first use,
once per process (`CupyLauncher`).
"""
import functools
import threading
from typing import NamedTuple

import numpy

from .kernel_source import module_source

# Kernel names per module; each is instantiated for float and double.
KERNELS = {
    "dense": ("dense_forward", "dense_backward", "bias_act", "act_backward_db", "softmax_forward",
              "softmax_backward"),
    "optimizers": ("sgd_update", "adam_update", "rmsprop_update", "adagrad_update", "adamax_update", "nadam_update",
                   "lion_update", "adadelta_update", "ftrl_update",
                   "constrain_columns", "clip_value", "segment_sum_squares", "segment_clip_norm", "weight_decay"),
    # the GPU step plan's own (gpu_plan.py, step_kernels.py, gpu_fused_step.py)
    "step": ("batch_gather", "loss_grad", "focal_loss_grad", "dropout_forward", "dropout_backward", "noise_forward",
             "mlp_step", "reg_grad", "bn_forward", "bn_backward", "bn_inference", "mlp_forward", "ln_forward",
             "ln_param_grads", "ln_backward"),
}
_CTYPE = {numpy.dtype(numpy.float32): "float", numpy.dtype(numpy.float64): "double"}
KERNEL_DTYPES = tuple(_CTYPE)

# activations.cuh's codes, and what each backward reads besides dy: "mask" (uint8,
# stored by the forward), "z" (the pre-activation, stored by the forward), "y"
# (the output, which the layer keeps anyway), or both "z" and "y".
ACT_CODES = {"linear": 0, "relu": 1, "sigmoid": 2, "hard_sigmoid": 3, "tanh": 4, "elu": 5, "selu": 6,
             "softplus": 7, "softsign": 8, "swish": 9, "gelu": 10, "exponential": 11, "leaky_relu": 12,
             "relu6": 13, "mish": 14}
_READS = {"linear": "", "relu": "mask", "leaky_relu": "mask", "relu6": "mask", "sigmoid": "y",
          "hard_sigmoid": "y", "tanh": "y", "softplus": "y", "selu": "y", "exponential": "y", "elu": "zy",
          "softsign": "z", "swish": "z", "gelu": "z", "mish": "z"}
_PARAMS = {"relu": ("alpha", "max_value", "threshold"), "leaky_relu": ("alpha",), "elu": ("alpha",),
           "gelu": ("approximate",), "softmax": ("axis",)}
_DEFAULTS = {"leaky_relu": {"alpha": 0.2}, "elu": {"alpha": 1.0}}
_HAS_MAX, _APPROXIMATE = 1, 2

NULL = numpy.uint64(0)
TILE = 64          # gemm_tile.cuh's GN_BM: a block computes a TILE x TILE tile
TILE_BLOCK = (16, 16, 1)
MAX_N = 65535 * TILE  # dense_forward puts N's tiles on gridDim.y
ELEMENTWISE_BLOCK = 256
BLOCKS_PER_SM = 8  # grid cap of the grid-stride kernels: enough blocks to fill every SM
NVRTC_OPTIONS = ("-std=c++17",)


def name_expressions(module):
    """Every name expression of a module, as given to NVRTC and to the emulation."""
    return [f"{k}<{t}>" for k in KERNELS[module] for t in ("float", "double")]


class Launch(NamedTuple):
    module: str
    kernel: str        # a name expression, e.g. "dense_forward<float>"
    grid: tuple
    block: tuple
    args: tuple


class ActSpec(NamedTuple):
    code: int
    alpha: float
    max_value: float
    threshold: float
    flags: int
    keep: str          # what dense_forward stores for the backward pass: "mask", "z" or ""
    needs_y: bool      # whether the backward reads the output y
    softmax: bool      # the GEMM applies no activation; a softmax kernel follows


def activation_spec(name, params):
    """The kernel form of an activation (a name of ActivationOps and its keyword
    arguments), or None where no kernel implements it: the backend then runs the
    reference code."""
    params = dict(params or {})
    if name == "softmax":
        ok = set(params) <= {"axis"} and params.get("axis", -1) in (-1, 1)
        return ActSpec(0, 0.0, 0.0, 0.0, 0, "", True, True) if ok else None
    if name not in ACT_CODES or not set(params) <= set(_PARAMS.get(name, ())):
        return None
    p = {**_DEFAULTS.get(name, {}), **params}
    max_value = p.get("max_value")
    flags = (_HAS_MAX if max_value is not None else 0) | (_APPROXIMATE if p.get("approximate") else 0)
    reads = _READS[name]
    return ActSpec(ACT_CODES[name], float(p.get("alpha") or 0.0), float(max_value or 0.0),
                   float(p.get("threshold") or 0.0), flags, "mask" if "mask" in reads else ("z" if "z" in reads else ""),
                   "y" in reads, False)


def _ptr(a):
    return NULL if a is None else a


def _kernel(name, dtype):
    return f"{name}<{_CTYPE[numpy.dtype(dtype)]}>"


@functools.lru_cache(maxsize=256)
def _act_args(spec, dtype):
    t = numpy.dtype(dtype).type
    return (numpy.int32(spec.code), t(spec.alpha), t(spec.max_value), t(spec.threshold), numpy.int32(spec.flags))


def cdiv(a, b):
    return -(-a // b)


def _grid_stride(n, sm_count):
    return (max(1, min(cdiv(n, ELEMENTWISE_BLOCK), BLOCKS_PER_SM * sm_count)), 1, 1)


# ---- plans: bias_act.cu, softmax.cu (the cuBLAS path and softmax) ----------------------------------
def plan_bias_act(y, b, z, mask, spec, sm_count):
    """y = act(y + b) in place after a cuBLAS GEMM."""
    M, N = y.shape
    return Launch("dense", _kernel("bias_act", y.dtype), _grid_stride(M * N, sm_count), (ELEMENTWISE_BLOCK, 1, 1),
                  (y, _ptr(b), _ptr(z), _ptr(mask), numpy.int64(M * N), numpy.int32(N)) + _act_args(spec, y.dtype))


def db_row_blocks(M, N, sm_count):
    """G, the block rows of act_backward_db: enough blocks to fill the GPU, but
    each block row still sums at least 8 rows per thread."""
    col_blocks = cdiv(N, 32)
    return max(1, min(cdiv(M, 64), cdiv(BLOCKS_PER_SM * sm_count, col_blocks)))


def plan_act_backward_db(dy, z, y, mask, dz, db_part, spec, rows_blocks):
    """dz = dy act'(...) and (db_part not None) its column sums, (G, N) partials."""
    M, N = dy.shape
    return Launch("dense", _kernel("act_backward_db", dy.dtype), (cdiv(N, 32), rows_blocks, 1), (32, 8, 1),
                  (dy, _ptr(z), _ptr(y), _ptr(mask), dz, _ptr(db_part), numpy.int32(M), numpy.int32(N))
                  + _act_args(spec, dy.dtype))


def _row_grid(M, sm_count):
    return (max(1, min(cdiv(M, 8), BLOCKS_PER_SM * sm_count)), 1, 1)


def plan_softmax_forward(x, y, sm_count):
    M, N = x.shape
    return Launch("dense", _kernel("softmax_forward", x.dtype), _row_grid(M, sm_count), (32, 8, 1),
                  (x, y, numpy.int32(M), numpy.int32(N)))


def plan_softmax_backward(dy, y, dz, sm_count):
    M, N = y.shape
    return Launch("dense", _kernel("softmax_backward", y.dtype), _row_grid(M, sm_count), (32, 8, 1),
                  (dy, y, dz, numpy.int32(M), numpy.int32(N)))


# ---- plans: optimizers.cu's constraints (its updates: optimizer_launches.py) ----------------------------
CONSTRAINT_MODES = {"NonNeg": 0, "MaxNorm": 1, "UnitNorm": 2, "MinMaxNorm": 3}


def constrained_columns(w):
    """(K, N): a constrained weight as constrain_columns sees it, N vectors of K values along
    axis 0 (a bias: one vector)."""
    return (w.shape[0], 1) if w.ndim == 1 else w.shape


def plan_constrain(w, mode, a, b, rate, eps, sm_count):
    """A weight constraint in place over ``w``'s vectors along axis 0 (see optimizers.cu):
    ``mode`` a `CONSTRAINT_MODES` value, ``a``, ``b`` the bounds, ``rate`` MinMaxNorm's."""
    t = w.dtype.type
    K, N = constrained_columns(w)
    return Launch("optimizers", _kernel("constrain_columns", w.dtype), _grid_stride(N, sm_count),
                  (ELEMENTWISE_BLOCK, 1, 1),
                  (w, numpy.int64(K), numpy.int64(N), numpy.int32(mode), t(a), t(b), t(rate), t(1 - rate), t(eps)))


# ---- loading -------------------------------------------------------------------------------------------
_modules = {}
_lock = threading.Lock()


def _module(name):
    """The compiled RawModule of a kernel module: built on first use, then cached
    for the life of the process (CuPy also caches the binary on disk)."""
    mod = _modules.get(name)
    if mod is None:
        with _lock:
            mod = _modules.get(name)
            if mod is None:
                import cupy
                mod = cupy.RawModule(code=module_source(name), options=NVRTC_OPTIONS,
                                     name_expressions=name_expressions(name))
                _modules[name] = mod
    return mod


class CupyLauncher:
    """Runs plans on the current CUDA device and stream. The kernel functions are looked up once
    (an eager step is all host overhead: each microsecond per launch shows)."""

    def __init__(self):
        self._functions = {}

    def __call__(self, plan):
        fn = self._functions.get((plan.module, plan.kernel))
        if fn is None:
            fn = self._functions[plan.module, plan.kernel] = _module(plan.module).get_function(plan.kernel)
        fn(plan.grid, plan.block, plan.args)

