"""Array functions that differentiate themselves: gpunet's tensor ops (reverse-mode autodiff
over the active Backend). Write losses, metrics, activations and layers with them::

    from gpunet import ops
    def my_loss(y_true, y_pred):
        return ops.mean(ops.square(y_pred - y_true), axis=-1)

The same functions are in ``gpunet.backend`` under Keras 2's names (``K.mean``, ...).
Subgradients at non-differentiable points are TensorFlow's; see each function.
"""
from .autodiff import Tensor, is_tensor, gradients, vjp, grad
from .autodiff.elementwise import (add, subtract, multiply, divide, power, negative, square, sqrt, abs, exp,
                                   log, sin, cos, clip, maximum, minimum, where, switch, sign, cast, ones_like,
                                   zeros_like, greater, greater_equal, less, less_equal, equal, not_equal, round,
                                   stop_gradient)
from .autodiff.reductions import (sum, mean, max, min, prod, var, std, any, all, argmax, argmin, cumsum, cumprod,
                                  logsumexp)
from .autodiff.shape_ops import (reshape, flatten, batch_flatten, expand_dims, squeeze, transpose,
                                 permute_dimensions, concatenate, stack, getitem, matmul, dot, batch_dot, shape,
                                 reverse, tile, repeat_elements, gather)
from .autodiff.nn import (activation, binary_crossentropy, categorical_crossentropy,
                          sparse_categorical_crossentropy, l2_normalize, one_hot)
# On tensors these record their Backend backward (autodiff.nn.activation); on arrays they return arrays.
from .activations import (relu, sigmoid, hard_sigmoid, tanh, softmax, log_softmax, softplus, softsign, elu, selu,
                          gelu, swish, leaky_relu)


def convert_to_tensor(x, dtype=None):
    """``x`` as a constant `Tensor` (Keras 3's ``ops.convert_to_tensor``)."""
    from .autodiff import lift
    return lift(x, dtype)


def _on_symbolic_tensors():
    """Make the ops record themselves as layers on symbolic tensors (``K.square(Input((3,)))``:
    layers/symbolic_ops.py). The activations' wrappers keep their module and name, by which
    ``Dense(activation=K.relu)`` still finds the built-in (activations.get)."""
    from .layers.symbolic import accepts_symbolic
    from .layers.symbolic_ops import install_operators
    skip = {"Tensor", "is_tensor", "gradients", "vjp", "grad"}
    for name in __all__:
        if name not in skip:
            globals()[name] = accepts_symbolic(globals()[name])
    install_operators()


pow = power  # noqa: A001 (Keras's K.pow)

__all__ = ["Tensor", "is_tensor", "gradients", "vjp", "grad", "convert_to_tensor", "add", "subtract", "multiply",
           "divide", "power", "pow", "negative", "square", "sqrt", "abs", "exp", "log", "sin", "cos", "clip", "maximum",
           "minimum", "where", "switch", "sign", "cast", "ones_like", "zeros_like", "greater", "greater_equal",
           "less", "less_equal", "equal", "not_equal", "sum", "mean", "max", "min", "prod", "var", "std", "any",
           "all", "argmax", "argmin", "reshape", "flatten", "batch_flatten", "expand_dims", "squeeze",
           "transpose", "permute_dimensions", "concatenate", "stack", "getitem", "matmul", "dot", "batch_dot",
           "activation", "selu", "gelu", "swish", "leaky_relu", "relu", "sigmoid", "hard_sigmoid", "tanh",
           "softmax", "log_softmax", "softplus",
           "softsign", "elu", "binary_crossentropy", "categorical_crossentropy",
           "sparse_categorical_crossentropy", "round", "stop_gradient", "cumsum", "cumprod", "logsumexp", "shape",
           "reverse", "tile", "repeat_elements", "gather", "l2_normalize", "one_hot"]
_on_symbolic_tensors()
