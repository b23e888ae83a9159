"""Keras metrics.

Contract: ``get(identifier, loss)`` returns a `Metric` (``"accuracy"``/``"acc"``
resolved from the loss and shapes as Keras does); ``metric.name`` is the key Keras 2
shows in ``metrics_names`` and ``History`` (the string as given: ``metrics=["mse"]``
shows ``"mse"``). A metric accumulates a weighted mean over batches:
``reset_state()``, ``update(ops, y_true, y_pred, sample_weight)``, ``result()``
(a Python float). As in Keras there are classes (``BinaryAccuracy(threshold=0.7)``)
and per-sample functions (``binary_accuracy(y_true, y_pred)``). `Precision`, `Recall` and
`AUC` (also ``metrics=["AUC"]``, ``"auc"``, ...) keep confusion-matrix counts instead::

    model.compile("adam", "binary_crossentropy", metrics=["accuracy", "mse"])
    # model.metrics_names == ["loss", "accuracy", "mse"]; accuracy is binary_accuracy here
"""
from .. import losses as _losses
from .base import Metric, MeanMetricWrapper, RootMeanSquaredError, _Resolved
from .classes import (Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
                      TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, MeanSquaredError, MeanAbsoluteError,
                      MeanAbsolutePercentageError, MeanSquaredLogarithmicError, Hinge, SquaredHinge,
                      CategoricalHinge, LogCoshError, KLDivergence, Poisson, CosineSimilarity, BinaryCrossentropy,
                      CategoricalCrossentropy, SparseCategoricalCrossentropy)
from .confusion import Precision, Recall
from .auc import AUC
from .fscore import FBetaScore, F1Score
from .regression import R2Score
from .iou import IoU, MeanIoU, BinaryIoU, OneHotIoU, OneHotMeanIoU
from .correlation import PearsonCorrelation, ConcordanceCorrelation, pearson_correlation, concordance_correlation
from .reduce import Mean, Sum, compile_refusal
from .relative_error import MeanRelativeError
from .mean_tensor import MeanTensor
from .counts import (TruePositives, FalsePositives, TrueNegatives, FalseNegatives, SensitivityAtSpecificity,
                     SpecificityAtSensitivity, PrecisionAtRecall, RecallAtPrecision)
from .functions import (accuracy, binary_accuracy, categorical_accuracy, sparse_categorical_accuracy,
                        top_k_categorical_accuracy, sparse_top_k_categorical_accuracy, cosine_similarity,
                        PUBLIC as _PUBLIC, ALIASES as _ALIASES)

# Keras's metrics module re-exports these loss functions.
from ..losses import (binary_crossentropy, categorical_crossentropy, sparse_categorical_crossentropy,
                      binary_focal_crossentropy, categorical_focal_crossentropy,
                      mean_squared_error, mean_absolute_error, mean_absolute_percentage_error,
                      mean_squared_logarithmic_error, hinge, squared_hinge, categorical_hinge, poisson,
                      kl_divergence, log_cosh, huber)

acc = ACC = accuracy
bce = BCE = binary_crossentropy
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kullback_leibler_divergence = kl_divergence
logcosh = log_cosh
cosine_proximity = cosine_similarity

_CLASSES = {cls.__name__: cls for cls in (
    Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy, TopKCategoricalAccuracy,
    SparseTopKCategoricalAccuracy, MeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError, RootMeanSquaredError, Hinge, SquaredHinge, CategoricalHinge, LogCoshError,
    KLDivergence, Poisson, CosineSimilarity, BinaryCrossentropy, CategoricalCrossentropy,
    SparseCategoricalCrossentropy, Precision, Recall, AUC,
    TruePositives, FalsePositives, TrueNegatives, FalseNegatives, SensitivityAtSpecificity, SpecificityAtSensitivity,
    PrecisionAtRecall, RecallAtPrecision, Mean, Sum, FBetaScore, F1Score, R2Score, IoU, MeanIoU, BinaryIoU,
    OneHotIoU, OneHotMeanIoU, PearsonCorrelation, ConcordanceCorrelation, MeanRelativeError, MeanTensor)}
