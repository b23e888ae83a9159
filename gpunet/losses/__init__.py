"""Keras loss functions and classes.

Contract used by the training loop: ``get(identifier)`` returns a `Loss` with
``name`` (Keras's function name) and ``compute(ops, y_true, y_pred, sample_weight)``
returning ``(loss, dy_pred)``: the batch loss with Keras's default reduction
(sum of weighted per-sample losses divided by their number) as a 0-d backend
array, and its gradient with respect to ``y_pred``.

As in Keras, each loss exists as a class (``BinaryCrossentropy(from_logits=True)``,
called as ``loss(y_true, y_pred, sample_weight=None)`` for the reduced value) and
as a function returning per-sample values::

    from gpunet import losses
    losses.binary_crossentropy([[0.0, 1.0]], [[0.2, 0.7]])   # array([0.2899...])
    model.compile("adam", loss="mse")                         # or losses.MeanSquaredError()
"""
from .base import Loss, REDUCTIONS, AddedLossesOnly
from .reduction import Reduction
from ..layers.symbolic import accepts_symbolic  # (on Input()'s tensors, a loss function is a layer of the graph)
from .function_loss import FunctionLoss
from .crossentropy import BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy
from .focal import BinaryFocalCrossentropy, CategoricalFocalCrossentropy
from .regression import (MeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError,
                         MeanSquaredLogarithmicError, LogCosh, Huber, CosineSimilarity, Hinge, SquaredHinge,
                         CategoricalHinge, KLDivergence, Poisson)
from .overlap import Dice, Tversky, dice, tversky

# Keras's function names (first: the canonical one, used as Loss.name) and their aliases.
_FUNCTIONS = {
    "binary_crossentropy": (BinaryCrossentropy, ("bce", "BCE")),
    "categorical_crossentropy": (CategoricalCrossentropy, ()),
    "sparse_categorical_crossentropy": (SparseCategoricalCrossentropy, ()),
    "binary_focal_crossentropy": (BinaryFocalCrossentropy, ()),
    "categorical_focal_crossentropy": (CategoricalFocalCrossentropy, ()),
    "mean_squared_error": (MeanSquaredError, ("mse", "MSE")),
    "mean_absolute_error": (MeanAbsoluteError, ("mae", "MAE")),
    "mean_absolute_percentage_error": (MeanAbsolutePercentageError, ("mape", "MAPE")),
    "mean_squared_logarithmic_error": (MeanSquaredLogarithmicError, ("msle", "MSLE")),
    "hinge": (Hinge, ()),
    "squared_hinge": (SquaredHinge, ()),
    "categorical_hinge": (CategoricalHinge, ()),
    "log_cosh": (LogCosh, ("logcosh",)),
    "kl_divergence": (KLDivergence, ("kld", "KLD", "kullback_leibler_divergence")),
    "poisson": (Poisson, ()),
    "cosine_similarity": (CosineSimilarity, ()),
    "huber": (Huber, ("huber_loss",)),
    "dice": (Dice, ()), "tversky": (Tversky, ()),
}
_BY_NAME = {alias: (canonical, cls) for canonical, (cls, aliases) in _FUNCTIONS.items()
            for alias in (canonical,) + aliases}
_CLASSES = {cls.__name__: cls for cls, _ in _FUNCTIONS.values()}
VALID_NAMES = tuple(sorted(_BY_NAME)) + tuple(sorted(_CLASSES))


# ---- function-style losses: per-sample values, as keras.losses.<name>(y_true, y_pred) ---------------
def _ops_binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """On symbolic tensors: the mean of K.binary_crossentropy, the ops tf.keras 2 records (configs hold them)."""
    if label_smoothing:
        return None
    from .. import ops
    return ops.mean(ops.binary_crossentropy(y_true, y_pred, from_logits=from_logits), axis=axis)


def _ops_mean_error(square):
    def values(y_true, y_pred):  # on symbolic tensors: ops configs can hold
        from .. import ops
        diff = ops.subtract(y_pred, y_true)
        return ops.mean(ops.square(diff) if square else ops.abs(diff), axis=-1)
    return values


