"""Keras 3's correlation metrics: `PearsonCorrelation` and `ConcordanceCorrelation` (and the functions
``pearson_correlation``, ``concordance_correlation``). As in Keras 3 each row gets the correlation of its
``y_true`` and ``y_pred`` values along ``axis`` (the outputs of a multi-output regression), and the metric
is the (weighted) mean over the rows; a row whose values are all equal has no correlation (NaN)."""
from .. import backend as B
from ..backend.fp_quiet import fp_quiet
from .base import MeanMetricWrapper


def _same_rank(y_true, y_pred):
    """Keras 3's squeeze_or_expand_to_same_rank: a trailing axis of 1 dropped, or one added."""
    if y_true.ndim == y_pred.ndim + 1:
        return (y_true[..., 0], y_pred) if y_true.shape[-1] == 1 else (y_true, y_pred[..., None])
    if y_pred.ndim == y_true.ndim + 1:
        return (y_true, y_pred[..., 0]) if y_pred.shape[-1] == 1 else (y_true[..., None], y_pred)
    return y_true, y_pred


def _arrays(y_true, y_pred):
    ops = B.get_backend()
    y_pred = ops.asarray(y_pred)
    if y_pred.dtype.kind != "f":
        y_pred = y_pred.astype(B.floatx())
    return ops.xp, _same_rank(ops.asarray(y_true, dtype=y_pred.dtype), y_pred)


def pearson_correlation(y_true, y_pred, axis=-1):
    """Each row's Pearson correlation of ``y_true`` and ``y_pred`` along ``axis``."""
    xp, (t, p) = _arrays(y_true, y_pred)
    with fp_quiet(xp, divide="ignore", invalid="ignore"):
        t = t - t.mean(axis=axis, keepdims=True)
        p = p - p.mean(axis=axis, keepdims=True)
        t = t / t.std(axis=axis, keepdims=True)
        p = p / p.std(axis=axis, keepdims=True)
        return (t * p).mean(axis=axis)


def concordance_correlation(y_true, y_pred, axis=-1):
    """Each row's concordance correlation (Lin's) of ``y_true`` and ``y_pred`` along ``axis``:
    ``2 cov / (var_true + var_pred + (mean_true - mean_pred)**2)``."""
    xp, (t, p) = _arrays(y_true, y_pred)
    t_mean, p_mean = t.mean(axis=axis, keepdims=True), p.mean(axis=axis, keepdims=True)
    covariance = (t - p_mean) * (p - p_mean)  # (Keras 3's form; its mean is the covariance)
    norm = t.var(axis=axis, keepdims=True) + p.var(axis=axis, keepdims=True) + (t_mean - p_mean) ** 2
    return (2 * covariance / (norm + B.epsilon())).mean(axis=axis)


class PearsonCorrelation(MeanMetricWrapper):
    """The mean of `pearson_correlation` over the rows (Keras 3's ``keras.metrics.PearsonCorrelation``)."""

    def __init__(self, name="pearson_correlation", dtype=None, axis=-1):
        super().__init__(pearson_correlation, name=name, dtype=dtype, axis=axis)
        self.axis = axis

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "axis": self.axis}


class ConcordanceCorrelation(MeanMetricWrapper):
    """The mean of `concordance_correlation` over the rows (Keras 3's ``keras.metrics.ConcordanceCorrelation``)."""

    def __init__(self, name="concordance_correlation", dtype=None, axis=-1):
        super().__init__(concordance_correlation, name=name, dtype=dtype, axis=axis)
        self.axis = axis

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "axis": self.axis}
