"""`EarlyStopping`: stop training when a monitored quantity stops improving."""
import warnings

import numpy

from .base import Callback, say


def _monitor_value(logs, monitor, what):
    """``logs[monitor]``, or None with Keras's warning listing the keys that exist."""
    logs = logs or {}
    value = logs.get(monitor)
    if value is None:
        warnings.warn(f"{what} conditioned on metric `{monitor}` which is not available. "
                      f"Available metrics are: {','.join(logs.keys())}", RuntimeWarning, stacklevel=3)
    return value


def _check_mode(mode, what):
    if mode not in ("auto", "min", "max"):
        # Keras falls back to auto rather than raising; a Keras script must run unchanged.
        warnings.warn(f"{what} mode {mode!r} is unknown (expected 'auto', 'min' or 'max'), "
                      f"fallback to auto mode.", RuntimeWarning, stacklevel=3)
        return "auto"
    return mode


class EarlyStopping(Callback):
    """Stop training when ``monitor`` has stopped improving (Keras's ``EarlyStopping``).

    Args:
        monitor: the logs key to watch, e.g. ``"val_loss"``.
        min_delta: smaller changes do not count as an improvement.
        patience: epochs without improvement before stopping.
        verbose: 1 prints ``Epoch N: early stopping`` when it stops.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (max when the name ends with
            ``acc``, ``accuracy`` or ``auc``, else min).
        baseline: training stops if the model does not beat it within ``patience`` epochs.
        restore_best_weights: at the end of training, put back the weights of the
            best epoch (the first one if none improved).
        start_from_epoch: epochs of warm-up during which nothing is monitored.

    After training, ``stopped_epoch`` is the (0-based) epoch it stopped at, or 0.
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        self.monitor = monitor
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.wait = 0
        self.stopped_epoch = 0
        self.best_weights = None
        self.best_epoch = 0
        mode = _check_mode(mode, "EarlyStopping")
        if mode == "max" or (mode == "auto" and monitor.endswith(("acc", "accuracy", "auc"))):
            self.monitor_op = numpy.greater
            self.min_delta = abs(min_delta)
        else:
            self.monitor_op = numpy.less
            self.min_delta = -abs(min_delta)
        self.best = numpy.inf if self.monitor_op is numpy.less else -numpy.inf

    def on_train_begin(self, logs=None):
        # Reset, so one instance can serve several fit() calls.
        self.wait = 0
        self.stopped_epoch = 0
        self.best = numpy.inf if self.monitor_op is numpy.less else -numpy.inf
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        current = self.get_monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            # So that some weights are restored even if no epoch ever improves.
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            # The wait restarts only when the baseline is beaten too.
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            say(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                say(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)

    def get_monitor_value(self, logs):
        """The monitored value from ``logs``; warns and returns None when it is missing."""
        return _monitor_value(logs, self.monitor, "Early stopping")

    def _is_improvement(self, value, reference):
        return bool(self.monitor_op(value - self.min_delta, reference))
