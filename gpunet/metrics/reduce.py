"""`Mean` and `Sum`: metrics of the values they are given (tf.keras 2's ``Reduce`` metrics), for
your own loops, callbacks and layers (``self.add_metric(self.mean_metric(values))``)::

    m = gpunet.metrics.Mean()
    m.update_state([1, 3, 5, 7])
    m.update_state([2, 4], sample_weight=[3, 1])
    m.result()    # (16 + 10) / (4 + 4) = 3.25

They take ``update_state(values, sample_weight=None)``, not ``(y_true, y_pred)``: given to
``compile(metrics=...)`` they are refused with a message (tf.keras 2 fails there with a TypeError
about its arguments).
"""
from .base import Metric


def _weigh(xp, values, weights, reduce):
    """tf.keras's weighting: the weights squeezed or expanded by one axis against the values, then
    broadcast to them when every axis is 1 or the values' (else the values are first reduced, by
    ``reduce``, over the axes the weights lack). Returns (weighted values, the weights used)."""
    given = tuple(weights.shape)
    if weights.ndim == values.ndim + 1 and weights.shape[-1] == 1:
        weights = weights[..., 0]
    elif weights.ndim == values.ndim - 1:
        weights = weights[..., None]
    fits = weights.ndim == 0 or (weights.ndim == values.ndim and all(
        w in (1, v) for w, v in zip(weights.shape, values.shape)))
    if not fits:
        if weights.ndim > values.ndim or tuple(weights.shape) != tuple(values.shape[:weights.ndim]):
            raise ValueError(f"sample_weight of shape {given} cannot weigh values of shape "
                             f"{tuple(values.shape)}: expected a scalar or a shape that is a prefix of the "
                             "values' shape, or broadcasts to it")
        values = reduce(values, axis=tuple(range(weights.ndim, values.ndim)))
    weights = xp.broadcast_to(weights, values.shape)
    return values * weights, weights


def compile_refusal(metric):
    """Why a `Mean` or `Sum` cannot be a compile metric, and what to use instead."""
    return (f"{type(metric).__name__} reduces the values given to update_state(values, sample_weight), not a "
            "model's (y_true, y_pred): it cannot be a compile metric. For the mean of your function of (y_true, "
            "y_pred) pass the function (metrics=[fn]) or MeanMetricWrapper(fn); to log values from a layer, call "
            "the metric on them and pass its result to add_metric.")


class _Reduce(Metric):
    _mean = True  # Mean: total / count (the weights' sum); Sum: total

    def __init__(self, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        # float64 sums (as gpunet's other metric states): exact counts, summed over ranks by gpunet.distribute
        self.total = self.add_weight("total", dtype="float64")
        if self._mean:
            self.count = self.add_weight("count", dtype="float64")

    def update_state(self, values, sample_weight=None):
        """Add ``values`` (any shape; weighted by ``sample_weight``, broadcast as tf.keras does)."""
        from ..autodiff.tensor import value_of
        ops = self.total.ops
        values = ops.asarray(value_of(values), dtype=self.dtype)
        xp = ops.xp
        if sample_weight is None:
            total, count = xp.sum(values, dtype="float64"), values.size
        else:
            weights = ops.asarray(value_of(sample_weight), dtype=self.dtype)
            weighted, weights = _weigh(xp, values, weights, xp.mean if self._mean else xp.sum)
            total, count = xp.sum(weighted, dtype="float64"), xp.sum(weights, dtype="float64")
        self.total.assign_add(total)
        if self._mean:
            self.count.assign_add(count)

    def update(self, ops, y_true, y_pred, sample_weight=None):
        raise ValueError(compile_refusal(self))

    def result(self):
        """A float: the weighted mean (0.0 before any weight) or the sum."""
        total = float(self.total)
        if not self._mean:
            return total
        count = float(self.count)
        return total / count if count else 0.0

    def __call__(self, values, sample_weight=None):
        """Update with ``values``, then return the result (see `Metric.__call__`)."""
        from .added import MetricResult
        self.update_state(values, sample_weight)
        value = MetricResult(self.result())
        value.metric = self
        return value


class Mean(_Reduce):
    """The weighted mean of every value given so far (tf.keras's ``Mean``): ``sum(w * v) / sum(w)``."""

    def __init__(self, name="mean", dtype=None):
        super().__init__(name, dtype)


class Sum(_Reduce):
    """The weighted sum of every value given so far (tf.keras's ``Sum``)."""
    _mean = False

    def __init__(self, name="sum", dtype=None):
        super().__init__(name, dtype)
