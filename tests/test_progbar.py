"""Progbar and ProgbarLogger: the exact text Keras 2 (tf.keras 2.x) prints."""
import io
import re
import sys

import numpy as np
import pytest

from gpunet.callbacks import CallbackList, ProgbarLogger, ReduceLROnPlateau
from gpunet.callbacks import progbar as progbar_module
from gpunet.callbacks.progbar import Progbar
from gpunet.layers import Dense
from gpunet.models import Sequential


class FakeClock:
    """Replaces the progress bar's clock: each call returns the next scripted time."""

    def __init__(self, *times, step=None):
        self.times = list(times)
        self.step = step
        self.now = 0.0

    def __call__(self):
        if self.times:
            self.now = self.times.pop(0)
        elif self.step is not None:
            self.now += self.step
        return self.now


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture(autouse=True)
def _plain_console(monkeypatch):
    """PyCharm's run console is treated as a terminal: keep the tests' stdout a plain stream."""
    monkeypatch.delenv("PYCHARM_HOSTED", raising=False)


@pytest.fixture
def clock(monkeypatch):
    def install(*times, step=None):
        fake = FakeClock(*times, step=step)
        monkeypatch.setattr(progbar_module, "_clock", fake)
        return fake
    return install


@pytest.fixture
def terminal(monkeypatch):
    """Call it in the test body: pytest's capture resets sys.stdout between setup and call."""
    def install():
        out = Terminal()
        monkeypatch.setattr(sys, "stdout", out)
        return out
    return install


def _model(metrics=("accuracy",)):
    model = Sequential([Dense(4, input_dim=3, activation="relu"), Dense(1, activation="sigmoid")])
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=list(metrics))
    return model


def _data(n=50):
    rng = np.random.RandomState(0)
    x = rng.rand(n, 3).astype("float32")
    return x, (x.sum(axis=1) > 1.5).astype("float32")


def _values(logs, keys):
    return "".join(f" - {k}: {logs[k]:.4f}" for k in keys)


# ---- Progbar, with a scripted clock -----------------------------------------------------------

def test_not_a_terminal_prints_only_the_final_line(capsys, clock):
    clock(0.0, *[0.1 * i for i in range(1, 11)])
    bar = Progbar(10)
    for i in range(1, 11):
        bar.update(i, [("loss", 1.0 / i)])
    expected_loss = sum(1.0 / i for i in range(1, 11)) / 10  # not stateful: averaged over steps
    assert capsys.readouterr().out == (
        f"10/10 [==============================] - 1s 100ms/step - loss: {expected_loss:.4f}\n")


def test_terminal_redraws_in_place_with_eta_and_throttles(terminal, clock):
    terminal = terminal()
    # Created at t=0; step 1 at t=1 (shown), step 2 at t=1.01 (within 0.05 s: skipped),
    # step 3 at t=3 (shown), step 10 at t=10 (final).
    clock(0.0, 1.0, 1.01, 3.0, 10.0)
    bar = Progbar(10, stateful_metrics=["loss"])
    bar.update(1, [("loss", 1.0)])
    bar.update(2, [("loss", 0.75)])
    bar.update(3, [("loss", 0.5)])
    bar.update(10, [("loss", 0.25)])
    first = " 1/10 [==>...........................] - ETA: 9s - loss: 1.0000"
    second = " 3/10 [========>.....................] - ETA: 7s - loss: 0.5000"
    last = "10/10 [==============================] - 10s 1s/step - loss: 0.2500"
    assert terminal.getvalue() == ("\r" + first
                                   + "\b" * len(first) + "\r" + second
                                   + "\b" * len(second) + "\r" + last + "\n")


def test_terminal_pads_a_shorter_line_over_a_longer_one(terminal, clock):
    terminal = terminal()
    clock(0.0, 1.0, 2.0)
    bar = Progbar(2)
    bar.update(1, [("loss", 123456.0)])
    bar.update(2, [("loss", -123456.0)])
    first = "1/2 [==============>...............] - ETA: 1s - loss: 123456.0000"
    last = "2/2 [==============================] - 2s 1s/step - loss: 0.0000e+00"
    assert terminal.getvalue() == "\r" + first + "\b" * len(first) + "\r" + last + " " * (len(first) - len(last)) + "\n"


