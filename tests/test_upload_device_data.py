"""`DeviceData` (gpunet/backend/device_data.py): resident or streamed, decided from free
device memory; a streamed epoch gives exactly the batches of a resident one. On the CPU
the device is `upload.SimulatedTransport` (NumPy, copies deferred until waited on);
the `gpu` cases run the same checks on CuPy."""
import numpy
import pytest

from gpunet import backend as B
from gpunet.backend import cupy_unavailable_reason, upload as U
from gpunet.backend.device_data import DEFAULT_FRACTION, FRACTION_ENV, DeviceData, data_fraction, resident_bytes

_REASON = cupy_unavailable_reason()

DEVICES = [
    pytest.param("simulated", id="simulated"),
    pytest.param("cupy", id="cupy", marks=[pytest.mark.gpu,
                 pytest.mark.skipif(_REASON is not None, reason=f"no CUDA: {_REASON}")]),
]


@pytest.fixture(params=DEVICES)
def device(request):
    """(ops, transport factory, to-host function) of the simulated device or of CuPy."""
    if request.param == "simulated":
        return B.resolve("numpy"), U.SimulatedTransport, numpy.array
    import cupy
    return B.resolve("cupy"), lambda: None, cupy.asnumpy


def data(n=103, sample_weight=True):
    rng = numpy.random.default_rng(3)
    x = rng.standard_normal((n, 6)).astype("float32")
    y = rng.integers(0, 5, size=n).astype("int64")
    sw = rng.random(n).astype("float32") if sample_weight else None
    return x, y, sw


def epoch(dd, batch_size, order, host):
    """Each batch as (step, lo, hi, host copies), copied when handed out (streamed buffers are reused)."""
    return [(b.step, b.lo, b.hi, tuple(None if a is None else host(a) for a in b.arrays))
            for b in dd.batches(batch_size, order)]


def assert_same_batches(a, b):
    assert [s[:3] for s in a] == [s[:3] for s in b]
    for (_, _, _, xs), (_, _, _, ys) in zip(a, b):
        for p, q in zip(xs, ys):
            assert (p is None) == (q is None)
            if p is not None:
                assert p.dtype == q.dtype
                numpy.testing.assert_array_equal(p, q)


@pytest.mark.real_gpu
@pytest.mark.parametrize("shuffle", [True, False], ids=["shuffled", "in-order"])
@pytest.mark.parametrize("sample_weight", [True, False], ids=["sw", "no-sw"])
def test_streamed_epochs_equal_resident_ones(device, shuffle, sample_weight):
    ops, transport, host = device
    arrays = data(sample_weight=sample_weight)
    resident = DeviceData(ops, arrays, mode="resident", transport=transport())
    streamed = DeviceData(ops, arrays, mode="stream", transport=transport())
    assert resident.resident and not streamed.resident
    rng = numpy.random.default_rng(4)
    for batch_size in (10, 10, 32, 103, 200):  # a partial last batch, slot reuse across epochs, one batch
        order = rng.permutation(103) if shuffle else None
        got, want = epoch(streamed, batch_size, order, host), epoch(resident, batch_size, order, host)
        assert_same_batches(got, want)
        x, y, sw = arrays
        rows = numpy.arange(103) if order is None else order
        numpy.testing.assert_array_equal(numpy.concatenate([b[3][0] for b in got]), x[rows])
        numpy.testing.assert_array_equal(numpy.concatenate([b[3][1] for b in got]), y[rows])
    streamed.close()


def test_streamed_slots_alternate_and_wait_for_the_step_that_read_them():
    """Every upload into a device slot comes after the side stream waited for the compute
    stream to pass the previous step on that slot; batches alternate between two slots."""
    tr = U.SimulatedTransport()
    dd = DeviceData(B.resolve("numpy"), data(), mode="stream", transport=tr)
    batches = [b.slot for b in dd.batches(10, numpy.arange(103)[::-1].copy())]
    assert batches == [i % 2 for i in range(11)]
    slots = dd._slots[10]
    device_ids = {id(d): s for s, slot in enumerate(slots) for d in slot["device"] if d is not None}
    consumed = {id(slot["consumed"]): s for s, slot in enumerate(slots)}
    last_side_wait = None
    uploads = 0
    for entry in tr.log:
        if entry[0] == "side_wait":
            last_side_wait = consumed[entry[1]]
        elif entry[0] == "upload" and entry[1] in device_ids:
            assert last_side_wait == device_ids[entry[1]], tr.log
            uploads += 1
    assert uploads == 11 * 3


