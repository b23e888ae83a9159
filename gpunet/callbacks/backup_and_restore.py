"""`BackupAndRestore`: fit continues after an interruption from the last backup (Keras's
``keras.callbacks.BackupAndRestore``)."""
import json
import os

import h5py

from .base import Callback

_EPOCH_ATTR = "gpunet_backup"  # {"epoch": next epoch to train, "batch": last batch seen}


class BackupAndRestore(Callback):
    """Back up the training state in ``backup_dir`` and, when fit starts again after an
    interruption, restore it and go on from the epoch it had reached.

    The backup is one file, ``backup_dir/latest.h5``, written atomically (a crash mid-write leaves
    the previous backup): the weights, the optimizer's state, the random generators' state and the
    epoch. With ``save_freq="epoch"`` (the default) a resumed fit is the uninterrupted one, bit for
    bit on the CPU: its History holds the epochs it trained. With an integer ``save_freq`` the
    backup is taken every that many batches, and a resumed fit starts the interrupted epoch again
    from the weights of its last backup, as Keras does (not bit-identical then). The directory is
    removed when fit ends normally, unless ``delete_checkpoint=False``; so is the directory if
nothing else is in it.

    Where Keras differs: Keras removes the whole directory, whatever it holds; Keras writes the weights and the epoch as two files (a crash between them
    resumes the wrong epoch) and restores no random state, so its resumed runs draw other shuffles
    and dropout masks. ``double_checkpoint`` (Keras 3) keeps the previous backup as ``.bkp``, used
    when the latest cannot be read. tf.keras's ``save_before_preemption`` needs a TensorFlow
    cluster and is refused.
    """

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint=True, save_before_preemption=False,
                 double_checkpoint=False):
        super().__init__()
        if not backup_dir:
            raise ValueError(f"BackupAndRestore needs a backup_dir, received {backup_dir!r}")
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1):
            raise ValueError(f"BackupAndRestore's save_freq is 'epoch' or a positive integer (batches), "
                             f"received {save_freq!r}")
        if save_before_preemption:
            raise ValueError("save_before_preemption=True needs TensorFlow's preemption watcher (a TPU or "
                             "multi-worker cluster); gpunet does not have one. Use save_freq instead.")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq, self.delete_checkpoint, self.double_checkpoint = save_freq, delete_checkpoint, double_checkpoint
        self._path = os.path.join(self.backup_dir, "latest.h5")
        self._previous = self._path + ".bkp"
        self._epoch, self._batches = 0, 0

    def on_train_begin(self, logs=None):
        self._epoch, self._batches = 0, 0
        for path in (self._path, self._previous):
            if not os.path.exists(path):
                continue
            try:
                self._restore(path)
                return
            except (OSError, ValueError, KeyError) as exc:
                if path == self._previous or not (self.double_checkpoint and os.path.exists(self._previous)):
                    kind = OSError if isinstance(exc, OSError) else ValueError
                    raise kind(f"BackupAndRestore could not restore the backup {path!r}: {exc}") from exc

    def _restore(self, path):
        from ..saving import h5_store, model_state
        from ..saving.model_io import load_optimizer_state
        with h5py.File(path, "r") as h5:  # (the bounded, checksummed reads load_model makes of these attributes)
            h5_store.check_json_sums(h5, ["gpunet_rng"])
            state, rng = h5_store.json_attr(h5, _EPOCH_ATTR), h5_store.json_attr(h5, "gpunet_rng")
        if not isinstance(state, dict) or "epoch" not in state:
            raise KeyError(f"no {_EPOCH_ATTR!r} attribute holding the epoch")
        model = self.model
        model.load_weights(path)
        if model.optimizer is not None:
            load_optimizer_state(model, path, strict=True, by_name=False)  # (a rebuilt model's layer names may differ)
        if rng is not None:
            model_state.restore_rng(model, rng)
        self._epoch = int(state["epoch"])
        model._initial_epoch = self._epoch  # fit's epoch loop starts there (EpochMixin._train_epochs)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq != "epoch":
            self._batches += 1
            if self._batches >= self.save_freq:
                self._batches = 0
                self._save(self._epoch, batch)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch + 1, None)

    def _save(self, epoch, batch):
        from ..distribute import runtime
        from ..saving import files, keras3_attrs
        from ..saving.model_io import save_model, save_weights
        if not runtime.is_root():  # gpunet.distribute: rank 0 writes the one backup every rank restores
            return
        os.makedirs(self.backup_dir, exist_ok=True)
        if self.double_checkpoint and os.path.exists(self._path):
            os.replace(self._path, self._previous)
        with files.atomic_h5(self._path) as h5:
            if keras3_attrs.is_subclassed(self.model):  # (no config holds it: its weights, optimizer, random state)
                save_weights(self.model, h5, save_format="keras")
            else:
                save_model(self.model, h5)
            h5.attrs[_EPOCH_ATTR] = json.dumps({"epoch": epoch, "batch": batch})

    def on_train_end(self, logs=None):
        # (an interrupted fit raises past this hook: the backup stays for the next one)
        from ..distribute import runtime
        if self.delete_checkpoint and runtime.is_root():  # only its own files: Keras removes the whole folder
            for path in (self._path, self._previous):
                try:
                    os.remove(path)
                except FileNotFoundError:
                    pass
            try:
                os.rmdir(self.backup_dir)
            except OSError:  # not empty (the user's files), or gone
                pass