# Keras 3 also takes these classes by their snake-case names (tf.keras 2 only as "AUC", ...).
_SNAKE_CLASSES = {"precision": Precision, "recall": Recall, "auc": AUC}
_AUTO = {"accuracy": "accuracy", "acc": "accuracy", "crossentropy": "crossentropy", "ce": "crossentropy"}
VALID_NAMES = (tuple(sorted(_AUTO)) + tuple(sorted(set(_PUBLIC) | set(_ALIASES))) + tuple(sorted(_CLASSES))
               + tuple(sorted(_SNAKE_CLASSES)))


def _unknown(identifier):
    return ValueError(f"Unknown metric {identifier!r}. Valid names: {list(VALID_NAMES)}. If it is your own "
                      f"function, pass it (metrics=[fn]) or, when loading, custom_objects={{{identifier!r}: fn}}, "
                      f"or decorate it with @gpunet.utils.register_serializable().")


def _from_string(name, loss):
    if name.lower() in _AUTO:  # tf-keras matches these case-insensitively, keeping the spelling as the name
        return _Resolved(name, _AUTO[name.lower()], loss)
    canonical = _ALIASES.get(name, name)
    if canonical in _PUBLIC:
        metric = MeanMetricWrapper(_PUBLIC[canonical], name=name)
        metric._fn_name = canonical  # Keras's metric function name, e.g. "logcosh" rather than "log_cosh"
        return metric
    if name in _CLASSES:
        return _CLASSES[name]()
    if name in _SNAKE_CLASSES:
        return _SNAKE_CLASSES[name]()
    from ..saving.registry import get_registered_object
    user = get_registered_object(name)  # a function registered with register_serializable
    if user is None or isinstance(user, str):
        raise _unknown(name)
    return get(user, loss)


def _from_dict(config, loss):
    # tf-keras writes {"class_name": "MeanMetricWrapper", "config": {"name": "accuracy", "fn": "binary_accuracy"}};
    # Keras 3 adds "module"/"registered_name" and writes functions as {"class_name": "function", "config": "mse"}.
    class_name, inner = config.get("class_name"), config.get("config")
    if isinstance(inner, str):
        return _from_string(inner, loss)
    inner = dict(inner or {})
    if class_name == "MeanMetricWrapper":
        fn = inner.pop("fn", None)
        canonical = _ALIASES.get(fn, fn)
        if canonical not in _PUBLIC:
            raise _unknown(fn)
        metric = MeanMetricWrapper(_PUBLIC[canonical], **inner)
        metric._fn_name = canonical
        return metric
    if class_name in _CLASSES:
        try:
            return _CLASSES[class_name](**inner)
        except TypeError as exc:
            raise ValueError(f"Invalid config for metric {class_name}: {exc}") from None
    if isinstance(class_name, str) and not inner:
        return _from_string(class_name, loss)
    raise _unknown(class_name)


