"""A progress bar on a terminal (Keras's default, verbose=1) looks at every training batch but
draws at most every 0.05 s: its batch logs come as `DeferredLogs`, tallied only for the batches
a redraw shows, so the loss and metrics are not computed (on a GPU: waited for) per batch. What
it draws, the epoch logs and the training are those of a bar that reads every batch."""
import io
import sys

import numpy
import pytest

import gpunet
from cuda_emulator import EmulatedCupyBackend, emulator  # noqa: F401 (fixture)
from gpunet import backend as B
from gpunet.backend import epoch_tally
from gpunet.callbacks import LambdaCallback
from gpunet.callbacks import progbar as progbar_module
from gpunet.callbacks.base import DeferredLogs
from gpunet.layers import BatchNormalization, Dense
from gpunet.models import Sequential


_TALLY_ADD = epoch_tally.EpochTally.add


class Terminal(io.StringIO):
    def isatty(self):
        return True


class Clock:
    def __init__(self, step):
        self.now, self.step = 0.0, step

    def __call__(self):
        self.now += self.step
        return self.now


def _fit(monkeypatch, clock_step, ops=None, layer_path=False, callbacks=(), verbose=1):
    """A Pima-sized fit on a terminal whose clock advances ``clock_step`` per reading: (History,
    the last frame drawn, how many times the epoch tally ran, the weights)."""
    monkeypatch.setattr(progbar_module, "_clock", Clock(clock_step))
    monkeypatch.delenv("PYCHARM_HOSTED", raising=False)
    out = Terminal()
    monkeypatch.setattr(sys, "stdout", out)
    adds = []
    monkeypatch.setattr(epoch_tally.EpochTally, "add", lambda self, lo, hi: (adds.append((lo, hi)),
                                                                              _TALLY_ADD(self, lo, hi))[1])
    rng = numpy.random.default_rng(2)
    x, y = rng.standard_normal((95, 8)), (rng.random((95, 1)) > 0.5) * 1.0
    with B.use_backend(ops or B.resolve("numpy")):
        gpunet.utils.set_random_seed(5)
        layers = [Dense(12, input_dim=8, activation="relu"), Dense(1, activation="sigmoid")]
        if layer_path:  # a frozen BatchNormalization: no plan takes it
            layers.insert(1, BatchNormalization(trainable=False))
        net = Sequential(layers)
        net.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        gpunet.utils.set_random_seed(9)
        history = net.fit(x, y, batch_size=5, epochs=2, verbose=verbose, callbacks=list(callbacks)).history
    monkeypatch.setattr(sys, "stdout", sys.__stdout__)
    frames = out.getvalue().replace("\b", "").split("\r")
    return history, frames, adds, net.get_weights(), net


@pytest.mark.parametrize("path", ["numpy-plan", "layer-path"])
def test_a_throttled_bar_tallies_only_what_it_draws_and_trains_the_same(monkeypatch, path):
    B.set_floatx("float64")
    lazy = _fit(monkeypatch, 0.01, layer_path=path == "layer-path")  # a redraw every 5 batches or so
    every = _fit(monkeypatch, 1.0, layer_path=path == "layer-path")  # every batch is drawn
    silent = _fit(monkeypatch, 1.0, layer_path=path == "layer-path", verbose=0)
    assert lazy[0] == every[0] == silent[0]
    for a, b in zip(lazy[3], silent[3]):
        numpy.testing.assert_array_equal(a, b)
    drawn = [f for f in lazy[1] if "/19 [" in f]
    assert 2 * 2 < len(drawn) < 2 * 19, "some batches drawn, not all"
    assert lazy[1][-1].endswith(every[1][-1].split(" - ", 2)[-1])  # the closing line's values
    if path == "numpy-plan":
        assert isinstance(lazy[4]._plan, gpunet.backend.dense_plan.DensePlan)
        assert len(every[2]) == 2 * 19 and len(lazy[2]) < len(every[2]), (len(lazy[2]), len(every[2]))
        ends = [0]  # each epoch's batches tallied in order, each once, in runs that end where the next starts
        for lo, hi in lazy[2]:
            assert lo == (ends[-1] if lo else 0) and hi > lo
            ends.append(hi)
        assert ends.count(95) == 2
    # each drawn frame shows the running loss up to its batch, as an every-batch bar draws it
    every_by_step = _by_epoch_and_step(every[1])
    lazy_by_step = _by_epoch_and_step(lazy[1])
    assert lazy_by_step and all(every_by_step[key] == values for key, values in lazy_by_step.items())


