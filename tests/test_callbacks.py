"""Keras 2 callbacks: EarlyStopping, ReduceLROnPlateau, LearningRateScheduler, TerminateOnNaN,
CSVLogger, LambdaCallback, History."""
import numpy as np
import pytest

from gpunet.callbacks import (CSVLogger, EarlyStopping, LambdaCallback, LearningRateScheduler, ReduceLROnPlateau,
                              TerminateOnNaN)
from gpunet.layers import Dense
from gpunet.models import Sequential


def _model(loss="binary_crossentropy", metrics=("accuracy",)):
    model = Sequential([Dense(4, input_dim=3, activation="relu"), Dense(1, activation="sigmoid")])
    model.compile(loss=loss, optimizer="adam", metrics=list(metrics))
    return model


def _data(n=40):
    rng = np.random.RandomState(0)
    x = rng.rand(n, 3).astype("float32")
    return x, (x.sum(axis=1) > 1.5).astype("float32")


def _drive(callback, model, values, monitor="val_loss"):
    """Run the epoch hooks over a scripted monitor sequence; returns the epochs run and their logs."""
    callback.set_model(model)
    model.stop_training = False
    callback.on_train_begin()
    seen = []
    for epoch, value in enumerate(values):
        logs = {monitor: value}
        callback.on_epoch_end(epoch, logs)
        seen.append(logs)
        if model.stop_training:
            break
    callback.on_train_end()
    return seen


def _scripted(values, key="score"):
    """Puts values[epoch] into the epoch logs under `key`, for the callbacks after it."""
    return LambdaCallback(on_epoch_end=lambda epoch, logs: logs.__setitem__(key, values[epoch]))


# ---- EarlyStopping ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, values, ran, stopped", [
    ({"patience": 2}, [1.0, 0.9, 0.95, 0.96, 0.8], 4, 3),
    ({"patience": 0}, [1.0, 0.9, 0.95, 0.8], 3, 2),
    ({"patience": 0}, [3.0, 2.0, 1.0], 3, 0),
    ({"patience": 1, "min_delta": 0.05}, [1.0, 0.99, 0.9], 2, 1),
    ({"patience": 2, "baseline": 0.5}, [0.8, 0.9, 0.7], 2, 1),
    ({"patience": 2}, [0.8, 0.9, 0.7, 0.75, 0.8], 5, 4),
    ({"patience": 0, "start_from_epoch": 2}, [1.0, 2.0, 3.0, 4.0], 4, 3),
    ({"patience": 0}, [1.0, 2.0, 3.0, 4.0], 2, 1),
    ({"patience": 1, "mode": "max"}, [1.0, 2.0, 1.5], 3, 2),
    # mode="auto" maximizes names ending in acc / accuracy / auc
    ({"patience": 1, "monitor": "val_accuracy"}, [0.5, 0.6, 0.55, 0.9], 3, 2),
    ({"patience": 1, "monitor": "acc"}, [0.5, 0.6, 0.55, 0.9], 3, 2),
    ({"patience": 1, "monitor": "val_auc"}, [0.5, 0.6, 0.55, 0.9], 3, 2),
])
def test_early_stopping_stops_at_the_expected_epoch(kwargs, values, ran, stopped):
    cb = EarlyStopping(**kwargs)
    model = _model()
    seen = _drive(cb, model, values, kwargs.get("monitor", "val_loss"))
    assert len(seen) == ran and cb.stopped_epoch == stopped and model.stop_training == (stopped > 0)


def test_early_stopping_verbose_message(capsys):
    _drive(EarlyStopping(patience=1, verbose=1), _model(), [1.0, 1.0, 1.0])
    assert capsys.readouterr().out == "Epoch 2: early stopping\n"


