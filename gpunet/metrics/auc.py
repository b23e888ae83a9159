"""`AUC`: the area under the ROC or precision-recall curve, as tf.keras 2 approximates it.

The confusion-matrix counts at ``num_thresholds`` thresholds (evenly spaced in [0, 1], the end
ones just outside it) are kept in `add_weight` variables (confusion.py) and the area is a
Riemann sum over them (``summation_method``), or for ``curve='PR'`` with interpolation the
Davis & Goadrich interpolation tf.keras uses. ``multi_label=True`` keeps counts per label (the
last axis) and averages the labels' areas, weighted by ``label_weights`` when given; without
it ``label_weights`` weigh the labels' counts.
"""
from .. import backend as B
from .confusion import ConfusionMetric, _divide_no_nan, confusion_counts, evenly_spaced, parse_thresholds

_CURVES = {"roc": "ROC", "pr": "PR", "pr_gain": "PR_GAIN", "prgain": "PR_GAIN"}
_SUMMATIONS = ("interpolation", "majoring", "minoring")


def _curve(value):
    name = getattr(value, "value", value)  # (a tf.keras AUCCurve enum has .value)
    if not isinstance(name, str) or name.lower() not in _CURVES or name not in (name.lower(), name.upper()):
        raise ValueError(f'Invalid AUC curve value: "{value}". Expected values are ["PR", "ROC", "PR_GAIN"]')
    return _CURVES[name.lower()]


def _summation(value):
    name = getattr(value, "value", value)
    if not isinstance(name, str) or name.lower() not in _SUMMATIONS or name not in (name.lower(), name.capitalize()):
        raise ValueError(f'Invalid AUC summation method value: "{value}". Expected values are '
                         '["interpolation", "majoring", "minoring"]')
    return name.lower()


