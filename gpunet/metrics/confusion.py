"""`Precision` and `Recall`, and the confusion-matrix counting they share with `AUC` (auc.py).

As tf.keras 2's metrics (tf_keras/src/utils/metrics_utils.py, update_confusion_matrix_variables):
a prediction is positive at a threshold when it is strictly greater (compared in the metric's
dtype), a label when it is not 0; ``y_true``, ``y_pred`` and ``sample_weight`` are aligned by
dropping or adding a trailing axis of size 1, as Keras does; ``top_k`` keeps each row's k
highest predictions (the lower index first among ties), ``class_id`` one column. Evenly spaced
thresholds (AUC's) are counted through buckets, ``ceil(p * (T - 1))``, as tf.keras does, which
gives the same counts as comparing with each threshold up to the rounding of ``p * (T - 1)``.

The counts live in `add_weight` variables (float64: exact to 2**53), so under
`gpunet.distribute` they are summed over the ranks and the result is that of the global data.
"""
from .. import backend as B
from .base import Metric

NEG_INF = -1e10  # tf.keras's threshold (and filler) with top_k


def parse_thresholds(thresholds, default):
    """tf.keras's ``parse_init_thresholds``: a list of floats in [0, 1] (the default when None)."""
    if thresholds is None:
        return [float(default)]
    values = list(thresholds) if isinstance(thresholds, (list, tuple)) else [thresholds]
    bad = [t for t in values if t is None or isinstance(t, bool) or not 0 <= t <= 1]
    if bad or not values:
        raise ValueError(f"Threshold values must be in [0, 1]. Received: {bad or values}")
    return [float(t) for t in values]


def evenly_spaced(thresholds):
    """tf.keras's ``is_evenly_distributed_thresholds``: 3 or more thresholds at i / (T - 1)."""
    n = len(thresholds)
    return n >= 3 and all(abs(t - i / (n - 1)) <= B.epsilon() + 1e-5 * (i / (n - 1))
                          for i, t in enumerate(thresholds))


def _divide_no_nan(xp, a, b):
    zero = b == 0
    return xp.where(zero, 0.0, a / xp.where(zero, 1.0, b))


def _top_k_mask(xp, x, k):
    """Each row's k highest entries (tf.math.top_k: the lower index first among equal values)."""
    c = x.shape[-1]
    if k >= c:
        return xp.ones(x.shape, dtype=bool)
    kth = xp.sort(x, axis=-1)[..., c - k:c - k + 1]
    above, tied = x > kth, x == kth
    need = k - above.sum(axis=-1, keepdims=True)
    return above | (tied & (xp.cumsum(tied, axis=-1) <= need))


def _align(y_true, y_pred, sample_weight):
    """tf.keras's squeeze_or_expand_dimensions, then the weights broadcast to y_pred's shape."""
    if y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1] == 1:
        y_pred = y_pred[..., 0]
    elif y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    if tuple(y_true.shape) != tuple(y_pred.shape):
        raise ValueError(f"y_true of shape {tuple(y_true.shape)} and y_pred of shape {tuple(y_pred.shape)} are "
                         "not compatible: a confusion-matrix metric compares them value by value.")
    sw = sample_weight
    if sw is not None and sw.ndim:
        if sw.ndim == y_pred.ndim + 1 and sw.shape[-1] == 1:
            sw = sw[..., 0]
        if sw.ndim < y_pred.ndim:
            sw = sw.reshape(tuple(sw.shape) + (1,) * (y_pred.ndim - sw.ndim))
    return y_true, y_pred, sw


