"""predict and evaluate through `GpuForward` (backend/gpu_forward.py; a functional graph's:
backend/gpu_graph_forward.py) on the CuPy backend:
the model's outputs for all batches written into one device array, the loss and metrics
computed from them as fit's epochs compute them (`EpochTally`), then read once; the layer
path batch by batch otherwise. x may be resident or streamed batch by batch (`DeviceData`)."""
from ..backend.epoch_tally import EpochTally
from ..backend.gpu_forward import build_gpu_forward
from ..backend.gpu_graph_forward import build_gpu_graph_forward
from ..layers import added_losses
from .batch_logs import TallyCursor, running_logs
from .engine import LossSum


def forward_plan(model, xs):
    """The model's `GpuForward` (a chain of layers) or `GpuGraphForward` (any other functional graph, and
    a chain that GpuForward does not take: its calls are a graph too) when it serves inputs like ``xs``,
    else None (the layer path)."""
    fwd = getattr(model, "_gpu_forward", None)
    if fwd is None or fwd is False or not fwd.matches(model):
        chain = getattr(model, "_chain", True)
        fwd = model._gpu_forward = (chain and build_gpu_forward(model)) or build_gpu_graph_forward(model) or False
    return fwd if fwd and xs.shape[0] and fwd.accepts(xs) else None


def plan_predict(model, xs, batch_size):
    """The outputs for ``xs`` (a device array), or None where the layer path must run."""
    fwd = forward_plan(model, xs)
    if fwd is None:
        return None
    out = model.ops.xp.empty((xs.shape[0], fwd.units), dtype=xs.dtype)
    fwd.run(xs, out, batch_size)
    return out


def predict_batches(model, data, batch_size):
    """predict's outputs (a device array) for x streamed batch by batch (`DeviceData`): each
    batch through the forward plan into its rows of one output array, or the layer path."""
    fwd = forward_plan(model, data.arrays[0])
    ops = model.ops
    if fwd is not None:
        out = ops.xp.empty((data.n, fwd.units), dtype=fwd.dtype)
        for batch in data.batches(batch_size):
            fwd.run(batch.arrays[0], out[batch.lo:batch.hi], batch_size)
        return out
    # copied: a layer stack may hand back a view of the batch buffer, which the stream refills
    outs = [ops.xp.array(model._forward(batch.arrays[0], False, False)[0], copy=True)
            for batch in data.batches(batch_size)]
    return outs[0] if len(outs) == 1 else ops.concatenate(outs)


def evaluate_batches(model, batches, n, like, y, sw, batch_size, cbs, whole=None):
    """``model._logs`` of the loss and metrics over ``batches``, ``(lo, hi, x rows)`` in order
    covering ``n`` samples of inputs shaped like ``like`` (resident slices, or streamed batch
    buffers). Through the forward plan where it serves (every batch's outputs into one device
    array, the loss and metrics computed from it as fit's epochs do, read once), else batch by
    batch on the layer path. Batch callbacks, when given, get running logs per batch. ``whole``:
    the resident x the batches slice, run in one call of the forward plan when no callback
    looks at batches."""
    # (the forward plan computes the compiled loss only: a model with callable losses takes the layer path)
    fwd = forward_plan(model, like) if y.shape[0] == n and not added_losses.callables(model) else None
    for m in model._metrics:
        m.reset_state()
    if cbs is not None and not cbs.wants_test_batches:
        cbs = None  # no callback looks at batches: none of their logs is computed
    defer = cbs is not None and cbs.defers_test_batches  # logs computed only for a progress bar's redraws
    if fwd is not None:
        out = model.ops.xp.empty((n, fwd.units), dtype=fwd.dtype)
        # each batch's activity penalty, or the losses layers of your own added (device), read as the tally needs
        pending = [] if fwd.activity or getattr(fwd, "terms", None) is not None else None
        cursor = TallyCursor(model, EpochTally(model, _Evaluated(model, y, out, sw, pending), batch_size))
    losses = LossSum(model.ops, per_batch=cbs is not None and not defer)
    if fwd is not None and cbs is None and whole is not None:
        fwd.run(whole, out, batch_size, penalties=pending)  # the same outputs as batch by batch, in fewer calls
        batches = ()
    for step, (lo, hi, xb) in enumerate(batches):
        if cbs is not None:
            cbs.on_test_batch_begin(step)
        if fwd is not None:
            fwd.run(xb, out[lo:hi], batch_size, penalties=pending)
        else:
            losses.add(*model._test_batch_terms(xb, y[lo:hi], None if sw is None else sw[lo:hi]), hi - lo)
        if cbs is not None:
            cbs.on_test_batch_end(step, cursor.batch_logs(hi, defer) if fwd is not None
                                  else running_logs(model, losses, defer))
    loss = cursor.finish(n) if fwd is not None else losses.mean
    if model._regularized:
        loss += model._weight_penalty(False)
    return model._logs(loss)


class _Evaluated:
    """What `EpochTally` reads of evaluate's run through the forward plan. Each batch's activity
    penalty (device values in ``pending``) is read when the tally first needs it: once at the end,
    or as a callback's logs ask for batches so far."""

    def __init__(self, model, y, outputs, sw, pending):
        self.y, self.outputs, self.sw, self.loss, self.ops = y, outputs, sw, model._loss_fn, model.ops
        self.pending, self.read = pending, []

    @property
    def penalties(self):
        if self.pending:
            self.read += [float(v) for v in self.ops.to_host(self.ops.xp.stack(self.pending))]
            self.pending.clear()
        return self.read
