"""Keras weight initializers (``keras.initializers``) with Keras 2's names, defaults and configs.

``get`` takes a name, a Keras 2 or 3 config dict, a class or an instance; an
initializer called with ``(shape, dtype=None)`` returns a backend array. Unseeded
ones draw from gpunet's global generator (``gpunet.utils.set_random_seed``); one
built with ``seed=`` gives the same values on every call.
"""
import inspect
import math

from . import backend as B
from .config_checks import serialize_object
# Initializer and the variance-scaling family live in their own modules; they are imported here, where
# users and saved configs find every initializer.
from .initializer_base import Initializer, _check_seed, _dtype, _ops, _shape  # noqa: F401
from .variance_scaling import (GlorotNormal, GlorotUniform, HeNormal, HeUniform, LecunNormal,  # noqa: F401
                               LecunUniform, VarianceScaling, _compute_fans)


class Zeros(Initializer):
    """All zeros."""

    def __call__(self, shape, dtype=None, **kwargs):
        return B.get_backend().zeros(_shape(shape), _dtype(dtype))


class Ones(Initializer):
    """All ones."""

    def __call__(self, shape, dtype=None, **kwargs):
        return B.get_backend().ones(_shape(shape), _dtype(dtype))


class Constant(Initializer):
    """Every value equal to ``value`` (a scalar, or an array with as many elements as the shape)."""

    def __init__(self, value=0):
        self.value = value

    def __call__(self, shape, dtype=None, **kwargs):
        ops, shape = B.get_backend(), _shape(shape)
        arr = ops.asarray(self.value, dtype=_dtype(dtype))
        if arr.size == math.prod(shape):
            return ops.copy(arr.reshape(shape))
        if arr.ndim != 0:
            raise ValueError(f"Constant initializer value has shape {tuple(arr.shape)}, which cannot fill "
                             f"shape {shape}: expected a scalar or {math.prod(shape)} values.")
        out = ops.empty(shape, arr.dtype)
        out[...] = arr
        return out

    def get_config(self):
        return {"value": self.value}

    @classmethod
    def from_config(cls, config):
        value = config.get("value")
        if isinstance(value, dict):  # Keras 3 writes arrays as {"class_name": "__numpy__", "config": {"value": ...}}
            config = {**config, "value": value.get("config", {}).get("value")}
        return super().from_config(config)


class RandomUniform(Initializer):
    """Uniform values in ``[minval, maxval)`` (Keras defaults ±0.05)."""

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval, self.seed = minval, maxval, _check_seed(seed)

    def __call__(self, shape, dtype=None, **kwargs):
        return _ops().draw_uniform(_shape(shape), self.minval, self.maxval, _dtype(dtype, True),
                                   self._generator())

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class RandomNormal(Initializer):
    """Normal values (Keras defaults mean 0, stddev 0.05)."""

    _draw = "draw_normal"

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = mean, stddev, _check_seed(seed)

    def __call__(self, shape, dtype=None, **kwargs):
        draw = getattr(_ops(), self._draw)
        return draw(_shape(shape), self.mean, self.stddev, _dtype(dtype, True), self._generator())

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class TruncatedNormal(RandomNormal):
    """Normal values re-drawn beyond two standard deviations (Keras defaults mean 0, stddev 0.05)."""

    _draw = "draw_truncated_normal"


class Orthogonal(Initializer):
    """A (semi-)orthogonal matrix times ``gain``.

    Shapes beyond 2-D are drawn as ``(prod(shape[:-1]), shape[-1])`` and reshaped, as Keras.
    """

    def __init__(self, gain=1.0, seed=None):
        self.gain, self.seed = gain, _check_seed(seed)

    def __call__(self, shape, dtype=None, **kwargs):
        shape, dtype = _shape(shape), _dtype(dtype, True)
        if len(shape) < 2:
            raise ValueError(f"Orthogonal needs a shape of at least two dimensions, received shape={shape}.")
        rows = math.prod(shape[:-1])
        q = _ops().orthogonal(rows, shape[-1], dtype, self._generator())
        return (q * self.gain).astype(dtype, copy=False).reshape(shape)

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


class Identity(Initializer):
    """The 2-D identity matrix (rectangular allowed) times ``gain``."""

    def __init__(self, gain=1.0):
        self.gain = gain

    def __call__(self, shape, dtype=None, **kwargs):
        shape, dtype = _shape(shape), _dtype(dtype, True)
        if len(shape) != 2:
            raise ValueError(f"Identity can only initialize 2-D matrices, received shape={shape}.")
        return (_ops().eye(shape[0], shape[1], dtype) * self.gain).astype(dtype, copy=False)

    def get_config(self):
        return {"gain": self.gain}


def _snake(name):
    out = "".join("_" + c.lower() if c.isupper() else c for c in name)
    return out.lstrip("_")


_CLASSES = (Zeros, Ones, Constant, RandomUniform, RandomNormal, TruncatedNormal, VarianceScaling, Orthogonal,
            Identity, GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform, LecunNormal)
_PUBLIC = {**{c.__name__: c for c in _CLASSES}, **{_snake(c.__name__): c for c in _CLASSES},
           "uniform": RandomUniform, "normal": RandomNormal, "one": Ones, "zero": Zeros}
# Names found in saved files only: Keras 2's "...V2" aliases and Keras 3's class names.
_REGISTRY = {**_PUBLIC, **{c.__name__ + "V2": c for c in _CLASSES},
             **{_snake(c.__name__) + "V2": c for c in (GlorotUniform, GlorotNormal, HeUniform, HeNormal,
                                                        LecunUniform, LecunNormal)},
             "OrthogonalInitializer": Orthogonal, "IdentityInitializer": Identity}

# Keras's function-style names: gpunet.initializers.glorot_uniform(seed=1), ...
globals().update({name: cls for name, cls in _PUBLIC.items() if name[0].islower()})
OrthogonalInitializer, IdentityInitializer = Orthogonal, Identity  # (Keras 3's class names)


def deserialize(config, custom_objects=None):
    """An initializer from a name or a ``{"class_name", "config"}`` dict.

    Keras 3's extra keys (``module``, ``registered_name``) are ignored: classes
    come only from gpunet and ``custom_objects``, never from an imported module.
    """
    if isinstance(config, str):
        config = {"class_name": config, "config": {}}
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise ValueError(f"An initializer config must be a dict with a 'class_name' string, received {config!r}.")
    name, args = config["class_name"], config.get("config") or {}
    cls = (custom_objects or {}).get(name) or _REGISTRY.get(name)
    if cls is None:
        raise ValueError(f"Unknown initializer {name!r}. Valid names: {sorted(_PUBLIC)} "
                         f"(or pass custom_objects={{{name!r}: ...}}).")
    if not isinstance(args, dict):
        raise ValueError(f"Initializer {name!r} config must be a dict, received {args!r}.")
    if inspect.isclass(cls):
        return cls.from_config(args) if hasattr(cls, "from_config") else cls(**args)
    return cls


def get(identifier):
    """The initializer for a name, config dict, class, instance or callable (None gives None, as Keras)."""
    if identifier is None or isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, (str, dict)):
        return deserialize(identifier)
    if callable(identifier):
        return identifier() if inspect.isclass(identifier) else identifier
    raise ValueError(f"Could not interpret initializer identifier {identifier!r}: expected one of "
                     f"{sorted(_PUBLIC)}, a config dict, or an Initializer.")


def serialize(initializer):
    """tf.keras 2's form: ``{"class_name": ..., "config": ...}`` (a plain function gives its name)."""
    return serialize_object(initializer)
