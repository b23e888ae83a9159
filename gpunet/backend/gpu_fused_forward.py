"""Inference of a small Dense stack in one launch for all the rows (kernels/mlp_forward.cu).

The forward plan (gpu_forward.py) runs a launch per layer per batch; for a model as small as the
tutorials' Pima MLP those launches are all latency (predict on 768 rows at batch 32: 72 of them,
and fit's validation pays them every epoch). A row's outputs depend on that row alone, so
`FusedForward` runs every row of the call through every layer in one launch, each block taking a
group of rows at a time in shared memory: the same activation and softmax arithmetic, only the
order of the sums in the products differs. ``GPUNET_FUSED_FORWARD=0`` turns it off.
"""
import os

import numpy

from . import cuda_kernels as K
from . import step_kernels as S

VALUE_BYTES = 40960   # mlp_forward.cu's GN_FWD_BYTES: two buffers of rows_per_block x width values
MAX_ROWS = 64         # rows a block takes at a time
MIN_ROWS = 8          # below this (a very wide layer) the tiled kernels serve better
MAX_LAYERS = 8
MAX_PARAMS = 1 << 16  # every block reads every weight: beyond this the forward plan's GEMMs win


def enabled():
    return os.environ.get("GPUNET_FUSED_FORWARD", "1").strip() != "0"


def build_fused_forward(fwd):
    """A `FusedForward` for ``fwd`` (a `GpuForward`), or None where its launches must run: a
    BatchNormalization layer, too many layers or weights, a layer too wide for a group of
    MIN_ROWS rows in shared memory, or ``GPUNET_FUSED_FORWARD=0``."""
    if not enabled() or fwd.norms or len(fwd.stack) > MAX_LAYERS:  # (norms: the stack's non-Dense entries)
        return None
    if sum(e.layer.kernel.value.size for e in fwd.stack) > MAX_PARAMS:
        return None
    width = max(fwd.widths)
    rows = min(MAX_ROWS, VALUE_BYTES // numpy.dtype(fwd.dtype).itemsize // (2 * width)) // 8 * 8
    return FusedForward(fwd, rows, width) if rows >= MIN_ROWS else None


class FusedForward:
    """``launch(x, out)``: the mlp_forward launch computing ``out = model(x)`` for every row."""

    def __init__(self, fwd, rows_per_block, width):
        ops, dtype = fwd.ops, fwd.dtype
        self.ops, self.dtype, self.rows_per_block, self.width = ops, dtype, rows_per_block, width
        self.kx, self.layers = fwd.widths[0], len(fwd.stack)
        weights, meta, actp = [], [], []
        for (w, b, *_), spec in zip(fwd.sources, fwd.specs):
            weights += [S.address(w), 0 if b is None else S.address(b)]
            meta += [w.shape[0], w.shape[1], spec.code, spec.flags, int(spec.softmax)]
            actp += [spec.alpha, spec.max_value, spec.threshold]
        xp = ops.xp
        self.weights = xp.empty((len(weights),), dtype="uint64")
        self.meta = xp.empty((len(meta),), dtype="int32")
        self.actp = xp.empty((len(actp),), dtype=dtype)
        for dst, values in ((self.weights, weights), (self.meta, meta), (self.actp, actp)):
            S.write_host(dst, values)
        self._keep = fwd.sources  # the arrays the address table points at stay alive with it

    def launch(self, x, out):
        """x (M, kx) and out (M, units), C-contiguous device arrays of the model's dtype."""
        m = x.shape[0]
        groups = -(-m // self.rows_per_block)
        grid = (max(1, min(groups, K.BLOCKS_PER_SM * self.ops.sm_count)), 1, 1)
        i32 = numpy.int32
        return K.Launch("step", K._kernel("mlp_forward", self.dtype), grid, (32, 8, 1),
                        (x, out, self.weights, self.meta, self.actp, i32(self.layers), numpy.int64(m), i32(self.kx),
                         i32(self.rows_per_block), i32(self.width)))
