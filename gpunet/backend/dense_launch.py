"""Launch plans of the Dense kernels (dense_forward.cu, dense_backward.cu), shared by the GPU
step plan and CupyBackend: one launch forward and one backward for every layer shape.
"""
import functools
import math

import numpy

from .cuda_kernels import Launch, NULL, TILE, TILE_BLOCK, cdiv, _kernel, _ptr, _act_args, MAX_N, _CTYPE

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
