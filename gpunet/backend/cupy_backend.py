"""The CuPy backend: CUDA GPUs. Overrides only what has a custom kernel.

Dense layers and the Adam / SGD / RMSprop steps run gpunet's own kernels
(kernels/*.cu, launched through cuda_kernels); everything else, and any case a
kernel does not cover (float16, an unknown activation, a non-contiguous
gradient buffer), runs the reference code of `Backend` on CuPy arrays.

Dense dispatch (the rule; constants below):

* the fused kernels (one launch forward: GEMM + bias + activation; one launch
  backward: dW, db and dX with the activation's derivative in the loads) when
  the layer is small, M N K <= FUSED_MAX_MACS: there launch latency dominates
  and one launch beats cuBLAS's GEMM plus an elementwise pass;
* forward also when K <= FUSED_MAX_K and the output has at least one tile per SM:
  with so short a reduction the GEMM is bound by memory, and the epilogue saves
  the write and re-read of x w that the cuBLAS path pays;
* otherwise cuBLAS (``cupy.matmul``) for the GEMMs plus one fused bias+activation
  kernel forward, and one fused dZ + db kernel backward. float32 GEMMs use
  TF32 only when the user allows it: ``allow_tf32`` (``GPUNET_ALLOW_TF32=1``), or
  CuPy's own ``CUPY_TF32=1``. Off by default, as in PyTorch: TF32 rounds the
  inputs to 10 mantissa bits.

What ``dense_forward`` returns as ``z`` is this backend's own business (layers
hand it back to ``dense_backward`` untouched): a uint8 mask for the relu family,
the pre-activation where the derivative needs it, None where y suffices.

The constants are estimates from the kernels' arithmetic (a 64 x 64 tile of
CUDA-core FMAs against cuBLAS at full rate, and one launch against two);
benchmarks/gpu_check.py times both paths on a GPU and prints the measured
crossover to set them from.
"""
import os

from . import cuda_kernels as K
from .base import Backend

FUSED_MAX_MACS = 1 << 22
FUSED_MAX_K = 64


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
    def _fused(self, M, N, Kd, forward):
        if self.dense_path != "auto":
            return self.dense_path == "fused"
        if M * N * Kd <= FUSED_MAX_MACS:
            return True
        return forward and Kd <= FUSED_MAX_K and K.cdiv(M, K.TILE) * K.cdiv(N, K.TILE) >= self.sm_count

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
        if self._fused(M, N, Kd, forward=True):
            self.launch(K.plan_dense_forward(x, w, b, y, z, mask, spec))
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
        if self._fused(M, N, Kd, forward=False):
            self._fused_backward(dy, x, w, z, y, mask, dw_out, db_out, dx, spec)
        else:
            self._cublas_backward(dy, x, w, z, y, mask, dw_out, db_out, dx, spec)
        for out, work in ((dw, dw_out), (db, db_out)):
            if out is not work:
                out[...] = work
        return dx

    def _fused_backward(self, dy, x, w, z, y, mask, dw, db, dx, spec):
        (M, Kd), N = x.shape, w.shape[1]
        s = K.dw_splits(M, Kd, N, self.sm_count)
        dw_part = dw if (dw is None or s == 1) else self.xp.empty((s, Kd, N), dtype=x.dtype)
        db_part = db if (db is None or s == 1) else self.xp.empty((s, N), dtype=x.dtype)
        self.launch(K.plan_dense_backward(dy, x, w, z, y, mask, dw_part, db_part, dx, spec, s))
        if s > 1:  # add up the batch splits' partial sums
            if dw is not None:
                dw_part.sum(axis=0, out=dw)
            if db is not None:
                db_part.sum(axis=0, out=db)

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
        self.launch(K.plan_sgd(p, g, velocity, lr, momentum, nesterov, self.sm_count))

    def adam_update(self, p, g, m, v, vhat, lr, beta_1, beta_2, epsilon, t):
        if not self._flat_ready(p, g, m, v, vhat):
            return super().adam_update(p, g, m, v, vhat, lr, beta_1, beta_2, epsilon, t)
        alpha = lr * (1.0 - beta_2**t) ** 0.5 / (1.0 - beta_1**t)  # as the reference folds it
        self.launch(K.plan_adam(p, g, m, v, vhat, alpha, beta_1, beta_2, epsilon, self.sm_count))

    def rmsprop_update(self, p, g, rms, mom, mg, lr, rho, momentum, epsilon, centered):
        mg = mg if centered else None
        if not self._flat_ready(p, g, rms, mom, mg):
            return super().rmsprop_update(p, g, rms, mom, mg, lr, rho, momentum, epsilon, centered)
        self.launch(K.plan_rmsprop(p, g, rms, mom, mg, lr, rho, momentum, epsilon, self.sm_count))
