"""BackupAndRestore: a fit interrupted and started again equals the uninterrupted fit (bit for bit
on the CPU with save_freq='epoch'), the backup is one atomic file, cleanup touches only its own."""
import os

import numpy as np
import pytest

import gpunet
from gpunet.callbacks import BackupAndRestore, Callback, LearningRateScheduler
from gpunet.layers import Dense, Dropout
from gpunet.models import Sequential

RNG = np.random.RandomState(3)
X = RNG.rand(70, 5).astype("float32")
Y = (X.sum(axis=1) > 2.5).astype("float32")


class Interrupt(Callback):
    """Raises at the start of epoch ``at`` (a crash, a pre-emption)."""

    def __init__(self, at):
        super().__init__()
        self.at = at

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at:
            raise KeyboardInterrupt(f"interrupted at epoch {epoch}")


def build(dense_only):
    gpunet.utils.set_random_seed(5)
    middle = [] if dense_only else [Dropout(0.3)]  # (with Dropout: the layer path, its masks from the generator)
    model = Sequential([Dense(8, input_dim=5, activation="relu")] + middle + [Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def halving(epoch, lr):
    return lr * 0.5 if epoch else lr


@pytest.mark.parametrize("dense_only", [True, False], ids=["fused plan", "layer path"])
def test_a_resumed_fit_equals_the_uninterrupted_one(tmp_path, dense_only):
    straight = build(dense_only)
    full = straight.fit(X, Y, batch_size=8, epochs=6, verbose=0, callbacks=[LearningRateScheduler(halving)]).history

    backup = BackupAndRestore(tmp_path / "backup")
    model = build(dense_only)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, Y, batch_size=8, epochs=6, verbose=0,
                  callbacks=[backup, LearningRateScheduler(halving), Interrupt(4)])
    assert os.listdir(tmp_path / "backup") == ["latest.h5"]
    gpunet.utils.set_random_seed(99)  # a new process: other seeds, a new model object
    model = build(dense_only)
    seen = []
    rest = model.fit(X, Y, batch_size=8, epochs=6, verbose=0,
                     callbacks=[backup, LearningRateScheduler(halving),
                                gpunet.callbacks.LambdaCallback(on_epoch_begin=lambda e, logs: seen.append(e))])
    assert seen == [4, 5] and rest.epoch == [4, 5]
    for key, values in full.items():
        assert rest.history[key] == values[4:], key
    for a, b in zip(model.get_weights(), straight.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert model.optimizer.iterations == straight.optimizer.iterations
    assert not (tmp_path / "backup").exists()  # a fit that ends normally removes the backup


def test_cleanup_keeps_other_files_and_keep_on_request(tmp_path):
    folder = tmp_path / "shared"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    build(True).fit(X, Y, epochs=2, verbose=0, callbacks=[BackupAndRestore(folder)])
    assert os.listdir(folder) == ["notes.txt"]  # Keras removes the whole folder
    build(True).fit(X, Y, epochs=2, verbose=0, callbacks=[BackupAndRestore(folder, delete_checkpoint=False)])
    assert sorted(os.listdir(folder)) == ["latest.h5", "notes.txt"]
    # a finished run's backup (epoch 2 of 2): fit again trains no epoch, then removes it
    history = build(True).fit(X, Y, epochs=2, verbose=0, callbacks=[BackupAndRestore(folder)])
    assert history.epoch == [] and os.listdir(folder) == ["notes.txt"]


def test_batch_frequency_restarts_the_interrupted_epoch_from_its_last_backup(tmp_path):
    class InterruptAtBatch(Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if self.model.optimizer.iterations == 12:  # epoch 1 (9 steps an epoch), batch 3: just backed up
                raise KeyboardInterrupt

    model = build(True)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, Y, batch_size=8, epochs=3, verbose=0,
                  callbacks=[BackupAndRestore(tmp_path, save_freq=3), InterruptAtBatch()])
    saved = [w.copy() for w in model.get_weights()]  # the backup after step 12 holds these
    fresh = build(True)
    starts = []
    record = gpunet.callbacks.LambdaCallback(on_train_begin=lambda logs: starts.append(
        [w.copy() for w in fresh.get_weights()]))
    history = fresh.fit(X, Y, batch_size=8, epochs=3, verbose=0,
                        callbacks=[BackupAndRestore(tmp_path, save_freq=3), record])
    assert history.epoch == [1, 2]
    for a, b in zip(starts[0], saved):
        np.testing.assert_array_equal(a, b)


def test_a_damaged_backup_falls_back_to_the_previous_one_or_says_which_file(tmp_path):
    model = build(True)
    model.fit(X, Y, epochs=3, verbose=0, callbacks=[BackupAndRestore(tmp_path, delete_checkpoint=False,
                                                                     double_checkpoint=True)])
    assert sorted(os.listdir(tmp_path)) == ["latest.h5", "latest.h5.bkp"]
    with open(tmp_path / "latest.h5", "r+b") as f:
        f.write(b"\0" * 64)
    history = build(True).fit(X, Y, epochs=3, verbose=0, callbacks=[BackupAndRestore(tmp_path, double_checkpoint=True)])
    assert history.epoch == [2]  # the previous backup (after epoch 2 of 3)
    model.fit(X, Y, epochs=1, verbose=0, callbacks=[BackupAndRestore(tmp_path, delete_checkpoint=False)])
    with open(tmp_path / "latest.h5", "r+b") as f:
        f.write(b"\0" * 64)
    with pytest.raises(OSError, match="BackupAndRestore could not restore the backup .*latest.h5"):
        build(True).fit(X, Y, epochs=3, verbose=0, callbacks=[BackupAndRestore(tmp_path)])


@pytest.mark.parametrize("kwargs, says", [
    ({"backup_dir": ""}, "needs a backup_dir, received ''"),
    ({"backup_dir": "b", "save_freq": 0}, "'epoch' or a positive integer \\(batches\\), received 0"),
    ({"backup_dir": "b", "save_freq": "batch"}, "received 'batch'"),
    ({"backup_dir": "b", "save_before_preemption": True}, "preemption watcher"),
])
def test_arguments_are_checked(kwargs, says):
    with pytest.raises(ValueError, match=says):
        BackupAndRestore(**kwargs)


class Heads(gpunet.models.Model):
    """A subclassed model (no config a file of Keras 2's layout holds): two outputs, Dropout, a weight of its own."""

    def __init__(self):
        super().__init__()
        self.body, self.drop = Dense(8, activation="relu"), Dropout(0.3)
        self.main, self.aux = Dense(1, activation="sigmoid"), Dense(2)
        self.gain = self.add_weight(name="gain", shape=(), initializer="ones")

    def call(self, inputs, training=None):
        hidden = self.drop(self.body(inputs), training=training) * self.gain
        return self.main(hidden), self.aux(hidden)


def test_a_subclassed_model_resumes_as_the_uninterrupted_fit(tmp_path):
    """It used to fail at the first backup (its architecture cannot go in an .h5): its backup holds its weights
    in Keras 3's layout, its optimizer and its random state."""
    def build():
        gpunet.utils.set_random_seed(5)
        model = Heads()
        model.compile(optimizer="adam", loss=["binary_crossentropy", "mse"])
        return model
    targets = [Y, np.stack([X[:, 0], X[:, 1]], axis=1)]
    full = build().fit(X, targets, batch_size=8, epochs=5, verbose=0).history
    backup = BackupAndRestore(tmp_path / "backup")
    with pytest.raises(KeyboardInterrupt):
        build().fit(X, targets, batch_size=8, epochs=5, verbose=0, callbacks=[backup, Interrupt(3)])
    gpunet.utils.set_random_seed(99)
    model = build()
    rest = model.fit(X, targets, batch_size=8, epochs=5, verbose=0, callbacks=[backup]).history
    assert model.history.epoch == [3, 4]
    for key, values in full.items():
        assert rest[key] == values[3:], key
