"""fit's data on a GPU (and evaluate's and predict's): resident, or streamed batch by batch
when it does not fit.

`fit_data` prepares x, y and sample weights as fit needs them. On a CuPy backend given host
(NumPy) inputs, the arrays are checked on the host first (no device copy, no sync), then
`DeviceData` (backend/device_data.py) decides: x is uploaded once (resident) when it fits in
``device_data_fraction`` of the free device memory (``GPUNET_DEVICE_DATA_FRACTION``, default
0.5), else it stays on the host and `epoch` streams each batch's rows through double-buffered
pinned buffers while the previous batch trains. Targets and sample weights, one row per
sample and usually small, are always uploaded. A streamed epoch trains on exactly the batches
a resident one does, through the GPU step plan or the layer path.
"""
from .. import backend as B
from ..backend import edge as _data
from ..backend import input_checks
from ..backend.epoch_tally import EpochTally
from ..backend.device_data import DeviceData, data_fraction
from ..backend.upload import is_host_data, to_device, transport_for
from .batch_logs import TallyCursor, running_logs
from .engine import LossSum


def fit_data(model, x, y, sample_weight, class_weight, validation_split, fraction, shuffle):
    """``(xs, ys, sws, val, stream)``: the training arrays, the validation split's arrays (None
    without ``validation_split``) and the `DeviceData` to stream x from (None: resident)."""
    ops = model.ops
    fraction = data_fraction(fraction)  # a bad value fails on every backend, before any work
    dtype = model._input_dtype()  # (class weights weigh the training rows only: after validation_split's cut)
    if not is_host_data(x) or transport_for(ops) is None:
        xs, ys, sws = _data.prepare(ops, model, x, y, sample_weight, None)
        xs, ys, sws, val = _split(xs, ys, sws, validation_split)
        return xs, ys, _data.with_class_weight(ops, ys, sws, class_weight, dtype), val, None
    host = B.resolve("numpy")
    # NaN and inf are looked for on the device once x and y are there (a reduction each, where a
    # host pass takes some 20 ms per 512 MB, 45 for the 4096x3 workload's x and y); on the host
    # only when x streams
    xs, ys, sws = _data.prepare(host, model, x, y, sample_weight, None, finite=False)
    whole_x, whole_y = xs, ys
    xs, ys, sws, val = _split(xs, ys, sws, validation_split)
    sws = _data.with_class_weight(host, ys, sws, class_weight, dtype)
    if val is not None:
        val = tuple(None if a is None else to_device(ops, a) for a in val)
    ys, sws = to_device(ops, ys), None if sws is None else to_device(ops, sws)
    data = DeviceData(ops, (xs,), shuffle=shuffle, fraction=fraction)
    val_x, val_y = (None, None) if val is None else val[:2]
    if data.resident:
        input_checks.check_finite_uploaded((data.arrays[0], val_x), whole_x, "x")
    else:
        input_checks.check_finite(host, whole_x, "x")
    input_checks.check_finite_uploaded((ys, val_y), whole_y, "y")
    if data.resident:
        return data.arrays[0], ys, sws, val, None
    return xs, ys, sws, val, data


def predict_data(model, x, fraction):
    """``(xs, stream)`` for predict: x on the device (``stream`` None), or, on a GPU, host data
    above ``fraction`` of the free device memory checked on the host and streamed from there."""
    ops = model.ops
    fraction = data_fraction(fraction)
    if not is_host_data(x) or transport_for(ops) is None:
        return _data.to_input(ops, x, model._input_dtype()), None
    xs = _data.to_input(B.resolve("numpy"), x, model._input_dtype())
    data = DeviceData(ops, (xs,), shuffle=False, fraction=fraction)
    return (data.arrays[0], None) if data.resident else (xs, data)


def _split(xs, ys, sws, validation_split):
    if not validation_split:
        return xs, ys, sws, None
    return _data.split(xs, ys, sws, validation_split)


def run_epoch(model, plan, data, ys, sws, order, batch_size, cbs):
    """One epoch with x streamed from the host (``data``); returns the epoch's loss. ``plan``:
    the GPU step plan, or None for the layer path. Same batches, same values as resident."""
    ops = model.ops
    if order is not None:
        idx = to_device(ops, order, "int64")
        ys, sws = ops.take(ys, idx), None if sws is None else ops.take(sws, idx)
    if plan is None:
        return _layer_batches(model, data, ys, sws, order, batch_size, cbs)
    plan.load(None, ys, sws, None, batch_size, streamed_rows=data.n)
    cursor = TallyCursor(model, EpochTally(model, plan, batch_size))
    want, done = cbs.wants_train_batches, 0
    with plan.stream_context():  # the current stream: each batch's upload is ordered against its step
        for batch in data.batches(batch_size, order):
            if want:
                cbs.on_train_batch_begin(batch.step)
            plan.step(batch.lo, batch.hi, x_batch=batch.arrays[0])
            done = batch.hi
            if want:
                cbs.on_train_batch_end(batch.step, cursor.batch_logs(batch.hi, cbs.defers_train_batches))
            if model.stop_training:
                break
    return cursor.finish(done)


def _layer_batches(model, data, ys, sws, order, batch_size, cbs):
    want, defer = cbs.wants_train_batches, cbs.defers_train_batches
    losses = LossSum(model.ops, want and not defer)
    for batch in data.batches(batch_size, order):
        lo, hi = batch.lo, batch.hi
        if want:
            cbs.on_train_batch_begin(batch.step)
        losses.add(*model._train_batch_terms(batch.arrays[0], ys[lo:hi], None if sws is None else sws[lo:hi]), hi - lo)
        if want:
            cbs.on_train_batch_end(batch.step, running_logs(model, losses, defer))
        if model.stop_training:
            break
    return losses.mean
