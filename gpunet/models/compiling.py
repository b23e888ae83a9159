"""``compile``: a model's optimizer, loss and metrics, as Keras 2 takes them (models/training.py's
loops read what it sets)."""
from .. import losses as _losses, metrics as _metrics, optimizers as _optimizers
from ..losses.weighted import WeightedLoss, one_weight

_NOT_COMPILED = ("You must compile your model before {what}: call "
                 "`model.compile(optimizer, loss, metrics)` first (a model built by model_from_json, "
                 "model_from_yaml or load_model(compile=False) is not compiled).")


class CompileMixin:
    """compile, what it sets, and the metrics it made."""

    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None, weighted_metrics=None,
                run_eagerly=None, steps_per_execution=None, jit_compile=None, **kwargs):
        """Configure training (Keras 2's arguments).

        Args:
            optimizer: a name (``"adam"``), a `gpunet.optimizers.Optimizer` or a config dict.
            loss: a name, a `gpunet.losses.Loss`, or your ``f(y_true, y_pred)`` of tensors returning
                per-sample values or a scalar (trained through gpunet.autodiff); None: the model trains on
                the losses its layers add (``add_loss``) alone, and fit takes no ``y``.
            metrics: names (``"accuracy"`` is resolved from the loss), `Metric` objects or functions, logged
                under their names (a function's ``__name__``); each sample counts once, whatever its weight.
            weighted_metrics: likewise, weighted by ``sample_weight`` and ``class_weight``; logged after
                ``metrics``, one named as a metric there is renamed ``weighted_<name>`` (as in tf.keras 2).
            run_eagerly: True (or ``model.run_eagerly = True``) runs a subclassed model's ``call`` at every
                step, as Keras does, instead of its trace on the fused steps (models/call_trace.py).
            loss_weights: the loss's weight (a number, or a list or dict of one), as in tf.keras 2: the loss
                trained and logged is the loss times it.
            steps_per_execution, jit_compile: accepted for Keras compatibility.

        Raises:
            ValueError: metrics without a loss, metrics given as a dict, duplicate metric names (or "loss"), an
                unknown name.
            TypeError: an identifier that is neither a name, a function nor a gpunet object.
        """
        loss_fn = _losses.get(loss) if loss is not None else _losses.AddedLossesOnly.checked(metrics, weighted_metrics)
        weight = one_weight(loss_weights)
        opt = _optimizers.get(optimizer)
        metric_ids = list(metrics or [])
        if isinstance(metrics, dict):
            raise ValueError("Sequential models have one output: pass metrics as a list, e.g. ['accuracy'].")
        ms, weighted = _metrics.compiled(metric_ids, weighted_metrics, loss_fn)
        if weight != 1.0 and loss is not None:  # (as tf.keras 2: the loss times its weight, logged so too)
            loss_fn = WeightedLoss(loss_fn, weight)
        self.run_eagerly = bool(run_eagerly)
        self._set_compiled(opt, loss, loss_fn, ms, weighted, metric_ids, weighted_metrics, loss_weights)

    def _set_compiled(self, optimizer, loss, loss_fn, metric_objects, weighted, metrics, weighted_metrics,
                      loss_weights):
        """compile's outcome: the optimizer, the loss as given and as a loss object, the metric objects and
        which of them take the sample weights, and compile's arguments as saving writes them back."""
        self.optimizer, self.loss, self._loss_fn, self._metrics = optimizer, loss, loss_fn, metric_objects
        self._metric_weighted = weighted  # which metrics take the sample (and class) weights
        self._compile_args = {"loss": loss, "metrics": metrics, "weighted_metrics": weighted_metrics,
                              "loss_weights": loss_weights}
        if self.built:
            self._pack()

    def get_compile_config(self):
        """Keras 3's: compile's arguments as a ``.keras`` file holds them (None before compile). A model of your
        own may override it, with `compile_from_config`, to save settings of its own (``save`` writes what it
        returns; ``load_model`` hands that to `compile_from_config`)."""
        from ..saving.training_config import keras3_compile_config, training_config
        return keras3_compile_config(training_config(self), self)

    def compile_from_config(self, config):
        """Keras 3's: compile as ``config`` (what `get_compile_config` gave) says."""
        from ..saving.training_config import compile_from_training_config
        if config:
            compile_from_training_config(self, config)

    @property
    def metrics_names(self):
        """``['loss', <metric names>]`` as Keras 2 prints them."""
        return ["loss"] + [m.name for m in self._metrics]

    @property
    def metrics(self):
        return list(self._metrics)

    def _check_compiled(self, what, own_steps=False):
        """(A model that runs its own steps needs compile to have run, not a loss: its steps may take none.)"""
        if (self._loss_fn is None and not own_steps) or self.optimizer is None:
            raise RuntimeError(_NOT_COMPILED.format(what=what))
