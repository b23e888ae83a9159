"""Regression, hinge and distribution losses (Keras 2 formulas, mean or sum over the last axis).

Gradients follow TensorFlow's conventions at kinks: ``maximum(a, b)`` passes the
gradient to ``a`` where ``a >= b``, ``abs`` has gradient ``sign`` (0 at 0).
"""
import math

from .. import backend as B
from .base import Loss, along_axis


class MeanSquaredError(Loss):
    """``mean((y_true - y_pred) ** 2)`` over the last axis."""
    name = "mean_squared_error"

    def _forward(self, ops, y_true, y_pred, need_grad):
        d = y_pred - y_true
        values = (d * d).mean(axis=-1)
        if need_grad:
            d *= 2.0 / y_pred.shape[-1]
        return values, d


class MeanAbsoluteError(Loss):
    """``mean(abs(y_true - y_pred))`` over the last axis."""
    name = "mean_absolute_error"

    def _forward(self, ops, y_true, y_pred, need_grad):
        d = y_pred - y_true
        values = ops.xp.abs(d).mean(axis=-1)
        grad = ops.xp.sign(d) * (1.0 / y_pred.shape[-1]) if need_grad else None
        return values, grad


class MeanAbsolutePercentageError(Loss):
    """``100 * mean(abs((y_true - y_pred) / max(abs(y_true), eps)))`` over the last axis."""
    name = "mean_absolute_percentage_error"

    def _forward(self, ops, y_true, y_pred, need_grad):
        xp = ops.xp
        d = y_pred - y_true
        scale = (100.0 / y_pred.shape[-1]) / xp.maximum(xp.abs(y_true), B.epsilon())
        values = (xp.abs(d) * scale).sum(axis=-1)
        return values, (xp.sign(d) * scale if need_grad else None)


class MeanSquaredLogarithmicError(Loss):
    """``mean((log(max(y_pred, eps) + 1) - log(max(y_true, eps) + 1)) ** 2)`` over the last axis."""
    name = "mean_squared_logarithmic_error"

    def _forward(self, ops, y_true, y_pred, need_grad):
        xp, eps = ops.xp, B.epsilon()
        p1 = xp.maximum(y_pred, eps) + 1.0
        d = xp.log(p1) - xp.log(xp.maximum(y_true, eps) + 1.0)
        values = (d * d).mean(axis=-1)
        grad = None
        if need_grad:
            grad = d * (y_pred >= eps)
            grad *= 2.0 / y_pred.shape[-1]
            grad /= p1
        return values, grad


class LogCosh(Loss):
    """``mean(log(cosh(y_pred - y_true)))`` over the last axis, computed without overflow."""
    name = "log_cosh"

    def _forward(self, ops, y_true, y_pred, need_grad):
        xp = ops.xp
        d = y_pred - y_true
        values = d + xp.logaddexp(-2.0 * d, 0) - math.log(2.0)
        grad = xp.tanh(d) * (1.0 / y_pred.shape[-1]) if need_grad else None
        return values.mean(axis=-1), grad


class Huber(Loss):
    """``0.5 * d**2`` for ``|d| <= delta``, else ``delta * |d| - 0.5 * delta**2``; mean over the last axis."""
    name = "huber_loss"

    def __init__(self, delta=1.0, reduction="auto", name=None):
        super().__init__(reduction, name)
        self.delta = float(delta)

    def _forward(self, ops, y_true, y_pred, need_grad):
        xp, delta = ops.xp, self.delta
        d = y_pred - y_true
        a = xp.abs(d)
        small = a <= delta
        values = xp.where(small, 0.5 * d * d, delta * a - 0.5 * delta * delta).mean(axis=-1)
        grad = None
        if need_grad:
            grad = xp.where(small, d, delta * xp.sign(d)) * (1.0 / y_pred.shape[-1])
        return values, grad

    def get_config(self):
        config = super().get_config()
        config["delta"] = self.delta
        return config


class CosineSimilarity(Loss):
    """``-sum(l2_normalize(y_true) * l2_normalize(y_pred))`` over the last axis (-1 is most similar)."""
    name = "cosine_similarity"

    def __init__(self, axis=-1, reduction="auto", name=None):
        super().__init__(reduction, name)
        self.axis = axis

    @along_axis
    def _forward(self, ops, y_true, y_pred, need_grad):
        xp = ops.xp
        # tf.linalg.l2_normalize: x / sqrt(max(sum(x**2), 1e-12))
        ss = (y_pred * y_pred).sum(axis=-1, keepdims=True)
        norm = xp.sqrt(xp.maximum(ss, 1e-12))
        yn = y_true / xp.sqrt(xp.maximum((y_true * y_true).sum(axis=-1, keepdims=True), 1e-12))
        pn = y_pred / norm
        cos = (yn * pn).sum(axis=-1, keepdims=True)
        grad = None
        if need_grad:  # the norm's gradient only where the 1e-12 floor is inactive
            grad = (pn * cos) * (ss >= 1e-12)
            grad -= yn
            grad /= norm
        return -cos[..., 0], grad

    def get_config(self):
        config = super().get_config()
        config["axis"] = self.axis
        return config


