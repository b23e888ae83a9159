"""Keras weight regularizers (``keras.regularizers``) with Keras 2's names, defaults and configs.

``get(identifier)`` returns None or a `Regularizer`; ``reg(x)`` is the penalty
(a 0-d backend array) and ``reg.gradient(x)`` its gradient with respect to ``x``
(gpunet computes gradients by hand, so a custom regularizer implements both).
As in tf.keras 2, factors are stored at ``floatx`` precision, so ``L2(0.01)``
serializes as ``{"class_name": "L2", "config": {"l2": 0.009999999776482582}}``.
"""
import inspect
import math
import numbers
import struct

from . import backend as B
from .config_checks import check_config_keys, serialize_object

_STRUCT_FORMAT = {"float16": "e", "float32": "f", "float64": "d"}


def _ops(array):
    return B.backend_for(array)  # (the weights' own backend, whatever the current one)


def _penalty_factor(value, name):
    """Keras's ``cast_to_floatx`` of a checked penalty factor, as a Python float."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise ValueError(f"{name}={value!r} is not a valid regularization penalty: expected an int or float.")
    if math.isinf(value) or math.isnan(value):
        raise ValueError(f"{name}={value!r} is not a valid regularization penalty: it must be finite.")
    fmt = _STRUCT_FORMAT.get(B.floatx(), "d")
    try:
        return struct.unpack(fmt, struct.pack(fmt, float(value)))[0]
    except OverflowError:
        return math.copysign(math.inf, value)


def _scalar(ops, value, x):
    return ops.asarray(value, dtype=x.dtype)


class Regularizer:
    """Base class. Subclasses implement ``__call__(x)`` (the penalty), ``gradient(x)`` and ``get_config()``."""

    def __call__(self, x):
        """The penalty for weights ``x``: a 0-d backend array."""
        return _scalar(B.get_backend(), 0.0, x)

    def gradient(self, x):
        """d penalty / d ``x``: an array shaped like ``x``."""
        if type(self).__call__ is not Regularizer.__call__:
            raise NotImplementedError(f"{type(self).__name__} must implement gradient(x): gpunet differentiates "
                                      "the penalty by hand, so a custom regularizer returns d penalty / d x.")
        return B.get_backend().zeros(x.shape, x.dtype)

    def get_config(self):
        raise NotImplementedError(f"{type(self).__name__} does not implement get_config().")

    @classmethod
    def from_config(cls, config):
        """Build a regularizer from `get_config`'s dict."""
        check_config_keys(cls, config)
        return cls(**config)


