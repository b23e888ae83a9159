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
import math
import threading
from typing import NamedTuple

import numpy

from .kernel_source import module_source

# Kernel names per module; each is instantiated for float and double.
KERNELS = {
    "dense": ("dense_forward", "dense_backward", "bias_act", "act_backward_db", "softmax_forward",
              "softmax_backward"),
    "optimizers": ("sgd_update", "adam_update", "rmsprop_update"),
    "step": ("batch_gather", "loss_grad", "dropout_forward", "dropout_backward"),  # the GPU step plan's own (gpu_plan.py, step_kernels.py)
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


# ---- plans: dense_forward.cu, dense_backward.cu --------------------------------------------------
# The Dense plan functions the step plan and CupyBackend share. Every layer shape runs
# in exactly one launch forward and one backward: where a reduction is split over
# several blocks (split-K forward; batch splits for dW / db, N splits for dX), the
# last block of each tile adds the partials up in the same launch (gemm_tile.cuh),
# in a fixed order, so results repeat bit for bit. The caller allocates the
# workspace once per layer shape (`forward_workspace` / `backward_workspace`,
# zero-filled) and passes it to every launch; each launch leaves it ready for the
# next (counters back at 0), so a captured CUDA graph can replay it as is.
MAX_SPLITS = 256      # partial tiles the last block of a tile adds up (also gridDim.z forward)
MIN_SPLIT_CHUNKS = 3  # each split walks >= 3 chunks of GN_BK = 16: shorter, the adding costs what the split saves
GATHER_RATIO = 20     # a chunk's walk takes about as long as adding 20 partials: S <= sqrt(20 chunks)
CHUNK = 16            # gemm_tile.cuh's GN_BK
_I32 = numpy.dtype(numpy.int32)


def reduction_splits(tiles, n, sm_count):
    """S, the blocks that share the length-``n`` reduction of each of ``tiles`` output
    tiles: enough blocks for two per SM, each walking at least MIN_SPLIT_CHUNKS
    chunks, and no more than balances the walk (chunks / S) against the last
    block's adding (S partials): S <= sqrt(GATHER_RATIO chunks); evened out so that
    no split is empty."""
    chunks = cdiv(n, CHUNK)
    s = min(cdiv(2 * sm_count, max(tiles, 1)), chunks // MIN_SPLIT_CHUNKS, math.isqrt(GATHER_RATIO * chunks),
            MAX_SPLITS)
    return 1 if s <= 1 else cdiv(chunks, cdiv(chunks, s))


def forward_splits(M, N, K, sm_count):
    """S of dense_forward's split-K: > 1 only where the output has few tiles (a
    small batch) and K is long, so that one block per tile would leave SMs idle."""
    return reduction_splits(cdiv(M, TILE) * cdiv(N, TILE), K, sm_count)


@functools.lru_cache(maxsize=1024)
def _forward_geometry(M, N, K, dtype, sm_count):
    """(grid, workspace entries, the kernel's int arguments, kernel name) of one layer shape."""
    _check_layer("dense_forward_launch", M, N, K, dtype)
    S = forward_splits(M, N, K, sm_count)
    ws = () if S == 1 else (((S, M, N), numpy.dtype(dtype)), ((cdiv(M, TILE) * cdiv(N, TILE),), _I32))
    return ((cdiv(M, TILE), cdiv(N, TILE), S), ws, tuple(numpy.int32(v) for v in (M, N, K, S)),
            _kernel("dense_forward", dtype))


def forward_workspace(M, N, K, dtype, sm_count):
    """What `dense_forward_launch` needs for an (M, K) x (K, N) layer of ``dtype`` on a
    GPU of ``sm_count`` SMs: a list of (shape, dtype), in order, for the caller to
    allocate once, zero-filled, and pass as ``ws`` to every launch of that shape.
    Empty when the layer needs no split (S = 1); else [(S, M, N) partials of
    ``dtype``, (tiles,) int32 counters]."""
    return list(_forward_geometry(M, N, K, numpy.dtype(dtype), sm_count)[1])


def _check_layer(what, M, N, K, dtype):
    """The layer shape and dtype the kernels launch (checked once per shape: the geometry is cached)."""
    if numpy.dtype(dtype) not in _CTYPE:
        raise ValueError(f"{what}: the kernels take float32 or float64, received {numpy.dtype(dtype)}")
    if not (0 < M < 2**31 and 0 < N <= MAX_N and 0 < K < 2**31):
        raise ValueError(f"{what}: layer shape ({M}, {K}) x ({K}, {N}) is outside what the kernels launch "
                         f"(M, K >= 1, 1 <= N <= {MAX_N}, every size < 2**31)")


def _check_shapes(what, x, w, outs):
    """x (M, K) and w (K, N) of one dtype, and each output (name, array or None, shape) as expected."""
    xs, wsh = x.shape, w.shape
    if len(xs) != 2 or len(wsh) != 2 or xs[1] != wsh[0] or x.dtype != w.dtype:
        raise ValueError(f"{what}: expected x (M, K) and w (K, N) of one dtype; received x {tuple(xs)} {x.dtype} "
                         f"and w {tuple(wsh)} {w.dtype}")
    for name, a, shape in outs:
        if a is not None and a.shape != shape:
            raise ValueError(f"{what}: {name} must have shape {shape}, received {tuple(a.shape)}")


def _check_workspace(what, ws, expected):
    if len(ws) == len(expected) and all(a.shape == sh and a.dtype == dt for a, (sh, dt) in zip(ws, expected)):
        return
    got = [(tuple(a.shape), numpy.dtype(a.dtype)) for a in ws]
    raise ValueError(f"{what}: the workspace does not fit this layer shape: expected {list(expected)} "
                     f"(shape, dtype) from {what.replace('launch', 'workspace')}, received {got}")


def dense_forward_launch(x, w, b, y, z, mask, spec, sm_count, ws):
    """One launch of dense_forward: ``y = act(x w + b)``, ``z`` (pre-activation) and
    ``mask`` (relu family, uint8) written where not None, as ``spec.keep`` asks.

    x (M, K), w (K, N), y / z (M, N) C-contiguous of one float dtype, b (N,) or
    None; ``spec`` from `activation_spec` (for softmax the launch writes x w + b and
    the caller runs `plan_softmax_forward` or fuses softmax into its loss);
    ``ws``: arrays shaped as `forward_workspace(M, N, K, x.dtype, sm_count)`.
    Returns the `Launch`."""
    (M, K), N = x.shape, w.shape[1]
    _check_shapes("dense_forward_launch", x, w, (("b", b, (N,)), ("y", y, (M, N)), ("z", z, (M, N)),
                                                 ("mask", mask, (M, N))))
    grid, expected, ints, kernel = _forward_geometry(M, N, K, x.dtype, sm_count)
    _check_workspace("dense_forward_launch", ws, expected)
    part, count = (ws[0], ws[1]) if expected else (NULL, NULL)
    return Launch("dense", kernel, grid, TILE_BLOCK,
                  (x, w, _ptr(b), y, _ptr(z), _ptr(mask), part, count) + ints + _act_args(spec, x.dtype))


def _backward_geometry(M, N, K, sm_count, need_dw, need_db, need_dx):
    """(Sw, dW-side tiles, Sx, dX tiles) of dense_backward."""
    tn = cdiv(N, TILE)
    tiles_w = cdiv(K, TILE) * tn if need_dw else (tn if need_db else 0)
    tiles_x = cdiv(M, TILE) * cdiv(K, TILE) if need_dx else 0
    sw = reduction_splits(tiles_w, M, sm_count) if tiles_w else 1
    sx = reduction_splits(tiles_x, N, sm_count) if tiles_x else 1
    return sw, tiles_w, sx, tiles_x


@functools.lru_cache(maxsize=1024)
def _backward_plan(M, N, K, dtype, sm_count, need):
    """(grid, workspace entries, which workspace slot feeds each kernel pointer, the
    kernel's int arguments, kernel name) of one layer shape."""
    _check_layer("dense_backward_launch", M, N, K, dtype)
    sw, tiles_w, sx, tiles_x = _backward_geometry(M, N, K, sm_count, *need)
    dtype = numpy.dtype(dtype)
    ws, slots = [], {}
    for role, entry, used in (("dw_part", ((sw, K, N), dtype), sw > 1 and need[0]),
                              ("db_part", ((sw, N), dtype), sw > 1 and need[1]),
                              ("count_w", ((tiles_w,), _I32), sw > 1),
                              ("dx_part", ((sx, M, K), dtype), sx > 1), ("count_x", ((tiles_x,), _I32), sx > 1)):
        if used:
            slots[role] = len(ws)
            ws.append(entry)
    order = tuple(slots.get(r) for r in ("dw_part", "db_part", "dx_part", "count_w", "count_x"))
    ints = tuple(numpy.int32(v) for v in (M, N, K, sw, sw * tiles_w, sx))
    return (sw * tiles_w + sx * tiles_x, 1, 1), tuple(ws), order, ints, _kernel("dense_backward", dtype)


def backward_workspace(M, N, K, dtype, sm_count, need_dw, need_db, need_dx):
    """What `dense_backward_launch` needs (see `forward_workspace`): in this order, each
    only where used, [(Sw, K, N) dW partials, (Sw, N) db partials, (dW-side tiles,)
    int32 counters] when the batch is split for dW / db (Sw > 1), then [(Sx, M, K)
    dX partials, (dX tiles,) int32 counters] when N is split for dX (Sx > 1)."""
    need = (bool(need_dw), bool(need_db), bool(need_dx))
    return list(_backward_plan(M, N, K, numpy.dtype(dtype), sm_count, need)[1])


def dense_backward_launch(dy, x, w, z, y, mask, dw, db, dx, spec, sm_count, ws):
    """One launch of dense_backward: dW (K, N), db (N,) and dX (M, K), each written
    where not None (at least one must be), from dy (M, N), x, w and what the forward
    kept (z, y, mask per ``spec``; for softmax the caller passes dZ as dy and the
    linear spec). All C-contiguous of x's dtype; ``ws``: arrays shaped as
    `backward_workspace(M, N, K, x.dtype, sm_count, dw is not None, db is not None,
    dx is not None)`. Returns the `Launch`."""
    (M, K), N = x.shape, w.shape[1]
    _check_shapes("dense_backward_launch", x, w, (("dy", dy, (M, N)), ("dw", dw, (K, N)), ("db", db, (N,)),
                                                  ("dx", dx, (M, K))))
    need = (dw is not None, db is not None, dx is not None)
    if not any(need):
        raise ValueError("dense_backward_launch: nothing to compute (dw, db and dx are all None)")
    grid, expected, order, ints, kernel = _backward_plan(M, N, K, x.dtype, sm_count, need)
    _check_workspace("dense_backward_launch", ws, expected)
    parts = tuple(NULL if i is None else ws[i] for i in order)
    return Launch("dense", kernel, grid, TILE_BLOCK,
                  (dy, x, w, _ptr(z), _ptr(y), _ptr(mask), _ptr(dw), _ptr(db), _ptr(dx)) + parts + ints
                  + _act_args(spec, x.dtype))


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


# ---- plans: optimizers.cu ----------------------------------------------------------------------------
def plan_sgd(p, g, velocity, lr, momentum, nesterov, sm_count, table=None, index=None):
    """With ``table`` (per-step learning rates) and ``index`` (a device int64), lr is
    ``table[index[0]]``, read on the device: a captured step replays with each step's value."""
    t = p.dtype.type
    return Launch("optimizers", _kernel("sgd_update", p.dtype), _grid_stride(p.size, sm_count),
                  (ELEMENTWISE_BLOCK, 1, 1),
                  (p, g, _ptr(velocity), numpy.int64(p.size), t(lr), t(momentum), numpy.int32(bool(nesterov)),
                   _ptr(table), _ptr(index)))


def plan_adam(p, g, m, v, vhat, alpha, beta_1, beta_2, epsilon, sm_count, table=None, index=None):
    """``alpha`` is the bias-corrected step size the reference computes on the host (or, with
    ``table``, ``table[index[0]]``, as `plan_sgd`)."""
    t = p.dtype.type
    return Launch("optimizers", _kernel("adam_update", p.dtype), _grid_stride(p.size, sm_count),
                  (ELEMENTWISE_BLOCK, 1, 1),
                  (p, g, m, v, _ptr(vhat), numpy.int64(p.size), t(alpha), t(1.0 - beta_1), t(1.0 - beta_2), t(epsilon),
                   _ptr(table), _ptr(index)))


def plan_rmsprop(p, g, rms, mom, mg, lr, rho, momentum, epsilon, sm_count, table=None, index=None):
    """``table``, ``index``: as `plan_sgd`."""
    t = p.dtype.type
    return Launch("optimizers", _kernel("rmsprop_update", p.dtype), _grid_stride(p.size, sm_count),
                  (ELEMENTWISE_BLOCK, 1, 1),
                  (p, g, rms, _ptr(mom), _ptr(mg), numpy.int64(p.size), t(lr), t(rho), t(1.0 - rho), t(momentum),
                   t(epsilon), _ptr(table), _ptr(index)))


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
    """Runs plans on the current CUDA device and stream."""

    def __call__(self, plan):
        _module(plan.module).get_function(plan.kernel)(plan.grid, plan.block, plan.args)

