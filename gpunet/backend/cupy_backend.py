"""The CuPy backend: CUDA GPUs. Overrides only what has a custom kernel.

Dense layers and the Adam / SGD / RMSprop steps run gpunet's own kernels
(kernels/*.cu, launched through cuda_kernels); everything else, and any case a
kernel does not cover (float16, an unknown activation, a non-contiguous
gradient buffer), runs the reference code of `Backend` on CuPy arrays.

Dense dispatch (the rule; constants and their source below): each Dense layer
runs either

* gpunet's fused kernels: forward one launch (GEMM + bias + activation, with
  split-K where the output has few tiles and K is long), backward one launch (dW,
  db and dX with the activation's derivative in the loads; split reductions
  added up in the same launch), through dense_launch.dense_forward_launch /
  dense_backward_launch, the functions the GPU step plan calls too; or
* cuBLAS (``cupy.matmul``) for the GEMMs plus one fused bias+activation kernel
  forward, and one fused dZ + db kernel backward. float32 GEMMs use TF32 only
  when the user allows it: ``allow_tf32`` (``GPUNET_ALLOW_TF32=1``), or CuPy's own
  ``CUPY_TF32=1``. Off by default, as in PyTorch: TF32 rounds the inputs to 10
  mantissa bits.

whichever a cost model of both (`fused_cost_us`, `cublas_cost_us`) says is
faster, forward and backward decided apart. What ``dense_forward`` returns as
``z`` is this backend's own business (layers hand it back to ``dense_backward``
untouched): a uint8 mask for the relu family, the pre-activation where the
derivative needs it, None where y suffices; both paths keep the same.
"""
import os

from . import cuda_kernels as K
from . import optimizer_launches as OL

from . import dense_launch as DL
from .base import Backend

# The cost model's constants, in microseconds as timed from Python (CUDA events around one
# eager call), fitted to benchmarks/dense_timings_h200.txt: NVIDIA H200 (132 SMs), CuPy 14.2.0 /
# CUDA runtime 13.2, TF32 off, 2026-11-29, today's kernels (split-K forward, split dW/db and dX
# reduced in the launch), float32 relu, 43 shapes from M = 10 to 65536, forward and backward
# timed apart (benchmarks/gpu_check.py part 3 prints that table). On it the model picks the
# measured faster path on every one of the 86 decisions but ties within 5% (8192x1024x10
# forward: 0.080 vs 0.081 ms), and every estimate is within 1.9x of the time measured;
# tests/test_kernel_dispatch.py reads the table and checks both. Two decisions sit within 1%
# of the model's crossover (1024x784x512 forward, 8192x16x1024 backward). The fixed costs
# are mostly Python and launch overhead; inside a captured step the fused kernels cost less,
# and a cuBLAS layer also costs the step its capture (gpu_plan.py), so the rule errs towards
# cuBLAS there.
FUSED_FIXED_US = (44.32, 41.71)       # forward, backward: one launch
FUSED_CHUNK_US = (2.816, 4.945)       # one block's walk through one GN_BK = 16 chunk: the latency of a chain
FUSED_BLOCK_CHUNK_US = (0.6437, 1.484)  # the same per SM when SMs are full: the throughput of the grid
SPLIT_ADD_US = 0.442                  # the last block adding one more partial tile: a fixed part
SPLIT_ADD_ELEM_US = 0.0700            # and a part per value each thread adds (a 64 x 64 tile: 16)
CUBLAS_FIXED_US = (78.54, 130.0)      # matmul + bias_act; act_backward_db + the matmuls
CUBLAS_DB_SUM_US = 69.76              # the partial-db sum act_backward_db needs above 64 rows
CUBLAS_MACS_PER_US = 24.51e6          # FP32 SGEMM, TF32 off
HBM_BYTES_PER_US = 2.943e6            # what either path's passes over memory achieve
RULE = ("fused vs cuBLAS from a cost model fitted to benchmarks/dense_timings_h200.txt (H200, 2026-11-29); "
        "see gpunet/backend/cupy_backend.py")


def _chain_and_work(tiles, n, splits):
    """(the longest chain of chunks one block walks, the grid's total block-chunks);
    (0, 0) for a part of the grid that has no tiles (no dX wanted, say)."""
    if tiles == 0:
        return 0, 0
    chunks = K.cdiv(n, DL.CHUNK)
    return K.cdiv(chunks, splits), tiles * chunks


