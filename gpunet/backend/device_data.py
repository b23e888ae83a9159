"""`DeviceData`: a fit's arrays on the device, resident or streamed batch by batch.

Resident when the data fits in a set share of the device's free memory
(``GPUNET_DEVICE_DATA_FRACTION``, default 0.5; the argument ``fraction`` overrides it):
host arrays are uploaded once (upload.py), CuPy arrays are used in place, and each
epoch's shuffle is a gather on the device (``ops.take`` with the epoch's order).

Streamed otherwise: the arrays stay on the host and each batch's rows are gathered
into one of two pinned host buffers, then copied into one of two device buffers on
the side stream. Batch i+1's gather and upload are issued after batch i is handed
out, so they overlap batch i's step: the host gathers while the GPU computes, and the
DMA runs beside the step's kernels. Bookkeeping per slot s = i % 2 (``_fill``): the
host refills pinned slot s once its previous DMA is done; the side stream overwrites
device slot s once the compute stream has passed the step that read it; the compute
stream waits for the DMA before the step. A streamed epoch gives exactly the batches
(values and order) a resident one gives.
"""
import os
from collections import namedtuple

import numpy

from . import upload as _upload

FRACTION_ENV = "GPUNET_DEVICE_DATA_FRACTION"
DEFAULT_FRACTION = 0.5
MODES = ("auto", "resident", "stream")

Batch = namedtuple("Batch", "step lo hi slot arrays")
Batch.__doc__ = ("One batch: ``arrays`` (device arrays, None where the input was None) hold rows ``lo:hi`` of the "
                 "epoch's order; ``slot`` (0 or 1) is the device buffer they live in when streamed (0 when resident).")


def data_fraction(value=None):
    """The share of free device memory the data may take: ``value``, else the environment
    variable, else the default. Raises ValueError outside (0, 1]."""
    source = "device_data_fraction"
    if value is None:
        raw = os.environ.get(FRACTION_ENV)
        if raw is None or not raw.strip():
            return DEFAULT_FRACTION
        source, value = FRACTION_ENV, raw
    try:
        fraction = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{source} must be a number in (0, 1], received {value!r}") from None
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"{source} must be a number in (0, 1], received {value!r}")
    return fraction


def resident_bytes(arrays, shuffle, is_device):
    """Device memory the resident case needs: the host arrays' upload, plus one shuffled copy
    of every array when epochs are shuffled (the gather writes a new array)."""
    present = [a for a in arrays if a is not None]
    uploaded = sum(a.nbytes for a in present if not is_device(a))
    return uploaded + (sum(a.nbytes for a in present) if shuffle else 0)


