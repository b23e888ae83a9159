"""fit, evaluate and predict across the ranks (the hooks gpunet/models/training.py calls).

fit: with N ranks and ``batch_size=B`` each step trains on a global batch of N*B samples, taken in
the order of one shuffle drawn on rank 0 and broadcast; rank r trains on the r-th B of them. The
step count is the same on every rank. A last, shorter global batch of m samples is split as evenly
as the ranks allow, each rank's gradient weighted by its share (its samples / m); a rank left
without a sample (m < N) trains on one sample of weight 0, so it still takes part in the step
(its BatchNormalization moving statistics are put back as they were before that step).
The epoch's loss and metrics are reduced as sums and counts, so History is the same on every rank
and equals one process's History with ``batch_size=N*B`` (to rounding).

evaluate and predict: each rank takes a contiguous block of whole batches (so every batch is one
process's batch); evaluate reduces sums and counts, predict gathers the outputs on every rank.
Both assume every rank passes the same arrays, as fit does.

Besides the loss: a Keras-style metric's state variables (``add_weight``) are summed over the
ranks, as Keras's distribution strategies aggregate them; unsynchronized BatchNormalization
layers' moving statistics are averaged at each epoch's end (what Keras's mirrored variables do
step by step: the update is linear, so the average at the end is the same), so every rank holds,
predicts with and saves the same model. A callback that stops training at a batch on one rank
stops it on every rank at that batch. Batch logs are each rank's own; epoch logs are global.
"""
import threading
import warnings
import zlib

import numpy

from . import runtime, watchdog
from .batch_stats import average_moving_statistics, unsynchronized_norms
from .metric_sums import reduced_logs
from .optimizer import StepWeights, is_distributed

_local = threading.local()  # set while a rank evaluates or predicts its own block
_warned = set()


def _world():
    world = runtime.current()
    if world is None or world.size == 1 or getattr(_local, "inside", False):
        return None
    return world


def shards(model):
    """Whether evaluate/predict split their samples over the ranks (a job of several ranks)."""
    return _world() is not None


def fit_shard(model, n, batch_size, settings=()):
    """The `FitShard` of a data-parallel fit, or None (one process, or an optimizer that does not
    average: then every rank trains on all the data by itself, with a one-time warning).
    ``settings``: fit's other arguments every rank must pass alike (epochs, initial_epoch)."""
    world = _world()
    if world is None:
        return None
    reduction = getattr(model._loss_fn, "reduction", "auto")
    if reduction not in ("auto", "sum_over_batch_size"):
        raise ValueError(f"fit on {world.size} ranks averages each rank's mean loss gradient, which equals one "
                         f"process's only for Keras's default reduction ('sum_over_batch_size'); the loss "
                         f"'{model._loss_fn.name}' has reduction={reduction!r}. Use the default reduction (scale the "
                         f"learning rate instead of summing).")
    if not is_distributed(model.optimizer):
        if "optimizer" not in _warned:
            _warned.add("optimizer")
            warnings.warn(f"gpunet.distribute is initialised with {world.size} ranks but the model's optimizer is "
                          f"not a DistributedOptimizer: each rank trains on all the data by itself. Wrap it: "
                          f"model.compile(optimizer=gpunet.distribute.DistributedOptimizer(opt), ...).", stacklevel=3)
        return None
    return FitShard(model, world, n, batch_size, settings)


def check_same_data(world, ops, arrays, batch_size, what, settings=()):
    """Every rank must pass the same samples, batch size and ``settings``: a rank given other data,
    or data it sharded itself, would take other steps or another share. A ValueError on every rank
    if not. The checksum covers 64 rows of x spread over it, and all of y and the sample weights."""
    n = arrays[0].shape[0]
    rows = ops.asarray(numpy.linspace(0, n - 1, min(n, 64)).astype(numpy.int64))
    crc = 0
    for i, a in enumerate(arrays):
        if a is not None and n:
            part = a if i else ops.take(a, rows)  # (labels and weights are small: all of them)
            crc = zlib.crc32(numpy.ascontiguousarray(ops.to_host(part)).tobytes(), crc)
    seen = world.allgather_object((n, batch_size, crc, tuple(settings)), f"{what}'s check of the data")
    if any(s != seen[0] for s in seen):
        ranks = "; ".join(f"rank {r}: {n} samples, batch_size {b}, data checksum {c:08x}, settings {s}"
                          for r, (n, b, c, s) in enumerate(seen))
        raise ValueError(f"{what} on {world.size} ranks splits the samples between the ranks itself, so every rank "
                         f"must pass the same samples, batch_size and settings (not data it sharded itself); the "
                         f"ranks passed different ones ({ranks}).")
    return True


