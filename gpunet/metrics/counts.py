"""Confusion-matrix counts as metrics: `TruePositives`, `FalsePositives`, `TrueNegatives`,
`FalseNegatives`, and the best value of one rate under a floor on another:
`SensitivityAtSpecificity`, `SpecificityAtSensitivity`, `PrecisionAtRecall`, `RecallAtPrecision`.

As tf.keras 2's (tf_keras/src/metrics/confusion_metrics.py), counted by confusion.py's
`confusion_counts` (Precision's and AUC's counting: a prediction is positive when strictly above
a threshold, a label when not 0). The counts are float64 `add_weight` variables, so under
`gpunet.distribute` they are summed over the ranks.
"""
from .confusion import ConfusionMetric, confusion_counts, evenly_spaced, parse_thresholds


class _ConditionCount(ConfusionMetric):
    _key = None  # which count this metric is

    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds = thresholds
        self.thresholds = parse_thresholds(thresholds, 0.5)
        self._evenly = evenly_spaced(self.thresholds)
        self._keys = (self._key,)
        self._build((len(self.thresholds),))

    @property
    def accumulator(self):
        """The count per threshold (tf.keras's variable name)."""
        return getattr(self, self._key)

    def _counts(self, ops, y_true, y_pred, sample_weight, batches=1):
        return confusion_counts(ops, self.dtype, y_true, y_pred, sample_weight, self.thresholds, self._evenly,
                                batches=batches)

    def result(self):
        """The (weighted) count: a float, or a host array of one count per threshold when several were given."""
        values = self._ops().to_host(self.accumulator.value)
        return float(values[0]) if len(self.thresholds) == 1 else values.copy()

    def get_config(self):
        config = super().get_config()
        config["thresholds"] = self.init_thresholds
        return config


class TruePositives(_ConditionCount):
    """The number (the sum of the sample weights) of positive labels predicted above ``thresholds``
    (default 0.5; one count per threshold when given a list)."""
    _key = "true_positives"


class FalsePositives(_ConditionCount):
    """The number (the sum of the sample weights) of negative labels predicted above ``thresholds``."""
    _key = "false_positives"


class TrueNegatives(_ConditionCount):
    """The number (the sum of the sample weights) of negative labels predicted at or below ``thresholds``."""
    _key = "true_negatives"


class FalseNegatives(_ConditionCount):
    """The number (the sum of the sample weights) of positive labels predicted at or below ``thresholds``."""
    _key = "false_negatives"


def _rate(xp, a, b):
    """a / (a + b), 0 where both are 0 (tf.math.divide_no_nan)."""
    total = a + b
    return xp.where(total == 0, 0.0, a / xp.where(total == 0, 1.0, total))


RATES = {  # each rate from the counts (tp, fp, tn, fn)
    "sensitivity": lambda xp, tp, fp, tn, fn: _rate(xp, tp, fn),
    "recall": lambda xp, tp, fp, tn, fn: _rate(xp, tp, fn),
    "specificity": lambda xp, tp, fp, tn, fn: _rate(xp, tn, fp),
    "precision": lambda xp, tp, fp, tn, fn: _rate(xp, tp, fp),
}


class _RateAtRate(ConfusionMetric):
    """The largest ``_result`` rate over ``num_thresholds`` evenly spaced thresholds in [0, 1] among
    those where the ``_constraint`` rate is at least the value given (0.0 when none is)."""
    _constraint = _result = None  # names in RATES; the constraint is also the argument's name
    _keys = ("true_positives", "false_positives", "true_negatives", "false_negatives")

    def __init__(self, value, num_thresholds=200, class_id=None, name=None, dtype=None):
        arg = self._constraint
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise ValueError(f"Argument `{arg}` must be in the range [0, 1]. Received: {arg}={value!r}")
        if isinstance(num_thresholds, bool) or not isinstance(num_thresholds, int) or num_thresholds <= 0:
            raise ValueError("Argument `num_thresholds` must be an integer > 0. "
                             f"Received: num_thresholds={num_thresholds!r}")
        super().__init__(name=name, dtype=dtype)
        setattr(self, arg, value)
        self.value, self.num_thresholds, self.class_id = value, num_thresholds, class_id
        if num_thresholds == 1:
            self.thresholds = [0.5]
        else:
            self.thresholds = [0.0] + [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)] + [1.0]
        # tf.keras counts these through buckets (its "evenly distributed" path) from 2 thresholds up
        self._evenly = num_thresholds > 1
        self._build((len(self.thresholds),))

    def _counts(self, ops, y_true, y_pred, sample_weight, batches=1):
        return confusion_counts(ops, self.dtype, y_true, y_pred, sample_weight, self.thresholds, self._evenly,
                                class_id=self.class_id, batches=batches)

    def result(self):
        """A float: the best ``_result`` rate where the ``_constraint`` rate reaches the value."""
        ops = self._ops()
        xp, counts = ops.xp, [getattr(self, key).value for key in self._keys]
        # the rates in the metric's dtype, as tf.keras computes them: a rate equal to the value in
        # float32 reaches it, even where float64 would fall short by a rounding
        constrained = ops.to_host(RATES[self._constraint](xp, *counts).astype(self.dtype))
        dependent = ops.to_host(RATES[self._result](xp, *counts).astype(self.dtype))
        feasible = constrained >= constrained.dtype.type(self.value)
        return float(dependent[feasible].max()) if feasible.any() else 0.0

    def get_config(self):
        config = super().get_config()
        config.update({"class_id": self.class_id, "num_thresholds": self.num_thresholds,
                       self._constraint: self.value})
        return config


class SensitivityAtSpecificity(_RateAtRate):
    """The best sensitivity (recall, tp / (tp + fn)) at a specificity (tn / (tn + fp)) of at least
    ``specificity``, over ``num_thresholds`` thresholds; ``class_id`` restricts it to one column."""
    _constraint, _result = "specificity", "sensitivity"

    def __init__(self, specificity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(specificity, num_thresholds, class_id, name, dtype)


class SpecificityAtSensitivity(_RateAtRate):
    """The best specificity at a sensitivity of at least ``sensitivity`` (see `SensitivityAtSpecificity`)."""
    _constraint, _result = "sensitivity", "specificity"

    def __init__(self, sensitivity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(sensitivity, num_thresholds, class_id, name, dtype)


class PrecisionAtRecall(_RateAtRate):
    """The best precision (tp / (tp + fp)) at a recall of at least ``recall`` (0.0 when no threshold reaches it)."""
    _constraint, _result = "recall", "precision"

    def __init__(self, recall, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(recall, num_thresholds, class_id, name, dtype)


class RecallAtPrecision(_RateAtRate):
    """The best recall at a precision of at least ``precision`` (0.0 when no threshold reaches it)."""
    _constraint, _result = "precision", "recall"

    def __init__(self, precision, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(precision, num_thresholds, class_id, name, dtype)
