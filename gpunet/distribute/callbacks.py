"""Horovod's Keras callbacks, for gpunet.distribute."""
import numbers

from ..callbacks import Callback
from . import runtime
from .broadcast import broadcast_weights


class BroadcastGlobalVariablesCallback(Callback):
    """At the start of training, give every rank ``root_rank``'s weights and optimizer state
    (`broadcast_weights`): ranks that built their models from different seeds, or a rank that
    loaded a checkpoint, then train identically."""

    def __init__(self, root_rank=0, device=""):
        super().__init__()
        self.root_rank = root_rank

    def on_train_begin(self, logs=None):
        broadcast_weights(self.model, self.root_rank)


class MetricAverageCallback(Callback):
    """At each epoch's end, average over the ranks the numbers in the logs that differ between
    them. fit already reduces the model's loss and metrics exactly (sums and counts), so this only
    changes what other callbacks added to the logs; list it before those that read the logs."""

    def on_epoch_end(self, epoch, logs=None):
        world = runtime.world()
        if logs is None or world.size == 1:
            return
        reduced = set(self.model.metrics_names) | {"val_" + k for k in self.model.metrics_names}
        keys = sorted(k for k, v in logs.items() if k not in reduced and isinstance(v, numbers.Real))
        keys = world.bcast_object(keys, 0)  # the same keys in the same order on every rank
        if not keys:
            return
        sums = world.sum_floats([logs.get(k, 0.0) for k in keys])
        for k, total in zip(keys, sums):
            logs[k] = total / world.size


class LearningRateWarmupCallback(Callback):
    """Horovod's gradual warmup (Goyal et al., 2017): over the first ``warmup_epochs`` epochs the
    learning rate rises batch by batch from ``initial_lr / size()`` to ``initial_lr``, the rate
    meant for the global batch of every rank together.

    Args:
        initial_lr: the learning rate after warmup; None: the optimizer's rate when training starts.
        warmup_epochs: epochs the warmup lasts (default 5).
        momentum_correction: scale the momentum by new_lr / old_lr for the step where the rate changes
            (optimizers with a ``momentum``), as Horovod does.
        steps_per_epoch: steps per epoch; None: fit's.
        verbose: 1 prints a line when the warmup ends.
    """

    def __init__(self, initial_lr=None, warmup_epochs=5, momentum_correction=True, steps_per_epoch=None, verbose=0):
        super().__init__()
        if initial_lr is not None and not (isinstance(initial_lr, numbers.Real) and initial_lr > 0):
            raise ValueError(f"LearningRateWarmupCallback: initial_lr must be a positive number or None, "
                             f"received {initial_lr!r}")
        if not isinstance(warmup_epochs, numbers.Real) or isinstance(warmup_epochs, bool) or warmup_epochs <= 0:
            raise ValueError(f"LearningRateWarmupCallback: warmup_epochs must be a positive number, "
                             f"received {warmup_epochs!r}")
        self.initial_lr, self.warmup_epochs = initial_lr, warmup_epochs
        self.momentum_correction, self.steps_per_epoch, self.verbose = momentum_correction, steps_per_epoch, verbose
        self._epoch, self._restore_momentum = 0, None

    def multiplier(self, epoch):
        """The factor on ``initial_lr`` at (fractional) ``epoch``, Horovod's formula."""
        size = runtime.size()
        epoch += 1.0 / self._steps()
        return 1.0 / size * (epoch * (size - 1) / self.warmup_epochs + 1)

    def _steps(self):
        steps = self.steps_per_epoch or (self.params or {}).get("steps")
        if not steps:
            raise ValueError("LearningRateWarmupCallback needs steps_per_epoch outside fit.")
        return steps

    def on_train_begin(self, logs=None):
        if self.initial_lr is None:
            self.initial_lr = float(self.model.optimizer.learning_rate)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if self._epoch >= self.warmup_epochs:
            return
        opt = self.model.optimizer
        old = float(opt.learning_rate)
        new = self.initial_lr * self.multiplier(self._epoch + batch / self._steps())
        opt.learning_rate = new
        momentum = getattr(opt, "momentum", None)
        if self.momentum_correction and isinstance(momentum, numbers.Real) and momentum and old:
            self._restore_momentum = momentum
            opt.momentum = momentum * new / old

    def on_train_batch_end(self, batch, logs=None):
        if self._restore_momentum is not None:
            self.model.optimizer.momentum, self._restore_momentum = self._restore_momentum, None

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["lr"] = float(self.model.optimizer.learning_rate)
        if epoch == self.warmup_epochs - 1 and self.verbose and runtime.is_root():
            print(f"\nEpoch {epoch + 1}: finished gradual learning rate warmup to "
                  f"{float(self.model.optimizer.learning_rate):g}.")
