"""`SwapEMAWeights` (Keras 3's): evaluate (and predict) with the optimizer's moving average of the
weights (``use_ema=True``), training going on with the weights themselves."""
from .base import Callback


class SwapEMAWeights(Callback):
    """Puts the moving average into the model for each evaluation (fit's validation, ``evaluate``) and
    ``predict`` it runs in, and the trained weights back after. ``swap_on_epoch=True`` also swaps at each
    epoch's end (so the epoch's other callbacks, a ModelCheckpoint say, see the average) and back at the
    next epoch's start; after the last epoch the average stays in the model (as Keras 3 leaves it).

    Unlike Keras 3 (3.15), ``predict`` swaps back at its end (Keras's never does), and nothing is swapped
    before the optimizer's first step, whose average does not exist yet (Keras would swap in zeros).
    """

    def __init__(self, swap_on_epoch=False):
        super().__init__()
        self.swap_on_epoch = swap_on_epoch
        self._ema_weights_in_model = False

    def _optimizer(self):
        optimizer = self.model.optimizer
        if not getattr(optimizer, "use_ema", False):
            raise ValueError("SwapEMAWeights must be used when `use_ema=True` is set on the optimizer. Received: "
                             f"use_ema={getattr(optimizer, 'use_ema', None)}")
        return optimizer

    def _swap(self):
        """Exchange the weights and their average (no-op before the optimizer's first step)."""
        optimizer = self._optimizer()
        params, average = optimizer._ema_params, optimizer.slots().get("average")
        if params is None and optimizer.iterations:  # (an average loaded from a file, no step since)
            params = getattr(self.model, "_params", None)
        if params is None or average is None:
            return False
        kept = params.copy()
        params[...] = average
        average[...] = kept
        return True

    def _to_average(self):
        if not self._ema_weights_in_model:
            self._ema_weights_in_model = self._swap()

    def _to_weights(self):
        if self._ema_weights_in_model:
            self._swap()
            self._ema_weights_in_model = False

    def on_train_begin(self, logs=None):
        self._optimizer()

    def on_epoch_begin(self, epoch, logs=None):
        if self.swap_on_epoch:
            self._to_weights()

    def on_epoch_end(self, epoch, logs=None):
        if self.swap_on_epoch:
            self._to_average()
            if self._ema_weights_in_model and epoch == self.params.get("epochs", 0) - 1:
                optimizer = self._optimizer()  # (the average in the model for good: Keras's finalize)
                optimizer.slots()["average"][...] = optimizer._ema_params

    def on_test_begin(self, logs=None):
        self._to_average()

    def on_test_end(self, logs=None):
        self._to_weights()

    def on_predict_begin(self, logs=None):
        self._to_average()

    def on_predict_end(self, logs=None):
        self._to_weights()
