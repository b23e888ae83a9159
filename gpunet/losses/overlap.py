"""Keras 3's overlap losses for segmentation and other masks: `Dice` and `Tversky` (and the functions
``dice``, ``tversky``). With ``axis=None`` (the default) the sums run over the whole batch, so the loss
is one value for the batch, as in Keras 3; ``axis=(1, 2, 3)``, say, gives one per sample. Their
gradients come from the tape (`FunctionLoss`)."""
from .. import backend as B
from ..autodiff import is_tensor, lift
from .function_loss import FunctionLoss


def _prepared(y_true, y_pred):
    from .. import ops
    y_pred = lift(y_pred)
    return ops.cast(y_true, y_pred.dtype), y_pred


def _as_given(out, *inputs):
    return out if any(is_tensor(x) for x in inputs) else out.data


def dice(y_true, y_pred, axis=None):
    """``1 - 2 * sum(y_true * y_pred) / (sum(y_true) + sum(y_pred) + epsilon)`` over ``axis``."""
    from .. import ops
    t, p = _prepared(y_true, y_pred)
    overlap = ops.sum(t * p, axis=axis)
    return _as_given(1 - 2.0 * overlap / (ops.sum(t, axis=axis) + ops.sum(p, axis=axis) + B.epsilon()),
                     y_true, y_pred)


def tversky(y_true, y_pred, alpha=0.5, beta=0.5, axis=None):
    """``1 - TP / (TP + alpha * sum((1 - y_pred) * y_true) + beta * sum(y_pred * (1 - y_true)) + epsilon)``
    over ``axis``, ``TP = sum(y_true * y_pred)`` (Keras 3's weights: ``alpha`` on the missed mass, ``beta``
    on the mass predicted outside the target)."""
    from .. import ops
    t, p = _prepared(y_true, y_pred)
    overlap = ops.sum(t * p, axis=axis)
    missed = ops.sum((1 - p) * t, axis=axis)
    extra = ops.sum(p * (1 - t), axis=axis)
    return _as_given(1 - overlap / (overlap + missed * alpha + extra * beta + B.epsilon()), y_true, y_pred)


class Dice(FunctionLoss):
    """The `dice` loss (Keras 3's ``keras.losses.Dice``)."""

    def __init__(self, reduction="auto", name="dice", axis=None, dtype=None):
        super().__init__(dice, reduction, name, axis=axis)


class Tversky(FunctionLoss):
    """The `tversky` loss (Keras 3's ``keras.losses.Tversky``); ``alpha = beta = 0.5`` is `Dice`."""

    def __init__(self, alpha=0.5, beta=0.5, reduction="auto", name="tversky", axis=None, dtype=None):
        super().__init__(tversky, reduction, name, alpha=alpha, beta=beta, axis=axis)