@pytest.mark.parametrize("per_step, eta", [(7.0, "1:03"), (401.0, "1:00:09"), (0.5, "4s")])
def test_eta_formats(terminal, clock, per_step, eta):
    terminal = terminal()
    clock(0.0, per_step)
    Progbar(10).update(1)
    assert f" - ETA: {eta}" in terminal.getvalue()


@pytest.mark.parametrize("elapsed, shown", [(2.0, "1s/step"), (0.004, "2ms/step"), (0.00001, "5us/step"),
                                            (0.0, "0s/step")])
def test_time_per_step_units(capsys, clock, elapsed, shown):
    clock(0.0, elapsed)
    Progbar(2).update(2)
    assert capsys.readouterr().out.endswith(f"] - {elapsed:.0f}s {shown}\n")


def test_small_and_negative_values(capsys, clock):
    clock(0.0, 1.0)
    Progbar(1, stateful_metrics=["a", "b", "c"]).update(1, [("a", 0.0005), ("b", -0.25), ("c", 2.5)])
    assert capsys.readouterr().out == \
        "1/1 [==============================] - 1s 1s/step - a: 5.0000e-04 - b: -0.2500 - c: 2.5000\n"


def test_verbose_2_prints_one_summary_line(capsys, clock):
    clock(0.0, 0.5, 1.0, 2.0)
    bar = Progbar(4, verbose=2, stateful_metrics=["acc"])
    bar.update(2, [("acc", 0.5)])
    bar.update(4, [("acc", 0.75), ("neg", -0.5)])
    # tf.keras's verbose=2 compares the signed value with 1e-3, so negatives show as %.4e.
    assert capsys.readouterr().out == "4/4 - 1s - acc: 0.7500 - neg: -5.0000e-01 - 1s/epoch - 250ms/step\n"


def test_add_advances_by_steps(capsys, clock):
    clock(0.0, 0.3, 0.6)
    bar = Progbar(3)
    bar.add(1, [("loss", 1.0)])
    bar.add(2, [("loss", 0.25)])  # weighs 2 steps in the average: (1 + 2 * 0.25) / 3
    assert capsys.readouterr().out == "3/3 [==============================] - 1s 200ms/step - loss: 0.5000\n"


def test_verbose_0_prints_nothing(capsys, clock):
    clock(step=1.0)
    bar = Progbar(3, verbose=0)
    bar.update(1, [("loss", 1.0)])
    bar.update(3, [("loss", 0.5)])
    assert capsys.readouterr().out == ""


def test_unknown_target(terminal, clock):
    terminal = terminal()
    clock(0.0, 1.0, 2.0)
    bar = Progbar(None)
    bar.update(5)
    bar.update(9, finalize=True)
    assert terminal.getvalue().endswith("\r      9/Unknown - 2s 222ms/step\n")


@pytest.mark.parametrize("target", [-1, 2.5, "10"])
def test_bad_target(target):
    with pytest.raises(ValueError, match=re.escape(f"non-negative int or None, received {target!r}")):
        Progbar(target)


# ---- ProgbarLogger in fit / evaluate ---------------------------------------------------------------

_TIME = re.compile(r" - \d+s \d+(?:s|ms|us)/(step|sample)")
_TIME2 = re.compile(r" - \d+s( - .*) - \d+(?:s|ms|us)/epoch - \d+(?:s|ms|us)/step$")


def test_fit_verbose_1_not_a_terminal(capsys):
    x, y = _data()
    history = _model().fit(x, y, epochs=2, batch_size=10, validation_split=0.2)
    lines = capsys.readouterr().out.splitlines()
    keys = ["loss", "accuracy", "val_loss", "val_accuracy"]
    expected = []
    for epoch in range(2):
        logs = {k: history.history[k][epoch] for k in keys}
        expected += [f"Epoch {epoch + 1}/2", "4/4 [==============================] - T" + _values(logs, keys)]
    assert [_TIME.sub(" - T", line) for line in lines] == expected


