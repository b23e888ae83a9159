"""ModelCheckpoint: Keras 2's file templates, best-only saving, folder checks before training."""
import os

import numpy as np
import pytest

from gpunet.callbacks import Callback
from gpunet.callbacks.checkpoint import ModelCheckpoint
from gpunet.layers import Dense
from gpunet.models import Sequential, load_model

RNG = np.random.RandomState(6)
X = RNG.rand(60, 4).astype("float32")
Y = (X.sum(1) > 2).astype("float32")


def model_():
    model = Sequential([Dense(6, input_dim=4, activation="relu"), Dense(1, activation="sigmoid")])
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


class EpochCounter(Callback):
    def __init__(self):
        super().__init__()
        self.epochs = 0

    def on_epoch_end(self, epoch, logs=None):
        self.epochs += 1


def test_template_names_use_one_based_epochs_and_logs(tmp_path):
    model = model_()
    template = str(tmp_path / "w-{epoch:02d}-{val_loss:.2f}.h5")
    history = model.fit(X, Y, epochs=3, validation_split=0.25, verbose=0,
                        callbacks=[ModelCheckpoint(template, monitor="val_loss")])
    expected = sorted(f"w-{e + 1:02d}-{v:.2f}.h5" for e, v in zip(history.epoch, history.history["val_loss"]))
    assert sorted(os.listdir(tmp_path)) == expected
    last = load_model(tmp_path / expected[-1])
    assert np.array_equal(last.predict(X, verbose=0), model.predict(X, verbose=0))


def test_save_best_only_keeps_the_best_epoch(tmp_path, capsys):
    model = model_()
    path = tmp_path / "best.h5"
    cb = ModelCheckpoint(str(path), monitor="loss", save_best_only=True, save_weights_only=True, verbose=1)
    snapshots = []

    class Snap(Callback):
        def on_epoch_end(self, epoch, logs=None):
            snapshots.append((logs["loss"], [w.copy() for w in self.model.get_weights()]))
    model.fit(X, Y, epochs=4, batch_size=10, verbose=0, callbacks=[cb, Snap()])
    best_loss, best_weights = min(snapshots, key=lambda s: s[0])
    assert cb.best == best_loss and cb.mode == "min"
    fresh = model_()
    fresh.load_weights(path)
    assert all(np.array_equal(a, b) for a, b in zip(best_weights, fresh.get_weights()))
    assert "loss improved from inf to" in capsys.readouterr().out


def test_mode_auto_maximizes_accuracy_and_threshold_blocks_saving(tmp_path):
    cb = ModelCheckpoint(str(tmp_path / "a.h5"), monitor="val_accuracy", save_best_only=True,
                         initial_value_threshold=1.01)
    assert cb.mode == "max"
    model_().fit(X, Y, epochs=2, validation_split=0.25, verbose=0, callbacks=[cb])
    assert not os.listdir(tmp_path)  # accuracy never beats 1.01


def test_missing_folder_is_created_before_training(tmp_path):
    target = tmp_path / "deep" / "er" / "ckpt.keras"
    counter = EpochCounter()

    class Probe(Callback):
        def on_train_begin(self, logs=None):
            assert (tmp_path / "deep" / "er").is_dir()
    model_().fit(X, Y, epochs=1, verbose=0, callbacks=[ModelCheckpoint(str(target)), Probe(), counter])
    assert target.exists() and counter.epochs == 1


def test_unusable_folder_fails_before_the_first_epoch(tmp_path):
    (tmp_path / "a_file").write_text("not a folder")
    counter = EpochCounter()
    with pytest.raises(OSError):
        model_().fit(X, Y, epochs=3, verbose=0,
                     callbacks=[ModelCheckpoint(str(tmp_path / "a_file" / "ckpt.h5")), counter])
    assert counter.epochs == 0


def test_save_freq_in_batches_formats_batch_numbers(tmp_path):
    cb = ModelCheckpoint(str(tmp_path / "b-{epoch}-{batch}.h5"), save_freq=3, save_weights_only=True)
    model_().fit(X, Y, epochs=1, batch_size=10, shuffle=False, verbose=0, callbacks=[cb])
    assert sorted(os.listdir(tmp_path)) == ["b-1-3.h5", "b-1-6.h5"]


def test_unknown_template_key_names_it(tmp_path):
    cb = ModelCheckpoint(str(tmp_path / "{epoch}-{val_auc}.h5"))
    with pytest.raises(KeyError, match="val_auc"):
        model_().fit(X, Y, epochs=1, verbose=0, callbacks=[cb])


def test_invalid_save_freq_and_unknown_arguments():
    with pytest.raises(ValueError, match="save_freq"):
        ModelCheckpoint("x.h5", save_freq="never")
    with pytest.raises(TypeError, match="bogus"):
        ModelCheckpoint("x.h5", bogus=True)


def test_keras2_period_saves_every_n_epochs(tmp_path):
    cb = ModelCheckpoint(str(tmp_path / "p-{epoch}.h5"), period=2, save_weights_only=True)
    model_().fit(X, Y, epochs=5, verbose=0, callbacks=[cb])
    assert sorted(os.listdir(tmp_path)) == ["p-2.h5", "p-4.h5"]
