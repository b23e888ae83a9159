"""`ModelCheckpoint`: save the model (or its weights) while training, Keras 2's semantics."""
import math
import os
import string
import tempfile
import warnings

from .base import Callback, say


def _improves(mode, current, best):
    return current > best if mode == "max" else current < best


class ModelCheckpoint(Callback):
    """Save the model or its weights at the end of each epoch (or every ``save_freq`` batches).

    Args:
        filepath: a path, or a template such as ``"w-{epoch:02d}-{val_loss:.2f}.h5"``: ``epoch``
            (1-based, as in Keras), ``batch`` and any key of the logs can be used. The format
            is chosen by `Model.save`: ``.keras`` gives a Keras 3 archive, other names HDF5.
        monitor: the log to watch for ``save_best_only`` (e.g. "val_loss", "val_accuracy").
        verbose: 1 prints a line whenever a checkpoint is (or is not) written.
        save_best_only: only save when ``monitor`` improves on the best value seen.
        save_weights_only: ``model.save_weights`` instead of ``model.save``.
        mode: "min", "max" or "auto" (max for accuracy-like monitors, min otherwise).
        save_freq: "epoch", or an integer number of batches between saves.
        initial_value_threshold: ``monitor`` must beat this value before the first save.

    A folder that can never be created (a file in the way, no write permission) is reported
    when the callback is constructed; missing folders are created, and a write is tried, when
    training starts, not after the first epoch. Every save is atomic: a crash mid-save keeps the
    previous checkpoint. A failing save raises; it is never silently skipped.

    Example::

        model.fit(X, Y, validation_split=0.2, epochs=50,
                  callbacks=[ModelCheckpoint("ckpt/best.h5", monitor="val_loss", save_best_only=True)])
    """

    _never_stops = True  # its batch hooks never set stop_training (distribute/sharding.agree_to_stop)

    def __new__(cls, *args, **kwargs):
        # Only a batch-frequency checkpoint needs per-batch calls; the subclass that has the
        # batch hook is used then, so epoch checkpoints keep fit's per-batch fast path.
        freq = kwargs.get("save_freq", args[6] if len(args) > 6 else "epoch")
        if cls is ModelCheckpoint and freq != "epoch":
            cls = _BatchModelCheckpoint
        return super().__new__(cls)

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None, **kwargs):
        super().__init__()
        period = kwargs.pop("period", None)  # Keras 2's deprecated "every N epochs"
        kwargs.pop("options", None)  # TensorFlow SaveOptions: nothing to apply here
        if kwargs:
            raise TypeError(f"ModelCheckpoint got unexpected keyword argument(s): {sorted(kwargs)}")
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = bool(save_best_only)
        self.save_weights_only = bool(save_weights_only)
        if save_freq != "epoch" and not (isinstance(save_freq, int) and not isinstance(save_freq, bool)
                                         and save_freq > 0):
            raise ValueError(f"Unrecognized save_freq: {save_freq!r}: expected 'epoch' or a positive integer "
                             "(number of batches).")
        self.save_freq = save_freq
        self.period = int(period) if period else 1
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"ModelCheckpoint mode {mode!r} is unknown, fallback to auto mode.", stacklevel=2)
            mode = "auto"
        if mode == "auto":
            name = monitor.lower()
            mode = "max" if ("acc" in name or "auc" in name or name.startswith("fmeasure")) else "min"
        self.mode = mode
        if initial_value_threshold is not None:
            self.best = float(initial_value_threshold)
        else:
            self.best = -math.inf if mode == "max" else math.inf
        self._epoch = 0
        self._batches = 0
        self._epochs_since = 0
        self._check_folder()

    # ---- folder checks: when constructed, and before training -------------------------------------
    def _check_folder(self):
        """Raise now if the folder can never be created: a file stands in its way, or the deepest
        existing folder is not writable."""
        folder = self._static_folder()
        if folder is None:
            return
        existing = folder
        while not os.path.isdir(existing):
            if os.path.lexists(existing):
                raise NotADirectoryError(f"ModelCheckpoint cannot save under {folder!r} (from filepath "
                                         f"{self.filepath!r}): {existing!r} is a file, not a folder.")
            parent = os.path.dirname(existing)
            if parent == existing:
                return
            existing = parent
        if not os.access(existing, os.W_OK | os.X_OK):
            raise PermissionError(f"ModelCheckpoint cannot write to {existing!r} (from filepath {self.filepath!r}).")

    def on_train_begin(self, logs=None):
        folder = self._static_folder()
        if folder is None:
            return
        self._check_folder()
        os.makedirs(folder, exist_ok=True)
        try:  # a real write: permissions can say yes where a read-only mount or a quota says no
            fd, probe = tempfile.mkstemp(prefix=".gpunet-write-check-", dir=folder)
            os.close(fd)
            os.remove(probe)
        except OSError as exc:
            raise PermissionError(f"ModelCheckpoint cannot write to {folder!r} (from filepath {self.filepath!r}): "
                                  f"{exc}") from None

    def _static_folder(self):
        """The folder part of ``filepath`` when it holds no template field (else None)."""
        folder = os.path.dirname(os.path.abspath(self.filepath))
        fields = [f for _, f, _, _ in string.Formatter().parse(folder) if f is not None]
        return None if fields else folder

    # ---- when to save -----------------------------------------------------------------------------
    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq != "epoch":
            return
        self._epochs_since += 1
        if self._epochs_since >= self.period:
            self._epochs_since = 0
            self._save(epoch, None, logs or {})

    def _save(self, epoch, batch, logs):
        path = self._file_path(epoch, batch, logs)
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                warnings.warn(f"Can save best model only with {self.monitor} available, skipping "
                              f"(available logs: {sorted(logs)}).", stacklevel=2)
                return
            if not _improves(self.mode, current, self.best):
                if self.verbose > 0:
                    say(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}")
                return
            if self.verbose > 0:
                say(f"\nEpoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to {current:.5f}, "
                      f"saving model to {path}")
            self.best = current
        elif self.verbose > 0:
            say(f"\nEpoch {epoch + 1}: saving model to {path}")
        if self.save_weights_only:
            self.model.save_weights(path, overwrite=True)
        else:
            self.model.save(path, overwrite=True)

    def _file_path(self, epoch, batch, logs):
        values = dict(logs)
        if batch is not None and "batch" not in values:
            values["batch"] = batch + 1
        try:
            return self.filepath.format(epoch=epoch + 1, **values)
        except KeyError as exc:
            raise KeyError(f'Failed to format this callback filepath: "{self.filepath}". Reason: {exc} is not '
                           f"one of epoch, batch or the logs {sorted(logs)}") from None


class _BatchModelCheckpoint(ModelCheckpoint):
    """`ModelCheckpoint` with ``save_freq`` in batches."""

    def on_train_batch_end(self, batch, logs=None):
        self._batches += 1
        if self._batches % self.save_freq == 0:
            self._save(self._epoch, batch, logs or {})
