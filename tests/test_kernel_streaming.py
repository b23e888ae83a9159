"""fit with x streamed batch by batch (models/streaming.py) against x resident on the device:
the GPU step plan and the layer path, under the CPU emulation of the kernels, with the
upload's NumPy stand-in (upload.SimulatedTransport: copies land only when waited for)."""
import numpy
import pytest

import gpunet
from cuda_emulator import EmulatedCupyBackend, emulator  # noqa: F401 (fixture)
from gpunet import backend as B
from gpunet.backend import upload
from gpunet.backend.gpu_plan import GpuPlan
from gpunet.models import streaming
from plan_cases import CASES, data, model


def _fit(ops, case, monkeypatch, free_bytes, layer_path=False, **kwargs):
    transport = upload.SimulatedTransport(free_bytes=free_bytes)
    monkeypatch.setattr(upload, "transport_for", lambda o: transport)
    monkeypatch.setattr(streaming, "transport_for", lambda o: transport)
    x, y, sw = data(case)
    net = model(case, ops)
    if layer_path:  # (the layer path's streaming, batch by batch)
        net.compile(optimizer=gpunet.optimizers.Adam(learning_rate=0.01, clipnorm=1.0), loss=CASES[case][2],
                    metrics=CASES[case][3])
        net._train_plan = lambda: None
    seen = []
    cb = gpunet.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(logs["loss"]))
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(9)
        history = net.fit(x, y, sample_weight=sw, batch_size=CASES[case][5], epochs=3, verbose=0,
                          callbacks=[cb], **kwargs)
    return net, history.history, seen, transport


@pytest.mark.parametrize("layer_path", [False, True], ids=["plan", "layer-path"])
@pytest.mark.parametrize("case", ["pima", "softmax-sparse"])
def test_streamed_x_trains_exactly_as_resident(emulator, monkeypatch, case, layer_path):
    B.set_floatx("float64")
    ops = EmulatedCupyBackend(emulator)
    streamed = _fit(ops, case, monkeypatch, free_bytes=1024, layer_path=layer_path)
    assert streamed[3].queue, "x went through the double-buffered uploads"
    resident = _fit(ops, case, monkeypatch, free_bytes=1 << 40, layer_path=layer_path)
    assert isinstance(streamed[0]._plan, GpuPlan) != layer_path
    assert streamed[1] == resident[1] and streamed[2] == resident[2]
    for s, r in zip(streamed[0].get_weights(), resident[0].get_weights()):
        numpy.testing.assert_array_equal(s, r)


def test_device_data_fraction_argument(emulator, monkeypatch):
    """fit's device_data_fraction decides residency (here 1e-6 of 1 MB: streamed), and a value
    outside (0, 1] is refused by name before any training."""
    B.set_floatx("float64")
    ops = EmulatedCupyBackend(emulator)
    net, history, _, transport = _fit(ops, "pima", monkeypatch, free_bytes=1 << 20, device_data_fraction=1e-6)
    assert transport.queue and len(history["loss"]) == 3
    with pytest.raises(ValueError, match="device_data_fraction must be a number in \\(0, 1\\], received 1.5"):
        _fit(ops, "pima", monkeypatch, free_bytes=1 << 20, device_data_fraction=1.5)


@pytest.mark.parametrize("layer_path", [False, True], ids=["forward-plan", "layer-path"])
@pytest.mark.parametrize("case", ["pima", "softmax-sparse"])
def test_predict_and_evaluate_stream_x_that_does_not_fit(emulator, monkeypatch, case, layer_path):
    """predict and evaluate on host x above the device's share stream it batch by batch through
    the double-buffered uploads, and give what resident x gives, bit for bit (with batch
    callbacks too); an argument outside (0, 1] is refused by name."""
    B.set_floatx("float64")
    ops = EmulatedCupyBackend(emulator)
    x, y, sw = data(case)
    net = model(case, ops)
    if layer_path:  # a model nested as a layer: no forward plan, the layer path runs
        with B.use_backend(ops):
            net = gpunet.models.Sequential([net])
            net.compile(optimizer="adam", loss=CASES[case][2], metrics=CASES[case][3])
    results, seen = [], []
    for free in (1024, 1 << 40):
        transport = upload.SimulatedTransport(free_bytes=free)
        monkeypatch.setattr(upload, "transport_for", lambda o: transport)
        monkeypatch.setattr(streaming, "transport_for", lambda o: transport)
        cb = gpunet.callbacks.LambdaCallback(on_test_batch_end=lambda b, logs: seen.append((free, logs["loss"])))
        with B.use_backend(ops):
            got = (net.predict(x, batch_size=16, verbose=0),
                   net.evaluate(x, y, sample_weight=sw, batch_size=16, verbose=0, return_dict=True),
                   net.evaluate(x, y, sample_weight=sw, batch_size=16, verbose=0, callbacks=[cb], return_dict=True))
        copies = len(transport.queue)  # streamed: a copy per batch of each call; resident: a chunk per call
        assert copies >= 3 * 7 if free == 1024 else copies <= 3, (free, copies)
        results.append(got)
    numpy.testing.assert_array_equal(results[0][0], results[1][0])
    assert results[0][1] == results[1][1] == results[0][2] == results[1][2]
    assert [l for f, l in seen if f == 1024] == [l for f, l in seen if f != 1024] and len(seen) == 2 * 7
    assert (getattr(net, "_gpu_forward", None) or None) is None if layer_path else net._gpu_forward
    with pytest.raises(ValueError, match="device_data_fraction must be a number in \\(0, 1\\], received 0"):
        with B.use_backend(ops):
            net.predict(x, device_data_fraction=0)


@pytest.mark.parametrize("free", [1 << 40, 1024], ids=["resident", "streamed"])
@pytest.mark.parametrize("where", ["x-train", "x-validation", "y-train", "y-validation"])
def test_nan_in_host_data_is_refused_naming_the_users_row(emulator, monkeypatch, free, where):
    """On a GPU, host x and y are checked for NaN and inf once uploaded (a sum on the device,
    no pass over the data on the host) unless x streams; either way the error names the row of
    the caller's array, in the training or the validation part, before any weight changes."""
    from gpunet.backend import input_checks
    B.set_floatx("float64")
    ops = EmulatedCupyBackend(emulator)
    transport = upload.SimulatedTransport(free_bytes=free)
    monkeypatch.setattr(upload, "transport_for", lambda o: transport)
    monkeypatch.setattr(streaming, "transport_for", lambda o: transport)
    host_passes = []
    real = input_checks.check_finite
    monkeypatch.setattr(input_checks, "check_finite", lambda o, a, what: (host_passes.append(what), real(o, a, what)))
    x, y, _ = data("pima")
    row = 97 if where.endswith("validation") else 12  # 101 samples: rows 80 on are validation_split=0.2's
    if where.startswith("x"):
        x = x.copy()
        x[row, 3] = numpy.nan
    else:
        y = y.copy()
        y[row, 0] = numpy.inf
    net = model("pima", ops)
    before = [w.copy() for w in net.get_weights()]
    name, kind = ("x", "NaN") if where.startswith("x") else ("y", "inf")
    with B.use_backend(ops), pytest.raises(ValueError, match=f"^{name} holds {kind} at row {row} \\(1 row"):
        net.fit(x, y, batch_size=10, epochs=1, verbose=0, validation_split=0.2)
    for b, a in zip(before, net.get_weights()):
        numpy.testing.assert_array_equal(b, a)
    searched = [w for w in host_passes if w in ("x", "y")]
    assert searched == ([name] if free == 1 << 40 else (["x"] if name == "x" else ["x", "y"]))