class AUC(ConfusionMetric):
    """Area under the curve (tf.keras 2's ``AUC``; History key ``auc``).

    Args: ``num_thresholds`` (> 1), ``curve`` ('ROC', 'PR' or 'PR_GAIN'), ``summation_method``
    ('interpolation', 'minoring', 'majoring'), ``thresholds`` (instead of evenly spaced ones),
    ``multi_label``, ``num_labels`` (with multi_label: the counts are made at once rather than
    at the first update), ``label_weights``, ``from_logits`` (predictions through a sigmoid).
    """

    _keys = ("true_positives", "true_negatives", "false_positives", "false_negatives")

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", name=None, dtype=None,
                 thresholds=None, multi_label=False, num_labels=None, label_weights=None, from_logits=False):
        self.curve, self.summation_method = _curve(curve), _summation(summation_method)
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            inner = sorted(parse_thresholds(thresholds, 0.5))
            self.num_thresholds = len(inner) + 2
            self._evenly = evenly_spaced([0.0] + inner + [1.0])
        else:
            if isinstance(num_thresholds, bool) or int(num_thresholds) != num_thresholds or num_thresholds <= 1:
                raise ValueError(f"Argument `num_thresholds` must be an integer > 1. Received: "
                                 f"num_thresholds={num_thresholds}")
            self.num_thresholds = int(num_thresholds)
            inner = [(i + 1) * 1.0 / (self.num_thresholds - 1) for i in range(self.num_thresholds - 2)]
            self._evenly = True
        eps = B.epsilon()
        self._thresholds = [0.0 - eps] + inner + [1.0 + eps]
        super().__init__(name=name or "auc", dtype=dtype)
        self.multi_label = bool(multi_label)
        self.num_labels = num_labels
        if label_weights is not None:
            label_weights = [float(w) for w in label_weights]
            if any(not w >= 0 for w in label_weights):
                raise ValueError(f"All values of `label_weights` must be non-negative, received {label_weights}")
        self.label_weights = label_weights
        self._from_logits = bool(from_logits)
        self._built = False
        if self.multi_label:
            if num_labels:
                self._build_for(int(num_labels))
        elif num_labels:
            raise ValueError("`num_labels` is needed only when `multi_label` is True.")
        else:
            self._build_for(None)

    @property
    def thresholds(self):
        """The thresholds used, the two outside [0, 1] included."""
        return list(self._thresholds)

    def _build_for(self, labels):
        self._num_labels = labels
        self._build((self.num_thresholds,) if labels is None else (self.num_thresholds, labels))
        self._built = True

    def _counts(self, ops, y_true, y_pred, sample_weight, batches=1):
        if not self._built:
            if y_pred.ndim != 2:
                raise ValueError(f"`y_pred` must have rank 2 when `multi_label=True`. Found shape {tuple(y_pred.shape)}")
            self._build_for(int(y_pred.shape[1]))
        labels = self.label_weights
        if (self.multi_label or labels is not None) and (y_true.ndim != 2 or (
                labels is not None and y_true.shape[1] != len(labels)) or (
                self.multi_label and y_true.shape[1] != self._num_labels)):
            raise ValueError(f"Number of labels is not consistent: y_true of shape {tuple(y_true.shape)}, "
                             f"{self._num_labels or len(labels)} labels expected.")
        if self._from_logits:
            y_pred = ops.activation_forward("sigmoid", y_pred, {})
        return confusion_counts(ops, self.dtype, y_true, y_pred, sample_weight, self._thresholds, self._evenly,
                                multi_label=self.multi_label,
                                label_weights=None if self.multi_label else self.label_weights, batches=batches)

    def _exact_in_one_update(self, sample_weight):
        return sample_weight is None and self.label_weights is None

    def _average(self, xp, ops, by_label):
        """The labels' areas averaged (multi_label), or the one area."""
        if not self.multi_label:
            return by_label
        if self.label_weights is None:
            return by_label.mean()
        weights = ops.asarray(self.label_weights, dtype=self.dtype).astype("float64")
        return _divide_no_nan(xp, (by_label * weights).sum(), weights.sum())

    def _interpolate_pr_auc(self, xp, tp, fp, fn):
        """tf.keras's ``interpolate_pr_auc`` (Davis & Goadrich 2006, section 4)."""
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = _divide_no_nan(xp, dtp, xp.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        ratio = xp.where((p[:-1] > 0) & (p[1:] > 0), _divide_no_nan(xp, p[:-1], xp.maximum(p[1:], 0)), 1.0)
        return _divide_no_nan(xp, slope * (dtp + intercept * xp.log(ratio)), xp.maximum(tp[1:] + fn[1:], 0))

    def result(self):
        """The area, a float (0.0 before a multi-label AUC without num_labels has seen data)."""
        if not self._built:
            return 0.0
        ops = self._ops()
        xp = ops.xp
        tp, tn, fp, fn = (getattr(self, k).value for k in self._keys)
        if self.curve == "PR" and self.summation_method == "interpolation":
            return float(ops.to_host(self._average(xp, ops, self._interpolate_pr_auc(xp, tp, fp, fn).sum(axis=0))))
        recall = _divide_no_nan(xp, tp, tp + fn)
        if self.curve == "ROC":
            x, y = _divide_no_nan(xp, fp, fp + tn), recall
        elif self.curve == "PR":
            x, y = recall, _divide_no_nan(xp, tp, tp + fp)
        else:  # PR_GAIN, with tf.keras's fixes where there are no true positives
            scale = _divide_no_nan(xp, tp + fn, fp + tn)
            recall_gain = 1.0 - scale * _divide_no_nan(xp, fn, tp)
            precision_gain = 1.0 - scale * _divide_no_nan(xp, fp, tp)
            none = tp == 0
            x = xp.maximum(xp.where(none, 0.0, recall_gain), 0.0)
            y = xp.where(none, 1.0, precision_gain)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = xp.minimum(y[:-1], y[1:])
        else:
            heights = xp.maximum(y[:-1], y[1:])
        area = ((x[:-1] - x[1:]) * heights).sum(axis=0)
        return float(ops.to_host(self._average(xp, ops, area)))

    def get_config(self):
        config = super().get_config()
        config.update({"num_thresholds": self.num_thresholds, "curve": self.curve,
                       "summation_method": self.summation_method, "multi_label": self.multi_label,
                       "num_labels": self.num_labels, "label_weights": self.label_weights,
                       "from_logits": self._from_logits})
        if self._init_from_thresholds:
            config["thresholds"] = self.thresholds[1:-1]
        return config
