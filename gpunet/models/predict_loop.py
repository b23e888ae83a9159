"""predict and predict_on_batch: the outputs for x in inference mode, with Keras's predict
callbacks (on_predict_begin, on_predict_batch_begin/end with ``{"outputs": <the batch's
outputs>}``, on_predict_end) and its progress bar (``verbose``, "auto" = 1, as tf.keras).

The batch hooks are called only when a callback looks at batches; otherwise the whole of x
takes the fast route (the GPU inference plan into one device array, or the layer path)."""
from ..backend import edge as _data
from ..callbacks.base import DeferredLogs
from ..distribute import sharding as _dist
from .callback_setup import one_pass_callbacks
from .checked_input import checked_input
from .own_steps import refuse_own_steps
from .plan_inference import forward_plan, plan_predict, predict_batches
from . import batch_sources as _src
from . import streaming as _stream


def batch_end_logs(ops, outputs, defer):
    """``on_predict_batch_end``'s logs: the batch's outputs as NumPy (read from a GPU only when
    a callback asks: gpunet's progress bar, which takes deferred logs, never does)."""
    make = lambda: {"outputs": _data.to_output(ops, outputs)}  # noqa: E731
    return DeferredLogs(make) if defer else make()


class PredictMixin:
    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None, device_data_fraction=None,
                **kw):
        """The outputs for ``x`` in inference mode (no Dropout, BatchNormalization's moving statistics).

        Args:
            x: inputs (array-like, samples first), or a generator / `gpunet.utils.Sequence` of batches.
            batch_size: samples per batch (default 32).
            verbose: 0 silent, 1 progress bar, 2 one line when done ("auto": 1, as in Keras 2).
            steps: batches to take from a generator or Sequence (default: until it ends).
            callbacks: `Callback` instances (``on_predict_*``).
            device_data_fraction: as in ``fit``: on a GPU, larger host x is streamed batch by batch.

        Returns:
            A NumPy array of shape ``(n,) + output_shape[1:]``, copied to the host from a GPU.

        Raises:
            ValueError: ``x`` is not numeric, is a scalar, or does not match the model's input shape.
        """
        own_steps = refuse_own_steps(self, "predict")
        batch_size = _data.check_batch_size(batch_size, 32)
        verbose = 1 if verbose == "auto" else int(verbose)
        if own_steps:  # (a predict_step of yours)
            from . import step_loops
            source = step_loops.batches(self, x, None, None, batch_size, False, steps, "predict")
            return step_loops.predict(self, source, one_pass_callbacks(self, callbacks, verbose, source.steps))
        if _src.is_batch_source(x):
            batches = _src._Batches(x, steps, what="predict")
            return _src.predict_source(self, batches, one_pass_callbacks(self, callbacks, verbose, batches.steps))
        xs, stream = _stream.predict_data(self, x, device_data_fraction)
        self._ensure_ready(xs.shape, train=False)
        cbs = one_pass_callbacks(self, callbacks, verbose, -(-xs.shape[0] // batch_size))
        with checked_input(self, xs):  # x checked once, not every batch
            if cbs is not None:
                cbs.on_predict_begin()
            if cbs is not None and cbs.wants_predict_batches and not _dist.shards(self):
                out = self._predict_batches_with_hooks(xs, stream, batch_size, cbs)
            else:
                out = self._predict_arrays(xs, stream, batch_size)
            if cbs is not None:
                cbs.on_predict_end()
        return out

    def _predict_arrays(self, xs, stream, batch_size):
        ops = self.ops
        if _dist.shards(self):  # a block per rank, gathered on every rank
            return _dist.predict(self, xs if stream is None else ops.asarray(xs), batch_size)
        if stream is not None:  # larger than the device's share: batch by batch from the host
            return _data.to_output(ops, predict_batches(self, stream, batch_size))
        out = plan_predict(self, xs, batch_size)  # CuPy: every batch into one device array
        if out is not None:
            return _data.to_output(ops, out)
        outs = [self._forward(xs[lo:lo + batch_size], False, False)[0] for lo in range(0, xs.shape[0], batch_size)]
        return self._joined(outs)

    def _predict_batches_with_hooks(self, xs, stream, batch_size, cbs):
        """predict batch by batch, calling the predict batch hooks around each batch."""
        ops, n, defer = self.ops, xs.shape[0], cbs.defers_predict_batches
        fwd = forward_plan(self, xs if stream is None else stream.arrays[0])
        if stream is None:
            batches = ((lo, min(n, lo + batch_size), xs[lo:lo + batch_size]) for lo in range(0, n, batch_size))
        else:
            batches = ((b.lo, b.hi, b.arrays[0]) for b in stream.batches(batch_size))
        out = None if fwd is None else ops.xp.empty((n, fwd.units), dtype=fwd.dtype)
        outs = []
        for step, (lo, hi, xb) in enumerate(batches):
            cbs.on_predict_batch_begin(step)
            if fwd is not None:
                fwd.run(xb, out[lo:hi], batch_size)
                yb = out[lo:hi]
            else:
                yb = self._forward(xb, False, False)[0]
                if stream is not None:  # a layer stack may hand back a view of the refilled batch buffer
                    yb = ops.xp.array(yb, copy=True)
                outs.append(yb)
            cbs.on_predict_batch_end(step, batch_end_logs(ops, yb, defer))
        return _data.to_output(ops, out) if fwd is not None else self._joined(outs)

    def _joined(self, outs):
        """The batches' outputs as one NumPy array (an empty one for no batches)."""
        ops = self.ops
        if not outs:
            return _data.to_output(ops, ops.zeros((0,) + tuple(self._data_output_shape()[1:]), self._input_dtype()))
        return _data.to_output(ops, outs[0] if len(outs) == 1 else ops.concatenate(outs))

    def predict_on_batch(self, x):
        """Outputs for one batch, as NumPy."""
        if refuse_own_steps(self, "predict_on_batch"):
            from . import step_loops
            return step_loops.predict(self, step_loops.batches(self, x, None, None, 1 << 62, False, None,
                                                               "predict_on_batch"), None)
        xs = _data.to_input(self.ops, x, self._input_dtype())
        self._ensure_ready(xs.shape, train=False)
        with checked_input(self):  # one batch: its layers check it as they go
            return _data.to_output(self.ops, self._forward(xs, False, False)[0])