def test_early_stopping_missing_monitor_warns_with_available_keys():
    cb = EarlyStopping(monitor="val_loss")
    cb.set_model(_model())
    cb.on_train_begin()
    with pytest.warns(RuntimeWarning, match="Early stopping conditioned on metric `val_loss` which is not "
                                            "available. Available metrics are: loss,accuracy"):
        cb.on_epoch_end(0, {"loss": 0.5, "accuracy": 0.5})


def test_early_stopping_unknown_mode_warns_and_uses_auto():
    with pytest.warns(RuntimeWarning, match="EarlyStopping mode 'maximum' is unknown"):
        cb = EarlyStopping(monitor="val_accuracy", mode="maximum", patience=0)
    assert len(_drive(cb, _model(), [0.5, 0.6, 0.4], "val_accuracy")) == 3


def test_early_stopping_is_reusable():
    cb = EarlyStopping(patience=0)
    model = _model()
    _drive(cb, model, [1.0, 2.0])
    assert len(_drive(cb, model, [5.0, 4.0, 3.0])) == 3 and cb.stopped_epoch == 0


@pytest.mark.parametrize("epochs, scores, best, stopped", [(8, [3.0, 1.0, 2.0, 2.5, 0.5, 0.1, 0.1, 0.1], 1, 3),
                                                          (3, [3.0, 1.0, 2.0], 1, 0)])
def test_early_stopping_restores_the_best_weights(capsys, epochs, scores, best, stopped):
    x, y = _data()
    model = _model()
    snapshots = []
    record = LambdaCallback(on_epoch_end=lambda epoch, logs: snapshots.append(model.get_weights()))
    cb = EarlyStopping(monitor="score", patience=2, restore_best_weights=True, verbose=1)
    model.fit(x, y, epochs=epochs, batch_size=8, verbose=0, callbacks=[_scripted(scores), record, cb])
    assert cb.stopped_epoch == stopped and cb.best_epoch == best
    restored = model.get_weights()
    for got, want in zip(restored, snapshots[best]):
        np.testing.assert_array_equal(got, want)
    assert not all(np.array_equal(a, b) for a, b in zip(restored, snapshots[-1]))
    expected = (f"Epoch {stopped + 1}: early stopping\n" if stopped else "") + \
        f"Restoring model weights from the end of the best epoch: {best + 1}.\n"
    assert capsys.readouterr().out == expected


# ---- ReduceLROnPlateau ------------------------------------------------------------------------------------------

def _lr_sequence(cb, values, lr=1.0, monitor="val_loss"):
    model = _model()
    model.optimizer.learning_rate = lr
    seen = _drive(cb, model, values, monitor)
    return [logs["lr"] for logs in seen], float(model.optimizer.learning_rate)


@pytest.mark.parametrize("kwargs, values, logged, final", [
    # Each epoch logs the rate it trained with: a reduction at epoch 2 shows from epoch 3.
    ({"factor": 0.5, "patience": 2}, [1.0] * 5, [1.0, 1.0, 1.0, 0.5, 0.5], 0.25),
    ({"factor": 0.5, "patience": 2}, [1.0, 1.0, 0.5, 0.5, 0.5], [1.0] * 5, 0.5),
    ({"factor": 0.5, "patience": 1, "min_delta": 0.1}, [1.0, 0.95, 0.8], [1.0, 1.0, 0.5], 0.5),
    ({"factor": 0.5, "patience": 2, "cooldown": 2}, [1.0] * 7, [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25], 0.25),
    ({"factor": 0.1, "patience": 1, "min_lr": 0.05}, [1.0] * 5, [1.0, 1.0, 0.1, 0.05, 0.05], 0.05),
    ({"factor": 0.5, "patience": 1, "monitor": "val_accuracy"}, [0.5, 0.6, 0.7, 0.7], [1.0] * 4, 0.5),
])
def test_reduce_lr_on_plateau(kwargs, values, logged, final):
    got_logged, got_final = _lr_sequence(ReduceLROnPlateau(**kwargs), values,
                                         monitor=kwargs.get("monitor", "val_loss"))
    assert got_logged == pytest.approx(logged, rel=1e-6) and got_final == pytest.approx(final, rel=1e-6)


