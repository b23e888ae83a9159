"""Callbacks that set the optimizer's learning rate: `LearningRateScheduler`, `ReduceLROnPlateau`."""
import inspect
import numbers

import numpy

from .base import Callback, say
from .early_stopping import _check_mode, _monitor_value


def _get_lr(model):
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not hasattr(optimizer, "learning_rate"):
        raise ValueError('Optimizer must have a "learning_rate" attribute: compile the model with a '
                         f"gpunet optimizer first, received {type(optimizer).__name__}.")
    return float(optimizer.learning_rate)


def _logged_lr(model):
    # The value Keras logs: its rate lives in a float32 variable (so 0.001 shows as 0.0010, not 1.0000e-03).
    return float(numpy.float32(_get_lr(model)))


def _takes_lr(schedule):
    """Whether ``schedule`` accepts ``(epoch, lr)``; Keras also supports the older ``schedule(epoch)``."""
    try:
        inspect.signature(schedule).bind(0, 0.0)
        return True
    except TypeError:
        return False
    except ValueError:
        # No signature (some builtins): the current API.
        return True


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of every epoch to ``schedule(epoch, lr)``
    (or ``schedule(epoch)``); ``lr`` is added to the epoch logs.

    Args:
        schedule: function of the 0-based epoch index (and the current rate) returning the new rate.
        verbose: 1 prints each change.
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"schedule must be a function schedule(epoch, lr), received {schedule!r}")
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        # The rate as Keras reads it from its float32 variable: a schedule(epoch, lr) returning
        # lr * 0.5 then gives (and prints) what tf.keras's gives, e.g. 0.10000000149011612.
        lr = _logged_lr(self.model)
        lr = self.schedule(epoch, lr) if _takes_lr(self.schedule) else self.schedule(epoch)
        if isinstance(lr, numpy.ndarray) and lr.ndim == 0:
            lr = lr[()]
        if isinstance(lr, bool) or not isinstance(lr, numbers.Real):
            raise ValueError(f'The output of the "schedule" function should be float. Got: {lr}')
        self.model.optimizer.learning_rate = float(lr)
        if self.verbose > 0:
            say(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {lr}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["lr"] = _logged_lr(self.model)


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when ``monitor`` has not improved for
    ``patience`` epochs (Keras's ``ReduceLROnPlateau``); ``lr`` is added to the epoch logs.

    Args:
        monitor: the logs key to watch.
        factor: ``new_lr = lr * factor``; must be below 1.
        patience: epochs without improvement before a reduction.
        verbose: 1 prints each reduction.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (max when ``acc`` is in the name).
        min_delta: smaller changes do not count as an improvement.
        cooldown: epochs to wait after a reduction before counting again.
        min_lr: the rate never goes below it.
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0, **kwargs):
        super().__init__()
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. Got {factor}")
        if "epsilon" in kwargs:
            # Keras 2.1's name for min_delta.
            min_delta = kwargs.pop("epsilon")
        if kwargs:
            raise TypeError(f"ReduceLROnPlateau got unexpected keyword argument(s): {sorted(kwargs)}")
        self.monitor = monitor
        self.factor = factor
        self.min_lr = min_lr
        self.min_delta = min_delta
        self.patience = patience
        self.verbose = verbose
        self.cooldown = cooldown
        self.mode = _check_mode(mode, "Learning rate reduction")
        self._reset()

    def _reset(self):
        if self.mode == "min" or (self.mode == "auto" and "acc" not in self.monitor):
            self.monitor_op = lambda a, b: a < b - self.min_delta
            self.best = numpy.inf
        else:
            self.monitor_op = lambda a, b: a > b + self.min_delta
            self.best = -numpy.inf
        self.cooldown_counter = 0
        self.wait = 0

    def on_train_begin(self, logs=None):
        self._reset()

    def in_cooldown(self):
        """Whether a recent reduction still suspends counting."""
        return self.cooldown_counter > 0

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs["lr"] = _logged_lr(self.model)
        current = _monitor_value(logs, self.monitor, "Learning rate reduction")
        if current is None:
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self.monitor_op(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                old_lr = _get_lr(self.model)
                # Compared in float32, the precision Keras keeps the rate in.
                if numpy.float32(old_lr) > numpy.float32(self.min_lr):
                    # In float32, as Keras computes it from its variable; a NumPy float32 prints as
                    # the Python float it widens to ("0.05000000074505806"), as tf.keras's message.
                    new_lr = max(numpy.float32(old_lr) * numpy.float32(self.factor), self.min_lr)
                    self.model.optimizer.learning_rate = float(new_lr)
                    if self.verbose > 0:
                        say(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {float(new_lr)}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0
