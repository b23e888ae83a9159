"""The batch logs a fused plan's training or evaluation loop hands its callbacks, from an
`EpochTally` read only as far as asked: batch by batch for callbacks that look at every batch,
or, for gpunet's progress bar (`CallbackList.defers_train_batches`), as `DeferredLogs` tallied
only when a redraw reads them; the epoch's end tallies whatever was never read."""
from ..callbacks.base import DeferredLogs


class TallyCursor:
    """``tally``'s batches up to the furthest point whose logs were read (``tallied``)."""

    def __init__(self, model, tally):
        self.model, self.tally, self.tallied = model, tally, 0

    def _tally_to(self, hi):
        """Tally the batches before sample ``hi`` not tallied yet, in one go."""
        if self.tallied < hi:
            self.tally.add(self.tallied, hi)
            self.tallied = hi

    def logs(self, hi):
        """The running logs of the batches before sample ``hi``."""
        self._tally_to(hi)
        return self.model._logs(self.tally.loss)

    def batch_logs(self, hi, defer):
        """What a batch ending at sample ``hi`` hands ``on_*_batch_end``: its logs, or deferred ones."""
        return DeferredLogs(lambda: self.logs(hi)) if defer else self.logs(hi)

    def finish(self, done):
        """The loss over the first ``done`` samples, every batch tallied."""
        self._tally_to(done)
        return self.tally.loss


def running_logs(model, losses, defer):
    """What a layer-path batch hands ``on_*_batch_end``: the running logs of ``losses`` (a
    `LossSum`) and the metrics, or deferred ones."""
    return DeferredLogs(lambda: model._logs(losses.mean)) if defer else model._logs(losses.mean)
