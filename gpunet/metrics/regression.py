"""`R2Score`: the coefficient of determination, as tf.keras 2 computes it
(tf_keras/src/metrics/regression_metrics.py), from per-output sums kept in `add_weight`
variables (float64), so that `gpunet.distribute` sums them over the ranks."""
import numbers
import warnings

from ..backend.fp_quiet import fp_quiet
from .fscore import RowSumMetric

_AGGREGATIONS = (None, "uniform_average", "variance_weighted_average")


class R2Score(RowSumMetric):
    """R2 score (tf.keras 2's ``R2Score``; History key ``r2_score``): ``1 - SS_res / SS_tot`` per
    output (the last axis of ``y_true`` and ``y_pred``, both (batch_size, outputs)).

    Args:
        class_aggregation: None (``result()`` is a host array, one score per output),
            ``"uniform_average"`` (their mean) or ``"variance_weighted_average"`` (their mean
            weighted by each output's ``SS_tot``).
        num_regressors: p > 0 gives the adjusted score, ``1 - (1 - R2) * (n - 1) / (n - p - 1)``,
            where n, as in tf.keras, counts the values seen (rows times outputs); it falls back
            to the plain score, with a warning, when ``p >= n - 1``.
        name, dtype: the History key; the type targets and predictions are taken in.

    Sample weights: one per row (shape (batch_size,) or (batch_size, 1)), or one per value
    (anything that broadcasts to (batch_size, outputs), a scalar included). An output whose
    targets are constant scores 0 (NaN if it is also predicted exactly), as in tf.keras;
    ``result()`` is 0.0 before an update.
    """

    _keys = (("squared_sum", "squared_sum"), ("sum", "sum"), ("total_mse", "residual"), ("count", "count"))

    def __init__(self, class_aggregation="uniform_average", num_regressors=0, name="r2_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if class_aggregation not in _AGGREGATIONS:
            raise ValueError(f"Invalid value for argument `class_aggregation`. Expected one of {_AGGREGATIONS}. "
                             f"Received: class_aggregation={class_aggregation}")
        # (tf.keras takes any number here, then fails in result() on one that is not an int)
        if isinstance(num_regressors, bool) or not isinstance(num_regressors, numbers.Integral):
            raise ValueError("Invalid value for argument `num_regressors`. Expected an integer >= 0. "
                             f"Received: num_regressors={num_regressors!r}")
        if num_regressors < 0:
            raise ValueError("Invalid value for argument `num_regressors`. Expected a value >= 0. "
                             f"Received: num_regressors={num_regressors}")
        self.class_aggregation = class_aggregation
        self.num_regressors = int(num_regressors)
        # the number of values seen (tf.keras's int32 tf.size sum; float64 here, like every sum)
        self.num_samples = self.add_weight("num_samples", shape=(), initializer="zeros", dtype="float64")

    def _check_weights(self, sample_weight, shape):
        if sample_weight is None:
            return
        sw = tuple(sample_weight.shape)
        sw2 = sw + (1,) if len(sw) == 1 else sw  # one weight per row, as tf.keras expands it
        if len(sw) > 2 or not all(s in (1, d) for s, d in zip(sw2, shape)):
            raise ValueError(f"R2Score expects sample_weight that broadcasts to y_true's shape {shape}: a scalar, "
                             f"({shape[0]},), ({shape[0]}, 1) or {shape}. Received: sample_weight.shape={sw}.")

    def _rows(self, ops, y_true, y_pred, sample_weight):
        xp, dtype = ops.xp, self.dtype
        y_true = y_true.astype(dtype, copy=False).astype("float64")
        y_pred = y_pred.astype(dtype, copy=False).astype("float64")
        if sample_weight is None:
            w = xp.ones(y_true.shape, dtype="float64")
        else:
            w = sample_weight.astype(dtype, copy=False).astype("float64")
            if w.ndim == 1:
                w = w.reshape(-1, 1)
            w = xp.broadcast_to(w, y_true.shape)
        weighted = y_true * w
        error = y_true - y_pred
        return xp.stack([y_true * weighted, weighted, error * error * w, w], axis=1)

    def _add(self, ops, sums, sizes):
        super()._add(ops, sums, sizes)
        values = self.num_samples.value
        for rows in sizes:  # (integers: exact in float64)
            values = values + rows * self._classes
        self.num_samples.assign(values)

    def result(self):
        """The score: a host float64 array of one per output when ``class_aggregation`` is None,
        else a float."""
        if self._classes is None:
            return 0.0
        ops, (squared_sum, total_sum, residual, count) = self._values()
        xp = ops.xp
        # IEEE division as tf's: 0/0 is NaN, x/0 infinite (then 0); NumPy is kept from warning of it
        with fp_quiet(xp, divide="ignore", invalid="ignore"):
            mean = total_sum / count
            total = squared_sum - total_sum * mean
            raw = 1.0 - residual / total
            raw = xp.where(xp.isinf(raw), 0.0, raw)
            if self.class_aggregation == "uniform_average":
                score = raw.mean()
            elif self.class_aggregation == "variance_weighted_average":
                score = (total * raw).sum() / total.sum()
            else:
                score = raw
            host = ops.to_host(score).astype("float64")
            if self.num_regressors:
                n, p = float(self.num_samples), float(self.num_regressors)
                if p > n - 1:
                    warnings.warn("More independent predictors than datapoints in adjusted R2 score. Falling back "
                                  "to standard R2 score.", stacklevel=2)
                elif p == n - 1:
                    warnings.warn("Division by zero in Adjusted R2 score. Falling back to standard R2 score.",
                                  stacklevel=2)
                else:
                    host = 1.0 - (1.0 - host) * (n - 1.0) / (n - p - 1.0)
        return host.copy() if self.class_aggregation is None else float(host)

    def get_config(self):
        config = super().get_config()
        config.update({"class_aggregation": self.class_aggregation, "num_regressors": self.num_regressors})
        return config
