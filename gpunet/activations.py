"""Keras activation functions.

Contract used by layers: ``get(identifier)`` returns an `ActivationSpec` with
``name`` (the backend method name: ``ops.<name>`` / ``ops.<name>_backward``)
and ``params`` (its keyword arguments); ``serialize(spec)`` gives what Keras
writes in a config. The module-level functions (``relu(x)``, ...) apply an
activation to an array with the current backend, as ``keras.activations`` does.
"""
from . import backend as B

_ALIASES = {None: "linear", "silu": "swish"}
_NAMES = ("linear", "relu", "sigmoid", "tanh", "softmax")


class ActivationSpec:
    __slots__ = ("name", "params")

    def __init__(self, name, params=None):
        self.name = name
        self.params = dict(params or {})

    def __call__(self, x):
        ops = B.get_backend()
        return ops.activation_forward(self.name, ops.asarray(x), self.params)

    def __eq__(self, other):
        return isinstance(other, ActivationSpec) and (self.name, self.params) == (other.name, other.params)

    def __repr__(self):
        return f"ActivationSpec({self.name!r}, {self.params!r})"


def get(identifier):
    """An `ActivationSpec` from a name, None (linear), a spec or one of this module's functions."""
    if isinstance(identifier, ActivationSpec):
        return identifier
    if callable(identifier) and getattr(identifier, "__module__", None) == __name__:
        identifier = identifier.__name__
    if isinstance(identifier, dict):  # Keras 3 may write {"class_name": "relu", ...}
        identifier = identifier.get("config", {}).get("name", identifier.get("class_name"))
    name = _ALIASES.get(identifier, identifier)
    if name not in _NAMES:
        raise ValueError(f"Unknown activation {identifier!r}. Valid names: {sorted(_NAMES)}")
    return ActivationSpec(name)


def serialize(spec):
    return spec.name


def linear(x):
    return ActivationSpec("linear")(x)


def relu(x, alpha=0.0, max_value=None, threshold=0.0):
    return ActivationSpec("relu", {"alpha": alpha, "max_value": max_value, "threshold": threshold})(x)


def sigmoid(x):
    return ActivationSpec("sigmoid")(x)


def tanh(x):
    return ActivationSpec("tanh")(x)


def softmax(x, axis=-1):
    return ActivationSpec("softmax", {"axis": axis})(x)