def test_reduce_lr_on_plateau_verbose(capsys):
    _lr_sequence(ReduceLROnPlateau(factor=0.5, patience=1, verbose=1), [1.0, 1.0])
    assert capsys.readouterr().out == "\nEpoch 2: ReduceLROnPlateau reducing learning rate to 0.5.\n"


def test_reduce_lr_on_plateau_rejects_factor_1():
    with pytest.raises(ValueError, match="ReduceLROnPlateau does not support a factor >= 1.0. Got 1.0"):
        ReduceLROnPlateau(factor=1.0)


def test_reduce_lr_on_plateau_missing_monitor_warns():
    with pytest.warns(RuntimeWarning, match="Learning rate reduction conditioned on metric `val_loss` which is "
                                            "not available. Available metrics are: loss,lr"):
        _lr_sequence(ReduceLROnPlateau(), [1.0], monitor="loss")


def test_reduce_lr_on_plateau_in_fit_logs_lr():
    x, y = _data()
    history = _model().fit(x, y, epochs=3, verbose=0, callbacks=[ReduceLROnPlateau(monitor="loss")])
    assert history.history["lr"] == pytest.approx([0.001] * 3, rel=1e-6)


# ---- LearningRateScheduler ------------------------------------------------------------------------------------

def test_scheduler_two_argument_schedule():
    x, y = _data()
    model = _model()
    history = model.fit(x, y, epochs=3, verbose=0, callbacks=[LearningRateScheduler(lambda epoch, lr: lr * 0.5)])
    assert history.history["lr"] == pytest.approx([0.0005, 0.00025, 0.000125], rel=1e-6)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.000125)


def test_scheduler_one_argument_schedule(capsys):
    x, y = _data()
    model = _model()
    history = model.fit(x, y, epochs=2, verbose=0,
                        callbacks=[LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1), verbose=1)])
    assert history.history["lr"] == pytest.approx([0.1, 0.05], rel=1e-6)
    assert capsys.readouterr().out == ("\nEpoch 1: LearningRateScheduler setting learning rate to 0.1.\n"
                                       "\nEpoch 2: LearningRateScheduler setting learning rate to 0.05.\n")


def test_scheduler_rate_is_used_for_training():
    x, y = _data()
    model = _model()
    model.build((None, 3))
    before = model.get_weights()
    model.fit(x, y, epochs=2, verbose=0, callbacks=[LearningRateScheduler(lambda epoch: 0.0)])
    for got, want in zip(model.get_weights(), before):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("bad", ["0.1", None, [0.1]])
def test_scheduler_rejects_a_non_number(bad):
    x, y = _data()
    with pytest.raises(ValueError, match='The output of the "schedule" function should be float. Got: '):
        _model().fit(x, y, epochs=1, verbose=0, callbacks=[LearningRateScheduler(lambda epoch: bad)])


def test_scheduler_needs_a_function():
    with pytest.raises(TypeError, match="schedule must be a function schedule\\(epoch, lr\\), received 0.1"):
        LearningRateScheduler(0.1)


# ---- TerminateOnNaN ------------------------------------------------------------------------------------------------

def test_terminate_on_nan_stops_at_the_bad_batch(capsys, monkeypatch):
    monkeypatch.setenv("GPUNET_CHECK_FINITE", "0")  # the documented opt-out: fit refuses NaN data by default
    x, y = _data()
    x[9] = np.nan  # in batch 2 with batch_size=4 and no shuffling
    batches = []
    model = _model()
    history = model.fit(x, y, epochs=5, batch_size=4, shuffle=False, verbose=0,
                        callbacks=[TerminateOnNaN(), LambdaCallback(on_batch_end=lambda b, logs: batches.append(b))])
    assert capsys.readouterr().out == "Batch 2: Invalid loss, terminating training\n"
    assert batches == [0, 1, 2] and len(history.history["loss"]) == 1
    assert np.isnan(history.history["loss"][0])


