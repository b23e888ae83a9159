"""Input upload (gpunet/backend/upload.py): chunking, pinned staging bookkeeping and
`to_device`, on the CPU through `SimulatedTransport` (copies deferred until waited on,
as a DMA reads pinned memory late) and, marked `gpu`, on CuPy."""
import numpy
import pytest

from gpunet import backend as B
from gpunet.backend import cupy_unavailable_reason, upload as U

_REASON = cupy_unavailable_reason()


def test_windows_cover_the_rows_in_order():
    assert U.windows(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert U.windows(8, 4) == [(0, 4), (4, 8)]
    assert U.windows(0, 4) == []
    with pytest.raises(ValueError, match="window size must be positive, received 0"):
        U.windows(5, 0)


def test_chunk_rows_fill_the_staging_buffer_and_take_at_least_one_row():
    assert U.chunk_rows(784 * 4, 16 << 20) == (16 << 20) // (784 * 4)
    assert U.chunk_rows(64 << 20, 16 << 20) == 1
    assert U.row_bytes((100, 28, 28), "float32") == 28 * 28 * 4
    assert U.row_bytes((100,), "int64") == 8


@pytest.mark.parametrize("make, dtype", [
    (lambda r: r.standard_normal((1000, 7)), "float32"),                # cast in the staging pass
    (lambda r: r.standard_normal((1000, 7)).astype("float32"), None),
    (lambda r: numpy.asfortranarray(r.standard_normal((999, 5))), "float64"),
    (lambda r: r.standard_normal((1000, 9))[:, ::2], "float32"),       # strided columns
    (lambda r: r.integers(0, 10, size=1001), "int64"),                  # 1-D labels
    (lambda r: r.standard_normal((50, 3, 4)), "float32"),
], ids=["f64->f32", "f32", "fortran", "strided", "labels", "3d"])
def test_chunked_upload_delivers_every_row(make, dtype):
    host = make(numpy.random.default_rng(0))
    tr = U.SimulatedTransport()
    up = U.upload_chunked(tr, host, dtype, chunk_bytes=256)  # many chunks through two staging buffers
    assert len(up._bounds) > 4
    out = up.ready()
    want = numpy.asarray(host, dtype=dtype or host.dtype)
    assert out.dtype == want.dtype and out.shape == want.shape
    numpy.testing.assert_array_equal(out, want)


@pytest.mark.parametrize("threads", [2, 3, 8])
def test_staging_copies_split_over_threads_deliver_every_row(monkeypatch, threads):
    """copy_rows over several threads: the same bytes as one numpy.copyto, casts included,
    for row counts that do not divide evenly (and fewer rows than threads)."""
    monkeypatch.setenv("GPUNET_UPLOAD_THREADS", str(threads))
    rng = numpy.random.default_rng(1)
    for rows in (1, 2, 7, 1001):
        src = rng.standard_normal((rows, 5))
        dst = numpy.full((rows, 5), numpy.nan, "float32")
        U.copy_rows(dst, src, min_bytes=0)
        numpy.testing.assert_array_equal(dst, src.astype("float32"))
    monkeypatch.setattr(U, "PARALLEL_BYTES", 0)
    host = rng.standard_normal((999, 7))
    out = U.upload_chunked(U.SimulatedTransport(), host, "float32", chunk_bytes=28 * 100).ready()
    numpy.testing.assert_array_equal(out, host.astype("float32"))


def test_copies_into_fresh_device_memory_wait_for_queued_compute():
    """The side stream waits for the compute stream before its first DMA: CuPy's pool can hand
    out memory that kernels queued on the compute stream still write (an H200 run got garbage)."""
    tr = U.SimulatedTransport()
    U.upload_chunked(tr, numpy.ones((100, 4), "float32"), chunk_bytes=16 * 10)
    kinds = [entry[0] for entry in tr.log]
    first_upload = kinds.index("upload")
    assert kinds[:first_upload] == ["record_compute", "side_wait"]
    assert tr.log[0][1] == tr.log[1][1]  # the event the compute stream recorded


def test_ready_for_leading_rows_leaves_later_chunks_in_flight():
    host = numpy.arange(4000, dtype="float32").reshape(1000, 4)
    tr = U.SimulatedTransport()
    up = U.upload_chunked(tr, host, chunk_bytes=16 * 100)  # 100 rows a chunk
    arr = up.ready(rows=150)  # chunks 0 and 1
    numpy.testing.assert_array_equal(arr[:200], host[:200])
    assert numpy.isnan(arr[-1]).all(), "the last chunk should still be queued, not copied"
    numpy.testing.assert_array_equal(up.ready(), host)


def test_the_stand_in_catches_a_staging_buffer_refilled_before_its_copy_ran():
    """Without the host's wait on a staging buffer's last DMA, the deferred copies read the
    buffer after it was refilled: rows arrive wrong. (What the wait in upload_chunked prevents.)"""
    host = numpy.arange(3000, dtype="float64").reshape(1000, 3)
    tr = U.SimulatedTransport()
    tr.host_wait = lambda event: None
    out = U.upload_chunked(tr, host, chunk_bytes=24 * 50).ready()
    assert not numpy.array_equal(out, host)


def test_zero_rows_and_scalars():
    tr = U.SimulatedTransport()
    empty = U.upload_chunked(tr, numpy.zeros((0, 5)), "float32").ready()
    assert empty.shape == (0, 5) and empty.dtype == numpy.float32
    assert U.upload_chunked(tr, numpy.array(3.5), "float32").ready()[()] == numpy.float32(3.5)


def test_to_device_on_numpy_returns_the_host_array_when_the_dtype_matches():
    ops = B.resolve("numpy")
    x = numpy.ones((4, 3), "float32")
    assert U.to_device(ops, x) is x
    assert U.to_device(ops, x, "float32") is x
    y = U.to_device(ops, x, "float64")
    assert y.dtype == numpy.float64 and numpy.array_equal(y, x)
    assert U.transport_for(ops) is None


# ---- on a GPU ---------------------------------------------------------------------------------

@pytest.mark.real_gpu
@pytest.mark.gpu
@pytest.mark.skipif(_REASON is not None, reason=f"no CUDA: {_REASON}")
@pytest.mark.parametrize("nbytes", [4 << 10, 4 * U.CHUNK_BYTES], ids=["small", "chunked"])  # (float64 host bytes)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_to_device_on_cupy_uploads_host_arrays(nbytes, dtype):
    import cupy
    ops = B.resolve("cupy")
    host = numpy.random.default_rng(1).standard_normal((nbytes // (8 * 64), 64))  # float64 host
    out = U.to_device(ops, host, dtype)
    assert isinstance(out, cupy.ndarray) and out.dtype == numpy.dtype(dtype)
    numpy.testing.assert_array_equal(cupy.asnumpy(out), host.astype(dtype))


@pytest.mark.real_gpu
@pytest.mark.gpu
@pytest.mark.skipif(_REASON is not None, reason=f"no CUDA: {_REASON}")
def test_to_device_on_cupy_uses_cupy_arrays_in_place():
    import cupy
    ops = B.resolve("cupy")
    x = cupy.arange(12, dtype="float32").reshape(4, 3)
    assert U.to_device(ops, x) is x
    assert U.to_device(ops, x, "float32") is x
    y = U.to_device(ops, x, "float64")
    assert y.dtype == numpy.float64 and bool((y == x).all())


@pytest.mark.real_gpu
@pytest.mark.gpu
@pytest.mark.skipif(_REASON is not None, reason=f"no CUDA: {_REASON}")
def test_upload_overlaps_queued_compute_and_orders_later_work():
    """Work queued after to_device sees the data, with no host synchronization between:
    a kernel on the compute stream reading the array right after the call."""
    import cupy
    ops = B.resolve("cupy")
    rows = 4 * U.CHUNK_BYTES // (256 * 4)  # 4 chunks of float32
    host = numpy.random.default_rng(2).standard_normal((rows, 256)).astype("float32")
    busy = cupy.ones((4096, 4096), "float32")
    for _ in range(3):
        busy = busy @ busy * 1e-4  # the compute stream is busy while the chunks upload
    out = U.to_device(ops, host)
    total = float(out.sum(dtype="float64"))
    assert total == pytest.approx(float(host.sum(dtype="float64")), rel=1e-6)


def test_staging_grows_for_a_row_above_the_chunk_size_and_stays_usable_for_any_dtype():
    tr = U.SimulatedTransport()
    wide = numpy.arange(2 * (U.CHUNK_BYTES // 4 + 1), dtype="float32").reshape(2, -1)  # a row of CHUNK_BYTES + 4 bytes
    numpy.testing.assert_array_equal(U.upload_chunked(tr, wide).ready(), wide)
    assert tr.staging(0).nbytes >= wide[0].nbytes and tr.staging(0).nbytes % 64 == 0
    labels = numpy.arange(1001, dtype="int64")
    numpy.testing.assert_array_equal(U.upload_chunked(tr, labels).ready(), labels)