class DeviceData:
    """The arrays of one fit (or evaluate) on ``ops``'s device. ``arrays`` holds NumPy or
    device arrays (None allowed, e.g. no sample weights) with equal first dimensions, in the
    dtypes training uses. ``mode``: "auto" (decide from free memory), "resident" or
    "stream". ``transport``: for tests (`upload.SimulatedTransport`); by default the
    backend's own (None on the NumPy backend, where the data is always resident)."""

    def __init__(self, ops, arrays, shuffle=True, fraction=None, mode="auto", transport=None):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, received {mode!r}")
        present = [a for a in arrays if a is not None]
        if not present:
            raise ValueError("DeviceData needs at least one array, received only None")
        sizes = {a.shape[0] for a in present}
        if len(sizes) != 1:
            raise ValueError(f"all arrays must have the same number of samples, received {sorted(sizes)}")
        self.ops, self.n = ops, sizes.pop()
        self.transport = transport if transport is not None else _upload.transport_for(ops)
        self.fraction = data_fraction(fraction)
        tr = self.transport
        if tr is None:
            self.needed = self.budget = 0
            self.resident = mode != "stream"
            if not self.resident:
                raise ValueError("mode='stream' needs a device to stream to; the NumPy backend has none")
        else:
            self.needed = resident_bytes(arrays, shuffle, tr.is_device)
            self.budget = int(self.fraction * tr.free_bytes())
            self.resident = mode == "resident" or (mode == "auto" and self.needed <= self.budget)
        if self.resident:
            uploads = [None if a is None else self._upload(a) for a in arrays]
            self.arrays = tuple(None if u is None else u.ready() for u in uploads)
        else:
            self.arrays = tuple(arrays)  # host arrays stay on the host; device ones are gathered on the device
        self._slots = {}

    def _upload(self, a):
        if self.transport is None or self.transport.is_device(a):
            return _upload.Upload(None, a, [], [])
        return _upload.upload_chunked(self.transport, numpy.asarray(a))

    def _device_order(self, order):
        if self.transport is None:
            return order
        return _upload.upload_chunked(self.transport, numpy.asarray(order, dtype=numpy.int64)).ready()

    def epoch_arrays(self, order=None):
        """Resident only: the whole arrays in the epoch's ``order`` (a gather on the device), for
        a step plan that loads an epoch at once."""
        if not self.resident:
            raise RuntimeError("epoch_arrays needs resident data; this data is streamed batch by batch")
        if order is None:
            return self.arrays
        idx = self._device_order(order)
        return tuple(None if a is None else self.ops.take(a, idx) for a in self.arrays)

    def batches(self, batch_size, order=None):
        """Yield a `Batch` per ``batch_size`` rows of the epoch: rows ``order[lo:hi]`` (``lo:hi``
        when ``order`` is None). A streamed batch's arrays are reused two batches later:
        queue the step on them before asking for the next one, and copy what must outlive it."""
        bounds = _upload.windows(self.n, batch_size)
        if self.resident:
            source = self.epoch_arrays(order)
            for step, (lo, hi) in enumerate(bounds):
                yield Batch(step, lo, hi, 0, tuple(None if a is None else a[lo:hi] for a in source))
            return
        slots = self._slots.get(batch_size) or self._allocate(batch_size)
        idx_dev = None
        if order is not None and any(self.transport.is_device(a) for a in self.arrays if a is not None):
            idx_dev = self._device_order(order)
        if bounds:
            self._fill(slots, 0, bounds[0], order, idx_dev)
        for step, (lo, hi) in enumerate(bounds):
            slot = slots[step % 2]
            arrays = tuple(None if d is None else d[:hi - lo] for d in slot["device"])
            yield Batch(step, lo, hi, step % 2, arrays)
            self.transport.record_compute(slot["consumed"])  # the step on this slot is queued before it
            if step + 1 < len(bounds):
                self._fill(slots, step + 1, bounds[step + 1], order, idx_dev)

    def _allocate(self, batch_size):
        tr, slots = self.transport, []
        for _ in range(2):
            host = [None if a is None or tr.is_device(a) else tr.pinned((batch_size,) + a.shape[1:], a.dtype)
                    for a in self.arrays]
            device = [None if a is None else tr.device_empty((batch_size,) + a.shape[1:], a.dtype)
                      for a in self.arrays]
            slot = {"host": host, "device": device, "uploaded": tr.new_event(), "consumed": tr.new_event()}
            tr.record_compute(slot["consumed"])  # fresh pool memory may still be written by queued kernels
            slots.append(slot)
        self.close()  # one batch size at a time: the previous one's buffers go, once their DMAs are done
        self._slots = {batch_size: slots}
        return slots

    def _fill(self, slots, step, bounds, order, idx_dev):
        """Gather batch ``step`` into its slot and start its upload (module docstring)."""
        tr, slot, (lo, hi) = self.transport, slots[step % 2], bounds
        rows = None if order is None else order[lo:hi]
        tr.host_wait(slot["uploaded"])         # pinned slot: the DMA of two batches ago is done
        tr.side_wait(slot["consumed"])         # device slot: the step of two batches ago is past it
        for a, host, dev in zip(self.arrays, slot["host"], slot["device"]):
            if a is None:
                continue
            if host is None:                   # a device array: gathered on the device, on the compute stream
                view = dev[:hi - lo]
                if idx_dev is None:
                    view[...] = a[lo:hi]
                else:
                    self.ops.take(a, idx_dev[lo:hi], out=view)
                continue
            buf = host[:hi - lo]
            if rows is None:
                buf[...] = a[lo:hi]
            else:
                numpy.take(a, rows, axis=0, out=buf)
            tr.upload(dev[:hi - lo], buf)
        tr.record_side(slot["uploaded"])
        tr.compute_wait(slot["uploaded"])      # the step on this batch runs after its DMA

    def close(self):
        """Wait for every DMA out of this data's pinned buffers, then let them go (the pinned
        memory pool would hand them out again while a DMA still reads them)."""
        for slots in self._slots.values():
            for slot in slots:
                self.transport.host_wait(slot["uploaded"])
        self._slots = {}

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: CUDA may already be gone
            pass
