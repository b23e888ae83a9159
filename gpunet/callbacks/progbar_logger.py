"""`ProgbarLogger`: the callback that draws Keras's progress bar (`progbar.Progbar`) during fit,
evaluate and predict."""
from .base import Callback, DeferredLogs
from .progbar import Progbar, _AllNames, _is_dynamic, _write


class ProgbarLogger(Callback):
    """Prints the progress bar and metrics during ``fit``, ``evaluate`` and ``predict``.

    Args:
        count_mode: ``"samples"`` or ``"steps"``: whether the bar counts samples or
            batches (``fit`` and ``evaluate`` add a ``"steps"`` one when ``verbose`` is on).
        stateful_metrics: accepted for Keras compatibility; gpunet's logs are
            running averages already, so every value is displayed as given.
    """

    _never_stops = True  # its batch hooks never set stop_training (distribute/sharding.agree_to_stop)

    def __init__(self, count_mode="samples", stateful_metrics=None):
        super().__init__()
        if count_mode not in ("samples", "steps"):
            raise ValueError(f"Unknown `count_mode`: {count_mode!r}. Expected values are ['samples', 'steps']")
        self.use_steps = count_mode == "steps"
        self.stateful_metrics = set(stateful_metrics or ())
        self.seen = 0
        self.progbar = None
        self.target = None
        self.verbose = 1
        self.epochs = 1
        self._count_samples = False
        self._called_in_fit = False

    def set_params(self, params):
        super().set_params(params)
        self.verbose = params.get("verbose", 1)
        self.epochs = params.get("epochs", 1)
        # Sample counting needs the sample count; evaluate's params give only steps.
        self._count_samples = not self.use_steps and "samples" in params and "batch_size" in params
        self.target = params["samples"] if self._count_samples else params.get("steps")

    # training batch logs may come as `DeferredLogs`: resolved only for the batches a redraw shows
    _accepts_deferred_batch_logs = True

    def _implements_train_batch_hooks(self):
        # Only a verbose=1 bar on a terminal draws between epochs: otherwise the loop skips the batch
        # hooks (and their logs), unless the number of batches is unknown: the final line counts them.
        return (self.verbose == 1 and _is_dynamic()) or (self.verbose and self.target is None)

    _implements_test_batch_hooks = _implements_predict_batch_hooks = _implements_train_batch_hooks

    def on_train_begin(self, logs=None):
        # Validation inside fit is silent, as in Keras.
        self._called_in_fit = True

    def on_train_end(self, logs=None):
        self._called_in_fit = False

    def on_test_begin(self, logs=None):
        if not self._called_in_fit:
            self._reset_progbar()

    def on_predict_begin(self, logs=None):
        self._reset_progbar()

    def on_epoch_begin(self, epoch, logs=None):
        self._reset_progbar()
        if self.verbose and self.epochs > 1:
            _write(f"Epoch {epoch + 1}/{self.epochs}\n")

    def on_train_batch_end(self, batch, logs=None):
        self._batch_update(batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        if not self._called_in_fit:
            self._batch_update(batch, logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._batch_update(batch, None)

    def on_epoch_end(self, epoch, logs=None):
        self._finalize(logs)

    def on_test_end(self, logs=None):
        if not self._called_in_fit:
            self._finalize(logs)

    def on_predict_end(self, logs=None):
        self._finalize(None)

    def _reset_progbar(self):
        self.seen = 0
        self.progbar = Progbar(self.target, verbose=self.verbose, stateful_metrics=_AllNames(),
                               unit_name="sample" if self._count_samples else "step")

    def _batch_update(self, batch, logs):
        if self._count_samples:
            self.seen = min((batch + 1) * self.params["batch_size"], self.params["samples"])
        else:
            self.seen = batch + 1
        if self.verbose != 1:
            return
        if self.progbar is None:
            self._reset_progbar()
        if not self.progbar._dynamic_display:
            return
        if isinstance(logs, DeferredLogs):  # computed only if this update draws
            self.progbar.update(self.seen, lambda: list(logs.resolve().items()), finalize=False)
            return
        self.progbar.update(self.seen, list((logs or {}).items()), finalize=False)

    def _finalize(self, logs):
        if self.progbar is None:
            self._reset_progbar()
        if self.progbar.target is None:
            self.progbar.target = self.target = self.seen
        self.progbar.update(self.progbar.target, list((logs or {}).items()), finalize=True)
