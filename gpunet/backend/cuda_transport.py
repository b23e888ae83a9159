"""`CudaTransport`: the CUDA calls behind upload.py and device_data.py, on CuPy.

One per process (`upload.transport_for`). It owns a non-blocking side stream for
host-to-device copies: non-blocking so that it never serializes with the legacy
default stream that CuPy computes on unless told otherwise. The compute stream is
whatever ``cupy.cuda.get_current_stream()`` is at each call, so a caller computing
inside ``with stream:`` (a CUDA-graph capture, say) gets its own stream ordered.

Pinned buffers come from CuPy's pinned memory pool (``cupyx.empty_pinned``); a
buffer is reused or dropped only after the event of its last DMA has completed,
since the pool would hand the memory out again while the DMA still reads it.
"""
import cupy
import cupyx


class CudaTransport:
    def __init__(self):
        self.side = cupy.cuda.Stream(non_blocking=True)
        self._staging = None

    def is_device(self, array):
        return isinstance(array, cupy.ndarray)

    def pinned(self, shape, dtype):
        return cupyx.empty_pinned(shape, dtype)

    def device_empty(self, shape, dtype):
        return cupy.empty(shape, dtype)

    def staging(self, nbytes):
        """The two pinned staging buffers, grown (after their last DMAs) when a row needs more."""
        from .upload import CHUNK_BYTES, _Staging
        if self._staging is None or self._staging.nbytes < nbytes:
            if self._staging is not None:
                for event in self._staging.events:
                    event.synchronize()
            self._staging = _Staging(self, max(nbytes, CHUNK_BYTES))
        return self._staging

    def free_bytes(self):
        """Free device memory: the driver's free bytes plus what CuPy's pool holds unused."""
        free, _ = cupy.cuda.runtime.memGetInfo()
        return free + cupy.get_default_memory_pool().free_bytes()

    def new_event(self):
        return cupy.cuda.Event(block=False, disable_timing=True)

    def upload(self, dst, src):
        """Asynchronous copy of pinned ``src`` into the device array ``dst`` on the side stream."""
        dst.set(src, stream=self.side)

    def record_side(self, event):
        event.record(self.side)

    def record_compute(self, event):
        event.record(cupy.cuda.get_current_stream())

    def side_wait(self, event):
        self.side.wait_event(event)

    def host_wait(self, event):
        event.synchronize()

    def compute_wait(self, event):
        cupy.cuda.get_current_stream().wait_event(event)
