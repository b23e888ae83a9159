"""compile / fit / evaluate / predict: the Keras training API shared by models.

The per-batch work (flat parameters, forward, backward, optimizer step) is in engine.py.
"""
from .. import backend as B
from ..callbacks import CallbackList, History
from ..backend import edge as _data
from ..distribute import sharding as _dist
from ..backend.epoch_tally import EpochTally
from ..autodiff import gradient_tape
from ..autodiff.tensor import is_tensor
from ..layers import added_losses, sublayers, symbolic
from .callback_setup import default_callbacks, one_pass_callbacks
from .checked_input import checked_input
from .compiling import CompileMixin
from .epochs import EpochMixin
from .own_steps import refuse_own_steps
from . import step_loops
from .tape_steps import StepMethodsMixin
from .predict_loop import PredictMixin
from . import batch_sources as _src
from . import streaming as _stream

class TrainingMixin(StepMethodsMixin, CompileMixin, EpochMixin, PredictMixin, _src.GeneratorMixin):
    def _init_training_state(self):
        self.optimizer = None
        self.loss = None
        self._loss_fn = None
        self._metrics = []
        self._metric_weighted = []  # per metric: whether it is one of compile's weighted_metrics
        self._compile_args = None
        self._params = self._grads = None
        self._plan = None
        self._layout = []
        self.stop_training = False
        self.history = None
        self._batch_loss = (0.0, 0)  # train_on_batch/test_on_batch's running loss: (sum, rows)

    def _invalidate(self):
        self._params = self._grads = None
        self._plan = None

    # ---- public loops ----------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None, sample_weight=None,
            initial_epoch=0, steps_per_epoch=None, validation_steps=None, validation_batch_size=None,
            validation_freq=1, device_data_fraction=None, **kwargs):
        """Train for ``epochs`` epochs (Keras 2's arguments and defaults).

        Args:
            x, y: inputs and targets (array-likes, samples first); or x a generator / iterator yielding
                ``(x, y)`` or ``(x, y, sample_weight)`` batches, or a `gpunet.utils.Sequence` (y then None).
            batch_size: samples per gradient step (default 32).
            epochs: train epochs ``initial_epoch`` .. ``epochs - 1`` (resuming after `load_model` is exact).
            verbose: 0 silent, 1 progress bar, 2 one line per epoch ("auto": 1).
            callbacks: `gpunet.callbacks.Callback` instances.
            validation_split: fraction of the samples, taken from the end before shuffling, to validate on.
            validation_data: ``(x_val, y_val)`` or ``(x_val, y_val, sample_weight)``; overrides the split.
            shuffle: reshuffle the training samples every epoch.
            class_weight, sample_weight: ``{class: weight}`` / per-sample ``(n,)`` weights of the loss (a
                functional model with several outputs also takes a list or dict of them, one per output).
            validation_freq, validation_batch_size: validate every N epochs, in batches of this size.
            steps_per_epoch: batches per epoch: of a generator (default: until it ends, the first
                epoch), of a Sequence (default: its length), or of arrays (then taken from one stream
                through the data, reshuffled at each pass, as tf.keras does). validation_steps: likewise
                for a validation generator or Sequence.
            device_data_fraction: gpunet's own: on a GPU, the share of free device memory the training
                data may take before it is streamed batch by batch (models/streaming.py).

        Returns:
            A `History`: ``history.history`` maps ``loss``, each metric and their ``val_`` versions to
            per-epoch values.

        Raises:
            RuntimeError: the model is not compiled.
            TypeError: ``nb_epoch`` (Keras 1) or another unknown keyword argument.
            ValueError: inputs, targets, weights, ``batch_size``, ``epochs`` or ``validation_split`` that do not fit
                (the message says what was expected and what was received).
        """
        if kwargs.pop("nb_epoch", None) is not None:
            raise TypeError("nb_epoch was renamed epochs in Keras 2: use fit(..., epochs=N).")
        for ignored in ("max_queue_size", "workers", "use_multiprocessing"):  # Keras 2's, for generators
            kwargs.pop(ignored, None)
        if kwargs:
            raise TypeError(f"fit() got unexpected keyword argument(s): {sorted(kwargs)}")
        own_steps = refuse_own_steps(self, "fit")  # (a train_step of yours: step_loops.py runs it)
        self._check_compiled("training it (fit)", own_steps)
        verbose = 1 if verbose == "auto" else int(verbose)
        batch_size = _data.check_batch_size(batch_size, 32)
        epochs, initial_epoch = _data.check_epochs(epochs, initial_epoch)
        if own_steps:
            return step_loops.fit(self, x, y, sample_weight, batch_size, epochs, verbose, callbacks, validation_split,
                                  validation_data, shuffle, class_weight, initial_epoch, steps_per_epoch,
                                  validation_steps, validation_batch_size, validation_freq)
        if _src.is_batch_source(x) or steps_per_epoch is not None:
            return self._fit_batches(x, y, sample_weight, batch_size, epochs, verbose, callbacks, validation_split,
                                     validation_data, shuffle, class_weight, initial_epoch, steps_per_epoch,
                                     validation_steps, validation_batch_size, validation_freq)
        ops = self.ops
        split = 0.0 if validation_data is not None else validation_split
        xs, ys, sws, val, stream = _stream.fit_data(self, x, y, sample_weight, class_weight, split,
                                                    device_data_fraction, shuffle)
        self._ensure_ready(xs.shape, train=True)
        if validation_data is not None:
            val = _data.prepare_validation(ops, self, validation_data)
        n = xs.shape[0]
        # data-parallel: this rank's share (gpunet.distribute); every rank must pass these alike
        shard = _dist.fit_shard(self, n, batch_size, (("epochs", epochs), ("initial_epoch", initial_epoch)))
        steps = shard.steps if shard else (n + batch_size - 1) // batch_size
        history = History()
        cbs = CallbackList(default_callbacks(callbacks, verbose, history), self,
                           {"verbose": verbose, "epochs": epochs, "steps": steps, "batch_size": batch_size,
                            "samples": n, "do_validation": val is not None})
        self._fit_shard = shard
        if shard:
            shard.plan_stops(cbs.may_stop_at_batches)

        def run_epoch(epoch):
            order = ops.permutation(n) if shuffle and n > 1 else None
            exs, eys, esws, order = shard.epoch(xs, ys, sws, order) if shard else (xs, ys, sws, order)
            plan = self._train_plan()
            if stream is not None and not shard:  # x too large for the device: batches stream in
                usable = plan if plan is not None and plan.accepts(exs, eys, esws) else None
                loss = _stream.run_epoch(self, usable, stream, eys, esws, order, batch_size, cbs)
            elif plan is not None and plan.accepts(exs, eys, esws):
                loss = self._plan_epoch(plan, exs, eys, esws, order, batch_size, steps, cbs)
            else:
                loss = self._layer_epoch(exs, eys, esws, order, batch_size, steps, cbs)
            return shard.logs(loss, self._epoch_seen) if shard else self._logs(loss)

        validate = None if val is None else lambda cbs: self._evaluate_arrays(*val, validation_batch_size or batch_size,
                                                                              cbs)
        with checked_input(self, xs, None if val is None else val[0]):  # x checked once, before any step
            history = self._train_epochs(cbs, history, initial_epoch, epochs, run_epoch, validate, validation_freq)
        self._fit_shard = None
        return history

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False, device_data_fraction=None, **kwargs):
        """The loss and metrics on ``x, y`` in inference mode, batch by batch.

        Args:
            x, y: inputs and targets; sample_weight: per-sample weights ``(n,)`` (or one per output).
            batch_size: samples per batch (default 32); verbose: 0 silent, 1 progress bar ("auto": 1).
            callbacks: `Callback` instances (``on_test_*``); steps: accepted for Keras compatibility.
            return_dict: return ``{"loss": ..., <metric>: ...}``.
            device_data_fraction: as in ``fit``: on a GPU, larger host x is streamed batch by batch.

        Returns:
            The loss (a float) without metrics, else ``[loss, *metrics]`` in ``metrics_names`` order.

        Raises:
            RuntimeError: the model is not compiled.
            ValueError: inputs, targets or weights of the wrong shape, or a bad ``batch_size``.
        """
        own_steps = refuse_own_steps(self, "evaluate")
        self._check_compiled("evaluating it (evaluate)", own_steps)
        batch_size = _data.check_batch_size(batch_size, 32)
        for ignored in ("max_queue_size", "workers", "use_multiprocessing"):
            kwargs.pop(ignored, None)
        verbose = 1 if verbose == "auto" else int(verbose)
        if own_steps:  # (a test_step of yours)
            source = step_loops.batches(self, x, y, sample_weight, batch_size, False, steps, "evaluate")
            cbs = one_pass_callbacks(self, callbacks, verbose, source.steps)
            if cbs is not None:
                cbs.on_test_begin()
            logs = step_loops.evaluate(self, source, cbs)
            if cbs is not None:
                cbs.on_test_end(logs)
            return step_loops.results(self, logs, return_dict)
        self._batch_loss = (0.0, 0)
        whole = ()  # the arrays to check once (a generator's batches are checked one by one)
        if _src.is_batch_source(x):
            batches = _src._Batches(x, steps, what="evaluate")
            cbs = one_pass_callbacks(self, callbacks, verbose, batches.steps)
            run = lambda: _src.evaluate_source(self, batches, cbs)  # noqa: E731
        else:
            xs, ys, sws, _, stream = _stream.fit_data(self, x, y, sample_weight, None, None, device_data_fraction,
                                                      False)
            self._ensure_ready(xs.shape, train=False)
            cbs = one_pass_callbacks(self, callbacks, verbose, (xs.shape[0] + batch_size - 1) // batch_size)
            run = lambda: self._evaluate_arrays(xs, ys, sws, batch_size, cbs, stream)  # noqa: E731
            whole = (xs,)
        with checked_input(self, *whole):
            if cbs is not None:
                cbs.on_test_begin()
            logs = run()
            if cbs is not None:
                cbs.on_test_end(logs)
        return _result(logs, return_dict)

    def __call__(self, x, training=None):
        """Apply the model to an array; returns a backend array (Keras's ``model(x)``). On a symbolic
        tensor (``model(Input((8,)))``) the call is recorded for a functional `Model`, as a layer's
        (``training=False`` there: that call always runs in inference, as in Keras)."""
        if symbolic.is_symbolic(x):
            return symbolic.call_layer(self, x, training)
        if gradient_tape.recording():  # (arrays in a GradientTape become its tensors; its tensors too)
            return gradient_tape.record_call(self, x, B.phase_functions.default_training(training), self.__call__)
        if is_tensor(x):  # inside a layer's or a subclassed model's call(): on the tape, its gradients too
            return sublayers.call_on_tape(self, x, training)
        xs = _data.to_input(self.ops, x, self._input_dtype())
        self._ensure_ready(xs.shape, train=False)
        with checked_input(self), added_losses.collecting() as added:  # one batch: its layers check it as they go
            out = self._forward(xs, B.phase_functions.default_training(training), False)[0]
        self._last_added = [t.data for t in added]  # (model.losses: this call's, as in Keras)
        return self.ops.eager(out)  # (with tf.keras 2's .numpy())

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, reset_metrics=True,
                       return_dict=False):
        """One gradient step on one batch; returns the loss (and metrics) for it."""
        if refuse_own_steps(self, "train_on_batch"):
            self._check_compiled("training it (train_on_batch)", True)
            return step_loops.on_batch(self, self.train_step, x, y, sample_weight, reset_metrics, return_dict)
        self._check_compiled("training it (train_on_batch)")
        xs, ys, sws = _data.prepare(self.ops, self, x, y, sample_weight, class_weight)
        self._ensure_ready(xs.shape, train=True)
        if reset_metrics:
            self.reset_metrics()
        n = xs.shape[0]
        plan = self._train_plan() if n else None
        if plan is None or not plan.accepts(xs, ys, sws):
            with checked_input(self):  # one batch: its layers check it as they go
                loss = self._train_batch(xs, ys, sws)
        else:  # as fit would train this batch, so the two agree bit for bit
            plan.load(xs, ys, sws)
            plan.step(0, n)
            tally = EpochTally(self, plan, n)
            tally.add(0, n)
            loss = tally.loss
        return _result(self._logs(self._running_loss(loss, n)), return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, reset_metrics=True, return_dict=False):
        """Loss (and metrics) for one batch, without training."""
        if refuse_own_steps(self, "test_on_batch"):
            self._check_compiled("evaluating it (test_on_batch)", True)
            return step_loops.on_batch(self, self.test_step, x, y, sample_weight, reset_metrics, return_dict)
        self._check_compiled("evaluating it (test_on_batch)")
        xs, ys, sws = _data.prepare(self.ops, self, x, y, sample_weight, None)
        self._ensure_ready(xs.shape, train=False)
        if reset_metrics:
            self.reset_metrics()
        with checked_input(self):  # one batch: its layers check it as they go
            loss = self._test_batch(xs, ys, sws)
        if self._regularized:
            loss += self._weight_penalty(False)
        return _result(self._logs(self._running_loss(loss, xs.shape[0])), return_dict)

    def reset_metrics(self):
        """Reset the metrics, and the loss that ``train_on_batch``/``test_on_batch`` average over the
        batches since (with ``reset_metrics=False``), as Keras's ``model.reset_metrics()``."""
        for m in self._metrics:
            m.reset_state()
        self._batch_loss = (0.0, 0)

    def reset_states(self):
        """Start every stateful layer (``LSTM(..., stateful=True)``, nested models' too) from zero states again
        (tf.keras 2's ``model.reset_states()``)."""
        for layer in self.layers:
            if getattr(layer, "stateful", False) and hasattr(layer, "reset_states"):
                layer.reset_states()

    @property
    def stateful(self):
        """Whether any layer keeps states from one batch to the next (tf.keras 2's ``model.stateful``)."""
        return any(getattr(layer, "stateful", False) for layer in self.layers)

    def _running_loss(self, loss, rows):
        """The mean loss, weighted by rows, over the batches since the last `reset_metrics` (Keras
        keeps the loss in a `Mean` metric updated with the batch size as its weight)."""
        total, count = getattr(self, "_batch_loss", (0.0, 0))  # (a model from before this attribute)
        self._batch_loss = (total + loss * rows, count + rows)
        return self._batch_loss[0] / max(self._batch_loss[1], 1)

    def _input_dtype(self):
        layers = self._layers
        return layers[0].dtype if layers else B.floatx()


def _result(logs, return_dict):
    if return_dict:
        return dict(logs)
    values = list(logs.values())
    return values[0] if len(values) == 1 else values