def get(identifier, loss=None):
    """A `Metric` from a name (``"accuracy"``, ``"mse"``, ``"BinaryAccuracy"``), a `Metric`, a
    metric class, a function (gpunet's or your own ``fn(y_true, y_pred)`` of backend arrays) or
    a config dict. ``loss`` (a `gpunet.losses.Loss`) decides what ``"accuracy"`` means."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        return _from_string(identifier, loss)
    if isinstance(identifier, dict):
        return _from_dict(identifier, loss)
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, _losses.Loss):
        return MeanMetricWrapper(_loss_values(identifier), name=identifier.name)
    if callable(identifier):
        metric = MeanMetricWrapper(identifier)
        if metric._fn_name not in _PUBLIC or _PUBLIC[metric._fn_name] is not identifier:
            metric._user_fn = identifier  # the History key is its name; saving writes that name
        return metric
    raise TypeError(f"Could not interpret metric identifier {identifier!r}: expected a name such as "
                    "'accuracy', a gpunet.metrics.Metric, a function or a config dict.")


def compiled(metrics, weighted_metrics, loss=None):
    """compile's metrics, ``metrics`` then ``weighted_metrics`` (identifiers as `get` takes), and
    whether each takes the sample weights: weighted_metrics only, as in tf.keras 2 and Keras 3. A
    weighted metric named as one in ``metrics`` is renamed ``weighted_<name>`` (the object too, as
    tf.keras 2 does). Raises ValueError on duplicate names (or "loss") and on one object in both."""
    plain = [get(m, loss) for m in metrics or []]
    weighted = [get(m, loss) for m in weighted_metrics or []]
    for m in plain + weighted:
        # (MeanRelativeError is a Mean that takes (y_true, y_pred): a compile metric, as in tf.keras 2)
        if isinstance(m, (Mean, Sum, MeanTensor)) and not isinstance(m, MeanRelativeError):
            raise ValueError(compile_refusal(m))
    if any(w is m for w in weighted for m in plain):
        raise ValueError("A Metric object cannot be in both metrics and weighted_metrics (it would be updated "
                         "twice per batch): pass two instances.")
    names = [m.name for m in plain]
    renamed = ["weighted_" + w.name if w.name in names else w.name for w in weighted]
    names += renamed
    if len(set(names)) != len(names) or "loss" in names:
        raise ValueError(f"Metric names must be unique and not 'loss', received {names}")
    for w, name in zip(weighted, renamed):
        w.name = name
    return plain + weighted, [False] * len(plain) + [True] * len(weighted)


def _loss_values(loss):
    def values(y_true, y_pred):
        from .. import backend as B
        return loss.per_sample(B.get_backend(), y_true, y_pred)
    values.__name__ = loss.name
    return values


def serialize(metric):
    """Keras 2's form for ``training_config["metrics"]``: ``{"class_name": "MeanMetricWrapper",
    "config": {"name", "dtype", "fn"}}`` for metrics made from names or functions, else
    ``{"class_name": <class>, "config": get_config()}``. An ``"accuracy"`` metric must have
    been resolved (by training, evaluating or `_Resolved.resolve_for`)."""
    user = getattr(metric, "_user_fn", None)
    if user is not None and not metric._fn_kwargs:
        from ..saving.registry import get_registered_name
        return get_registered_name(user)  # Keras writes a user's metric function by its name, never its code
    if type(metric) in (MeanMetricWrapper, _Resolved):
        fn = metric._fn_name
        if fn is None:
            raise ValueError(f"Metric {metric.name!r} is not resolved yet: call resolve_for(y_true_shape, "
                             "y_pred_shape) or run the model once before serializing it.")
        config = {"name": metric.name, "dtype": metric.dtype, "fn": fn}
        config.update(metric._fn_kwargs)
        return {"class_name": "MeanMetricWrapper", "config": config}
    from ..saving.config import to_plain  # (a config may hold arrays: MeanRelativeError's normalizer)
    return {"class_name": type(metric).__name__, "config": to_plain(metric.get_config(), "metric")}


def deserialize(config, loss=None):
    """A `Metric` from what `serialize` wrote (or a name)."""
    return get(config, loss)


__all__ = (["Metric", "MeanMetricWrapper", "get", "serialize", "deserialize", "VALID_NAMES"] + sorted(_CLASSES)
           + ["accuracy", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
              "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy", "cosine_similarity",
              "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy",
              "mean_squared_error", "mean_absolute_error", "mean_absolute_percentage_error",
              "mean_squared_logarithmic_error", "hinge", "squared_hinge", "categorical_hinge", "poisson",
              "kl_divergence", "log_cosh", "huber", "acc", "bce", "mse", "mae", "mape", "msle", "kld",
              "logcosh", "cosine_proximity", "binary_focal_crossentropy", "categorical_focal_crossentropy",
              "pearson_correlation", "concordance_correlation"])
