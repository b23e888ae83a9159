"""Keras weight constraints (``keras.constraints``) with Keras 2's names, defaults and configs.

``get(identifier)`` returns None or a constraint; ``c(w)`` returns the projected
weight (a backend array), which the training loop writes back after each
optimizer step. ``axis`` may be an int or a list of ints, as in Keras.
"""
import inspect

from . import backend as B
from .config_checks import check_config_keys, serialize_object


def _ops(array):
    return B.backend_for(array)  # (the weights' own backend, whatever the current one)


def _axis(axis):
    return tuple(axis) if isinstance(axis, (list, tuple)) else axis


def _norms(ops, w, axis):
    return ops.sqrt(ops.sum(w * w, axis=_axis(axis), keepdims=True))


class Constraint:
    """Base class: subclasses implement ``__call__(w)`` (the projection) and ``get_config()``."""

    def __call__(self, w):
        """The projected weight; the base class returns ``w`` unchanged."""
        return w

    def get_config(self):
        """The constructor arguments as a JSON-serializable dict."""
        return {}

    @classmethod
    def from_config(cls, config):
        """Build a constraint from `get_config`'s dict."""
        check_config_keys(cls, config)
        return cls(**config)


class MaxNorm(Constraint):
    """Rescales each weight vector along ``axis`` to a norm of at most ``max_value``.

    Keras's formula: ``w * clip(norms, 0, max_value) / (epsilon + norms)``. For a Dense
    kernel ``(input_dim, units)``, ``axis=0`` constrains each unit's incoming weights.
    """

    def __init__(self, max_value=2, axis=0):
        self.max_value, self.axis = max_value, axis

    def __call__(self, w):
        ops = _ops(w)
        norms = _norms(ops, w, self.axis)
        desired = ops.clip(norms, 0, self.max_value)
        return (w * (desired / (B.epsilon() + norms))).astype(w.dtype, copy=False)

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    """Sets negative weights to zero."""

    def __call__(self, w):
        return w * (w >= 0).astype(w.dtype)


class UnitNorm(Constraint):
    """Rescales each weight vector along ``axis`` to unit norm: ``w / (epsilon + norms)``."""

    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w):
        ops = _ops(w)
        return (w / (B.epsilon() + _norms(ops, w, self.axis))).astype(w.dtype, copy=False)

    def get_config(self):
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    """Moves each weight vector's norm along ``axis`` into ``[min_value, max_value]`` at ``rate``.

    Keras's formula: ``desired = rate * clip(norms, min_value, max_value) + (1 - rate) * norms``,
    then ``w * desired / (epsilon + norms)``; ``rate=1.0`` enforces the bounds strictly.
    """

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value, self.max_value, self.rate, self.axis = min_value, max_value, rate, axis

    def __call__(self, w):
        ops = _ops(w)
        norms = _norms(ops, w, self.axis)
        desired = self.rate * ops.clip(norms, self.min_value, self.max_value) + (1 - self.rate) * norms
        return (w * (desired / (B.epsilon() + norms))).astype(w.dtype, copy=False)

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate, "axis": self.axis}


class RadialConstraint(Constraint):
    """Makes each ``(rows, cols)`` slice of a square 2-D convolution kernel constant on concentric rings.

    Follows tf.keras 2's implementation exactly (its docstring's example differs):
    for odd sizes ring ``r`` (0 = centre) takes ``kernel[c - 1 + r, c - 1 + r]``
    with ``c = size // 2``; for even sizes the central 2x2 block takes
    ``kernel[c - 1, c - 1]`` and ring ``r >= 1`` takes ``kernel[c + r, c + r]``.
    """

    def __call__(self, w):
        if w.ndim != 4 or w.shape[0] != w.shape[1]:
            raise ValueError("RadialConstraint needs a square kernel of shape (size, size, input_depth, "
                             f"output_depth), received shape {tuple(w.shape)}.")
        size = w.shape[0]
        c, odd = size // 2, size % 2 == 1

        def ring(i):
            return abs(i - c) if odd else max(i - c, c - 1 - i)

        def source(r):
            return c - 1 + r + (0 if odd or r == 0 else 1)

        index = [[source(max(ring(i), ring(j))) for j in range(size)] for i in range(size)]
        index = B.get_backend().asarray(index, dtype="int64")
        return w[index, index]


# Keras's function-style and legacy names.
max_norm = maxnorm = MaxNorm
non_neg = nonneg = NonNeg
unit_norm = unitnorm = UnitNorm
min_max_norm = MinMaxNorm
radial_constraint = RadialConstraint

_PUBLIC = {"MaxNorm": MaxNorm, "NonNeg": NonNeg, "UnitNorm": UnitNorm, "MinMaxNorm": MinMaxNorm,
           "RadialConstraint": RadialConstraint, "max_norm": MaxNorm, "non_neg": NonNeg, "unit_norm": UnitNorm,
           "min_max_norm": MinMaxNorm, "radial_constraint": RadialConstraint, "maxnorm": MaxNorm,
           "nonneg": NonNeg, "unitnorm": UnitNorm}


def deserialize(config, custom_objects=None):
    """A constraint from a name or a ``{"class_name", "config"}`` dict (Keras 2 or 3; ``module`` is ignored)."""
    if isinstance(config, str):
        config = {"class_name": config, "config": {}}
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise ValueError(f"A constraint config must be a dict with a 'class_name' string, received {config!r}.")
    name, args = config["class_name"], config.get("config") or {}
    if not isinstance(args, dict):
        raise ValueError(f"Constraint {name!r} config must be a dict, received {args!r}.")
    cls = (custom_objects or {}).get(name) or _PUBLIC.get(name)
    if cls is None:
        raise ValueError(f"Unknown constraint {name!r}. Valid names: {sorted(_PUBLIC)} "
                         f"(or pass custom_objects={{{name!r}: ...}}).")
    if not inspect.isclass(cls):
        return cls
    return cls.from_config(args) if hasattr(cls, "from_config") else cls(**args)


def get(identifier):
    """None, or the constraint for a name, config dict, class, instance or function ``w -> w'``."""
    if identifier is None or isinstance(identifier, Constraint):
        return identifier
    if isinstance(identifier, (str, dict)):
        return deserialize(identifier)
    if callable(identifier):
        return identifier() if inspect.isclass(identifier) else identifier
    raise ValueError(f"Could not interpret constraint identifier {identifier!r}: expected None, one of "
                     f"{sorted(_PUBLIC)}, a config dict, a Constraint or a function.")


def serialize(constraint):
    """tf.keras 2's ``{"class_name": ..., "config": ...}``, None, or a plain function's name."""
    return serialize_object(constraint)
