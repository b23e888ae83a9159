"""One epoch of training, and one pass of evaluation, as fit and evaluate run them: layer by
layer, through a fused step plan (dense_plan.py on NumPy, gpu_plan.py on CuPy), or through
the GPU inference plan; the per-batch work itself is in engine.py."""
from ..backend.epoch_tally import EpochTally
from ..distribute import sharding as _dist
from .batch_logs import TallyCursor, running_logs
from .engine import EngineMixin, LossSum
from .plan_inference import evaluate_batches

_CHUNK = 16  # full batches per host call on the GPU plan while a progress bar defers its logs (a graph's UNROLL)


def _validates(epoch, freq):
    """Whether fit validates after 0-based ``epoch``: every ``freq`` epochs, or after those listed."""
    if isinstance(freq, int):
        return (epoch + 1) % freq == 0
    return epoch + 1 in freq


class EpochMixin(EngineMixin):
    def _train_epochs(self, cbs, history, initial_epoch, epochs, run_epoch, validate, validation_freq):
        """fit's loop over epochs, whatever the data: ``run_epoch(epoch)`` trains one and returns its
        logs (None: no data was left, training stops); ``validate(cbs)`` gives the validation logs,
        calling the test batch hooks of ``cbs`` (None: no validation), every ``validation_freq``
        epochs (an int, or the 1-based epochs to validate after, as in Keras)."""
        self.stop_training, self.history, logs = False, history, {}
        self._batch_loss = (0.0, 0)  # train_on_batch's running loss restarts, as Keras's loss metric
        self._initial_epoch = None
        cbs.on_train_begin()
        if self._initial_epoch is not None:  # a BackupAndRestore restored a later epoch's state
            initial_epoch, self._initial_epoch = self._initial_epoch, None
        for epoch in range(initial_epoch, epochs):
            cbs.on_epoch_begin(epoch)
            for m in self._metrics:
                m.reset_state()
            epoch_logs = run_epoch(epoch)
            if epoch_logs is None:
                break
            logs = epoch_logs
            if validate is not None and _validates(epoch, validation_freq):
                # the callbacks see validation as an evaluate inside fit (on_test_*), as in tf.keras
                cbs.on_test_begin()
                val_logs = validate(cbs)
                cbs.on_test_end(val_logs)
                logs.update({"val_" + k: v for k, v in val_logs.items()})
            cbs.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        if epochs > 0 and self.optimizer is not None:  # (Keras 3: with use_ema, the weights' average)
            self.optimizer.finalize_variable_values(self.trainable_weights)
        cbs.on_train_end(logs)
        return history

    def _layer_epoch(self, xs, ys, sws, order, batch_size, steps, cbs):
        """One epoch layer by layer (`_train_batch`); returns the epoch's loss."""
        ops, n, want_batches = self.ops, xs.shape[0], cbs.wants_train_batches
        defer = cbs.defers_train_batches  # the logs read only when a progress bar redraws
        self._epoch_seen = 0  # samples trained so far this epoch (a callback may stop it early)
        if order is not None:
            xs, ys = ops.take(xs, order), ops.take(ys, order)
            sws = None if sws is None else ops.take(sws, order)
        losses = LossSum(ops, want_batches and not defer)
        for step in range(steps):
            lo, hi = step * batch_size, min(n, (step + 1) * batch_size)
            if want_batches:
                cbs.on_train_batch_begin(step)
            sw = None if sws is None else sws[lo:hi]
            losses.add(*self._train_batch_terms(xs[lo:hi], ys[lo:hi], sw, _plain_weights(self, sw, lo, hi)),
                       hi - lo)
            self._epoch_seen = hi
            if want_batches:
                cbs.on_train_batch_end(step, running_logs(self, losses, defer))
                _dist.agree_to_stop(self)
            if self.stop_training:
                break
        return losses.mean

    def _plan_epoch(self, plan, xs, ys, sws, order, batch_size, steps, cbs):
        """One epoch through the fused step (backend/dense_plan.py); returns the epoch's loss. The
        loss and metrics are tallied batch by batch only when a callback wants batch logs,
        else once for the epoch (the same values either way)."""
        n, want_batches, train_step = xs.shape[0], cbs.wants_train_batches, plan.step
        defer = cbs.defers_train_batches  # batches tallied only when a progress bar redraws
        plan.load(xs, ys, sws, order, batch_size)
        plain = lambda sw, lo, hi: _plain_weights(self, sw, lo, hi)  # noqa: E731
        cursor = TallyCursor(self, EpochTally(self, plan, batch_size, plain))
        done = first = self._epoch_seen = 0
        run_steps = getattr(plan, "run_steps", None)  # the GPU plan: many full batches per host call
        if run_steps is not None and (defer or not want_batches):
            first = min(steps, n // batch_size)
            # with deferred logs only gpunet's progress bar looks at batches (it takes no action
            # between them): the hooks of a run of CHUNK batches come around the run
            chunk = first if not want_batches else _CHUNK
            for c0 in range(0, first, max(chunk, 1)):
                count = min(chunk, first - c0)
                for step in range(c0, c0 + count) if want_batches else ():
                    cbs.on_train_batch_begin(step)
                run_steps(c0, count)
                done = self._epoch_seen = (c0 + count) * batch_size
                for step in range(c0, c0 + count) if want_batches else ():
                    cbs.on_train_batch_end(step, cursor.batch_logs((step + 1) * batch_size, True))
                if self.stop_training:
                    first = steps
                    break
        for step in range(first, steps):
            lo, hi = step * batch_size, min(n, (step + 1) * batch_size)
            if want_batches:
                cbs.on_train_batch_begin(step)
            train_step(lo, hi)
            done = self._epoch_seen = hi
            if want_batches:
                cbs.on_train_batch_end(step, cursor.batch_logs(hi, defer))
                _dist.agree_to_stop(self)
            if self.stop_training:
                break
        return cursor.finish(done)

    def _evaluate_arrays(self, x, y, sw, batch_size, cbs, stream=None):
        """evaluate's logs over resident ``x``, or over x streamed from ``stream`` (a `DeviceData`;
        ``x`` is then its host array)."""
        if _dist.shards(self):  # a block per rank, sums and counts reduced
            return _dist.evaluate(self, x if stream is None else self.ops.asarray(x), y, sw, batch_size, cbs)
        n = x.shape[0]
        if stream is None:
            batches = ((lo, min(n, lo + batch_size), x[lo:lo + batch_size]) for lo in range(0, n, batch_size))
        else:
            batches = ((b.lo, b.hi, b.arrays[0]) for b in stream.batches(batch_size))
        return evaluate_batches(self, batches, n, x, y, sw, batch_size, cbs, x if stream is None else None)


def _plain_weights(model, sw, lo, hi):
    """The weights of the metrics that are not weighted_metrics for samples ``lo:hi`` of a fit epoch
    (``sw``: theirs): None (each sample counts 1), but 0 for a data-parallel epoch's padding sample
    (gpunet/distribute/sharding.py: weight 0, the last of the epoch), which no metric counts."""
    real = getattr(getattr(model, "_fit_shard", None), "real_rows", None)
    if real is None or hi <= real or sw is None:  # (a padded epoch always has sample weights)
        return None
    plain = model.ops.ones((hi - lo,), sw.dtype)
    plain[max(real - lo, 0):] = 0
    return plain
