"""`FBetaScore` and `F1Score` (tf.keras 2's, tf_keras/src/metrics/f_score_metrics.py), and
`RowSumMetric`, the state they share with `R2Score` (regression.py).

The per-class sums live in `add_weight` variables (float64), made at the first update from the
number of classes (tf.keras builds them then too), so `reset_state` zeroes them and
`gpunet.distribute` sums them over the ranks: the result is that of the global data.
"""
from .. import backend as B
from .base import Metric
from .confusion import _divide_no_nan

_AVERAGES = (None, "micro", "macro", "weighted")
_CHUNK = 1 << 24  # float64 values (128 MiB) of per-row terms made at once for an epoch's update


class RowSumMetric(Metric):
    """A metric whose state is sums over the rows of 2-D ``y_true`` / ``y_pred``: ``_keys`` name
    its variables, `_rows` gives each row's terms, ``(rows, len(_keys)) + _shape(classes)``."""

    _keys = ()

    def __init__(self, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self._classes = None  # (built at the first update, as tf.keras builds them)

    def _shape(self, classes):
        return (classes,)

    def _build(self, classes):
        for key, name in self._keys:
            setattr(self, key, self.add_weight(name, shape=self._shape(classes), initializer="zeros",
                                               dtype="float64"))
        self._classes = classes

    def _check(self, y_true, y_pred, sample_weight):
        """Raise ValueError unless the shapes are tf.keras's: 2-D, the same, as many classes as
        the variables were built for (building them at the first update)."""
        kind = type(self).__name__
        if y_pred.ndim != 2 or y_true.ndim != 2:
            raise ValueError(f"{kind} expects 2D inputs with shape (batch_size, output_dim). Received input shapes: "
                             f"y_pred.shape={tuple(y_pred.shape)} and y_true.shape={tuple(y_true.shape)}.")
        if tuple(y_true.shape) != tuple(y_pred.shape):
            # (tf.keras would broadcast a (batch_size, 1) y_true, e.g. class indices, into nonsense)
            raise ValueError(f"{kind} expects y_true and y_pred of the same shape (batch_size, output_dim), "
                             f"y_true one-hot or multi-hot. Received: y_pred.shape={tuple(y_pred.shape)} and "
                             f"y_true.shape={tuple(y_true.shape)}.")
        if self._classes is None:
            self._build(int(y_pred.shape[1]))
        elif y_pred.shape[1] != self._classes:
            raise ValueError(f"{kind} was built for output_dim={self._classes} by its first update (reset_state "
                             f"keeps it). Received: y_pred.shape={tuple(y_pred.shape)}. Make a new metric for "
                             "another number of classes.")
        self._check_weights(sample_weight, tuple(y_pred.shape))

    def _check_weights(self, sample_weight, shape):
        if sample_weight is not None and tuple(sample_weight.shape) not in ((shape[0],), (shape[0], 1)):
            raise ValueError(f"{type(self).__name__} expects one sample weight per row: sample_weight of shape "
                             f"({shape[0]},) or ({shape[0]}, 1). Received: sample_weight.shape="
                             f"{tuple(sample_weight.shape)}.")

    def _rows(self, ops, y_true, y_pred, sample_weight):
        raise NotImplementedError

    def _add(self, ops, sums, sizes):
        """Add each batch's sums (``ops.batch_sums``'s, by rows) to the variables, batch after batch
        (``sizes``: its rows)."""
        self._variables_on(ops)
        for i, (key, _) in enumerate(self._keys):
            getattr(self, key).add_in_order(sums[:, i])

    def update(self, ops, y_true, y_pred, sample_weight=None):
        self._check(y_true, y_pred, sample_weight)
        n = y_pred.shape[0]
        if n:
            self._add(ops, ops.batch_sums(self._rows(ops, y_true, y_pred, sample_weight), n, by_rows=True), [n])

    def update_batches(self, ops, y_true, y_pred, sample_weight, batch_size):
        """`update` for each batch of ``batch_size`` rows in turn, with a few passes over the
        epoch: the same sums, added in the same order."""
        self._check(y_true, y_pred, sample_weight)
        n = y_pred.shape[0]
        # whole batches at a time, so that the float64 terms (4 per value) stay within _CHUNK values
        step = batch_size * max(1, _CHUNK // max(1, 4 * batch_size * y_pred.shape[1]))
        for lo in range(0, n, step):
            hi = min(n, lo + step)
            sw = None if sample_weight is None else sample_weight[lo:hi]
            sizes = [min(batch_size, hi - b) for b in range(lo, hi, batch_size)]
            rows = self._rows(ops, y_true[lo:hi], y_pred[lo:hi], sw)
            self._add(ops, ops.batch_sums(rows, batch_size, by_rows=True), sizes)

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Keras's update with array-likes: 2-D ``y_true`` and ``y_pred`` of one shape."""
        from ..autodiff.tensor import value_of
        ops = B.get_backend()
        y_pred = ops.asarray(value_of(y_pred))
        if y_pred.dtype.kind != "f":
            y_pred = y_pred.astype(B.floatx())
        sample_weight = None if sample_weight is None else ops.asarray(value_of(sample_weight), dtype=y_pred.dtype)
        self.update(ops, ops.asarray(value_of(y_true)), y_pred, sample_weight)

    def _values(self):
        """The variables' values, float64 backend arrays, and their backend."""
        return getattr(self, self._keys[0][0]).ops, [getattr(self, key).value for key, _ in self._keys]


class FBetaScore(RowSumMetric):
    """The F-beta score, ``(1 + beta**2) * precision * recall / (beta**2 * precision + recall)``
    per class (tf.keras 2's ``FBetaScore``; History key ``fbeta_score``), for multi-class and
    multi-label outputs: ``y_true`` and ``y_pred`` of shape (batch_size, classes).

    Args:
        average: None (``result()`` is a host array, one score per class), ``"micro"`` (one score
            from the counts summed over the classes), ``"macro"`` (the classes' mean score) or
            ``"weighted"`` (their mean weighted by each class's number of true labels).
        beta: a Python float > 0, the weight of recall.
        threshold: a Python float in (0, 1]: a prediction above it is positive. None: each row's
            highest prediction (all of them if tied; none if it is 0) is positive.
        name, dtype: the History key; the type predictions are compared in.

    Sample weights, one per row, weigh each row's counts. ``result()`` is 0.0 before an update.
    """

    _keys = (("true_positives", "true_positives"), ("false_positives", "false_positives"),
             ("false_negatives", "false_negatives"), ("intermediate_weights", "intermediate_weights"))

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if average not in _AVERAGES:
            raise ValueError("Invalid `average` argument value. Expected one of: {None, 'micro', 'macro', "
                             f"'weighted'}}. Received: average={average}")
        # tf.keras's checks and messages; a bool or an int is refused as there
        if not isinstance(beta, float):
            raise ValueError(f"Invalid `beta` argument value. It should be a Python float. Received: beta={beta} "
                             f"of type '{type(beta)}'")
        if not beta > 0.0:
            raise ValueError(f"Invalid `beta` argument value. It should be > 0. Received: beta={beta}")
        if threshold is not None:
            if not isinstance(threshold, float):
                raise ValueError("Invalid `threshold` argument value. It should be a Python float. Received: "
                                 f"threshold={threshold} of type '{type(threshold)}'")
            if not 0.0 < threshold <= 1.0:
                raise ValueError("Invalid `threshold` argument value. It should verify 0 < threshold <= 1. "
                                 f"Received: threshold={threshold}")
        self.average, self.beta, self.threshold = average, beta, threshold

    def _shape(self, classes):
        return () if self.average == "micro" else (classes,)

    def _rows(self, ops, y_true, y_pred, sample_weight):
        xp, dtype = ops.xp, self.dtype
        # labels and predictions in the metric's dtype first, as tf.keras converts them
        y_true = y_true.astype(dtype, copy=False).astype("float64")
        y_pred = y_pred.astype(dtype, copy=False)
        if self.threshold is None:
            top = y_pred >= y_pred.max(axis=-1, keepdims=True)
            positive = top & (xp.abs(y_pred) > ops.asarray(1e-9, dtype=dtype))  # a row of zeros has no argmax
        else:
            positive = y_pred > ops.asarray(self.threshold, dtype=dtype)
        pred = positive.astype("float64")
        terms = xp.stack([pred * y_true, pred * (1.0 - y_true), (1.0 - pred) * y_true, y_true], axis=1)
        if sample_weight is not None:
            w = sample_weight.astype(dtype, copy=False).astype("float64").reshape(-1, 1, 1)
            terms = terms * w
        return terms.sum(axis=-1) if self.average == "micro" else terms

    def result(self):
        """The score: a host float64 array of one per class when ``average`` is None, else a float."""
        if self._classes is None:
            return 0.0
        ops, (tp, fp, fn, support) = self._values()
        xp = ops.xp
        precision = _divide_no_nan(xp, tp, tp + fp)
        recall = _divide_no_nan(xp, tp, tp + fn)
        b2 = self.beta * self.beta
        score = _divide_no_nan(xp, precision * recall, b2 * precision + recall) * (1.0 + b2)
        if self.average == "weighted":
            score = (score * _divide_no_nan(xp, support, support.sum())).sum()
        elif self.average is not None:
            score = score.mean()
        host = ops.to_host(score)
        return host.copy() if self.average is None else float(host)

    def get_config(self):
        config = super().get_config()
        config.update({"average": self.average, "beta": self.beta, "threshold": self.threshold})
        return config


class F1Score(FBetaScore):
    """`FBetaScore` with ``beta=1.0``: ``2 * precision * recall / (precision + recall)``
    (tf.keras 2's ``F1Score``; History key ``f1_score``). Same ``average``, ``threshold``."""

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self):
        config = super().get_config()
        del config["beta"]
        return config