def fused_cost_us(M, N, Kd, forward, sm_count, itemsize=4, need=(True, True, True), splits=None):
    """Estimated time of the fused kernel (one launch) for an (M, Kd) x (Kd, N) layer;
    ``need`` = (dw, db, dx) for the backward. ``splits`` overrides the kernels' own
    split counts, S forward or (Sw, Sx) backward (to price other geometries)."""
    f = 0 if forward else 1
    if forward:
        S = splits or DL.forward_splits(M, N, Kd, sm_count)
        chain, work = _chain_and_work(K.cdiv(M, K.TILE) * K.cdiv(N, K.TILE), Kd, S)
        adding, nbytes = _adding_us(S, M, N), itemsize * (M * Kd + Kd * N + M * N) + M * N
    else:
        sw, tiles_w, sx, tiles_x = DL._backward_geometry(M, N, Kd, sm_count, *need)
        sw, sx = splits or (sw, sx)
        cw, ww = _chain_and_work(tiles_w, M, sw)
        cx, wx = _chain_and_work(tiles_x, N, sx)
        chain, work = max(cw, cx), ww + wx
        adding = max(_adding_us(sw, Kd, N) if tiles_w else 0.0, _adding_us(sx, M, Kd) if tiles_x else 0.0)
        nbytes = itemsize * (M * N + 2 * M * Kd + 2 * Kd * N) + M * N
    return (FUSED_FIXED_US[f] + adding
            + max(FUSED_CHUNK_US[f] * chain, FUSED_BLOCK_CHUNK_US[f] * work / sm_count, nbytes / HBM_BYTES_PER_US))


def _adding_us(splits, rows, cols):
    """The last block of a split tile adding the other splits' partials (rows x cols, at most a tile)."""
    per_thread = min(rows, K.TILE) * min(cols, K.TILE) / (K.TILE_BLOCK[0] * K.TILE_BLOCK[1])
    return (splits - 1) * (SPLIT_ADD_US + SPLIT_ADD_ELEM_US * per_thread)