@accepts_symbolic(symbolic=_ops_binary_crossentropy)
def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Per-sample binary crossentropy (mean over the last axis)."""
    return BinaryCrossentropy(from_logits, label_smoothing, axis).call(y_true, y_pred)


@accepts_symbolic
def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Per-sample categorical crossentropy for one-hot ``y_true``."""
    return CategoricalCrossentropy(from_logits, label_smoothing, axis).call(y_true, y_pred)


@accepts_symbolic
def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, axis=-1, ignore_class=None):
    """Per-sample categorical crossentropy for integer labels ``y_true``."""
    return SparseCategoricalCrossentropy(from_logits, axis, ignore_class=ignore_class).call(y_true, y_pred)


@accepts_symbolic
def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
                              label_smoothing=0.0, axis=-1):
    """Per-sample binary crossentropy scaled by ``(1 - p_t) ** gamma`` (mean over ``axis``)."""
    return BinaryFocalCrossentropy(apply_class_balancing, alpha, gamma, from_logits, label_smoothing,
                                   axis).call(y_true, y_pred)


@accepts_symbolic
def categorical_focal_crossentropy(y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0,
                                   axis=-1):
    """Per-sample ``sum(alpha * (1 - p) ** gamma * -y_true * log(p))`` for one-hot ``y_true``."""
    return CategoricalFocalCrossentropy(alpha, gamma, from_logits, label_smoothing, axis).call(y_true, y_pred)


@accepts_symbolic(symbolic=_ops_mean_error(square=True))
def mean_squared_error(y_true, y_pred):
    """Per-sample ``mean((y_true - y_pred) ** 2)``."""
    return MeanSquaredError().call(y_true, y_pred)


@accepts_symbolic(symbolic=_ops_mean_error(square=False))
def mean_absolute_error(y_true, y_pred):
    """Per-sample ``mean(abs(y_true - y_pred))``."""
    return MeanAbsoluteError().call(y_true, y_pred)


@accepts_symbolic
def mean_absolute_percentage_error(y_true, y_pred):
    """Per-sample ``100 * mean(abs((y_true - y_pred) / y_true))`` (denominator at least eps)."""
    return MeanAbsolutePercentageError().call(y_true, y_pred)


@accepts_symbolic
def mean_squared_logarithmic_error(y_true, y_pred):
    """Per-sample ``mean((log(y_pred + 1) - log(y_true + 1)) ** 2)`` (arguments at least eps)."""
    return MeanSquaredLogarithmicError().call(y_true, y_pred)


@accepts_symbolic
def hinge(y_true, y_pred):
    """Per-sample ``mean(max(1 - y_true * y_pred, 0))``."""
    return Hinge().call(y_true, y_pred)


@accepts_symbolic
def squared_hinge(y_true, y_pred):
    """Per-sample ``mean(max(1 - y_true * y_pred, 0) ** 2)``."""
    return SquaredHinge().call(y_true, y_pred)


@accepts_symbolic
def categorical_hinge(y_true, y_pred):
    """Per-sample ``max(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0)``."""
    return CategoricalHinge().call(y_true, y_pred)


@accepts_symbolic
def log_cosh(y_true, y_pred):
    """Per-sample ``mean(log(cosh(y_pred - y_true)))``."""
    return LogCosh().call(y_true, y_pred)


@accepts_symbolic
def kl_divergence(y_true, y_pred):
    """Per-sample Kullback-Leibler divergence ``sum(y_true * log(y_true / y_pred))``."""
    return KLDivergence().call(y_true, y_pred)


@accepts_symbolic
def poisson(y_true, y_pred):
    """Per-sample ``mean(y_pred - y_true * log(y_pred + eps))``."""
    return Poisson().call(y_true, y_pred)


@accepts_symbolic
def cosine_similarity(y_true, y_pred, axis=-1):
    """Per-sample negative cosine similarity (-1: same direction)."""
    return CosineSimilarity(axis).call(y_true, y_pred)


@accepts_symbolic
def huber(y_true, y_pred, delta=1.0):
    """Per-sample Huber loss with threshold ``delta``."""
    return Huber(delta).call(y_true, y_pred)