class L1L2(Regularizer):
    """``l1 * sum(|x|) + l2 * sum(x**2)``; both factors default to 0 (the ``"l1_l2"`` name uses 0.01 each)."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _penalty_factor(0.0 if l1 is None else l1, "l1")
        self.l2 = _penalty_factor(0.0 if l2 is None else l2, "l2")

    def __call__(self, x):
        ops = _ops(x)
        total = 0.0
        if self.l1:
            total = total + self.l1 * ops.sum(ops.abs(x))
        if self.l2:
            total = total + self.l2 * ops.sum(x * x)
        return _scalar(ops, total, x)

    def gradient(self, x):
        ops = _ops(x)
        grad = ops.zeros(x.shape, x.dtype)
        if self.l1:
            grad += self.l1 * ops.sign(x)
        if self.l2:
            grad += (2.0 * self.l2) * x
        return grad

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """``l1 * sum(|x|)`` (Keras default ``l1=0.01``)."""

    def __init__(self, l1=0.01, **kwargs):
        l1 = kwargs.pop("l", l1)  # Keras 1's keyword
        if kwargs:
            raise TypeError(f"L1 got unexpected keyword argument(s) {sorted(kwargs)}; expected 'l1'.")
        super().__init__(l1=0.01 if l1 is None else l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    """``l2 * sum(x**2)`` (Keras default ``l2=0.01``)."""

    def __init__(self, l2=0.01, **kwargs):
        l2 = kwargs.pop("l", l2)  # Keras 1's keyword
        if kwargs:
            raise TypeError(f"L2 got unexpected keyword argument(s) {sorted(kwargs)}; expected 'l2'.")
        super().__init__(l2=0.01 if l2 is None else l2)

    def get_config(self):
        return {"l2": self.l2}


class OrthogonalRegularizer(Regularizer):
    """Pushes the L2-normalized rows (``mode="rows"``) or columns of a 2-D weight towards orthogonality.

    Penalty: ``factor * 0.5 * sum(|off-diagonal of N N^T|) / (n (n - 1) / 2)`` for the
    normalized rows ``N`` (``n`` of them), as Keras 2.
    """

    def __init__(self, factor=0.01, mode="rows"):
        self.factor = _penalty_factor(factor, "factor")
        if mode not in ("rows", "columns"):
            raise ValueError(f"OrthogonalRegularizer mode must be 'rows' or 'columns', received {mode!r}.")
        self.mode = mode

    def _normalized(self, x):
        if x.ndim != 2:
            raise ValueError(f"OrthogonalRegularizer needs a 2-D weight, received shape {tuple(x.shape)}.")
        v = x if self.mode == "rows" else x.T
        if v.shape[0] < 2:
            raise ValueError(f"OrthogonalRegularizer (mode={self.mode!r}) needs at least 2 {self.mode}, "
                             f"received a weight of shape {tuple(x.shape)}.")
        ops = _ops(x)
        # tf.math.l2_normalize: x / sqrt(max(sum(x**2), 1e-12))
        norm = ops.sqrt(ops.maximum(ops.sum(v * v, axis=1, keepdims=True), 1e-12))
        n = v / norm
        size = v.shape[0]
        mask = 1.0 - ops.eye(size, size, x.dtype)
        return ops, v, norm, n, mask, self.factor * 0.5 / (size * (size - 1.0) / 2.0)

    def __call__(self, x):
        ops, _, _, n, mask, coef = self._normalized(x)
        return _scalar(ops, coef * ops.sum(ops.abs(ops.matmul(n, n, trans_b=True) * mask)), x)

    def gradient(self, x):
        ops, v, norm, n, mask, coef = self._normalized(x)
        s = coef * ops.sign(ops.matmul(n, n, trans_b=True)) * mask
        gn = 2.0 * ops.matmul(s, n)  # s is symmetric
        # Through the normalization; where the norm was clamped, it is a constant divisor.
        clamped = norm * norm <= 1e-12
        gv = (gn - n * ops.sum(gn * n, axis=1, keepdims=True) * (1.0 - clamped)) / norm
        gv = gv.astype(x.dtype, copy=False)
        return gv if self.mode == "rows" else gv.T

    def get_config(self):
        return {"factor": self.factor, "mode": self.mode}


def l1_l2(l1=0.01, l2=0.01):
    """An `L1L2` regularizer with Keras's function defaults (0.01 each)."""
    return L1L2(l1=l1, l2=l2)


# Keras's function-style names: l1(0.01), l2(0.01), orthogonal_regularizer(...).
l1, l2, orthogonal_regularizer = L1, L2, OrthogonalRegularizer

_PUBLIC = {"L1": L1, "L2": L2, "L1L2": L1L2, "OrthogonalRegularizer": OrthogonalRegularizer,
           "l1": L1, "l2": L2, "l1_l2": l1_l2, "orthogonal_regularizer": OrthogonalRegularizer}


def deserialize(config, custom_objects=None):
    """A regularizer from a name or a ``{"class_name", "config"}`` dict (Keras 2 or 3; ``module`` is ignored)."""
    if isinstance(config, str):
        config = {"class_name": config, "config": {}}
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise ValueError(f"A regularizer config must be a dict with a 'class_name' string, received {config!r}.")
    name, args = config["class_name"], config.get("config") or {}
    if not isinstance(args, dict):
        raise ValueError(f"Regularizer {name!r} config must be a dict, received {args!r}.")
    cls = (custom_objects or {}).get(name) or _PUBLIC.get(name)
    if cls is None:
        raise ValueError(f"Unknown regularizer {name!r}. Valid names: {sorted(_PUBLIC)} "
                         f"(or pass custom_objects={{{name!r}: ...}}).")
    if cls is l1_l2:
        return l1_l2(**args)
    return cls.from_config(args) if inspect.isclass(cls) else cls


def get(identifier):
    """None, or the regularizer for a name, config dict, class or instance."""
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, (str, dict)):
        return deserialize(identifier)
    if inspect.isclass(identifier) and issubclass(identifier, Regularizer):
        return identifier()
    if callable(identifier):
        if callable(getattr(identifier, "gradient", None)):
            return identifier
        raise TypeError(f"Regularizer {identifier!r} has no gradient(x) method: gpunet differentiates "
                        "penalties by hand, so subclass gpunet.regularizers.Regularizer and implement "
                        "__call__(x) and gradient(x).")
    raise ValueError(f"Could not interpret regularizer identifier {identifier!r}: expected None, one of "
                     f"{sorted(_PUBLIC)}, a config dict, or a Regularizer.")


def serialize(regularizer):
    """tf.keras 2's ``{"class_name": ..., "config": ...}``, or None."""
    return serialize_object(regularizer)
