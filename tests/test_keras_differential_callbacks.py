"""What a Keras user sees while training, against tf.keras 2.21 (tf_keras) observed on the same
programs (same weights, shuffle=False): the hooks and their logs, predict's progress bar and
callbacks, train_on_batch's running loss, the LR callbacks' messages and CSVLogger's file.

The constants marked "tf.keras 2.21" were printed by tf_keras 2.21 running the same program; the
tests never import it. Each case runs on the fused NumPy step and on the layer-by-layer path."""
import re
import sys

import numpy
import pytest

from cuda_emulator import emulator  # noqa: F401 (fixture)
from gpunet import backend as K
from gpunet.callbacks import CSVLogger, Callback, LambdaCallback, LearningRateScheduler, ReduceLROnPlateau
from gpunet.layers import Dense
from gpunet.models import Sequential
from gpunet.optimizers import SGD

_RNG = numpy.random.RandomState(0)
X = _RNG.rand(50, 4).astype("float32")
Y = (X.sum(1) > 2).astype("float32").reshape(-1, 1)
XV = _RNG.rand(20, 4).astype("float32")
YV = (XV.sum(1) > 2).astype("float32").reshape(-1, 1)
WEIGHTS = [numpy.random.RandomState(1).uniform(-0.5, 0.5, s).astype("float32") for s in [(4, 5), (5,), (5, 1), (1,)]]


def _bce(y_true, y_pred):
    """binary cross-entropy written as a user's loss: the model then trains layer by layer."""
    p = K.clip(y_pred, 1e-7, 1 - 1e-7)
    return -K.mean(y_true * K.log(p) + (1 - y_true) * K.log(1 - p), axis=-1)


PATHS = {"fused": "binary_crossentropy", "layer-path": _bce}


def _model(path="fused", metrics=("accuracy",), lr=0.1):
    model = Sequential([Dense(5, activation="relu", input_shape=(4,)), Dense(1, activation="sigmoid")])
    model.set_weights(WEIGHTS)
    model.compile(optimizer=SGD(learning_rate=lr), loss=PATHS[path], metrics=list(metrics))
    return model


class Recorder(Callback):
    """Every hook with its argument and the sorted keys of its logs (None when given None)."""

    def __init__(self):
        super().__init__()
        self.events = []

    def _add(self, hook, *args):
        *index, logs = args
        self.events.append((hook, *index, None if logs is None else sorted(logs)))
        if logs is not None and "outputs" in logs:
            self.outputs.append(logs["outputs"])

    outputs = None


for _hook in ("on_train_begin", "on_train_end", "on_test_begin", "on_test_end", "on_predict_begin", "on_predict_end"):
    setattr(Recorder, _hook, (lambda h: lambda self, logs=None: self._add(h, logs))(_hook))
for _hook in ("on_epoch_begin", "on_epoch_end", "on_train_batch_begin", "on_train_batch_end", "on_test_batch_begin",
              "on_test_batch_end", "on_predict_batch_begin", "on_predict_batch_end"):
    setattr(Recorder, _hook, (lambda h: lambda self, i, logs=None: self._add(h, i, logs))(_hook))

# tf.keras 2.21: fit(X, Y, batch_size=20, epochs=1, validation_data=(XV, YV)), then evaluate(XV, YV,
# batch_size=10) and predict(XV, batch_size=10), one Recorder passed to all three. Every hook gets a
# dict (never None), the batch-begin hooks an empty one, and validation runs the on_test_* hooks.
LV = ["accuracy", "loss"]
TF_HOOKS = [
    ("on_train_begin", []), ("on_epoch_begin", 0, []),
    ("on_train_batch_begin", 0, []), ("on_train_batch_end", 0, LV),
    ("on_train_batch_begin", 1, []), ("on_train_batch_end", 1, LV),
    ("on_train_batch_begin", 2, []), ("on_train_batch_end", 2, LV),
    ("on_test_begin", []), ("on_test_batch_begin", 0, []), ("on_test_batch_end", 0, LV), ("on_test_end", LV),
    ("on_epoch_end", 0, ["accuracy", "loss", "val_accuracy", "val_loss"]),
    ("on_train_end", ["accuracy", "loss", "val_accuracy", "val_loss"]),
    ("on_test_begin", []), ("on_test_batch_begin", 0, []), ("on_test_batch_end", 0, LV),
    ("on_test_batch_begin", 1, []), ("on_test_batch_end", 1, LV), ("on_test_end", LV),
    ("on_predict_begin", []), ("on_predict_batch_begin", 0, []), ("on_predict_batch_end", 0, ["outputs"]),
    ("on_predict_batch_begin", 1, []), ("on_predict_batch_end", 1, ["outputs"]), ("on_predict_end", []),
]


