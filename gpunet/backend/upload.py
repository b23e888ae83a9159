"""Host-to-device upload of input data: pinned staging, chunks, a side stream.

Why: ``cupy.asarray(x)`` copies from pageable host memory, which the driver stages
through its own small pinned buffer, synchronously: 8 GiB/s on an H200, against
52 GiB/s from pinned memory (../shared/measurements/h200-2026-11-29). `to_device`
instead copies the host array chunk by chunk into two pinned staging buffers and
issues each chunk's DMA on a non-blocking side stream. What overlaps with what:

- the host's copy (and dtype cast) of chunk k+1 into one staging buffer runs while
  the DMA of chunk k out of the other one runs on the side stream; that copy is split
  over several threads (`copy_threads`), as one thread's memcpy is the slowest link;
- every DMA runs beside whatever the compute stream (CuPy's current stream) already
  has queued: kernels of the previous step, epoch or model build keep the GPU busy;
- the compute stream waits on an event recorded after the last chunk (`Upload.ready`),
  so work queued on it after the call runs on the uploaded data, without the host
  waiting for the DMA to finish; ``ready(rows)`` waits for the first ``rows`` rows
  only, so work on leading rows (predict's first batches, an unshuffled epoch) can
  start while the rest is still on its way.

The host waits only before refilling a staging buffer whose previous DMA has not
finished. CuPy arrays are used in place (cast on the device when the dtype differs);
small arrays take CuPy's plain copy (staging costs more than it saves there).

Everything but the CUDA calls is plain Python over a `Transport`; `SimulatedTransport`
runs it on NumPy with copies deferred until an event is waited on (as an asynchronous
DMA reads its source late), so the bookkeeping is tested on the CPU.
"""
import os
from concurrent.futures import ThreadPoolExecutor

import numpy

# 64 MB chunks from gpu_diagnose.py part 6b (H100 80GB HBM3, 16 cores, 2026-12-05): a 537 MB array
# went at 25.1 GiB/s with 8 copy threads (16 MB chunks: 16.8; 4 MB: 6.0; pageable copy: 8.7).
CHUNK_BYTES = 64 << 20    # per staging buffer: ~2.5 ms of DMA, about as long as its host memcpy
SMALL_BYTES = 1 << 20     # below this, one plain (pageable) copy
PARALLEL_BYTES = 4 << 20  # below this, one thread fills a staging buffer


