"""Crossentropy losses, in probability space or from logits.

Probability space follows Keras 3 (``keras/src/backend/*/nn.py``): clip ``y_pred``
to ``[eps, 1 - eps]`` with ``eps = backend.epsilon()`` (1e-7), then take the log;
categorical losses first divide ``y_pred`` by its sum over the class axis. Where
the clip is active the gradient is 0, as TensorFlow's and PyTorch's clip gradients.

tf-keras 2.x differs in two ways, both immaterial for unsaturated outputs:
``backend.binary_crossentropy`` computes ``log(clip(p) + eps)`` (an extra ``+ eps``),
and inside ``fit``/``evaluate`` it sees through a sigmoid or softmax output layer
(``output._keras_logits``) and computes the loss from the logits with no clipping.
The plain ``log(clip(p))`` form is the one that agrees with both: with saved
tf-keras 2.21 and Keras 3.15 models (sigmoid + binary and softmax + categorical)
it reproduces both ``evaluate`` losses to about 1e-7.
"""
from .. import backend as B
from .base import Loss, along_axis


def _check_axis(axis):
    if not isinstance(axis, int) or isinstance(axis, bool):
        raise ValueError(f"axis must be an integer (the class axis), received {axis!r}")
    return axis


def _log_softmax(xp, z):
    """``(log_softmax(z), softmax(z))`` over the last axis, stable for any logits."""
    shifted = z - z.max(axis=-1, keepdims=True)
    e = xp.exp(shifted)
    total = e.sum(axis=-1, keepdims=True)
    shifted -= xp.log(total)
    e /= total
    return shifted, e


def _mean_last(xp, values):
    """``values.mean(axis=-1)`` (a fresh array), computed as np.mean does it."""
    n = values.shape[-1]
    if n == 1:
        return values.reshape(values.shape[:-1])  # x / 1 == x
    total = values.sum(axis=-1)
    xp.divide(total, n, out=total)
    return total


class _LabelSmoothedCrossentropy(Loss):
    """What the binary and categorical cross-entropies share: Keras's ``from_logits``,
    ``label_smoothing`` and ``axis`` arguments and their config."""

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="auto", name=None):
        super().__init__(reduction, name)
        self.from_logits = bool(from_logits)
        self.label_smoothing = float(label_smoothing)
        self.axis = _check_axis(axis)

    def get_config(self):
        config = super().get_config()
        config.update(from_logits=self.from_logits, label_smoothing=self.label_smoothing, axis=self.axis)
        return config


class BinaryCrossentropy(_LabelSmoothedCrossentropy):
    """``-mean(y * log(p) + (1 - y) * log(1 - p))`` over the last axis.

    ``label_smoothing`` squeezes the labels towards 0.5: ``y * (1 - ls) + 0.5 * ls``.
    With ``from_logits=True`` ``y_pred`` holds logits ``z``: ``max(z, 0) - z * y + log(1 + exp(-|z|))``.
    """

    name = "binary_crossentropy"

    @along_axis
    def _forward(self, ops, y_true, y_pred, need_grad):
        xp = ops.xp
        y = y_true
        if self.label_smoothing:
            y = y * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
        inv_n = 1.0 / y_pred.shape[-1]
        grad = None
        if self.from_logits:
            z = y_pred
            values = xp.abs(z)
            xp.negative(values, out=values)
            xp.exp(values, out=values)
            xp.log1p(values, out=values)
            values += xp.maximum(z, 0)
            values -= z * y
            if need_grad:
                grad = ops.sigmoid(z)
                grad -= y
                grad *= inv_n
            return _mean_last(xp, values), grad
        eps = B.epsilon()
        # clip as maximum then minimum, and mean as add.reduce then divide: the same values
        # without np.clip's and np.mean's Python-level wrappers (most of a small batch's loss).
        p = xp.maximum(y_pred, eps)
        xp.minimum(p, 1.0 - eps, out=p)
        q = xp.subtract(1.0, p)
        values = xp.log(p)
        values *= y
        values += (1.0 - y) * xp.log(q)
        values = _mean_last(xp, values)
        xp.negative(values, out=values)
        if need_grad:
            grad = (1.0 - y) / q
            grad -= y / p
            grad *= (y_pred >= eps) & (y_pred <= 1.0 - eps)
            grad *= inv_n
        return values, grad


