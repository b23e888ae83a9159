"""Keras 2's backend functions (``import gpunet.backend as K``; ``K.mean(K.square(y_pred - y_true), axis=-1)``).

They are gpunet's differentiable tensor ops (`gpunet.ops`), so a loss, metric, activation or
layer written with them trains: gradients come from the tape. ``K.epsilon()``, ``K.floatx()``
and the backend selection functions live in this package's ``__init__``.
"""
from ..ops import (Tensor, is_tensor, add, subtract, multiply, divide, power, pow, negative, square, sqrt, abs,
                   exp, log, clip, maximum, minimum, where, switch, sign, cast, ones_like, zeros_like, greater,
                   greater_equal, less, less_equal, equal, not_equal, sum, mean, max, min, prod, var, std, any, all,
                   argmax, argmin, reshape, flatten, batch_flatten, expand_dims, squeeze, transpose,
                   permute_dimensions, concatenate, stack, matmul, dot, batch_dot, relu, sigmoid, hard_sigmoid, tanh,
                   softmax, softplus, softsign, elu, binary_crossentropy, categorical_crossentropy,
                   sparse_categorical_crossentropy, convert_to_tensor)
from ..autodiff.tensor import lift as _lift


def constant(value, dtype=None, shape=None):
    """A constant tensor of ``value`` (in floatx unless ``dtype`` says otherwise)."""
    from . import floatx, get_backend
    ops = get_backend()
    data = ops.asarray(value, dtype=dtype or floatx())
    if shape is not None:
        data = ops.xp.broadcast_to(data, tuple(shape)).copy()
    return Tensor(data)


def int_shape(x):
    """The shape of a tensor, weight or array as a tuple of ints."""
    return tuple(_lift(x).shape)


def ndim(x):
    """The number of axes of ``x``."""
    return len(int_shape(x))


def eval(x):  # noqa: A001 (Keras's K.eval)
    """The values of ``x`` as a NumPy array."""
    return _lift(x).numpy()


__all__ = ["Tensor", "is_tensor", "add", "subtract", "multiply", "divide", "power", "pow", "negative", "square",
           "sqrt", "abs", "exp", "log", "clip", "maximum", "minimum", "where", "switch", "sign", "cast", "ones_like",
           "zeros_like", "greater", "greater_equal", "less", "less_equal", "equal", "not_equal", "sum", "mean", "max",
           "min", "prod", "var", "std", "any", "all", "argmax", "argmin", "reshape", "flatten", "batch_flatten",
           "expand_dims", "squeeze", "transpose", "permute_dimensions", "concatenate", "stack", "matmul", "dot",
           "batch_dot", "relu", "sigmoid", "hard_sigmoid", "tanh", "softmax", "softplus", "softsign", "elu",
           "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy",
           "convert_to_tensor", "constant", "int_shape", "ndim", "eval"]
