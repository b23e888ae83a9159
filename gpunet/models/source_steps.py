"""fit on batches from a generator or a `Sequence` through the model's fused step (NumPy's chain
or graph plan, CuPy's step plans), as ``train_on_batch`` trains one batch.

Why: the step is the plan's, but tallying each batch's loss and metrics on its own costs about as
much again as the step (a loss call and a metric call per batch). The outputs of a run of batches
of one size are kept instead and tallied together (`EpochTally`, as an array fit tallies its epoch)
when the run ends: at the end of the epoch, before a batch of another size or one the plan does not
take (trained layer by layer), or when logs are read (a callback's batch logs, a progress bar's
redraw), or once the kept outputs reach 8 MB. The values are the per-batch ones, summed in the same
order.

On a GPU the kept outputs, targets and penalties stay on the device (copies queued after the
plan's step) and are read once, at the tally: a batch costs its upload and the plan's step (one
captured graph where the batch size repeats), not the layer path's launches per layer.
"""
from types import SimpleNamespace

from ..backend.epoch_tally import EpochTally

_RUN_BYTES = 8 << 20  # outputs kept before a tally: a generator's epoch may be far larger than memory


class SourceSteps:
    """An epoch's batches through ``plan``, with the running loss ``mean`` that `LossSum` offers;
    ``per_batch``: tally every batch at once (a callback reads each batch's logs)."""

    def __init__(self, model, plan, per_batch):
        self.model, self.plan, self.per_batch = model, plan, per_batch
        self._device_penalty = getattr(plan, "step_penalty", None)  # (a GPU plan's: kept on the device)
        self.total, self.seen = 0.0, 0
        self._run = []  # (y, outputs, sample weights, penalty) of each batch not yet tallied, all one size

    def train(self, xs, ys, sws):
        """Train on one batch (the plan's step, else the layer path's)."""
        plan, n = self.plan, xs.shape[0]
        if not plan.accepts(xs, ys, sws):
            self.flush()
            loss, penalty = self.model._train_batch_terms(xs, ys, sws)
            self.total += (self.model.ops.to_scalar(loss) + penalty) * n
            self.seen += n
            return
        if self._run and (self._run[0][1].shape[0] != n or (self._run[0][2] is None) != (sws is None)):
            self.flush()
        plan.load(xs, ys, sws)
        plan.step(0, n)
        if self._device_penalty is not None:
            plan.publish()  # what follows runs on the caller's stream, after the plan's step
            penalty = self._device_penalty()
        else:
            penalty = plan.penalties[0] if plan.penalties else None
        # (copies: the plan refills its buffers with the next batch)
        self._run.append((plan.y.copy(), plan.outputs[:n].copy(), None if plan.sw is None else plan.sw.copy(),
                          penalty))
        if self.per_batch or len(self._run) * self._run[0][1].nbytes >= _RUN_BYTES:
            self.flush()

    def flush(self):
        """Tally the batches trained since the last flush: loss and metrics."""
        run, self._run = self._run, []
        if not run:
            return
        ops, size = self.plan.ops, run[0][1].shape[0]
        join = (lambda parts: parts[0]) if len(run) == 1 else (lambda parts: ops.xp.concatenate(parts))
        penalties = [r[3] for r in run] if run[0][3] is not None else []
        if penalties and self._device_penalty is not None:
            penalties = [float(v) for v in ops.to_host(ops.xp.stack(penalties))]  # (one read of the device)
        done = SimpleNamespace(
            y=join([r[0] for r in run]), outputs=join([r[1] for r in run]),
            sw=None if run[0][2] is None else join([r[2] for r in run]),
            penalties=penalties, loss=self.plan.loss, ops=ops)
        tally = EpochTally(self.model, done, size)
        tally.add(0, size * len(run))
        self.total += tally.total
        self.seen += tally.seen

    @property
    def mean(self):
        """The mean loss over the epoch's batches so far."""
        self.flush()
        return self.total / max(self.seen, 1)
