"""What every gpunet initializer shares: the `Initializer` base class and the checks of the
``shape``, ``dtype`` and ``seed`` arguments (used by `gpunet.initializers` and `gpunet.variance_scaling`)."""
import numbers

from . import backend as B
from .config_checks import check_config_keys
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