@pytest.mark.parametrize("path", PATHS)
def test_hooks_and_their_logs_are_tf_keras(path):
    model, rec = _model(path), Recorder()
    rec.outputs = []
    model.fit(X, Y, batch_size=20, epochs=1, verbose=0, shuffle=False, validation_data=(XV, YV), callbacks=[rec])
    model.evaluate(XV, YV, batch_size=10, verbose=0, callbacks=[rec])
    predicted = model.predict(XV, batch_size=10, verbose=0, callbacks=[rec])
    assert rec.events == TF_HOOKS
    # on_predict_batch_end's "outputs": that batch's rows of the result, as NumPy
    assert [o.shape for o in rec.outputs] == [(10, 1), (10, 1)]
    numpy.testing.assert_array_equal(numpy.concatenate(rec.outputs), predicted)


def test_validation_freq_as_a_list_validates_after_those_epochs():
    # tf.keras 2.21: validation_freq=[1, 3] over 4 epochs validates after epochs 1 and 3 (indices 0, 2)
    rec = Recorder()
    history = _model().fit(X, Y, batch_size=25, epochs=4, verbose=0, shuffle=False, validation_data=(XV, YV),
                           validation_freq=[1, 3], callbacks=[rec])
    ends = [(e[1], "val_loss" in e[2]) for e in rec.events if e[0] == "on_epoch_end"]
    assert ends == [(0, True), (1, False), (2, True), (3, False)]
    assert sum(e[0] == "on_test_begin" for e in rec.events) == 2 and len(history.history["val_loss"]) == 2


def test_lambda_callback_gets_dicts():
    seen = []
    cb = LambdaCallback(on_train_begin=lambda logs: seen.append(logs), on_epoch_begin=lambda e, logs: seen.append(logs),
                        on_batch_begin=lambda b, logs: seen.append(logs))
    _model().fit(X, Y, batch_size=25, epochs=1, verbose=0, callbacks=[cb])
    assert seen == [{}, {}, {}, {}]  # tf.keras 2.21: train begin, epoch begin, two batch begins


# ---- printed output --------------------------------------------------------------------------------------------
# tf.keras 2.21, predict(X, batch_size=10) on 50 samples (final line; times vary):
TF_PREDICT_1 = r"5/5 \[==============================\] - \d+s \d+(us|ms|s)/step\n"
TF_PREDICT_2 = r"5/5 - \d+s - \d+(us|ms|s)/epoch - \d+(us|ms|s)/step\n"
# tf.keras 2.21 on a terminal: the first frame of that bar
TF_PREDICT_FIRST_FRAME = "\r1/5 [=====>........................] - ETA: "


@pytest.mark.parametrize("verbose, pattern", [(1, TF_PREDICT_1), ("auto", TF_PREDICT_1), (2, TF_PREDICT_2),
                                              (0, "")])
@pytest.mark.parametrize("source", ["array", "generator"])
def test_predict_prints_tf_keras_bar(capsys, verbose, pattern, source):
    model = _model()
    x = X if source == "array" else (X[i:i + 10] for i in range(0, 50, 10))
    out = model.predict(x, batch_size=10, verbose=verbose)
    assert out.shape == (50, 1)
    assert re.fullmatch(pattern, capsys.readouterr().out)


def test_predict_bar_on_a_terminal(monkeypatch):
    class Terminal:
        text = ""

        def write(self, s):
            self.text += s

        def flush(self):
            pass

        def isatty(self):
            return True

    term = Terminal()
    monkeypatch.setattr(sys, "stdout", term)
    _model().predict(X, batch_size=10, verbose=1)
    monkeypatch.setattr(sys, "stdout", sys.__stdout__)
    assert term.text.startswith(TF_PREDICT_FIRST_FRAME)
    assert re.fullmatch(TF_PREDICT_1, term.text.split("\r")[-1])


# tf.keras 2.21, evaluate(generator of 5 batches, no steps, verbose=1 / 2)
TF_EVAL_GEN = {1: r"5/5 \[==============================\] - \d+s \d+(us|ms|s)/step - loss: \d\.\d{4} - "
                  r"accuracy: \d\.\d{4}\n",
               2: r"5/5 - \d+s - loss: \d\.\d{4} - accuracy: \d\.\d{4} - \d+(us|ms|s)/epoch - \d+(us|ms|s)/step\n"}


@pytest.mark.parametrize("verbose", [1, 2])
def test_evaluate_on_a_generator_prints_tf_keras_bar(capsys, verbose):
    batches = ((X[i:i + 10], Y[i:i + 10]) for i in range(0, 50, 10))
    _model().evaluate(batches, verbose=verbose)
    assert re.fullmatch(TF_EVAL_GEN[verbose], capsys.readouterr().out)


