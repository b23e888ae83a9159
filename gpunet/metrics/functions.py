"""Per-sample metric functions.

Internal versions take ``(ops, y_true, y_pred)`` backend arrays and may return booleans
(summed in float64 by the metric); the public ones (``binary_accuracy(y_true, y_pred)``)
take array-likes on the current backend and return floats, as ``keras.metrics.<name>``.
"""
from .. import backend as B
from .. import losses as _losses
from ..autodiff import value_of
from . import correlation as _correlation


def _sparse_labels(y_true, y_pred):
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        return y_true.reshape(y_true.shape[:-1])
    return y_true


def _binary_accuracy(ops, y_true, y_pred, threshold=0.5):
    # Keras compares y_true with the thresholded prediction for equality: labels must be 0/1.
    matches = y_true == (y_pred > threshold)
    return matches[..., 0] if matches.ndim > 1 and matches.shape[-1] == 1 else matches.mean(axis=-1)


def _binary_matches(ops, y_true, y_pred, threshold=0.5):
    # What tf.keras's BinaryAccuracy class averages (metrics_utils.binary_matches): one value per
    # element, so that (N, C) sample weights weigh each element.
    return y_true == (y_pred > threshold)


def _categorical_accuracy(ops, y_true, y_pred):
    return ops.xp.argmax(y_true, axis=-1) == ops.xp.argmax(y_pred, axis=-1)


def _sparse_categorical_accuracy(ops, y_true, y_pred):
    return _sparse_labels(y_true, y_pred) == ops.xp.argmax(y_pred, axis=-1)


def _in_top_k(xp, y_pred, labels, k):
    # tf.math.in_top_k: the target is in the top k when fewer than k classes score strictly
    # higher (ties at the boundary count as inside); a non-finite target score never is.
    target = xp.take_along_axis(y_pred, labels.astype("int64")[..., None], axis=-1)
    return ((y_pred > target).sum(axis=-1) < k) & xp.isfinite(target[..., 0])


def _top_k_categorical_accuracy(ops, y_true, y_pred, k=5):
    return _in_top_k(ops.xp, y_pred, ops.xp.argmax(y_true, axis=-1), k)


def _sparse_top_k_categorical_accuracy(ops, y_true, y_pred, k=5):
    return _in_top_k(ops.xp, y_pred, _sparse_labels(y_true, y_pred), k)


def _accuracy(ops, y_true, y_pred):
    return y_true == y_pred


def _squared_error(ops, y_true, y_pred):
    d = y_pred - y_true
    d *= d
    return d


def _cosine_similarity(ops, y_true, y_pred, axis=-1):
    return -_losses.CosineSimilarity(axis).per_sample(ops, y_true, y_pred)


def _via_loss(cls):
    def per_sample(ops, y_true, y_pred, **kwargs):
        return cls(**kwargs).per_sample(ops, y_true, y_pred)
    per_sample.per_sample = not cls.labels_per_batch  # (the hinge losses': batch by batch)
    return per_sample


# ---- public functions --------------------------------------------------------------------------
def _apply(fn, y_true, y_pred, **kwargs):
    ops = B.get_backend()
    y_pred = ops.asarray(y_pred)
    if y_pred.dtype.kind != "f":
        y_pred = ops.asarray(y_pred, dtype=B.floatx())
    y_true = ops.asarray(y_true)
    if y_true.dtype.kind in "fb":
        y_true = y_true.astype(y_pred.dtype, copy=False)
    return ops.asarray(fn(ops, y_true, y_pred, **kwargs), dtype=y_pred.dtype)


def accuracy(y_true, y_pred):
    """1.0 where ``y_true == y_pred`` exactly, else 0.0 (elementwise)."""
    return _apply(_accuracy, y_true, y_pred)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """Per-sample fraction of ``y_pred > threshold`` that equal the 0/1 labels ``y_true``."""
    return _apply(_binary_accuracy, y_true, y_pred, threshold=threshold)


def binary_matches(y_true, y_pred, threshold=0.5):
    """Elementwise 1.0 where ``y_pred > threshold`` equals the 0/1 label (`BinaryAccuracy`'s values)."""
    return _apply(_binary_matches, y_true, y_pred, threshold=threshold)


def categorical_accuracy(y_true, y_pred):
    """Per-sample 1.0 where ``argmax(y_pred)`` equals ``argmax(y_true)`` (one-hot labels)."""
    return _apply(_categorical_accuracy, y_true, y_pred)


def sparse_categorical_accuracy(y_true, y_pred):
    """Per-sample 1.0 where ``argmax(y_pred)`` equals the integer label ``y_true``."""
    return _apply(_sparse_categorical_accuracy, y_true, y_pred)


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """Per-sample 1.0 where the one-hot target is among the ``k`` highest predictions."""
    return _apply(_top_k_categorical_accuracy, y_true, y_pred, k=k)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    """Per-sample 1.0 where the integer target is among the ``k`` highest predictions."""
    return _apply(_sparse_top_k_categorical_accuracy, y_true, y_pred, k=k)


