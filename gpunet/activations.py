"""Keras activation functions.

Contract used by layers: ``get(identifier)`` returns an `ActivationSpec` with
``name`` (the backend method name: ``ops.<name>`` / ``ops.<name>_backward``)
and ``params`` (its keyword arguments); ``serialize(spec)`` gives what Keras
writes in a config. The module-level functions (``relu(x)``, ...) apply an
activation to an array with the current backend, as ``keras.activations`` does::

    from gpunet import activations
    activations.relu([-1.0, 2.0, 9.0], max_value=6.0)   # array([0., 2., 6.])
    activations.get("silu")                              # ActivationSpec('swish', {})
"""
import functools

from . import backend as B
from .backend.activation_ops import ACTIVATION_NAMES
from .autodiff import Tensor, is_tensor, value_of, vjp
from .autodiff import nn as autodiff_nn
from .saving import keras3_modes

# Other spellings Keras accepts for the same function.
_ALIASES = {"silu": "swish", "hard_swish": "hard_silu"}
VALID_NAMES = tuple(sorted(set(ACTIVATION_NAMES) | set(_ALIASES)))
_KERAS2_FILE_NAMES = {v: k for k, v in keras3_modes.KERAS2_FILE_NAMES.items()}  # ("keras2_hard_sigmoid")
_OWN_MODULES = (__name__, "gpunet.keras3_activations")  # where this module's functions are defined


class ActivationSpec:
    """An activation by backend name plus keyword parameters; callable on arrays.

    ``keras_name`` is the spelling a config writes (``"silu"`` stays ``"silu"``).
    """
    __slots__ = ("name", "params", "keras_name")
    #: True for a user's function (`FunctionActivation`): layers run it on the tape.
    custom = False

    def __init__(self, name, params=None, keras_name=None):
        self.name = name
        self.params = dict(params or {})
        self.keras_name = keras_name or name

    def __call__(self, x):
        if is_tensor(x):
            return autodiff_nn.activation(self.name, x, **self.params)
        ops = B.get_backend()
        x = ops.asarray(x)
        if x.dtype.kind != "f":  # Keras computes integer input in floatx
            x = ops.asarray(x, dtype=B.floatx())
        if x.ndim == 0:  # (NumPy's ufuncs give a 0-d array back as a scalar, which out= refuses)
            return ops.activation_forward(self.name, x.reshape(1), self.params).reshape(())
        return ops.activation_forward(self.name, x, self.params)

    @property
    def __name__(self):  # Keras's layer.activation is a function: code reads its __name__ ("relu")
        return self.keras_name

    def __eq__(self, other):
        return isinstance(other, ActivationSpec) and (self.name, self.params) == (other.name, other.params)

    def __hash__(self):
        return hash(self.name)

    def __repr__(self):
        return f"ActivationSpec({self.name!r}, {self.params!r})"


def _name_from_dict(identifier):
    # Keras 3: {"module": "keras.activations", "class_name": "function", "config": "relu", ...};
    # older dicts: {"class_name": "relu"} or {"class_name": ..., "config": {"name": "relu"}}.
    config = identifier.get("config")
    if isinstance(config, str):
        return config
    if isinstance(config, dict) and isinstance(config.get("name"), str):
        return config["name"]
    return identifier.get("class_name")


