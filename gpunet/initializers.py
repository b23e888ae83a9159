"""Keras weight initializers.

Contract: ``get(identifier)`` returns an `Initializer` (from a name, a config
dict ``{"class_name", "config"}``, or an instance); calling it with
``(shape, dtype)`` returns an array of the current backend, drawn from gpunet's
random generator. ``serialize(init)`` gives Keras's ``{"class_name", "config"}``.
"""
from . import backend as B


class Initializer:
    def __call__(self, shape, dtype=None):
        raise NotImplementedError

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class Zeros(Initializer):
    def __call__(self, shape, dtype=None):
        return B.get_backend().zeros(shape, dtype or B.floatx())


class Ones(Initializer):
    def __call__(self, shape, dtype=None):
        return B.get_backend().ones(shape, dtype or B.floatx())


class RandomUniform(Initializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval, self.seed = minval, maxval, seed

    def __call__(self, shape, dtype=None):
        return B.get_backend().random_uniform(shape, self.minval, self.maxval, dtype or B.floatx())

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class GlorotUniform(Initializer):
    def __init__(self, seed=None):
        self.seed = seed

    def __call__(self, shape, dtype=None):
        fan_in, fan_out = (shape[0], shape[1]) if len(shape) == 2 else (shape[0], shape[0])
        limit = (6.0 / (fan_in + fan_out)) ** 0.5
        return B.get_backend().random_uniform(shape, -limit, limit, dtype or B.floatx())

    def get_config(self):
        return {"seed": self.seed}


_CLASSES = {c.__name__: c for c in (Zeros, Ones, RandomUniform, GlorotUniform)}
_NAMES = {"zeros": Zeros, "ones": Ones, "uniform": RandomUniform, "random_uniform": RandomUniform,
          "glorot_uniform": GlorotUniform}


def get(identifier):
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, dict):
        cls = _CLASSES.get(identifier.get("class_name"))
        if cls is None:
            raise ValueError(f"Unknown initializer {identifier.get('class_name')!r}. Valid: {sorted(_CLASSES)}")
        return cls.from_config(identifier.get("config", {}))
    if isinstance(identifier, str) and (identifier in _NAMES or identifier in _CLASSES):
        return (_NAMES.get(identifier) or _CLASSES[identifier])()
    raise ValueError(f"Unknown initializer {identifier!r}. Valid names: {sorted(_NAMES)}")


def serialize(init):
    return {"class_name": type(init).__name__, "config": init.get_config()}
