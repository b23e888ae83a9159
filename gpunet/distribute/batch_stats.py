"""`BatchNormalization(synchronized=True)` across ranks: the batch statistics of the global batch.

With ``synchronized=True`` and several ranks, a training step normalizes with the mean and variance
of every rank's rows together (Keras's ``SyncBatchNormalization``), so the ranks train what one
process would on the global batch, and their moving statistics stay equal. Each layer's training
step then costs three collectives: the sums for the mean, then the squared deviations for the
variance (two passes, as one process computes them), and in backward the two gradient sums.
Unsynchronized layers' moving statistics are averaged over the ranks at each epoch's end instead
(`average_moving_statistics`, called by sharding.FitShard).

The backward pass must fit `DistributedOptimizer`'s average, which weights rank ``r``'s gradient by
its share ``w_r`` of the global batch. Rank ``s`` (``n_s`` rows) therefore returns

    dx_i = inv * (dxhat_i - (1 / n_s) * sum_r w_r S1_r - xhat_i * (1 / n_s) * sum_r w_r S2_r)

with ``S1_r = sum(dxhat)``, ``S2_r = sum(dxhat * xhat)`` over rank ``r``'s rows: weighted by
``w_s`` and summed over the ranks, the upstream gradients are exactly one process's on the
global batch. A rank whose share of a step is empty (fit's padded step, weight 0) adds nothing
to any sum; its own gradients are dropped by the optimizer.
"""
import math

from . import runtime


def synchronized_world(layer):
    """The world of ranks ``layer`` (a BatchNormalization) synchronizes over, or None (not
    synchronized, or a single process)."""
    if not getattr(layer, "synchronized", False):
        return None
    world = runtime.current()
    return world if world is not None and world.size > 1 else None


def _share(world):
    """(weight, real) of this rank in the current step: fit's schedule (sharding.FitShard), else
    equal shares of train_on_batch's batches."""
    schedule = runtime.current_schedule()
    weight = schedule.peek() if schedule is not None else None
    if weight is None:
        return 1.0 / world.size, True
    return weight, weight != 0.0


def moments(ops, world, x, axes, bshape):
    """(mean, var) of the global batch, shaped ``bshape``: every rank's rows of ``x`` (reduced
    over ``axes``), a padded step's rows left out."""
    _, real = _share(world)
    xp = ops.xp
    features = math.prod(bshape)
    sums = ops.sum(x, axis=axes).reshape(-1) if real else xp.zeros((features,), x.dtype)
    buf = xp.concatenate([sums, xp.asarray([x.size // features if real else 0], dtype=x.dtype)])
    world.allreduce_(buf, "a synchronized BatchNormalization's batch mean")
    total = buf[-1]
    mean = (buf[:-1] / total).reshape(bshape)
    xc = x - mean
    sq = ops.sum(xc * xc, axis=axes).reshape(-1) if real else xp.zeros_like(sums)
    world.allreduce_(sq, "a synchronized BatchNormalization's batch variance")
    return mean, (sq / total).reshape(bshape), xc


def dx(ops, world, dxhat, xhat, inv, axes, bshape):
    """The gradient with respect to this rank's rows (module docstring)."""
    weight, real = _share(world)
    xp = ops.xp
    n = dxhat.size // math.prod(bshape)
    a1 = ops.sum(dxhat, axis=axes).reshape(-1)
    a2 = ops.sum(dxhat * xhat, axis=axes).reshape(-1)
    buf = (xp.concatenate([a1, a2]) * (weight if real else 0.0)).astype(dxhat.dtype, copy=False)
    world.allreduce_(buf, "a synchronized BatchNormalization's gradient sums")
    if not real:
        return xp.zeros_like(dxhat)
    k = buf.shape[0] // 2
    return inv * (dxhat - (buf[:k] / n).reshape(bshape) - xhat * (buf[k:] / n).reshape(bshape))


def average_moving_statistics(model, world):
    """Every unsynchronized BatchNormalization layer's moving mean and variance averaged over the
    ranks (module docstring), in place."""
    for layer in unsynchronized_norms(model):
        for w in (layer.moving_mean, layer.moving_variance):
            world.allreduce_(w.value, "the BatchNormalization moving statistics' average")
            w.value /= world.size


def unsynchronized_norms(model):
    """The model's built BatchNormalization layers that normalize with each rank's own batch."""
    from ..layers.normalization import BatchNormalization
    return [layer for layer in model._layers
            if isinstance(layer, BatchNormalization) and layer.built and not layer.synchronized]