def test_fit_one_epoch_prints_no_epoch_line(capsys):
    x, y = _data()
    history = _model().fit(x, y, epochs=1, batch_size=25)
    out = capsys.readouterr().out
    assert _TIME.sub(" - T", out) == "2/2 [==============================] - T" + \
        _values({k: v[0] for k, v in history.history.items()}, ["loss", "accuracy"]) + "\n"


def test_fit_verbose_2(capsys):
    x, y = _data()
    history = _model().fit(x, y, epochs=3, batch_size=16, verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0::2] == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]
    for epoch, line in enumerate(lines[1::2]):
        assert line.startswith("4/4 - ")
        match = _TIME2.search(line)
        assert match, line
        assert match.group(1) == _values({k: v[epoch] for k, v in history.history.items()}, ["loss", "accuracy"])


def test_fit_verbose_0_prints_nothing(capsys):
    x, y = _data()
    _model().fit(x, y, epochs=2, verbose=0, validation_split=0.2)
    _model().evaluate(x, y, verbose=0)
    assert capsys.readouterr().out == ""


def test_fit_on_a_terminal_redraws_with_eta(terminal, clock):
    terminal = terminal()
    clock(step=0.1)  # every batch is past the 0.05 s throttle, so every batch is drawn
    x, y = _data()
    _model().fit(x, y, epochs=1, batch_size=10, shuffle=False)
    out = terminal.getvalue()
    frames = out.split("\r")[1:]
    # The last batch is drawn with its ETA, then the epoch end draws the closing line.
    assert [f.split(" [")[0] for f in frames] == ["1/5", "2/5", "3/5", "4/5", "5/5", "5/5"]
    assert all(" - ETA: " in f for f in frames[:-1]) and " - ETA: " not in frames[-1]
    assert frames[-1].endswith("\n") and out.count("\n") == 1


def test_fit_progbar_shows_what_callbacks_add(capsys):
    x, y = _data()
    _model().fit(x, y, epochs=2, batch_size=25, callbacks=[ReduceLROnPlateau(monitor="loss")])
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].endswith(" - lr: 0.0010") and lines[3].endswith(" - lr: 0.0010")


def test_fit_with_a_sample_counting_progbar(capsys):
    x, y = _data()
    history = _model().fit(x, y, epochs=1, batch_size=16, callbacks=[ProgbarLogger()])
    assert _TIME.sub(lambda m: " - T/" + m.group(1), capsys.readouterr().out) == \
        "50/50 [==============================] - T/sample" + \
        _values({k: v[0] for k, v in history.history.items()}, ["loss", "accuracy"]) + "\n"


def test_evaluate_verbose_1(capsys):
    x, y = _data()
    model = _model()
    loss, acc = model.evaluate(x, y, batch_size=20, verbose=1)
    assert _TIME.sub(" - T", capsys.readouterr().out) == \
        f"3/3 [==============================] - T - loss: {loss:.4f} - accuracy: {acc:.4f}\n"


def test_batch_hooks_only_for_a_bar_on_a_terminal(terminal):
    model = _model()
    params = {"verbose": 1, "epochs": 1, "steps": 3, "batch_size": 1, "samples": 3, "do_validation": False}
    assert CallbackList([ProgbarLogger("steps")], model, params).wants_train_batches is False  # not a terminal
    terminal()
    assert CallbackList([ProgbarLogger("steps")], model, params).wants_train_batches is True
    assert CallbackList([ProgbarLogger("steps")], model, dict(params, verbose=2)).wants_train_batches is False


def test_bad_count_mode():
    with pytest.raises(ValueError, match=r"Unknown `count_mode`: 'batches'. Expected values are \['samples', 'steps'\]"):
        ProgbarLogger("batches")
