"""Gradient clipping and weight decay inside the GPU step plan (kernels/grad_transforms.cu).

Keras users write ``Adam(clipnorm=1.0)``, ``SGD(clipvalue=0.5)``, ``AdamW(weight_decay=...)``;
without these the model would leave the plan for the layer path, a few launches per weight
per step and no CUDA graph. `StepGradTransforms` gives the launches `Optimizer.apply` runs
before its update, in its order: clipvalue (one launch), clipnorm or global_clipnorm (two: the
segments' partial sums of squares, then the scale), weight decay (one, its factor read per
step from a device table: the decayed learning rate changes it step by step). The arithmetic
is `optimizer_ops`'s: ``c / max(norm, c)``; ``p *= 1 - lr * weight_decay``, or with an
exclusion mask ``p -= (mask * lr * weight_decay) * p``. Unlike the layer path, which clips into
a buffer of the optimizer's, the plan clips the model's gradient buffer in place: nothing reads
it after the update, and the next backward pass overwrites it.
"""
import numpy

from . import cuda_kernels as K
from .step_kernels import write_host as _write

BLOCK = K.ELEMENTWISE_BLOCK


def segment_blocks(bounds, sm_count):
    """The (blocks, 4) int64 table of segment_sum_squares / segment_clip_norm for segments
    ``bounds`` [(lo, hi)]: per block its segment's lo, hi, its place j in the segment and the
    segment's block count (each segment as many blocks as a grid-stride launch over it)."""
    rows = []
    for lo, hi in bounds:
        nb = K._grid_stride(hi - lo, sm_count)[0]
        rows += [(lo, hi, j, nb) for j in range(nb)]
    return numpy.array(rows, dtype=numpy.int64).reshape(-1, 4)


def plan_clip_value(g, c, sm_count):
    """``g = clip(g, -c, c)`` in place."""
    return K.Launch("optimizers", K._kernel("clip_value", g.dtype), K._grid_stride(g.size, sm_count), (BLOCK, 1, 1),
                    (g, numpy.int64(g.size), g.dtype.type(c)))


def plan_clip_norm(g, blocks, partial, c):
    """The two launches scaling each segment of ``g`` by ``c / max(norm, c)``: ``blocks`` a device
    copy of `segment_blocks`, ``partial`` a device buffer of as many values as it has rows."""
    grid = (blocks.shape[0], 1, 1)
    return [K.Launch("optimizers", K._kernel("segment_sum_squares", g.dtype), grid, (BLOCK, 1, 1),
                     (g, blocks, partial)),
            K.Launch("optimizers", K._kernel("segment_clip_norm", g.dtype), grid, (BLOCK, 1, 1),
                     (g, blocks, partial, g.dtype.type(c)))]


def plan_weight_decay(p, mask, factor, sm_count, factors=None, index=None):
    """Decoupled weight decay in place: ``p *= factor`` without ``mask``, ``p -= (mask * factor) * p``
    with it; with ``factors`` (a device table) and ``index`` (a device int64) the factor is
    ``factors[index[0]]``, read on the device."""
    return K.Launch("optimizers", K._kernel("weight_decay", p.dtype), K._grid_stride(p.size, sm_count), (BLOCK, 1, 1),
                    (p, numpy.int64(p.size), K._ptr(mask), p.dtype.type(factor), K._ptr(factors), K._ptr(index)))


def decay_factor(optimizer, t):
    """The weight-decay factor of the step whose iteration count is ``t`` (1 first), as
    `Optimizer.apply` rounds it: ``1 - lr_t * weight_decay``, or ``lr_t * weight_decay`` where
    an exclusion mask multiplies it in."""
    lr = optimizer.rate_at(t - 1)
    if optimizer.decay:
        lr = lr / (1.0 + optimizer.decay * (t - 1))
    rate = lr * optimizer.weight_decay
    return rate if optimizer._decay_mask is not None else 1.0 - rate


class StepGradTransforms:
    """The clip and decay launches of a plan's optimizer, and the epoch's table of decay factors."""

    def __init__(self, ops, optimizer, params, grads):
        self.ops, self.optimizer, self.params, self.grads = ops, optimizer, params, grads
        self.factors = None  # (steps,): each step's weight-decay factor
        self._blocks = self._partial = None
        # the norm clip's segments: each weight's (clipnorm), or the whole buffer (global_clipnorm)
        self.segments = []
        if optimizer.clipnorm is not None:
            self.segments = list(optimizer._bounds)
        elif optimizer.global_clipnorm is not None:
            self.segments = [(0, grads.size)]
        if self.segments:
            blocks = segment_blocks(self.segments, ops.sm_count)
            self._blocks = ops.xp.empty(blocks.shape, dtype="int64")
            _write(self._blocks, blocks)
            self._partial = ops.xp.empty((blocks.shape[0],), dtype=grads.dtype)

    @staticmethod
    def needed(optimizer):
        """Whether ``optimizer`` clips its gradients or decays its weights."""
        return (optimizer.clipvalue is not None or optimizer.clipnorm is not None
                or optimizer.global_clipnorm is not None or bool(optimizer.weight_decay))

    def write(self, first, count, rows):
        """The decay factors of the epoch's steps ``first ... first + count - 1``, whose iteration
        counts follow the optimizer's, into a table of ``rows`` steps. True when the table was
        (re)allocated: steps built with the old one must be built again (they point at it)."""
        o = self.optimizer
        if not o.weight_decay:
            return False
        grown = self.factors is None or self.factors.shape[0] < rows
        if grown:
            self.factors = self.ops.xp.empty((max(rows, 1),), dtype=self.params.dtype)
        if count:
            _write(self.factors[first:first + count], [decay_factor(o, o.iterations + 1 + k) for k in range(count)])
        return grown

    def launches(self, index):
        """The step's launches, before the optimizer's update; ``index``: the step's device int64."""
        o, sm, out = self.optimizer, self.ops.sm_count, []
        if o.clipvalue is not None:
            out.append(plan_clip_value(self.grads, o.clipvalue, sm))
        if self._blocks is not None:
            out += plan_clip_norm(self.grads, self._blocks, self._partial, self.clip_norm)
        if o.weight_decay:
            out.append(plan_weight_decay(self.params, o._decay_mask, 0.0, sm, self.decay_factors(), index))
        return out

    @property
    def clip_norm(self):
        """The norm the segments are clipped to (clipnorm or global_clipnorm), None without."""
        o = self.optimizer
        return o.clipnorm if o.clipnorm is not None else o.global_clipnorm

    def decay_factors(self):
        """The per-step weight-decay factor table (None without weight decay), once written."""
        if not self.optimizer.weight_decay:
            return None
        if self.factors is None:  # a null table would make the kernel decay by its 0.0 argument: p *= 0
            raise RuntimeError("StepGradTransforms: the weight-decay factors were not written "
                               "(call write before building the steps).")
        return self.factors

    @staticmethod
    def key(optimizer):
        """What the launches bake in (a change means new transforms and rebuilt steps)."""
        o = optimizer
        return (o.clipvalue, o.clipnorm, o.global_clipnorm, bool(o.weight_decay), id(o._decay_mask),
                tuple(o._bounds) if o.clipnorm is not None else ())