def _by_epoch_and_step(frames):
    """{(epoch, step): the values drawn} of a fit's progress-bar frames (ETA frames only)."""
    found, epoch, last = {}, 0, 0
    for frame in frames:
        if "ETA" not in frame:
            continue
        step = int(frame.strip().split("/")[0])
        epoch, last = epoch + (step <= last), step
        found[epoch, step] = frame.split(" - loss")[1].rstrip()  # (padding depends on the line before)
    return found


def test_a_callback_that_reads_batches_gets_a_dict_every_batch(monkeypatch):
    B.set_floatx("float64")
    seen = []
    log = LambdaCallback(on_batch_end=lambda batch, logs: seen.append(logs))
    history, _, adds, _, _ = _fit(monkeypatch, 0.01, callbacks=[log])
    assert len(seen) == 2 * 19 and all(type(logs) is dict for logs in seen)
    assert len(adds) == 2 * 19  # tallied batch by batch, as before
    assert seen[18]["loss"] == pytest.approx(history["loss"][0], rel=1e-12)


def test_deferred_logs_resolve_once():
    calls = []
    logs = DeferredLogs(lambda: calls.append(1) or {"loss": 0.5})
    assert logs.resolve() == {"loss": 0.5} and logs.resolve() is logs.resolve() and calls == [1]


def test_on_the_gpu_plan_a_throttled_bar_reads_the_device_only_when_it_draws(emulator, monkeypatch):
    """...and the full batches run 16 to a host call (one graph replay on a GPU), their hooks
    around the run, as without a bar."""
    from gpunet.backend.gpu_plan import GpuPlan
    B.set_floatx("float64")
    runs, real_run_steps = [], GpuPlan.run_steps
    monkeypatch.setattr(GpuPlan, "run_steps", lambda self, first, count: (runs.append((first, count)),
                                                                          real_run_steps(self, first, count))[1])
    ops = EmulatedCupyBackend(emulator)
    before = ops.host_reads
    lazy = _fit(monkeypatch, 0.01, ops=ops)
    lazy_reads = ops.host_reads - before
    every = _fit(monkeypatch, 1.0, ops=ops)
    every_reads = ops.host_reads - before - lazy_reads
    assert isinstance(lazy[4]._plan, gpunet.backend.gpu_plan.GpuPlan)
    assert lazy[0] == every[0]
    assert lazy_reads < every_reads / 2, (lazy_reads, every_reads)
    # 95 samples in batches of 5: 19 full batches an epoch, run 16 then 3 per host call, both fits
    assert runs == [(0, 16), (16, 3)] * 4


@pytest.mark.parametrize("path", ["numpy", "gpu-forward-plan"])
def test_evaluate_on_a_terminal_tallies_only_what_the_bar_draws(emulator, monkeypatch, path):
    B.set_floatx("float64")
    ops = EmulatedCupyBackend(emulator) if path == "gpu-forward-plan" else B.resolve("numpy")
    _, _, _, _, net = _fit(monkeypatch, 1.0, ops=ops, verbose=0)
    rng = numpy.random.default_rng(3)
    x, y = rng.standard_normal((95, 8)), (rng.random((95, 1)) > 0.5) * 1.0
    results = {}
    for name, step, verbose in (("lazy", 0.01, 1), ("every", 1.0, 1), ("silent", 1.0, 0)):
        monkeypatch.setattr(progbar_module, "_clock", Clock(step))
        out = Terminal()
        monkeypatch.setattr(sys, "stdout", out)
        adds = []
        monkeypatch.setattr(epoch_tally.EpochTally, "add", lambda self, lo, hi: (adds.append((lo, hi)),
                                                                                  _TALLY_ADD(self, lo, hi))[1])
        with B.use_backend(ops):
            scores = net.evaluate(x, y, batch_size=5, verbose=verbose)
        monkeypatch.setattr(sys, "stdout", sys.__stdout__)
        results[name] = (scores, adds, _by_epoch_and_step(out.getvalue().replace("\b", "").split("\r")))
    assert results["lazy"][0] == results["every"][0] == results["silent"][0]
    if path == "gpu-forward-plan":
        assert len(results["every"][1]) == 19 and 1 < len(results["lazy"][1]) < 19 and results["silent"][1] == [(0, 95)]
    lazy_frames = results["lazy"][2]
    assert lazy_frames and all(results["every"][2][key] == v for key, v in lazy_frames.items())