# ---- return values ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("method", ["train_on_batch", "test_on_batch"])
def test_on_batch_without_reset_averages_the_loss_over_batches(path, method):
    """tf.keras keeps the loss in a Mean metric weighted by batch size: with reset_metrics=False the
    returned loss is the running mean (tf.keras 2.21 gave 0.6916 where the batch alone gives 0.6932)."""
    a, b = (X[:10], Y[:10]), (X[10:30], Y[10:30])
    model, twin = _model(path), _model(path)
    first = getattr(model, method)(*a)
    second = getattr(model, method)(*b, reset_metrics=False)
    getattr(twin, method)(*a)
    alone = getattr(twin, method)(*b)  # the same weights as `model` had for b, metrics reset
    assert second[0] == pytest.approx((first[0] * 10 + alone[0] * 20) / 30, rel=1e-6)
    assert second[1] == pytest.approx((first[1] * 10 + alone[1] * 20) / 30, rel=1e-6)
    model.reset_metrics()
    assert getattr(model, method)(*b, reset_metrics=False, return_dict=True)["loss"] != second[0]


def test_csv_rows_are_the_logged_values_as_python_writes_them(tmp_path):
    """tf.keras 2.21 writes each value as str() of the Python float it logged (``0,0.5199999809265137,...``)."""
    history = _model().fit(X, Y, batch_size=10, epochs=2, verbose=0, shuffle=False, validation_data=(XV, YV),
                           callbacks=[CSVLogger(tmp_path / "log.csv")])
    lines = (tmp_path / "log.csv").read_bytes().decode().split("\r\n")
    assert lines[0] == "epoch,accuracy,loss,val_accuracy,val_loss" and lines[-1] == ""
    assert [line.split(",") for line in lines[1:-1]] == [[str(e)] + [str(history.history[k][e]) for k in
                                                                     sorted(history.history)] for e in range(2)]


# tf.keras 2.21: CSVLogger without validation still writes val_ columns (left NA)
TF_CSV_NO_VALIDATION = "epoch;accuracy;loss;val_accuracy;val_loss"


def test_csv_logger_without_validation_writes_na_val_columns(tmp_path):
    path = tmp_path / "log.csv"
    _model().fit(X, Y, batch_size=10, epochs=2, verbose=0, callbacks=[CSVLogger(path, separator=";")])
    lines = path.read_text().splitlines()
    assert lines[0] == TF_CSV_NO_VALIDATION and all(line.endswith(";NA;NA") for line in lines[1:])


# ---- learning-rate callbacks ------------------------------------------------------------------------------------
# tf.keras 2.21 reads the rate from a float32 variable and prints what it computes from it
TF_SCHEDULER = ("\nEpoch 1: LearningRateScheduler setting learning rate to 0.10000000149011612.\n"
                "\nEpoch 2: LearningRateScheduler setting learning rate to 0.05000000074505806.\n")
TF_REDUCE = ("\nEpoch 2: ReduceLROnPlateau reducing learning rate to 0.05000000074505806.\n"
             "\nEpoch 3: ReduceLROnPlateau reducing learning rate to 0.02.\n")


def test_scheduler_passes_and_prints_the_float32_rate(capsys):
    history = _model(lr=0.2).fit(X, Y, batch_size=10, epochs=2, verbose=0,
                                 callbacks=[LearningRateScheduler(lambda epoch, lr: lr * 0.5, verbose=1)])
    assert capsys.readouterr().out == TF_SCHEDULER
    assert history.history["lr"] == [float(numpy.float32(0.1)), float(numpy.float32(0.05))]


def test_scheduler_rejects_a_non_float_as_tf_keras():
    with pytest.raises(ValueError, match='^The output of the "schedule" function should be float. Got: x$'):
        _model().fit(X, Y, epochs=1, verbose=0, callbacks=[LearningRateScheduler(lambda epoch: "x")])


def test_reduce_lr_prints_the_float32_rate(capsys):
    cb = ReduceLROnPlateau(monitor="loss", factor=0.1, patience=0, min_lr=0.02, min_delta=10, verbose=1)
    model = _model(lr=0.5)
    history = model.fit(X, Y, batch_size=10, epochs=3, verbose=0, callbacks=[cb])
    assert capsys.readouterr().out == TF_REDUCE
    # logged before each epoch's reduction, float32 as tf.keras 2.21 logs it (np.float32(0.05))
    assert history.history["lr"] == [0.5, 0.5, float(numpy.float32(0.05))]


def test_predict_hooks_on_the_gpu_forward_plan(emulator):
    """On a GPU, predict with a callback looking at batches runs the inference plan batch by batch
    (each batch's rows into one device array); the outputs are those of the one-launch route."""
    from cuda_emulator import EmulatedCupyBackend
    from gpunet.models.plan_inference import forward_plan
    with K.use_backend(EmulatedCupyBackend(emulator)):
        model, rec = _model(), Recorder()
        rec.outputs = []
        plain = model.predict(XV, batch_size=8, verbose=0)
        hooked = model.predict(XV, batch_size=8, verbose=0, callbacks=[rec])
        assert forward_plan(model, model.ops.asarray(XV)) is not None  # the plan served both
    assert [o.shape for o in rec.outputs] == [(8, 1), (8, 1), (4, 1)]
    numpy.testing.assert_array_equal(hooked, plain)
    numpy.testing.assert_array_equal(numpy.concatenate(rec.outputs), plain)