def confusion_counts(ops, dtype, y_true, y_pred, sample_weight, thresholds, evenly=False, top_k=None,
                     class_id=None, multi_label=False, label_weights=None, batches=1):
    """``(tp, fp, tn, fn)`` of the rows split into ``batches`` equal batches, as float64 backend
    arrays of shape (batches, T), or (batches, T, labels) with ``multi_label`` (the last axis of
    2-D data), ``T = len(thresholds)``. Each batch's counts are summed as if it came alone."""
    xp = ops.xp
    y_true, y_pred, sw = _align(y_true, y_pred, sample_weight)
    y_pred = y_pred.astype(dtype, copy=False)
    if sw is not None:
        sw = xp.broadcast_to(sw.astype(dtype, copy=False).astype("float64"), y_pred.shape)
    if top_k is not None:
        y_pred = xp.where(_top_k_mask(xp, y_pred, int(top_k)), y_pred, xp.full_like(y_pred, NEG_INF))
    if class_id is not None:
        y_true, y_pred = y_true[..., class_id, None], y_pred[..., class_id, None]
        sw = None if sw is None else sw[..., class_id, None]
    if label_weights is not None:  # (without multi_label: weights of the values of each label)
        lw = ops.asarray(label_weights, dtype=dtype).astype("float64")
        sw = xp.broadcast_to(lw, y_pred.shape) if sw is None else sw * lw
    if multi_label:
        if y_pred.ndim != 2:
            raise ValueError(f"y_pred must have rank 2 with multi_label=True, received shape {tuple(y_pred.shape)}")
        shape = (batches, y_pred.shape[0] // batches, y_pred.shape[1])
    else:
        shape = (batches, -1)  # every value of a batch, flattened
    y_true, y_pred = y_true.reshape(shape), y_pred.reshape(shape)
    true_w = (y_true != 0).astype("float64")
    false_w = 1.0 - true_w
    if sw is not None:
        sw = sw.reshape(shape)
        true_w, false_w = true_w * sw, false_w * sw
    if evenly:
        tp, fp = (_bucket_counts(xp, y_pred, w, len(thresholds), thresholds[0] < 0 or thresholds[-1] > 1)
                  for w in (true_w, false_w))
        total_true, total_false = true_w.sum(axis=1)[:, None], false_w.sum(axis=1)[:, None]
        return tp, fp, total_false - fp, total_true - tp
    thr = ops.asarray(thresholds, dtype=dtype).reshape((len(thresholds),) + (1,) * y_pred.ndim)
    pred_pos = y_pred[None] > thr  # (T, batches, values[, labels])
    pred_neg = ~pred_pos
    return tuple(xp.moveaxis((pred * w).sum(axis=2), 0, 1) for pred, w in
                 ((pred_pos, true_w), (pred_pos, false_w), (pred_neg, false_w), (pred_neg, true_w)))


def _bucket_counts(xp, y_pred, w, n, with_epsilon):
    """tf.keras's ``_update_confusion_matrix_variables_optimized``: the weight ``w`` of the
    predictions above each of ``n`` evenly spaced thresholds, from one histogram of
    ``ceil(p * (n - 1))`` (p clipped to [0, 1]). Per batch (axis 0) and label (multi_label: axis 2)."""
    batches = y_pred.shape[0]
    labels = y_pred.shape[2] if y_pred.ndim == 3 else 1
    scaled = xp.ceil(xp.clip(y_pred, 0, 1) * (n - 1))
    # slot 0: NaN (never positive); slot c + 1 for ceil value c, i.e. bucket c - 1 (-1: above no threshold)
    slots = xp.where(scaled == scaled, scaled + 1, 0).astype("int64")
    offsets = xp.arange(batches, dtype="int64").reshape((batches,) + (1,) * (y_pred.ndim - 1)) * (labels * (n + 1))
    if labels > 1 or y_pred.ndim == 3:
        offsets = offsets + xp.arange(labels, dtype="int64") * (n + 1)
    hist = xp.bincount((slots + offsets).reshape(-1), weights=w.reshape(-1), minlength=batches * labels * (n + 1))
    hist = hist.reshape(batches, labels, n + 1)
    buckets = hist[..., 2:].copy()  # buckets 0 .. n - 2 (none reaches the last threshold)
    if with_epsilon:  # the first threshold is below 0: bucket -1 counts in bucket 0
        buckets[..., 0] += hist[..., 1]
    above = xp.cumsum(buckets[..., ::-1], axis=-1)[..., ::-1]
    above = xp.concatenate([above, xp.zeros((batches, labels, 1), dtype=above.dtype)], axis=-1)
    return above.transpose(0, 2, 1) if y_pred.ndim == 3 else above[:, 0]


class ConfusionMetric(Metric):
    """A metric kept as confusion-matrix counts per threshold: ``_keys`` names its variables
    (``true_positives``, ...); `update` adds a batch's counts, on the backend it is given."""

    _keys = ()

    def _build(self, shape):
        for key in self._keys:
            setattr(self, key, self.add_weight(key, shape=shape, initializer="zeros", dtype="float64"))

    def _counts(self, ops, y_true, y_pred, sample_weight, batches=1):
        """`confusion_counts` with this metric's settings."""
        raise NotImplementedError

    def _add(self, ops, runs):
        """Add each run's per-batch counts (`confusion_counts`'s) to the variables, batch after batch."""
        self._variables_on(ops)
        for i, key in enumerate(("true_positives", "false_positives", "true_negatives", "false_negatives")):
            if key in self._keys:
                getattr(self, key).add_in_order(*(counts[i] for counts in runs))

    def update(self, ops, y_true, y_pred, sample_weight=None):
        self._add(ops, [self._counts(ops, y_true, y_pred, sample_weight)])

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Keras's update with array-likes (labels of any type: nonzero is positive)."""
        ops = B.get_backend()
        y_pred = ops.asarray(y_pred)
        if y_pred.dtype.kind != "f":
            y_pred = ops.asarray(y_pred, dtype=B.floatx())
        if sample_weight is not None:
            sample_weight = ops.asarray(sample_weight, dtype=y_pred.dtype)
        self.update(ops, ops.asarray(y_true), y_pred, sample_weight)

    def _exact_in_one_update(self, sample_weight):
        return sample_weight is None

    def update_batches(self, ops, y_true, y_pred, sample_weight, batch_size):
        """`update` for each batch in turn, with the same sums, counted in one or two passes:
        unweighted counts are integers, exact in float64, so all the batches are one update."""
        if self._exact_in_one_update(sample_weight):
            return self.update(ops, y_true, y_pred, None)
        n = y_pred.shape[0]
        full = n - n % batch_size
        runs, sw = [], sample_weight
        for lo, hi, batches in ((0, full, full // batch_size), (full, n, 1)):
            if hi > lo:
                runs.append(self._counts(ops, y_true[lo:hi], y_pred[lo:hi], None if sw is None else sw[lo:hi],
                                         batches))
        self._add(ops, runs)

    def _ops(self):
        variables = getattr(self, "_variables", ())
        return variables[0].ops if variables else B.get_backend()


class _PrecisionRecall(ConfusionMetric):
    _other = None  # "false_positives" (Precision) or "false_negatives" (Recall)

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds = thresholds
        self.top_k, self.class_id = top_k, class_id
        if top_k is not None and (isinstance(top_k, bool) or int(top_k) != top_k or top_k < 1):
            raise ValueError(f"top_k must be a positive integer, received {top_k!r}")
        self.thresholds = parse_thresholds(thresholds, 0.5 if top_k is None else NEG_INF)
        self._evenly = evenly_spaced(self.thresholds)
        self._keys = ("true_positives", self._other)
        self._build((len(self.thresholds),))

    def _counts(self, ops, y_true, y_pred, sample_weight, batches=1):
        return confusion_counts(ops, self.dtype, y_true, y_pred, sample_weight, self.thresholds, self._evenly,
                                self.top_k, self.class_id, batches=batches)

    def result(self):
        """A float (a host array of one value per threshold when several were given)."""
        ops = self._ops()
        tp, other = self.true_positives.value, getattr(self, self._other).value
        values = ops.to_host(_divide_no_nan(ops.xp, tp, tp + other))
        return float(values[0]) if len(self.thresholds) == 1 else values

    def get_config(self):
        config = super().get_config()
        config.update({"thresholds": self.init_thresholds, "top_k": self.top_k, "class_id": self.class_id})
        return config


class Precision(_PrecisionRecall):
    """``true_positives / (true_positives + false_positives)`` (tf.keras 2's ``Precision``):
    predictions above ``thresholds`` (default 0.5), or in each row's ``top_k``, count as
    positive; ``class_id`` restricts it to one column."""

    _other = "false_positives"

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(thresholds, top_k, class_id, name or "precision", dtype)


class Recall(_PrecisionRecall):
    """``true_positives / (true_positives + false_negatives)`` (tf.keras 2's ``Recall``), with
    the same arguments as `Precision`."""

    _other = "false_negatives"

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(thresholds, top_k, class_id, name or "recall", dtype)
