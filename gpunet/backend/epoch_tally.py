"""`EpochTally`: an epoch's loss and metrics from the outputs a fused plan kept (dense_plan.py on
NumPy, gpu_plan.py on CuPy), computed once per epoch, or per batch when a callback asks."""

CHUNK_VALUES = 1 << 16  # (outputs a host tally takes at a time: `EpochTally.add`)


class EpochTally:
    """The loss and metrics of batches trained by a plan, as the layer path reports them:
    the loss is the batch-size-weighted mean of the batch losses, each with the weight
    penalty of its step; metrics are updated batch by batch. ``add`` takes any run of
    whole batches: one per step when callbacks want batch logs, else the whole epoch."""

    def __init__(self, model, plan, batch_size, plain_weights=None):
        self.model, self.plan, self.batch_size = model, plan, batch_size
        self.total, self.seen = 0.0, 0
        # ``plain_weights(sw, lo, hi)``: the weights of the metrics that are not weighted_metrics for
        # samples lo:hi (None: each counts 1); fit's gives the padding sample of a data-parallel epoch 0
        self.plain_weights = plain_weights

    def add(self, lo, hi):
        """Count the batches of samples ``lo:hi`` (``lo`` at a batch boundary)."""
        plan, bs = self.plan, self.batch_size
        publish = getattr(plan, "publish", None)  # a GPU plan's outputs come from its own stream
        if publish is not None:
            publish()
            return self._add(lo, hi)
        # On the host, a run of whole batches at a time of some 64K values: a loss's temporaries over a
        # whole epoch of wide outputs (an autoencoder's 784 columns) leave the cache, and cost more than
        # the steps (3x the batch by batch sums, in order: the same values)
        rows = max(1, CHUNK_VALUES // max(1, bs * plan.outputs[:1].size)) * bs
        for start in range(lo, hi, rows):
            self._add(start, min(hi, start + rows))

    def _add(self, lo, hi):
        plan, bs, ops = self.plan, self.batch_size, self.plan.ops
        y, p = plan.y[lo:hi], plan.outputs[lo:hi]
        sw = None if plan.sw is None else plan.sw[lo:hi]
        losses = plan.loss.batch_losses(ops, y, p, sw, bs)
        penalties = plan.penalties  # (a GPU plan reads them from the device: once)
        if penalties:
            first = lo // bs
            losses = [loss + pen for loss, pen in zip(losses, penalties[first:first + len(losses)])]
        full, rest = divmod(hi - lo, bs)
        total = self.total
        for loss, size in zip(losses, [bs] * full + [rest]):  # in order, as the layer path adds them
            total += loss * size
        self.total, self.seen = total, self.seen + hi - lo
        plain = None if self.plain_weights is None else self.plain_weights(sw, lo, hi)
        for m, weighted in zip(self.model._metrics, self.model._metric_weighted):
            # weighted_metrics take the sample weights, the others count each sample once (tf.keras 2)
            m.update_batches(ops, y, p, sw if weighted else plain, bs)

    @property
    def loss(self):
        return self.total / max(self.seen, 1)