def cosine_similarity(y_true, y_pred, axis=-1):
    """Per-sample cosine similarity of ``y_true`` and ``y_pred`` (1: same direction)."""
    return _apply(_cosine_similarity, y_true, y_pred, axis=axis)


def squared_error(y_true, y_pred):
    """Elementwise ``(y_true - y_pred) ** 2`` (what RootMeanSquaredError averages)."""
    return _apply(_squared_error, y_true, y_pred)


_INTERNAL = {accuracy: _accuracy, binary_accuracy: _binary_accuracy, binary_matches: _binary_matches,
             categorical_accuracy: _categorical_accuracy,
             sparse_categorical_accuracy: _sparse_categorical_accuracy,
             top_k_categorical_accuracy: _top_k_categorical_accuracy,
             sparse_top_k_categorical_accuracy: _sparse_top_k_categorical_accuracy,
             cosine_similarity: _cosine_similarity, squared_error: _squared_error}

# Keras 2's metric function names (canonical first) and their aliases.
PUBLIC = {
    "binary_accuracy": binary_accuracy, "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "top_k_categorical_accuracy": top_k_categorical_accuracy,
    "sparse_top_k_categorical_accuracy": sparse_top_k_categorical_accuracy,
    "mean_squared_error": _losses.mean_squared_error, "mean_absolute_error": _losses.mean_absolute_error,
    "mean_absolute_percentage_error": _losses.mean_absolute_percentage_error,
    "mean_squared_logarithmic_error": _losses.mean_squared_logarithmic_error,
    "hinge": _losses.hinge, "squared_hinge": _losses.squared_hinge, "categorical_hinge": _losses.categorical_hinge,
    "logcosh": _losses.log_cosh, "kullback_leibler_divergence": _losses.kl_divergence, "poisson": _losses.poisson,
    "cosine_similarity": cosine_similarity, "binary_crossentropy": _losses.binary_crossentropy,
    "categorical_crossentropy": _losses.categorical_crossentropy,
    "sparse_categorical_crossentropy": _losses.sparse_categorical_crossentropy, "huber": _losses.huber,
    "binary_focal_crossentropy": _losses.binary_focal_crossentropy,
    "categorical_focal_crossentropy": _losses.categorical_focal_crossentropy,
    "pearson_correlation": _correlation.pearson_correlation,
    "concordance_correlation": _correlation.concordance_correlation,
}
ALIASES = {"mse": "mean_squared_error", "MSE": "mean_squared_error", "mae": "mean_absolute_error",
           "MAE": "mean_absolute_error", "mape": "mean_absolute_percentage_error",
           "MAPE": "mean_absolute_percentage_error", "msle": "mean_squared_logarithmic_error",
           "MSLE": "mean_squared_logarithmic_error", "log_cosh": "logcosh", "kld": "kullback_leibler_divergence",
           "KLD": "kullback_leibler_divergence", "kl_divergence": "kullback_leibler_divergence",
           "cosine_proximity": "cosine_similarity", "bce": "binary_crossentropy", "BCE": "binary_crossentropy",
           "huber_loss": "huber"}

# What "accuracy"/"acc" and "crossentropy"/"ce" become.
RESOLVED = {
    "accuracy": {"binary": "binary_accuracy", "categorical": "categorical_accuracy",
                 "sparse": "sparse_categorical_accuracy"},
    "crossentropy": {"binary": "binary_crossentropy", "categorical": "categorical_crossentropy",
                     "sparse": "sparse_categorical_crossentropy"},
}


_PER_SAMPLE = frozenset(_INTERNAL.values())


def per_sample(fn):
    """True for gpunet's internal functions: each sample's value depends on that sample
    alone, so several batches may be computed in one call."""
    return fn in _PER_SAMPLE or getattr(fn, "per_sample", False) is True


def internal(fn):
    """The ``(ops, y_true, y_pred, **kwargs)`` version of a public metric or loss function;
    any other function ``fn(y_true, y_pred)`` of backend arrays is wrapped as it is."""
    if fn in _INTERNAL:
        return _INTERNAL[fn]
    if getattr(fn, "__module__", None) == _losses.__name__:
        try:
            return _via_loss(type(_losses.get(fn)))
        except TypeError:
            pass

    def user_fn(ops, y_true, y_pred, **kwargs):
        with B.use_backend(ops):  # K.* / gpunet.ops calls in the function compute on this backend
            return ops.asarray(value_of(fn(as_column(y_true), y_pred, **kwargs)))
    user_fn.__name__ = getattr(fn, "__name__", "metric")
    return user_fn


def as_column(y):
    """1-D targets (sparse labels, one value a sample) as a column ``(n, 1)``: what tf.keras 2 hands a
    user's metric (its ``expand_1d``), which may then compare them with ``(n, 1)`` predictions."""
    return y.reshape(-1, 1) if getattr(y, "ndim", 0) == 1 else y
