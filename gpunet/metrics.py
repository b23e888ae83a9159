"""Keras metrics.

Contract: ``get(identifier, loss)`` returns a `Metric` (``"accuracy"``/``"acc"``
resolved from the loss as Keras does); ``metric.name`` is the key Keras 2 shows
in ``metrics_names`` and ``History``. A metric accumulates over batches:
``reset_state()``, ``update(ops, y_true, y_pred, sample_weight)``, ``result()``
(a Python float).
"""


class Metric:
    def __init__(self, name):
        self.name = name
        self.reset_state()

    def reset_state(self):
        self.total = 0.0
        self.count = 0.0

    def values(self, ops, y_true, y_pred):
        """Per-sample values, shape (N,)."""
        raise NotImplementedError

    def update(self, ops, y_true, y_pred, sample_weight=None):
        v = self.values(ops, y_true, y_pred)
        if sample_weight is None:
            self.total += ops.to_scalar(ops.sum(v))
            self.count += v.shape[0]
        else:
            self.total += ops.to_scalar(ops.sum(v * sample_weight))
            self.count += ops.to_scalar(ops.sum(sample_weight))

    def result(self):
        return self.total / self.count if self.count else 0.0


class BinaryAccuracy(Metric):
    def __init__(self, name="binary_accuracy", threshold=0.5):
        self.threshold = threshold
        super().__init__(name)

    def values(self, ops, y_true, y_pred):
        return ((y_pred > self.threshold) == (y_true > 0.5)).mean(axis=-1)


def get(identifier, loss=None):
    if isinstance(identifier, Metric):
        return identifier
    if identifier in ("accuracy", "acc"):
        return BinaryAccuracy(name=identifier)
    raise ValueError(f"Unknown metric {identifier!r}.")