@pytest.mark.parametrize("layer_path", [False, True], ids=["plan", "layer-path"])
def test_a_streamed_epoch_defers_the_bars_logs_too(emulator, monkeypatch, layer_path):
    """x above the device share streams batch by batch (models/streaming.py): the bar's logs are
    deferred there as well, and training is that of resident data with a bar drawing every batch."""
    from gpunet.backend import upload
    from gpunet.models import streaming
    B.set_floatx("float64")
    results, streamed_epochs, real_run_epoch = [], [], streaming.run_epoch
    monkeypatch.setattr(streaming, "run_epoch", lambda *a: (streamed_epochs.append(1), real_run_epoch(*a))[1])
    for free, step in ((256, 0.01), (1 << 40, 1.0)):  # streamed with a throttled bar; resident, every batch
        transport = upload.SimulatedTransport(free_bytes=free)
        monkeypatch.setattr(upload, "transport_for", lambda o: transport)
        monkeypatch.setattr(streaming, "transport_for", lambda o: transport)
        before = len(streamed_epochs)
        results.append(_fit(monkeypatch, step, ops=EmulatedCupyBackend(emulator), layer_path=layer_path)
                       + (len(streamed_epochs) > before,))
    (streamed, *_, was_streamed), (resident, *_, was_resident) = results[0], results[1]
    assert was_streamed and not was_resident
    assert streamed == resident
    assert len(results[0][2]) < len(results[1][2]) or layer_path  # fewer tallies when deferred (plan)
    lazy = _by_epoch_and_step(results[0][1])
    assert lazy and all(_by_epoch_and_step(results[1][1])[key] == v for key, v in lazy.items())


@pytest.mark.parametrize("chunk", [1, 64, 1000])
def test_a_host_tally_in_chunks_of_whole_batches_gives_the_epochs_values(monkeypatch, chunk):
    """The NumPy plan's tally takes an epoch some CHUNK_VALUES outputs at a time (a wide output's loss over the
    whole epoch left the cache): a batch (1), several (64: 3 batches of 5 by 4 outputs, a short one last), or the
    epoch at once, the same logs and the same losses per batch, bit for bit."""
    def run(values):
        monkeypatch.setattr(epoch_tally, "CHUNK_VALUES", values)
        rng = numpy.random.default_rng(3)
        x, y = rng.standard_normal((47, 6)), rng.random((47, 4))
        spans = []
        monkeypatch.setattr(epoch_tally.EpochTally, "_add", lambda self, lo, hi, add=epoch_tally.EpochTally._add:
                            (spans.append((lo, hi)), add(self, lo, hi))[1])
        with B.use_backend(B.resolve("numpy")):  # (a GPU plan's tally takes the epoch at once)
            gpunet.utils.set_random_seed(5)
            net = Sequential([Dense(9, input_dim=6, activation="relu"), Dense(4, activation="sigmoid")])
            net.compile(optimizer="adam", loss="binary_crossentropy", metrics=["mae", "accuracy"])
            history = net.fit(x, y, batch_size=5, epochs=2, verbose=0).history
        monkeypatch.undo()
        return history, spans

    whole, spans = run(1 << 16)
    chunked, chunk_spans = run(chunk)
    assert spans == [(0, 47)] * 2
    rows = {1: 5, 64: 15, 1000: 47}[chunk]
    assert chunk_spans == [(lo, min(47, lo + rows)) for lo in range(0, 47, rows)] * 2
    assert chunked == whole