def chunk_rows(row_bytes, chunk_bytes=CHUNK_BYTES):
    """Rows per chunk: as many as fit in ``chunk_bytes``, at least one."""
    return max(1, chunk_bytes // max(1, row_bytes))


def windows(n, size):
    """``[(lo, hi), ...]`` covering ``range(n)`` in consecutive pieces of ``size`` rows (the last may be shorter)."""
    if size <= 0:
        raise ValueError(f"window size must be positive, received {size}")
    return [(lo, min(n, lo + size)) for lo in range(0, n, size)]


def row_bytes(shape, dtype):
    return int(numpy.prod(shape[1:], dtype=numpy.int64)) * numpy.dtype(dtype).itemsize


class Upload:
    """A host array's upload in flight: ``array`` (on the device, being filled), and one
    event per chunk. Call `ready` before queueing work that reads it."""

    def __init__(self, transport, array, bounds, events):
        self.transport, self.array, self._bounds, self._events = transport, array, bounds, events

    def ready(self, rows=None):
        """Make the compute stream wait until rows ``[0, rows)`` (all when None) are on the
        device; returns the device array. The host does not wait."""
        if self._events:
            n = self.array.shape[0] if rows is None else rows
            k = next((i for i, (_, hi) in enumerate(self._bounds) if hi >= n), len(self._bounds) - 1)
            self.transport.compute_wait(self._events[k])
        return self.array


class _Staging:
    """Two pinned byte buffers reused by every upload, each with the event of its last DMA."""

    def __init__(self, transport, nbytes):
        nbytes = -(-nbytes // 64) * 64  # viewable as any dtype
        self.slots = [transport.pinned((nbytes,), numpy.uint8) for _ in range(2)]
        self.events = [transport.new_event() for _ in range(2)]
        self.nbytes = nbytes

    def view(self, slot, shape, dtype):
        count = int(numpy.prod(shape, dtype=numpy.int64))
        return self.slots[slot].view(dtype)[:count].reshape(shape)


def copy_threads():
    """Host threads that fill a staging buffer: one memcpy thread reaches a fraction of a
    server's memory bandwidth (NumPy releases the GIL while it copies); every core but the one
    that launches the kernels, at most 16 (``GPUNET_UPLOAD_THREADS`` overrides). On an H100 host
    with 16 cores, 64 MB chunks went at 25.9-28.0 GiB/s with 16 threads, 22.2-25.1 with 8
    (gpu_diagnose.py part 6b, two runs, 2026-12-05)."""
    env = os.environ.get("GPUNET_UPLOAD_THREADS")
    return max(1, int(env)) if env else max(1, min(16, (os.cpu_count() or 1) - 1))


_pool, _pool_threads = None, 0


def copy_rows(dst, src, min_bytes=PARALLEL_BYTES):
    """``dst[...] = src`` (cast as needed), split by rows over `copy_threads` threads when large."""
    threads = min(copy_threads(), src.shape[0] if src.ndim else 1)
    if threads <= 1 or dst.nbytes < min_bytes:
        numpy.copyto(dst, src, casting="unsafe")
        return
    global _pool, _pool_threads
    if _pool_threads < threads:
        _pool, _pool_threads = ThreadPoolExecutor(threads, thread_name_prefix="gpunet-upload"), threads
    bounds = windows(src.shape[0], -(-src.shape[0] // threads))
    for future in [_pool.submit(numpy.copyto, dst[lo:hi], src[lo:hi], casting="unsafe") for lo, hi in bounds]:
        future.result()


def upload_chunked(transport, host, dtype=None, chunk_bytes=CHUNK_BYTES):
    """Start the upload of NumPy array ``host`` (cast to ``dtype``) through ``transport``'s
    pinned staging buffers; returns an `Upload`."""
    dtype = numpy.dtype(dtype or host.dtype)
    out = transport.device_empty(host.shape, dtype)
    n = host.shape[0] if host.ndim else 0
    if host.ndim == 0 or out.size == 0:
        if host.ndim == 0:
            out[...] = host  # a scalar: nothing to stage (the NumPy stand-in; CuPy takes the small path)
        return Upload(transport, out, [], [])
    step = chunk_rows(row_bytes(host.shape, dtype), chunk_bytes)
    bounds = windows(n, step)
    staging = transport.staging(step * row_bytes(host.shape, dtype))
    # CuPy's pool may hand `out` memory that kernels already queued on the compute stream still
    # write (an intermediate freed a moment ago): the DMAs must start after them (seen on an H200).
    allocated = transport.new_event()
    transport.record_compute(allocated)
    transport.side_wait(allocated)
    events = []
    for k, (lo, hi) in enumerate(bounds):
        slot = k % 2
        transport.host_wait(staging.events[slot])  # its previous DMA must be done before refilling it
        buf = staging.view(slot, (hi - lo,) + host.shape[1:], dtype)
        copy_rows(buf, host[lo:hi])  # the cast (e.g. float64 -> float32) in the same pass
        transport.upload(out[lo:hi], buf)
        transport.record_side(staging.events[slot])
        event = transport.new_event()
        transport.record_side(event)
        events.append(event)
    return Upload(transport, out, bounds, events)


def upload(ops, array, dtype=None):
    """Start moving ``array`` to ``ops``'s device; returns an `Upload` (`Upload.ready` gives
    the array). NumPy backend: the host array itself (no copy when the dtype matches)."""
    transport = transport_for(ops)
    if transport is None or transport.is_device(array):
        return Upload(None, ops.asarray(array, dtype=dtype), [], [])
    host = numpy.asarray(array)
    target = numpy.dtype(dtype or host.dtype)
    if host.size * target.itemsize < SMALL_BYTES:
        return Upload(None, ops.asarray(host, dtype=target), [], [])
    return upload_chunked(transport, host, target)


def to_device(ops, array, dtype=None):
    """``array`` (NumPy, nested lists, or an array of ``ops``'s own) as an array of ``ops``'s
    device, of ``dtype`` when given. On the NumPy backend the host array itself when its
    dtype matches; on CuPy a CuPy array is used in place (no copy when the dtype matches)
    and a host array goes through pinned staging on a side stream (module docstring).
    Work queued on the compute stream afterwards sees the whole array."""
    return upload(ops, array, dtype).ready()


def is_host_data(x):
    """Whether ``x`` is data in host memory that gpunet would upload (a NumPy array or nested lists)."""
    return isinstance(x, (numpy.ndarray, list, tuple))


def transport_for(ops):
    """The CUDA transport of a CuPy backend (one per process), or None on the host."""
    if ops.device != "gpu" or getattr(ops.xp, "__name__", "") != "cupy":  # the emulated backend: NumPy
        return None
    global _CUDA
    if _CUDA is None:
        from .cuda_transport import CudaTransport
        _CUDA = CudaTransport()
    return _CUDA


_CUDA = None


class SimulatedTransport:
    """The NumPy stand-in for a GPU: "device" arrays are NumPy arrays, the compute stream runs
    at once (the caller's NumPy code), and side-stream copies are queued and run only when
    an event recorded after them is waited on, reading their source then, as a DMA out of
    pinned memory does. A staging buffer refilled too early thus delivers the wrong rows.
    ``log`` keeps every stream operation in order, for tests of the ordering."""

    def __init__(self, free_bytes=1 << 40):
        self.free = free_bytes
        self.queue, self.done, self.log = [], 0, []
        self._staging = None

    def is_device(self, array):
        return False

    def pinned(self, shape, dtype):
        return numpy.empty(shape, dtype)

    def device_empty(self, shape, dtype):
        return numpy.full(shape, numpy.nan if numpy.dtype(dtype).kind == "f" else -1, dtype)

    def staging(self, nbytes):
        if self._staging is None or self._staging.nbytes < nbytes:
            self._staging = _Staging(self, max(nbytes, CHUNK_BYTES))
        return self._staging

    def free_bytes(self):
        return self.free

    def new_event(self):
        return {"mark": None}

    def upload(self, dst, src):
        self.queue.append(("copy", dst, src))
        self.log.append(("upload", id(dst.base if dst.base is not None else dst), id(src.base)))

    def record_side(self, event):
        event["mark"] = len(self.queue)

    def record_compute(self, event):
        event["mark"] = "compute"  # the simulated compute stream has already run everything
        self.log.append(("record_compute", id(event)))

    def side_wait(self, event):
        self.log.append(("side_wait", id(event)))

    def _run_until(self, event):
        mark = event["mark"]
        if mark is None or mark == "compute":
            return
        while self.done < mark:
            _, dst, src = self.queue[self.done]
            dst[...] = src
            self.done += 1

    def host_wait(self, event):
        self._run_until(event)

    def compute_wait(self, event):
        self._run_until(event)
        self.log.append(("compute_wait", id(event)))