def test_terminate_on_nan_ignores_finite_losses(capsys):
    history = _model().fit(*_data(), epochs=2, verbose=0, callbacks=[TerminateOnNaN()])
    assert len(history.history["loss"]) == 2 and capsys.readouterr().out == ""


# ---- CSVLogger ----------------------------------------------------------------------------------------------------

def _csv_rows(history, epochs, keys, sep=","):
    return [f"{e}" + "".join(f"{sep}{history.history[k][e]!r}" for k in keys) for e in epochs]


def test_csv_logger_writes_keras_format(tmp_path):
    path = tmp_path / "log.csv"
    x, y = _data()
    logger = CSVLogger(path)
    history = _model().fit(x, y, epochs=2, verbose=0, validation_split=0.25, callbacks=[logger])
    keys = ["accuracy", "loss", "val_accuracy", "val_loss"]
    expected = ["epoch,accuracy,loss,val_accuracy,val_loss"] + _csv_rows(history, range(2), keys)
    assert path.read_bytes().decode() == "".join(line + "\r\n" for line in expected)
    assert logger.csv_file is None  # closed at train end


def test_csv_logger_append_and_overwrite(tmp_path):
    path = tmp_path / "log.csv"
    x, y = _data()
    model = _model()
    first = model.fit(x, y, epochs=2, verbose=0, callbacks=[CSVLogger(str(path), separator=";")])
    second = model.fit(x, y, epochs=1, verbose=0, callbacks=[CSVLogger(str(path), separator=";", append=True)])
    keys = ["accuracy", "loss"]
    # without validation tf.keras 2.21 still writes val_ columns, left NA (observed with tf_keras)
    na = lambda rows, sep: [r + f"{sep}NA{sep}NA" for r in rows]  # noqa: E731
    assert path.read_text().splitlines() == (["epoch;accuracy;loss;val_accuracy;val_loss"]
                                             + na(_csv_rows(first, range(2), keys, ";"), ";")
                                             + na(_csv_rows(second, range(1), keys, ";"), ";"))
    third = model.fit(x, y, epochs=1, verbose=0, callbacks=[CSVLogger(path)])
    assert path.read_text().splitlines() == (["epoch,accuracy,loss,val_accuracy,val_loss"]
                                             + na(_csv_rows(third, range(1), keys), ","))


def test_csv_logger_append_to_a_new_file_writes_the_header(tmp_path):
    path = tmp_path / "new.csv"
    x, y = _data()
    history = _model(metrics=()).fit(x, y, epochs=1, verbose=0, callbacks=[CSVLogger(path, append=True)])
    assert path.read_text().splitlines() == ["epoch,loss,val_loss"] + [r + ",NA" for r in
                                                                       _csv_rows(history, range(1), ["loss"])]


def test_csv_logger_keeps_finished_rows_when_training_crashes(tmp_path):
    path = tmp_path / "log.csv"
    x, y = _data()
    logger = CSVLogger(path)

    def crash(epoch, logs):
        if epoch == 2:
            raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError, match="out of memory"):
        _model().fit(x, y, epochs=5, verbose=0, callbacks=[logger, LambdaCallback(on_epoch_end=crash)])
    lines = path.read_text().splitlines()
    assert lines[0] == "epoch,accuracy,loss,val_accuracy,val_loss" and [line.split(",")[0] for line in lines[1:]] == ["0", "1", "2"]


def test_csv_logger_val_columns_when_validation_starts_later(tmp_path):
    path = tmp_path / "log.csv"
    x, y = _data()
    history = _model().fit(x, y, epochs=2, verbose=0, validation_split=0.25, validation_freq=2,
                           callbacks=[CSVLogger(path)])
    lines = path.read_text().splitlines()
    assert lines[0] == "epoch,accuracy,loss,val_accuracy,val_loss"
    assert lines[1] == _csv_rows(history, [0], ["accuracy", "loss"])[0] + ",NA,NA"
    assert lines[2].endswith(f",{history.history['val_accuracy'][0]!r},{history.history['val_loss'][0]!r}")