bce = BCE = binary_crossentropy
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kullback_leibler_divergence = kl_divergence
logcosh = log_cosh
huber_loss = huber

_FUNCTION_OBJECTS = {f.__name__: f for f in (
    binary_crossentropy, categorical_crossentropy, sparse_categorical_crossentropy, binary_focal_crossentropy,
    categorical_focal_crossentropy, mean_squared_error,
    mean_absolute_error, mean_absolute_percentage_error, mean_squared_logarithmic_error, hinge, squared_hinge,
    categorical_hinge, log_cosh, kl_divergence, poisson, cosine_similarity, huber, dice, tversky)}


def _unknown(identifier):
    return ValueError(f"Unknown loss {identifier!r}. Valid names: {list(VALID_NAMES)}. If it is your own function, "
                      f"pass it (compile(loss=fn)) or, when loading, custom_objects={{{identifier!r}: fn}}, or "
                      f"decorate it with @gpunet.utils.register_serializable().")


def _from_name(name):
    canonical, cls = _BY_NAME[name]
    loss = cls(name=canonical)
    loss._keras_identifier = name  # serialize() writes the user's spelling back, as Keras 2 does
    return loss


def _from_dict(config):
    # Keras 2: {"class_name": "BinaryCrossentropy", "config": {...}}; Keras 3 adds "module" and
    # "registered_name", and writes functions as {"class_name": "function", "config": "mse"}.
    class_name, inner = config.get("class_name"), config.get("config")
    if isinstance(inner, str):
        class_name, inner = inner, None
    if class_name in _BY_NAME and not inner:
        return _from_name(class_name)
    cls = _CLASSES.get(class_name)
    if cls is None:
        user = _registered(class_name)
        if user is None:
            raise _unknown(class_name)
        return get(user)
    kwargs = {k: v for k, v in (inner or {}).items() if k not in ("fn", "dtype")}
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ValueError(f"Invalid config for loss {class_name}: {exc}") from None


def get(identifier):
    """A `Loss` from a Keras name (``"mse"``), a `Loss`, a class of this module, a function of
    this module (``gpunet.losses.mse``) or a config dict. Unknown names raise ValueError."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        if identifier in _BY_NAME:
            return _from_name(identifier)
        if identifier in _CLASSES:
            return _CLASSES[identifier]()
        user = _registered(identifier)
        if user is None:
            raise _unknown(identifier)
        return get(user)
    if isinstance(identifier, dict):
        return _from_dict(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        fn = _FUNCTION_OBJECTS.get(getattr(identifier, "__name__", None))
        if fn is identifier:
            return _from_name(identifier.__name__)
        return FunctionLoss(identifier)  # the user's function: its gradient comes from the tape
    raise TypeError(f"Could not interpret loss identifier {identifier!r}: expected a name such as "
                    "'binary_crossentropy', a gpunet.losses.Loss or a config dict.")


def _registered(name):
    from ..saving.registry import get_registered_object
    return get_registered_object(name)


def serialize(loss):
    """What Keras 2 writes in ``training_config["loss"]``: the name as given for built-ins
    (``"mse"`` stays ``"mse"``), a user function's registered or own name (never its code),
    else ``{"class_name": ..., "config": ...}``."""
    identifier = getattr(loss, "_keras_identifier", None)
    if identifier is not None:
        return identifier
    if isinstance(loss, FunctionLoss):
        from ..saving.registry import get_registered_name
        return get_registered_name(loss.fn)
    if isinstance(loss, Loss):
        return {"class_name": type(loss).__name__, "config": loss.get_config()}
    return serialize(get(loss))


def deserialize(config):
    """A `Loss` from what `serialize` wrote."""
    return get(config)


__all__ = (["Loss", "FunctionLoss", "REDUCTIONS", "Reduction", "get", "serialize", "deserialize", "VALID_NAMES"]
           + sorted(_CLASSES) + sorted(_FUNCTION_OBJECTS)
           + ["bce", "BCE", "mse", "MSE", "mae", "MAE", "mape", "MAPE", "msle", "MSLE", "kld", "KLD",
              "kullback_leibler_divergence", "logcosh", "huber_loss"])
