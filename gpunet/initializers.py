"""Keras weight initializers (``keras.initializers``) with Keras 2's names, defaults and configs.

``get`` takes a name, a Keras 2 or 3 config dict, a class or an instance; an
initializer called with ``(shape, dtype=None)`` returns a backend array. Unseeded
ones draw from gpunet's global generator (``gpunet.utils.set_random_seed``); one
built with ``seed=`` gives the same values on every call.
"""
import inspect
import math
import numbers

from . import backend as B
from .config_checks import check_config_keys, serialize_object
from .backend import random as _random

_FLOATS = ("float16", "float32", "float64")


def _ops():
    return B.get_backend()


def _dtype(dtype, float_only=False):
    if dtype is None:
        return B.floatx()
    name = getattr(dtype, "name", None) or getattr(dtype, "__name__", None) or str(dtype)
    if float_only and name not in _FLOATS:
        raise ValueError(f"Expected a floating point dtype {_FLOATS}, received {dtype!r}.")
    return name


def _shape(shape):
    try:
        dims = tuple(int(d) for d in shape)
        ok = all(d >= 0 and d == s for d, s in zip(dims, shape))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"An initializer shape must be a tuple of non-negative ints, received {shape!r}.")
    return dims


def _compute_fans(shape):
    """Keras's ``(fan_in, fan_out)``: 2-D ``(in, out)``; conv kernels ``(..., in, out)`` times the receptive field."""
    if len(shape) < 2:
        return (shape[0], shape[0]) if shape else (1, 1)
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def _check_seed(seed):
    if seed is None:
        return None
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int or None, received {type(seed).__name__}: {seed!r}")
    return int(seed)


class Initializer:
    """Base class: subclasses implement ``__call__(shape, dtype=None)`` and, for saving, ``get_config()``."""

    def __call__(self, shape, dtype=None, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must implement __call__(shape, dtype=None).")

    def get_config(self):
        """The constructor arguments as a JSON-serializable dict."""
        return {}

    @classmethod
    def from_config(cls, config):
        """Build an initializer from `get_config`'s dict (a legacy ``dtype`` key is ignored, as in Keras)."""
        config = dict(config)
        config.pop("dtype", None)
        check_config_keys(cls, config)
        return cls(**config)

    def _generator(self):
        seed = getattr(self, "seed", None)
        # A fresh generator per call: a seeded initializer repeats its values, as in Keras 2.
        return None if seed is None else _random.make_generator(seed % 2**64)


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


class VarianceScaling(Initializer):
    """Values whose variance is ``scale / n``, ``n`` being fan_in, fan_out or their mean (``mode``).

    ``distribution``: "truncated_normal" (its standard deviation corrected for the
    truncation, as Keras), "untruncated_normal" or "uniform" (limit ``sqrt(3 * scale / n)``).
    """

    _MODES = ("fan_in", "fan_out", "fan_avg")
    _DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        if not isinstance(scale, (int, float)) or isinstance(scale, bool) or not scale > 0:
            raise ValueError(f"VarianceScaling `scale` must be a positive float, received scale={scale!r}.")
        if mode not in self._MODES:
            raise ValueError(f"VarianceScaling `mode` must be one of {list(self._MODES)}, received {mode!r}.")
        dist = distribution.lower() if isinstance(distribution, str) else distribution
        dist = "truncated_normal" if dist == "normal" else dist  # Keras 1 name
        if dist not in self._DISTRIBUTIONS:
            raise ValueError(f"VarianceScaling `distribution` must be one of {list(self._DISTRIBUTIONS)}, "
                             f"received {distribution!r}.")
        self.scale, self.mode, self.distribution, self.seed = scale, mode, dist, _check_seed(seed)

    def __call__(self, shape, dtype=None, **kwargs):
        ops, shape, dtype = _ops(), _shape(shape), _dtype(dtype, True)
        fan_in, fan_out = _compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        scale = self.scale / max(1.0, n)
        gen = self._generator()
        if self.distribution == "truncated_normal":
            # std of a standard normal truncated to [-2, 2] (scipy.stats.truncnorm.std(-2, 2)), as Keras
            stddev = math.sqrt(scale) / 0.87962566103423978
            return ops.draw_truncated_normal(shape, 0.0, stddev, dtype, gen)
        if self.distribution == "untruncated_normal":
            return ops.draw_normal(shape, 0.0, math.sqrt(scale), dtype, gen)
        limit = math.sqrt(3.0 * scale)
        return ops.draw_uniform(shape, -limit, limit, dtype, gen)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, "seed": self.seed}


def _variance_scaling(name, scale, mode, distribution, doc):
    def __init__(self, seed=None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed)

    def get_config(self):
        return {"seed": self.seed}

    return type(name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config, "__doc__": doc,
                                           "__module__": __name__})


GlorotUniform = _variance_scaling("GlorotUniform", 1.0, "fan_avg", "uniform",
                                  "Glorot (Xavier) uniform: limit ``sqrt(6 / (fan_in + fan_out))``.")
GlorotNormal = _variance_scaling("GlorotNormal", 1.0, "fan_avg", "truncated_normal",
                                 "Glorot (Xavier) normal: truncated, stddev ``sqrt(2 / (fan_in + fan_out))``.")
HeUniform = _variance_scaling("HeUniform", 2.0, "fan_in", "uniform", "He uniform: limit ``sqrt(6 / fan_in)``.")
HeNormal = _variance_scaling("HeNormal", 2.0, "fan_in", "truncated_normal",
                             "He normal: truncated, stddev ``sqrt(2 / fan_in)``.")
LecunUniform = _variance_scaling("LecunUniform", 1.0, "fan_in", "uniform",
                                 "LeCun uniform: limit ``sqrt(3 / fan_in)``.")
LecunNormal = _variance_scaling("LecunNormal", 1.0, "fan_in", "truncated_normal",
                                "LeCun normal: truncated, stddev ``sqrt(1 / fan_in)``.")


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