def test_data_too_big_for_the_share_of_free_memory_is_streamed():
    x, y, sw = data()
    nbytes = x.nbytes + y.nbytes + sw.nbytes
    ops = B.resolve("numpy")
    assert resident_bytes((x, y, sw), False, lambda a: False) == nbytes
    assert resident_bytes((x, y, None), True, lambda a: False) == 2 * (x.nbytes + y.nbytes)
    fits = DeviceData(ops, (x, y, sw), shuffle=False, fraction=0.5, transport=U.SimulatedTransport(2 * nbytes))
    assert fits.resident and fits.needed == nbytes and fits.budget == nbytes
    over = DeviceData(ops, (x, y, sw), shuffle=True, fraction=0.5, transport=U.SimulatedTransport(2 * nbytes))
    assert not over.resident and over.needed == 2 * nbytes
    forced = DeviceData(ops, (x, y, sw), mode="resident", transport=U.SimulatedTransport(0))
    assert forced.resident


def test_numpy_backend_data_is_resident_in_place():
    x, y, sw = data()
    dd = DeviceData(B.resolve("numpy"), (x, y, sw))
    assert dd.resident and dd.arrays[0] is x and dd.arrays[2] is sw
    with pytest.raises(ValueError, match="mode='stream' needs a device to stream to"):
        DeviceData(B.resolve("numpy"), (x, y, sw), mode="stream")


def test_bad_arguments_say_what_was_expected():
    x, y, _ = data()
    ops = B.resolve("numpy")
    with pytest.raises(ValueError, match=r"same number of samples, received \[5, 103\]"):
        DeviceData(ops, (x, y[:5]))
    with pytest.raises(ValueError, match="mode must be one of"):
        DeviceData(ops, (x, y), mode="gpu")
    with pytest.raises(ValueError, match="at least one array"):
        DeviceData(ops, (None,))
    streamed = DeviceData(ops, (x, y), mode="stream", transport=U.SimulatedTransport())
    with pytest.raises(RuntimeError, match="this data is streamed batch by batch"):
        streamed.epoch_arrays()


def test_data_fraction_from_argument_environment_or_default(monkeypatch):
    monkeypatch.delenv(FRACTION_ENV, raising=False)
    assert data_fraction() == DEFAULT_FRACTION == 0.5
    monkeypatch.setenv(FRACTION_ENV, "0.25")
    assert data_fraction() == 0.25
    assert data_fraction(0.8) == 0.8
    monkeypatch.setenv(FRACTION_ENV, "lots")
    with pytest.raises(ValueError, match=f"{FRACTION_ENV} must be a number in \\(0, 1\\], received 'lots'"):
        data_fraction()
    with pytest.raises(ValueError, match=r"device_data_fraction must be a number in \(0, 1\], received 1.5"):
        data_fraction(1.5)
    with pytest.raises(ValueError, match="received 0"):
        data_fraction(0)


@pytest.mark.real_gpu
def test_training_on_streamed_batches_equals_training_on_resident_ones(device):
    """The same model trained batch by batch (train_on_batch) from a streamed and from a
    resident DeviceData ends with the same weights, bit for bit."""
    from gpunet.layers import Dense
    from gpunet.models import Sequential
    from gpunet.utils import set_random_seed
    ops, transport, host = device
    x, y, sw = data(n=96)
    y = (y > 2).astype("float32").reshape(-1, 1)
    weights = []
    for mode in ("resident", "stream"):
        set_random_seed(5)
        with B.use_backend(ops.name):
            model = Sequential([Dense(8, activation="relu", input_dim=6), Dense(1, activation="sigmoid")])
            model.compile(optimizer="adam", loss="binary_crossentropy")
            dd = DeviceData(ops, (x, y, sw), mode=mode, transport=transport())
            for order in (numpy.random.default_rng(6).permutation(96), None):
                for batch in dd.batches(16, order):
                    model.train_on_batch(*batch.arrays[:2], sample_weight=batch.arrays[2])
        weights.append([host(w) for w in model.get_weights()])
    for a, b in zip(*weights):
        numpy.testing.assert_array_equal(a, b)
