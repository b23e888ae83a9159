"""predict and evaluate through `GpuForward` (backend/gpu_forward.py) on the CuPy backend:
the model's outputs for all batches written into one device array, the loss and metrics
computed from them as fit's epochs compute them (`EpochTally`), then read once."""
from types import SimpleNamespace

from ..backend.dense_plan import EpochTally
from ..backend.gpu_forward import build_gpu_forward


def forward_plan(model, xs):
    """The model's `GpuForward` when it serves inputs like ``xs``, else None (the layer path)."""
    fwd = getattr(model, "_gpu_forward", None)
    if fwd is None or fwd is False or not fwd.matches(model):
        fwd = model._gpu_forward = build_gpu_forward(model) or False
    return fwd if fwd and xs.shape[0] and fwd.accepts(xs) else None


def plan_predict(model, xs, batch_size):
    """The outputs for ``xs`` (a device array), or None where the layer path must run."""
    fwd = forward_plan(model, xs)
    if fwd is None:
        return None
    out = model.ops.xp.empty((xs.shape[0], model._layers[-1].units), dtype=xs.dtype)
    fwd.run(xs, out, batch_size)
    return out


def plan_evaluate(model, x, y, sw, batch_size, cbs):
    """``model._logs`` of the loss and metrics on ``x, y`` (the layer path's values), or None
    where the layer path must run. Batch callbacks, when given, get running logs per batch."""
    fwd = forward_plan(model, x)
    if fwd is None or y.shape[0] != x.shape[0]:
        return None
    for m in model._metrics:
        m.reset_state()
    n = x.shape[0]
    out = model.ops.xp.empty((n, model._layers[-1].units), dtype=x.dtype)
    outputs = SimpleNamespace(y=y, outputs=out, sw=sw, penalties=[], loss=model._loss_fn, ops=model.ops)
    tally = EpochTally(model, outputs, batch_size)
    if cbs is None:
        fwd.run(x, out, batch_size)
        tally.add(0, n)
    else:
        for step, lo in enumerate(range(0, n, batch_size)):
            hi = min(n, lo + batch_size)
            cbs.on_test_batch_begin(step)
            fwd.run(x[lo:hi], out[lo:hi], batch_size)
            tally.add(lo, hi)
            cbs.on_test_batch_end(step, model._logs(tally.loss))
    loss = tally.loss
    if model._regularized:
        loss += model._weight_penalty(False)
    return model._logs(loss)