def _hinge_labels(xp, y_true):
    # Keras converts {0, 1} labels to {-1, 1} when every label in the batch is 0 or 1;
    # xp.where on a 0-d condition keeps this on the device. Converting twice changes nothing
    # (converted labels are -1 and 1, and all 1 stays 1), which `_HingeLabels` relies on.
    is_binary = ((y_true == 0) | (y_true == 1)).all()
    return xp.where(is_binary, 2.0 * y_true - 1.0, y_true).astype(y_true.dtype, copy=False)


class _HingeLabels(Loss):
    """The hinge losses' labels, converted batch by batch when an epoch is tallied at once."""
    labels_per_batch = True

    def _batch_labels(self, ops, y_true, batch_size):
        xp, n = ops.xp, y_true.shape[0]
        if n == 0:
            return y_true
        other = ((y_true != 0) & (y_true != 1)).reshape(n, -1).sum(axis=1)  # non-0/1 labels per sample
        binary = xp.repeat(ops.batch_sums(other, batch_size) == 0, batch_size)[:n]
        binary = binary.reshape((n,) + (1,) * (y_true.ndim - 1))
        return xp.where(binary, 2.0 * y_true - 1.0, y_true).astype(y_true.dtype, copy=False)


class Hinge(_HingeLabels):
    """``mean(max(1 - y_true * y_pred, 0))`` over the last axis; labels -1/1 (0/1 are converted)."""
    name = "hinge"

    def _forward(self, ops, y_true, y_pred, need_grad):
        xp = ops.xp
        y = _hinge_labels(xp, y_true)
        margin = 1.0 - y * y_pred
        values = xp.maximum(margin, 0).mean(axis=-1)
        grad = -(y * (margin >= 0)) * (1.0 / y_pred.shape[-1]) if need_grad else None
        return values, grad


class SquaredHinge(_HingeLabels):
    """``mean(max(1 - y_true * y_pred, 0) ** 2)`` over the last axis; labels -1/1 (0/1 are converted)."""
    name = "squared_hinge"

    def _forward(self, ops, y_true, y_pred, need_grad):
        xp = ops.xp
        y = _hinge_labels(xp, y_true)
        h = xp.maximum(1.0 - y * y_pred, 0)
        values = (h * h).mean(axis=-1)
        grad = -(y * h) * (2.0 / y_pred.shape[-1]) if need_grad else None
        return values, grad


class CategoricalHinge(Loss):
    """``max(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0)`` for one-hot ``y_true``."""
    name = "categorical_hinge"

    def _forward(self, ops, y_true, y_pred, need_grad):
        xp = ops.xp
        others = (1.0 - y_true) * y_pred
        pos = (y_true * y_pred).sum(axis=-1)
        top = xp.argmax(others, axis=-1)[..., None]
        neg = xp.take_along_axis(others, top, axis=-1)[..., 0]
        margin = neg - pos + 1.0
        grad = None
        if need_grad:  # the max's gradient goes to its first maximum
            grad = (xp.arange(y_pred.shape[-1]) == top) * (1.0 - y_true)
            grad -= y_true
            grad *= (margin >= 0)[..., None]
        return xp.maximum(margin, 0), grad


class KLDivergence(Loss):
    """``sum(y_true * log(y_true / y_pred))`` over the last axis, both clipped to ``[eps, 1]``."""
    name = "kl_divergence"

    def _forward(self, ops, y_true, y_pred, need_grad):
        xp, eps = ops.xp, B.epsilon()
        y = xp.clip(y_true, eps, 1.0)
        p = xp.clip(y_pred, eps, 1.0)
        values = (y * xp.log(y / p)).sum(axis=-1)
        grad = None
        if need_grad:
            grad = -(y / p) * ((y_pred >= eps) & (y_pred <= 1.0))
        return values, grad


class Poisson(Loss):
    """``mean(y_pred - y_true * log(y_pred + eps))`` over the last axis."""
    name = "poisson"

    def _forward(self, ops, y_true, y_pred, need_grad):
        xp, eps = ops.xp, B.epsilon()
        shifted = y_pred + eps
        values = (y_pred - y_true * xp.log(shifted)).mean(axis=-1)
        grad = None
        if need_grad:
            grad = 1.0 - y_true / shifted
            grad *= 1.0 / y_pred.shape[-1]
        return values, grad