def cublas_cost_us(M, N, Kd, forward, sm_count, itemsize=4, need=(True, True, True)):
    """Estimated time of the cuBLAS path (matmuls plus the elementwise kernels)."""
    if forward:
        macs, nbytes = M * N * Kd, itemsize * (M * Kd + Kd * N + 3 * M * N) + M * N
        return CUBLAS_FIXED_US[0] + max(macs / CUBLAS_MACS_PER_US, nbytes / HBM_BYTES_PER_US)
    macs = M * N * Kd * (need[0] + need[2])
    nbytes = itemsize * (3 * M * N + 2 * M * Kd + 2 * Kd * N + M * Kd + Kd * N) + M * N
    db_sum = CUBLAS_DB_SUM_US if need[1] and K.db_row_blocks(M, N, sm_count) > 1 else 0.0
    return CUBLAS_FIXED_US[1] + db_sum + max(macs / CUBLAS_MACS_PER_US, nbytes / HBM_BYTES_PER_US)


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
    dense_path = "auto"  # "auto" follows the rule above; "fused" / "cublas" force a path (tests, benchmarks)

    def __init__(self):
        reason = cupy_unavailable_reason()
        if reason is not None:
            raise RuntimeError("The 'cupy' backend cannot run here: " + reason)
        import cupy
        self.xp = cupy
        self.launch = K.CupyLauncher()
        self.sm_count = cupy.cuda.Device().attributes["MultiProcessorCount"]
        self.allow_tf32 = os.environ.get("GPUNET_ALLOW_TF32", "0") == "1"

    def to_host(self, x):
        return self.xp.asnumpy(x)

    def asarray(self, x, dtype=None):
        return self.xp.asarray(x, dtype=dtype)

    # ---- Dense -------------------------------------------------------------------------------------
    def _fused(self, M, N, Kd, forward, need=(True, True, True), itemsize=4):
        """Whether this layer shape runs the fused kernels (forward or backward)."""
        if self.dense_path != "auto":
            return self.dense_path == "fused"
        args = (M, N, Kd, forward, self.sm_count, itemsize, need)
        return fused_cost_us(*args) <= cublas_cost_us(*args)

    def _workspace(self, key, entries):
        """The split workspace for one layer shape: allocated zero-filled on first use,
        then reused (each launch leaves its counters at 0). A few shapes are kept."""
        cache = self.__dict__.setdefault("_workspaces", {})
        ws = cache.pop(key, None)
        if ws is None:
            ws = [self.xp.zeros(shape, dtype) for shape, dtype in entries]
            if len(cache) >= 32:
                cache.pop(next(iter(cache)))
        cache[key] = ws  # most recently used last
        return ws

    def _matmul(self, a, b, out=None):
        if not (self.allow_tf32 and a.dtype == "float32"):
            return self.xp.matmul(a, b, out=out)
        from cupy._core import _routines_linalg as linalg  # CuPy's switch for cuBLAS's compute type
        previous = linalg.get_compute_type(a.dtype)
        linalg.set_compute_type(a.dtype, linalg.COMPUTE_TYPE_TF32)
        try:
            return self.xp.matmul(a, b, out=out)
        finally:
            linalg.set_compute_type(a.dtype, previous)

    def _dense_kernels(self, x, w, spec):
        """Whether a Dense layer runs gpunet's kernels. Decided from what forward and
        backward both see (x, w, the activation), so that the z forward returns
        (a relu mask, say) always reaches a backward that reads it the same way."""
        return (spec is not None and x.dtype in K.KERNEL_DTYPES and w.dtype == x.dtype and x.ndim == 2
                and x.shape[0] > 0 and 0 < w.shape[1] <= K.MAX_N and max(x.shape + w.shape) < 2**31)

    def _contiguous(self, a, dtype):
        return None if a is None else self.xp.ascontiguousarray(a, dtype=dtype)

    def dense_forward(self, x, w, b, activation, params):
        spec = K.activation_spec(activation, params)
        if not self._dense_kernels(x, w, spec):
            return super().dense_forward(x, w, b, activation, params)
        xp, dtype = self.xp, x.dtype
        x, w, b = (self._contiguous(a, dtype) for a in (x, w, b))
        (M, Kd), N = x.shape, w.shape[1]
        y = xp.empty((M, N), dtype=dtype)
        z = xp.empty((M, N), dtype=dtype) if spec.keep == "z" else None
        mask = xp.empty((M, N), dtype="uint8") if spec.keep == "mask" else None
        if self._fused(M, N, Kd, True, itemsize=x.itemsize):
            ws = self._workspace(("forward", M, N, Kd, dtype), DL.forward_workspace(M, N, Kd, dtype, self.sm_count))
            self.launch(DL.dense_forward_launch(x, w, b, y, z, mask, spec, self.sm_count, ws))
        else:
            self._matmul(x, w, out=y)
            if b is not None or spec.code != K.ACT_CODES["linear"]:
                self.launch(K.plan_bias_act(y, b, z, mask, spec, self.sm_count))
        if spec.softmax:
            self.launch(K.plan_softmax_forward(y, y, self.sm_count))
        return y, (mask if mask is not None else z)

    def dense_backward(self, dy, x, w, z, y, activation, params, dw, db, need_dx=True):
        spec = K.activation_spec(activation, params)
        if not self._dense_kernels(x, w, spec):
            return super().dense_backward(dy, x, w, z, y, activation, params, dw, db, need_dx)
        if dw is None and db is None and not need_dx:
            return None
        xp, dtype = self.xp, x.dtype
        dy, x, w = (self._contiguous(a, dtype) for a in (dy, x, w))
        (M, Kd), N = x.shape, w.shape[1]
        mask = z if spec.keep == "mask" else None
        z = z if spec.keep == "z" else None
        y = self._contiguous(y, dtype) if spec.needs_y else None
        if spec.softmax:  # dZ = y (dy - sum(dy y)) has a row reduction: its own kernel, then linear
            dz = xp.empty_like(dy)
            self.launch(K.plan_softmax_backward(dy, y, dz, self.sm_count))
            dy, y, spec = dz, None, K.activation_spec("linear", {})
        # the kernels write row-major buffers of x's dtype: anything else gets one and a copy
        dw_out = dw if dw is None or (dw.flags.c_contiguous and dw.dtype == dtype) else xp.empty(dw.shape, dtype)
        db_out = db if db is None or (db.flags.c_contiguous and db.dtype == dtype) else xp.empty(db.shape, dtype)
        dx = xp.empty((M, Kd), dtype=dtype) if need_dx else None
        need = (dw is not None, db is not None, need_dx)
        if self._fused(M, N, Kd, False, need, x.itemsize):
            ws = self._workspace(("backward", M, N, Kd, dtype) + need,
                                 DL.backward_workspace(M, N, Kd, dtype, self.sm_count, *need))
            self.launch(DL.dense_backward_launch(dy, x, w, z, y, mask, dw_out, db_out, dx, spec, self.sm_count, ws))
        else:
            self._cublas_backward(dy, x, w, z, y, mask, dw_out, db_out, dx, spec)
        for out, work in ((dw, dw_out), (db, db_out)):
            if out is not work:
                out[...] = work
        return dx

    def _cublas_backward(self, dy, x, w, z, y, mask, dw, db, dx, spec):
        M, N = dy.shape
        if spec.code == K.ACT_CODES["linear"]:
            dz = dy
            if db is not None:
                dy.sum(axis=0, out=db)
        else:
            dz = self.xp.empty_like(dy)
            g = K.db_row_blocks(M, N, self.sm_count) if db is not None else 1
            part = None if db is None else (db if g == 1 else self.xp.empty((g, N), dtype=dy.dtype))
            self.launch(K.plan_act_backward_db(dy, z, y, mask, dz, part, spec, g))
            if part is not None and g > 1:
                part.sum(axis=0, out=db)
        if dw is not None:
            self._matmul(x.T, dz, out=dw)
        if dx is not None:
            self._matmul(dz, w.T, out=dx)

    def _flat_ready(self, p, *slots):
        """The optimizer kernels take flat, contiguous float32 / float64 buffers of one dtype and size."""
        return p.dtype in K.KERNEL_DTYPES and all(
            a is None or (a.dtype == p.dtype and a.size == p.size and a.flags.c_contiguous) for a in (p,) + slots)

    # ---- optimizer steps: one fused launch each ----------------------------------------------------
    def sgd_update(self, p, g, velocity, lr, momentum, nesterov):
        if not self._flat_ready(p, g, velocity):
            return super().sgd_update(p, g, velocity, lr, momentum, nesterov)
        self.launch(OL.plan_sgd(p, g, velocity, lr, momentum, nesterov, self.sm_count))

    def adam_update(self, p, g, m, v, vhat, lr, beta_1, beta_2, epsilon, t):
        if not self._flat_ready(p, g, m, v, vhat):
            return super().adam_update(p, g, m, v, vhat, lr, beta_1, beta_2, epsilon, t)
        alpha = lr * (1.0 - beta_2**t) ** 0.5 / (1.0 - beta_1**t)  # as the reference folds it
        self.launch(OL.plan_adam(p, g, m, v, vhat, alpha, beta_1, beta_2, epsilon, self.sm_count))

    def rmsprop_update(self, p, g, rms, mom, mg, lr, rho, momentum, epsilon, centered):
        mg = mg if centered else None
        if not self._flat_ready(p, g, rms, mom, mg):
            return super().rmsprop_update(p, g, rms, mom, mg, lr, rho, momentum, epsilon, centered)
        self.launch(OL.plan_rmsprop(p, g, rms, mom, mg, lr, rho, momentum, epsilon, self.sm_count))

    def adamax_update(self, p, g, m, v, lr, beta_1, beta_2, epsilon, t):
        if not self._flat_ready(p, g, m, v):
            return super().adamax_update(p, g, m, v, lr, beta_1, beta_2, epsilon, t)
        self.launch(OL.plan_adamax(p, g, m, v, lr / (1.0 - beta_1**t), beta_1, beta_2, epsilon, self.sm_count))

    def nadam_update(self, p, g, m, v, lr, beta_1, beta_2, epsilon, t, u_t, u_next, u_product):
        if not self._flat_ready(p, g, m, v):
            return super().nadam_update(p, g, m, v, lr, beta_1, beta_2, epsilon, t, u_t, u_next, u_product)
        scalars = OL.nadam_scalars(lr, beta_1, beta_2, t, u_t, u_next, u_product)
        self.launch(OL.plan_nadam(p, g, m, v, scalars, beta_1, beta_2, epsilon, self.sm_count))

    def adagrad_update(self, p, g, accumulator, lr, epsilon):
        if not self._flat_ready(p, g, accumulator):
            return super().adagrad_update(p, g, accumulator, lr, epsilon)
        self.launch(OL.plan_adagrad(p, g, accumulator, lr, epsilon, self.sm_count))

    def adadelta_update(self, p, g, accum_grad, accum_var, lr, rho, epsilon):
        if not self._flat_ready(p, g, accum_grad, accum_var):
            return super().adadelta_update(p, g, accum_grad, accum_var, lr, rho, epsilon)
        self.launch(OL.plan_adadelta(p, g, accum_grad, accum_var, lr, rho, epsilon, self.sm_count))
