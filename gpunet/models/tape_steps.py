"""Keras's step methods: ``train_step``, ``test_step``, ``predict_step``, ``compute_loss``, ``compute_metrics``,
``compiled_loss`` and ``compiled_metrics``, as Keras's guide "Customizing what happens in fit" uses them.

gpunet's own loops run fused steps of their own (engine.py, the plans). A model whose class overrides one of
these methods trains, evaluates and predicts through them instead (step_loops.py), with `gpunet.GradientTape`
where the guide writes ``tf.GradientTape``: the defaults here are tf.keras 2's, so ``super().train_step(data)``
and a model that overrides only ``compute_loss`` work as in Keras.
"""
from .. import backend as B
from ..autodiff.gradient_tape import GradientTape
from ..autodiff.tensor import Tensor, is_tensor, value_of


def unpack_x_y_sample_weight(data):
    from ..utils.py_dataset import unpack_x_y_sample_weight as unpack  # (gpunet.utils imports the models)
    return unpack(data)


class CompiledLoss:
    """tf.keras 2's ``model.compiled_loss``: ``compiled_loss(y, y_pred, sample_weight, regularization_losses)``
    gives compile's loss plus the regularization losses, and tracks it in the model's ``loss`` metric."""

    def __init__(self, model):
        self._model = model

    def __call__(self, y_true, y_pred, sample_weight=None, regularization_losses=None):
        model = self._model
        loss_fn = getattr(model, "_loss_fn", None)
        if loss_fn is None or getattr(loss_fn, "takes_no_targets", False):
            total = None
        elif isinstance(y_pred, (list, tuple, dict)):
            raise NotImplementedError(f"compiled_loss on the {len(y_pred)} outputs of '{model.name}': gpunet's "
                                      f"compiled_loss takes a model of one output; sum your losses per output.")
        else:
            total = loss_fn(y_true, y_pred if is_tensor(y_pred) else Tensor(B.get_backend().asarray(y_pred)),
                            sample_weight)
        for extra in regularization_losses or ():
            total = extra if total is None else total + extra
        if total is None:
            raise ValueError(f"compiled_loss: '{model.name}' was compiled without a loss and no "
                             f"regularization_losses were given.")
        rows = _rows(y_pred)  # (weighted by the batch's size, as tf.keras 2 tracks it: a short last batch counts less)
        loss_tracker(model).update_state(value_of(total), sample_weight=rows)
        return total


class CompiledMetrics:
    """tf.keras 2's ``model.compiled_metrics``: ``update_state(y, y_pred, sample_weight)`` updates compile's
    metrics (``sample_weight`` reaches its weighted_metrics only, as in tf.keras 2); ``reset_state()`` resets
    them."""

    def __init__(self, model):
        self._model = model

    def update_state(self, y_true, y_pred, sample_weight=None):
        model = self._model
        for metric, takes_weights in zip(model._metrics, model._metric_weighted, strict=True):
            metric.update_state(y_true, value_of(y_pred), sample_weight if takes_weights else None)

    def reset_state(self):
        for metric in self._model._metrics:
            metric.reset_state()

    @property
    def metrics(self):
        return list(self._model._metrics)


def _rows(y_pred):
    first = y_pred
    while isinstance(first, (list, tuple, dict)):
        first = next(iter(first.values())) if isinstance(first, dict) else first[0]
    return None if first is None or not getattr(first, "shape", ()) else int(first.shape[0])


def loss_tracker(model):
    """The model's ``loss`` metric (a `Mean`), made on first use."""
    tracker = model.__dict__.get("_loss_tracker")
    if tracker is None:
        from ..metrics import Mean
        tracker = model.__dict__["_loss_tracker"] = Mean(name="loss")
    return tracker


class StepMethodsMixin:
    """Keras's step methods with tf.keras 2's default bodies (see the module docstring)."""

    def train_step(self, data):
        """One training step on the batch ``data`` (``x``, ``(x, y)`` or ``(x, y, sample_weight)``): forward on a
        `GradientTape`, `compute_loss`, the gradients applied by the optimizer; returns `compute_metrics`."""
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        with GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x, y, y_pred, sample_weight)
        weights = self.trainable_weights
        grads = tape.gradient(loss, weights)
        self.optimizer.apply_gradients([(g, w) for g, w in zip(grads, weights) if g is not None])
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def test_step(self, data):
        """One evaluation step: forward in inference, `compute_loss` (tracked), `compute_metrics`."""
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        y_pred = self(x, training=False)
        self.compute_loss(x, y, y_pred, sample_weight)
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def predict_step(self, data):
        """The model's output for the batch ``data`` (its ``x``)."""
        x, _, _ = unpack_x_y_sample_weight(data)
        return self(x, training=False)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, **kwargs):
        """compile's loss on ``y, y_pred`` plus ``self.losses`` (tf.keras 2.11's and Keras 3's)."""
        return self.compiled_loss(y, y_pred, sample_weight, regularization_losses=self.losses)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Update compile's metrics with the batch; returns `get_metrics_result`."""
        self.compiled_metrics.update_state(y, y_pred, sample_weight)
        return self.get_metrics_result()

    def get_metrics_result(self):
        """``{name: result}`` of every metric in ``self.metrics``."""
        return {m.name: m.result() for m in self.metrics}

    @property
    def compiled_loss(self):
        return CompiledLoss(self)

    @property
    def compiled_metrics(self):
        return CompiledMetrics(self)

    @property
    def metrics(self):
        """The metrics fit and evaluate report: compile's (and, for a model that runs its own steps, the ``loss``
        tracker first, as tf.keras 2 lists it after training)."""
        from .own_steps import runs_own_steps
        own = list(self._metrics)
        return [loss_tracker(self)] + own if runs_own_steps(self) else own