class FunctionActivation(ActivationSpec):
    """A user's activation function ``fn(x)`` of tensors (`gpunet.ops` / ``K.*``); layers run it on
    the tape, so its gradient needs no code. ``name`` is its registered or own name (what a
    config records: never its code)."""
    __slots__ = ("fn",)
    custom = True

    def __init__(self, fn):
        from .saving.registry import get_registered_name
        name = get_registered_name(fn)
        # "user:" keeps a function named like a built-in ("tanh") from ever meaning the built-in's kernel.
        super().__init__("user:" + name, keras_name=name)
        self.fn = fn

    @property
    def nameless(self):
        """Whether the function has no name a saved config could refer to: an unregistered
        lambda or functools.partial (their configs would say "<lambda>" or "partial")."""
        return self.keras_name == "<lambda>" or (isinstance(self.fn, functools.partial) and self.keras_name == "partial")

    def __call__(self, x):
        if is_tensor(x):
            return self.fn(x)
        ops = B.get_backend()
        x = ops.asarray(x)
        if x.dtype.kind != "f":
            x = ops.asarray(x, dtype=B.floatx())
        return value_of(self.fn(Tensor(x)))

    def forward(self, ops, x):
        """``(y, backward)`` for the array ``x`` on ``ops``; ``backward(dy)`` returns ``dx``."""
        y, backward = vjp(self.fn, x, ops=ops)
        if tuple(y.shape) != tuple(x.shape) or y.dtype.kind != "f":
            raise ValueError(f"Activation {self.keras_name!r} returned {y.dtype} values of shape {tuple(y.shape)} for "
                             f"input of shape {tuple(x.shape)}: an activation returns floats of its input's shape.")
        if y.dtype != x.dtype:  # a NumPy float64 constant in the function must not widen the layer's dtype
            y = y.astype(x.dtype)
        return y, lambda dy: backward(dy)[0]

    def __eq__(self, other):
        return isinstance(other, FunctionActivation) and other.fn is self.fn

    def __hash__(self):
        return hash(self.fn)

    def __repr__(self):
        return f"FunctionActivation({self.keras_name!r})"


def _unknown(identifier):
    return ValueError(f"Unknown activation {identifier!r}. Valid names: {list(VALID_NAMES)}. If it is your own "
                      f"function, pass it (Dense(..., activation=fn)) or, when loading, "
                      f"custom_objects={{{identifier!r}: fn}}, or decorate it with "
                      f"@gpunet.utils.register_serializable().")


def get(identifier):
    """An `ActivationSpec` from a Keras name, None (linear), a spec, a config dict, one of this
    module's functions (``gpunet.activations.relu``) or your own function of tensors
    (a `FunctionActivation`; a name registered with ``register_serializable`` or passed in
    ``custom_objects`` while loading resolves to it).

    Raises ValueError for an unknown name (listing the valid ones) and TypeError for
    objects that are not names or functions.
    """
    if isinstance(identifier, ActivationSpec):
        return identifier
    if identifier is None:
        return ActivationSpec("linear")
    if isinstance(identifier, dict):
        identifier = _name_from_dict(identifier)
    elif callable(identifier) and not isinstance(identifier, (str, type)):
        if getattr(identifier, "__module__", None) not in _OWN_MODULES or identifier.__name__ not in VALID_NAMES:
            return FunctionActivation(identifier)
        identifier = identifier.__name__
    if not isinstance(identifier, str):
        raise TypeError(f"Could not interpret activation function identifier {identifier!r}: expected a name "
                        f"such as 'relu', None, a dict config or a function.")
    if identifier in _KERAS2_FILE_NAMES:  # what gpunet's .keras archives write for Keras 2's hard_sigmoid
        identifier = _KERAS2_FILE_NAMES[identifier]
    elif identifier in keras3_modes.KERAS3_MEANINGS and keras3_modes.keras3_names():
        identifier = keras3_modes.KERAS3_MEANINGS[identifier]  # a config Keras 3 wrote: its function of that name
    name = _ALIASES.get(identifier, identifier)
    if name not in ACTIVATION_NAMES:
        from .saving.registry import get_registered_object
        user = get_registered_object(identifier)
        if user is None or isinstance(user, type) or not callable(user):
            raise _unknown(identifier)
        return FunctionActivation(user)
    return ActivationSpec(name, keras_name=identifier)


def serialize(spec):
    """What Keras writes for this activation in a layer config: its name string."""
    return get(spec).keras_name


def deserialize(name):
    """Keras's ``activations.deserialize``: the spec for a name or config."""
    return get(name)