class CategoricalCrossentropy(_LabelSmoothedCrossentropy):
    """``-sum(y * log(p))`` over the last axis for one-hot (or soft) labels ``y``.

    ``y_pred`` is normalized to sum to 1 and clipped to ``[eps, 1 - eps]``; with
    ``from_logits=True`` it holds logits and ``log_softmax`` is used instead.
    ``label_smoothing`` mixes the labels with the uniform distribution: ``y * (1 - ls) + ls / classes``.
    """

    name = "categorical_crossentropy"

    @along_axis
    def _forward(self, ops, y_true, y_pred, need_grad):
        xp = ops.xp
        y = y_true
        if self.label_smoothing:
            y = y * (1.0 - self.label_smoothing) + self.label_smoothing / y_pred.shape[-1]
        grad = None
        if self.from_logits:
            log_p, p = _log_softmax(xp, y_pred)
            values = -(y * log_p).sum(axis=-1)
            if need_grad:  # softmax(z) * sum(y) - y
                grad = p * y.sum(axis=-1, keepdims=True)
                grad -= y
            return values, grad
        eps = B.epsilon()
        total = y_pred.sum(axis=-1, keepdims=True)
        q = y_pred / total
        qc = xp.clip(q, eps, 1.0 - eps)
        values = -(y * xp.log(qc)).sum(axis=-1)
        if need_grad:
            # d/dp_k of -sum_j y_j log(clip(p_j / s)) = (g_k + sum_j y_j m_j) / s, g_j = -y_j m_j / q_j,
            # m_j = 1 where the clip is inactive: the normalization's own gradient included.
            ym = y * ((q >= eps) & (q <= 1.0 - eps))
            grad = ym.sum(axis=-1, keepdims=True) - ym / qc
            grad /= total
        return values, grad


class SparseCategoricalCrossentropy(Loss):
    """Categorical crossentropy for integer labels: ``-log(p[label])`` (normalized and clipped
    as `CategoricalCrossentropy`). ``y_true`` holds class indices of shape ``y_pred.shape[:-1]``.

    ``ignore_class`` (tf.keras 2.10+): samples whose label is that value get loss 0 and no
    gradient, and Keras's default reduction divides by the number of the others.
    """

    name = "sparse_categorical_crossentropy"
    sparse_labels = True

    def __init__(self, from_logits=False, axis=-1, reduction="auto", name=None, ignore_class=None):
        super().__init__(reduction, name)
        if ignore_class is not None and (isinstance(ignore_class, bool) or int(ignore_class) != ignore_class):
            raise ValueError(f"ignore_class must be an integer label or None, received {ignore_class!r}")
        self.from_logits = bool(from_logits)
        self.axis = _check_axis(axis)
        self.ignore_class = None if ignore_class is None else int(ignore_class)

    def _prepare_true(self, ops, y_true, y_pred):
        if y_true.ndim == y_pred.ndim:
            y_true = y_true.reshape(y_true.shape[:-1])
        return y_true.astype("int64", copy=False)

    @along_axis
    def _forward(self, ops, y_true, y_pred, need_grad):
        xp = ops.xp
        keep = None
        if self.ignore_class is not None:
            keep = y_true != self.ignore_class
            y_true = xp.where(keep, y_true, 0)  # any class in range; its values are zeroed below
        values, grad = self._labelled(ops, y_true, y_pred, need_grad)
        if keep is not None:
            values = values * keep
            if grad is not None:
                grad *= keep[..., None]
        return values, grad

    def _labelled(self, ops, y_true, y_pred, need_grad):
        xp = ops.xp
        idx = y_true[..., None]
        onehot = None
        if need_grad:
            onehot = xp.arange(y_pred.shape[-1]) == idx
        if self.from_logits:
            log_p, p = _log_softmax(xp, y_pred)
            values = -xp.take_along_axis(log_p, idx, axis=-1)[..., 0]
            if need_grad:
                p -= onehot
            return values, p
        eps = B.epsilon()
        total = y_pred.sum(axis=-1, keepdims=True)
        q = xp.take_along_axis(y_pred, idx, axis=-1) / total
        qc = xp.clip(q, eps, 1.0 - eps)
        values = -xp.log(qc)[..., 0]
        grad = None
        if need_grad:  # CategoricalCrossentropy's gradient with a one-hot y
            inside = ((q >= eps) & (q <= 1.0 - eps)).astype(y_pred.dtype)
            grad = onehot / qc
            xp.subtract(1.0, grad, out=grad)
            grad *= inside / total
        return values, grad

    # With ignore_class, tf.keras weighs the kept values by total / kept (losses_utils.apply_valid_mask)
    # under its default reduction: the batch's mean is over the kept values alone.
    def _kept_factor(self, ops, y_true, lo=0, hi=None):
        labels = y_true[lo:hi]
        kept = float((labels != self.ignore_class).sum())
        return labels.size / kept if kept else 0.0

    def _rescales(self):
        return self.ignore_class is not None and self.reduction in ("auto", "sum_over_batch_size")

    def compute(self, ops, y_true, y_pred, sample_weight=None):
        loss, grad = super().compute(ops, y_true, y_pred, sample_weight)
        if self._rescales():
            factor = self._kept_factor(ops, self._prepare_true(ops, y_true, y_pred))
            loss = loss * y_pred.dtype.type(factor)
            grad *= factor
        return loss, grad

    def batch_losses(self, ops, y_true, y_pred, sample_weight, batch_size):
        values = super().batch_losses(ops, y_true, y_pred, sample_weight, batch_size)
        if self._rescales():
            labels = self._prepare_true(ops, y_true, y_pred)
            values = [v * self._kept_factor(ops, labels, lo, lo + batch_size)
                      for v, lo in zip(values, range(0, y_pred.shape[0], batch_size))]
        return values

    def get_config(self):
        config = super().get_config()
        config.update(from_logits=self.from_logits, axis=self.axis, ignore_class=self.ignore_class)
        return config