def _block(n, world, batch_size):
    """This rank's samples ``lo:hi``: a contiguous run of whole batches (the last may be short)."""
    batches = -(-n // max(1, batch_size))
    q, rem = divmod(batches, world.size)
    first = world.rank * q + min(world.rank, rem)
    last = first + q + (1 if world.rank < rem else 0)
    return min(n, first * batch_size), min(n, last * batch_size)


def agree_to_stop(model):
    """At a batch's end in a data-parallel fit whose every rank has a callback that may stop it there
    (`FitShard.plan_stops`): whether any rank's callbacks stopped training; then every rank stops
    at this batch, in step. One small collective per batch."""
    shard = getattr(model, "_fit_shard", None)
    if shard is None or not shard.stops_agreed:
        return model.stop_training
    flag = float(bool(model.stop_training))
    model.stop_training = shard.world.sum_floats([flag], "the ranks' agreement to stop at a batch")[0] > 0
    return model.stop_training


class FitShard:
    """This rank's share of every global batch of a fit (see the module docstring).

    ``steps``: the epoch's step count (every rank's); ``epoch(...)`` gives the epoch's local arrays
    in training order; ``logs(loss)`` reduces the epoch's loss and metrics over the ranks."""

    def __init__(self, model, world, n, batch_size, settings=()):
        self.model, self.world, self.n, self.batch, self.settings = model, world, n, batch_size, tuple(settings)
        self.global_batch = batch_size * world.size
        self.steps = -(-n // self.global_batch)
        # real_rows: in a padded epoch, its samples before the padding one (no metric counts that)
        self.local_n, self.padded, self.pad_loss, self.real_rows = 0, 0, 0.0, None
        self.checked = False
        self.stops_agreed = False
        self.kept = []  # (moving statistic, its value before this epoch's padded step)

    def plan_stops(self, may_stop):
        """Whether the ranks agree, batch by batch, on a stop a callback sets mid-epoch (`agree_to_stop`):
        when every rank has a callback that may stop at a batch (``may_stop``, CallbackList's
        may_stop_at_batches). A rank alone with one (a callback added on rank 0 only) cannot be
        agreed with: the other ranks make no such call; a stop it sets mid-epoch would leave them
        waiting (the watchdog then ends the job), so a warning says so."""
        flags = self.world.allgather_object(bool(may_stop), "fit's check of the callbacks")
        self.stops_agreed = all(flags)
        if any(flags) and not all(flags) and self.world.rank == 0:
            warnings.warn("gpunet.distribute: some ranks have a callback that looks at batches (and may stop training "
                          "mid-epoch) and others do not; give every rank the same callbacks, or a mid-epoch stop on "
                          "one rank leaves the others waiting.", stacklevel=3)

    def epoch(self, xs, ys, sws, order):
        """``(x, y, sample_weight, None)``: this rank's samples of the epoch, step after step, in the
        order of rank 0's shuffle ``order`` (None: no shuffle)."""
        ops, model = self.model.ops, self.model
        if not self.checked:
            self.checked = check_same_data(self.world, ops, (xs, ys, sws), self.batch, "fit",
                                           self.settings + (("shuffle", order is not None),))
        if order is None:
            order = numpy.arange(self.n)
        else:  # every rank drew one; rank 0's is the epoch's
            order = self.world.bcast_(numpy.ascontiguousarray(order, dtype=numpy.int64), what="the epoch's shuffle")
        idx, weights, padded = self._indices(order)
        rows = ops.asarray(idx)
        # Fresh arrays each epoch: the GPU plan caches converted copies by array identity, so
        # refilling one array in place could hand it last epoch's rows (it rebuilds its steps instead).
        exs, eys = ops.take(xs, rows), ops.take(ys, rows)
        esws = None if sws is None else ops.take(sws, rows)
        if padded:
            if esws is None:
                esws = ops.ones((idx.shape[0],), model._input_dtype())
            esws[-1] = 0  # the padding sample: no loss, no metric, no gradient
        self.local_n, self.padded, self.pad_loss = idx.shape[0], padded, 0.0
        self.real_rows = idx.shape[0] - padded if padded else None
        model.optimizer._schedule = StepWeights(weights, self._on_empty, self._keep_moving_statistics)
        if weights[0] == 0.0:  # the epoch is one padded step
            self._keep_moving_statistics()
        runtime.set_schedule(model.optimizer._schedule)  # (synchronized BatchNormalization reads the shares)
        watchdog.busy[0] = "a fit epoch"
        return exs, eys, esws, None

    def _indices(self, order):
        n, size, rank, batch = self.n, self.world.size, self.world.rank, self.batch
        full = n // self.global_batch
        parts = [order[:full * self.global_batch].reshape(full, size, batch)[:, rank, :].reshape(-1)]
        weights = [1.0 / size] * full
        padded = 0
        rest = n - full * self.global_batch
        if rest:
            q, rem = divmod(rest, size)
            sizes = [q + (1 if r < rem else 0) for r in range(size)]
            start = full * self.global_batch + sum(sizes[:rank])
            if sizes[rank]:
                parts.append(order[start:start + sizes[rank]])
                weights.append(sizes[rank] / rest)
            else:
                parts.append(order[start - 1:start])  # any real sample, weighted 0
                weights.append(0.0)
                padded = 1
        return numpy.concatenate(parts), weights, padded

    def _keep_moving_statistics(self):
        """Unsynchronized BatchNormalization's moving statistics before the padded step: its one
        sample (weight 0) must not move them (`_on_empty` puts these back)."""
        self.kept = [(w.value, w.value.copy()) for layer in unsynchronized_norms(self.model)
                     for w in (layer.moving_mean, layer.moving_variance)]

    def _on_empty(self):
        """The padding step's loss as fit tallies it (its data loss is 0, penalties are not):
        taken out of the epoch's loss in `logs`; the moving statistics as before the step. Called
        between the backward pass and the update."""
        for value, before in self.kept:
            value[...] = before  # in place: the GPU plan's launches and graphs hold these buffers
        self.kept = []
        model, ops = self.model, self.model.ops
        loss = model._weight_penalty(False) if model._regularized else 0.0
        for layer in getattr(model, "_activity", None) or []:
            out = getattr(layer, "_activity_output", None)
            if out is not None:
                loss += ops.to_scalar(layer.activity_regularizer(out)) / out.shape[0]
        self.pad_loss = loss

    def logs(self, loss, seen=None):
        """The epoch's logs from this rank's mean ``loss`` over its first ``seen`` samples (all of
        them unless a callback stopped the epoch): sums and counts over every rank."""
        model = self.model
        model.optimizer._schedule = None
        runtime.set_schedule(None)
        watchdog.busy[0] = None
        self.kept, self.real_rows = [], None  # (a stop before the padded step; validation has no padding)
        seen = self.local_n if seen is None else seen
        padded = self.padded if seen == self.local_n else 0  # (the padding sample is the epoch's last)
        average_moving_statistics(model, self.world)
        return reduced_logs(model, self.world, loss * seen - (self.pad_loss if padded else 0.0), seen - padded,
                             "the epoch's loss and metrics")


def evaluate(model, x, y, sw, batch_size, cbs):
    """evaluate's logs over every rank's block (the same on every rank)."""
    world = _world()
    check_same_data(world, model.ops, (x, y, sw), batch_size, "evaluate")
    lo, hi = _block(x.shape[0], world, batch_size)
    for m in model._metrics:
        m.reset_state()
    loss = 0.0
    if hi > lo:
        _local.inside = True
        try:
            loss = model._evaluate_arrays(x[lo:hi], y[lo:hi], None if sw is None else sw[lo:hi], batch_size,
                                          cbs)["loss"]
        finally:
            _local.inside = False
    return reduced_logs(model, world, loss * (hi - lo), hi - lo)


def predict(model, xs, batch_size):
    """predict's outputs for all of ``xs`` (a NumPy array, on every rank)."""
    world = _world()
    check_same_data(world, model.ops, (xs,), batch_size, "predict")
    lo, hi = _block(xs.shape[0], world, batch_size)
    _local.inside = True
    try:
        if hi > lo:
            out = model.predict(xs[lo:hi], batch_size=batch_size, verbose=0)
        else:
            out = numpy.zeros((0,) + tuple(model.output_shape[1:]), model._input_dtype())
    finally:
        _local.inside = False
    return world.allgather_rows(out)


def rank_callbacks(callbacks):
    """``callbacks`` less those that print or write files, on every rank but 0."""
    world = runtime.current()
    if world is None or world.rank == 0:
        return callbacks
    from ..callbacks import CSVLogger, ModelCheckpoint, ProgbarLogger, TensorBoard
    return [cb for cb in callbacks if not isinstance(cb, (CSVLogger, ModelCheckpoint, ProgbarLogger, TensorBoard))]