@pytest.mark.parametrize("sep", ["", ";;", 1])
def test_csv_logger_rejects_a_bad_separator(tmp_path, sep):
    with pytest.raises(ValueError, match=f"separator must be a 1-character string, received {sep!r}"):
        CSVLogger(tmp_path / "log.csv", separator=sep)


# ---- LambdaCallback and History ----------------------------------------------------------------------------------

def test_lambda_callback_hooks_are_called_in_order():
    calls = []
    cb = LambdaCallback(on_train_begin=lambda logs: calls.append("train_begin"),
                        on_epoch_begin=lambda epoch, logs: calls.append(f"epoch_begin {epoch}"),
                        on_batch_begin=lambda batch, logs: calls.append(f"batch_begin {batch}"),
                        on_batch_end=lambda batch, logs: calls.append(f"batch_end {batch} {sorted(logs)}"),
                        on_epoch_end=lambda epoch, logs: calls.append(f"epoch_end {epoch} {sorted(logs)}"),
                        on_train_end=lambda logs: calls.append("train_end"))
    x, y = _data(8)
    _model().fit(x, y, epochs=2, batch_size=4, verbose=0, callbacks=[cb])
    epoch = ["batch_begin 0", "batch_end 0 ['accuracy', 'loss']", "batch_begin 1", "batch_end 1 ['accuracy', 'loss']"]
    assert calls == (["train_begin", "epoch_begin 0"] + epoch + ["epoch_end 0 ['accuracy', 'loss']", "epoch_begin 1"]
                     + epoch + ["epoch_end 1 ['accuracy', 'loss']", "train_end"])


def test_lambda_callback_other_hooks_by_keyword():
    calls = []
    cb = LambdaCallback(on_train_batch_end=lambda batch, logs: calls.append(batch),
                        on_test_end=lambda logs: calls.append(sorted(logs)))
    x, y = _data(8)
    model = _model()
    model.fit(x, y, epochs=1, batch_size=4, verbose=0, callbacks=[cb])
    model.evaluate(x, y, verbose=0, callbacks=[cb])
    assert calls == [0, 1, ["accuracy", "loss"]]


def test_lambda_callback_rejects_a_non_function():
    with pytest.raises(TypeError, match="LambdaCallback on_epoch_end must be a function, received 3"):
        LambdaCallback(on_epoch_end=3)


def test_history_with_validation_split():
    x, y = _data()
    history = _model().fit(x, y, epochs=3, verbose=0, validation_split=0.25)
    assert list(history.history) == ["loss", "accuracy", "val_loss", "val_accuracy"]
    assert all(len(v) == 3 for v in history.history.values()) and history.epoch == [0, 1, 2]


def test_base_logger_leaves_the_epoch_averages_as_they_are():
    """Keras 2's BaseLogger (a script may name it; tf.keras 2's raises KeyError 'metrics' at the first
    epoch's end): fit runs with it and History is what it is without it, the epoch's averages."""
    from gpunet.callbacks import BaseLogger
    from gpunet.utils import set_random_seed
    x, y = _data()
    runs = []
    for callbacks in ([], [BaseLogger(stateful_metrics=["accuracy"])]):
        set_random_seed(3)
        model = _model()
        seen = []
        record = LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(dict(logs)))
        history = model.fit(x, y, batch_size=8, epochs=3, validation_split=0.25, verbose=0,
                            callbacks=callbacks + [record]).history
        runs.append((history, seen))
    assert runs[0] == runs[1] and set(runs[0][0]) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    logger = BaseLogger(stateful_metrics=("accuracy",))
    assert logger.stateful_metrics == {"accuracy"} and BaseLogger().stateful_metrics == set()
