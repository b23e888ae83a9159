"""The metrics a layer or model adds with ``add_metric``: `AddedMean` (the mean of the values a
step gives it) and `TrackedMetric` (a metric object the layer's call updates, whose result it
handed over as a `MetricResult`)."""
from ..backend.eager import EagerFloat
from .base import Metric


class MetricResult(EagerFloat):
    """A metric's result from calling it (``acc = self.accuracy_fn(targets, logits)``): the value, the
    ``metric`` it came from, and tf.keras 2's ``.numpy()``."""


class TrackedMetric(Metric):
    """A metric object a layer's call updates and hands to ``add_metric`` (the Keras guide's endpoint
    layer): logged under ``name`` as the object's own result, reset with the model's metrics."""

    def __init__(self, name, metric):
        self.metric = metric
        super().__init__(name)

    def update(self, ops, y_true, y_pred, sample_weight=None):
        pass  # (the layer's call updates it)

    def reset_state(self):
        super().reset_state()
        self.metric.reset_state()

    def result(self):
        return float(self.metric.result())


class AddedMean(Metric):
    """A value a layer or model logs with ``add_metric``: the mean of its values over the epoch's
    batches (tf.keras 2's ``Mean``), fed by the step (`add_values`), not from targets and outputs."""

    def update(self, ops, y_true, y_pred, sample_weight=None):
        pass  # (the training loop's per-batch call: this metric's values come from the forward pass)

    def add_values(self, ops, values):
        self._total = self._total + ops.xp.sum(values, dtype="float64")
        self._count += values.size