def _apply(name, x, **params):
    if is_tensor(x):  # user code on gpunet tensors: record the Backend's backward on the tape
        return autodiff_nn.activation(name, x, **params)
    return ActivationSpec(name, params)(x)


def linear(x):
    """Identity: returns ``x`` as a backend array."""
    return _apply("linear", x)


def relu(x, alpha=0.0, max_value=None, threshold=0.0):
    """Rectified linear unit with Keras's options: ``max_value`` for ``x >= max_value``,
    ``x`` for ``threshold < x < max_value``, ``alpha * (x - threshold)`` otherwise."""
    return _apply("relu", x, alpha=alpha, max_value=max_value, threshold=threshold)


def leaky_relu(x, alpha=0.2, negative_slope=None):
    """``x`` for ``x > 0``, else ``alpha * x`` (Keras 3 calls ``alpha`` ``negative_slope``)."""
    return _apply("leaky_relu", x, alpha=alpha if negative_slope is None else negative_slope)


def relu6(x):
    """``min(max(x, 0), 6)``."""
    return _apply("relu6", x)


def sigmoid(x):
    """``1 / (1 + exp(-x))``."""
    return _apply("sigmoid", x)


def hard_sigmoid(x):
    """Keras 2's piecewise-linear sigmoid ``clip(0.2 * x + 0.5, 0, 1)``."""
    return _apply("hard_sigmoid", x)


def tanh(x):
    """Hyperbolic tangent."""
    return _apply("tanh", x)


def softmax(x, axis=-1):
    """``exp(x) / sum(exp(x))`` along ``axis``."""
    return _apply("softmax", x, axis=axis)


def log_softmax(x, axis=-1):
    """``log(softmax(x))`` along ``axis``, computed stably."""
    return _apply("log_softmax", x, axis=axis)


def softplus(x):
    """``log(exp(x) + 1)``."""
    return _apply("softplus", x)


def softsign(x):
    """``x / (abs(x) + 1)``."""
    return _apply("softsign", x)


def elu(x, alpha=1.0):
    """Exponential linear unit: ``x`` for ``x > 0``, else ``alpha * (exp(x) - 1)``."""
    return _apply("elu", x, alpha=alpha)


def selu(x):
    """Scaled ELU: ``scale * elu(x, alpha)`` with Keras's constants (1.0507..., 1.6732...)."""
    return _apply("selu", x)


def exponential(x):
    """``exp(x)``."""
    return _apply("exponential", x)


def swish(x):
    """``x * sigmoid(x)``."""
    return _apply("swish", x)


def silu(x):
    """``x * sigmoid(x)`` (Keras's other name for swish)."""
    return _apply("swish", x)


def gelu(x, approximate=False):
    """Gaussian error linear unit ``x * P(X <= x)``, X ~ N(0, 1); ``approximate=True`` uses
    ``0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x**3)))``."""
    return _apply("gelu", x, approximate=bool(approximate))


def mish(x):
    """``x * tanh(softplus(x))``."""
    return _apply("mish", x)


from .keras3_activations import (keras3_hard_sigmoid, celu, hard_silu, hard_swish, hard_tanh,  # noqa: E402
                                 hard_shrink, soft_shrink, tanh_shrink, log_sigmoid, sparse_plus, sparse_sigmoid,
                                 squareplus, sparsemax, threshold, glu)

__all__ = ["ActivationSpec", "FunctionActivation", "get", "serialize", "deserialize", "VALID_NAMES", "linear", "relu",
           "leaky_relu", "relu6", "sigmoid", "hard_sigmoid", "tanh", "softmax", "log_softmax", "softplus", "softsign",
           "elu", "selu", "exponential", "swish", "silu", "gelu", "mish", "keras3_hard_sigmoid", "celu", "hard_silu",
           "hard_swish", "hard_tanh", "hard_shrink", "soft_shrink", "tanh_shrink", "log_sigmoid", "sparse_plus",
           "sparse_sigmoid", "squareplus", "sparsemax", "threshold", "glu"]
