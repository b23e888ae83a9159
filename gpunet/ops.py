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
                                 permute_dimensions, concatenate, stack, getitem, matmul, dot, batch_dot,
                                 reverse, tile, repeat_elements, gather)
from .autodiff.nn import (activation, binary_crossentropy, categorical_crossentropy,
                          sparse_categorical_crossentropy, l2_normalize, one_hot)
from .autodiff.math_ops import (log1p, expm1, erf, rsqrt, reciprocal, relu6, log_sigmoid, nan_to_num, floor, ceil,
                                floor_divide, isnan, isinf, isfinite, logical_and, logical_or, logical_xor,
                                logical_not, count_nonzero, mod, norm, moments, normalize)
from .autodiff.array_ops import (ones, zeros, full, full_like, eye, arange, take, take_along_axis, split, repeat, flip,
                                 moveaxis, swapaxes, broadcast_to, pad, tril, triu, argsort, sort, top_k, slice,
                                 slice_update, einsum, outer, diagonal)
from .autodiff.conv_ops import conv, conv_transpose, depthwise_conv, separable_conv, max_pool, average_pool
from .autodiff.control import cond, while_loop, fori_loop, vectorized_map
from .autodiff.more_ops import (tan, sinh, cosh, arcsin, arccos, arctan, arcsinh, arccosh, arctanh, log2, log10, exp2,
                                cbrt, trunc, hypot, arctan2, logaddexp, divide_no_nan, copy, ravel, roll, tensordot,
                                unstack, hstack, vstack, trace, linspace, meshgrid, isclose, allclose,
                                convert_to_numpy, select)
# On tensors these record their Backend backward (autodiff.nn.activation); on arrays they return arrays.
from .activations import (relu, sigmoid, tanh, softmax, log_softmax, softplus, softsign, elu, selu,
                          gelu, swish, leaky_relu)
from .keras3_activations import keras3_hard_sigmoid as hard_sigmoid  # keras.ops's: relu6(x + 3) / 6, not Keras 2's
from .autodiff import (keras3_constant_ops, keras3_control_ops, keras3_ctc_ops, keras3_index_ops, keras3_linalg_more,
                       keras3_linalg_ops, keras3_misc_ops, keras3_nan_ops, keras3_nn_ops, keras3_numpy_constants,
                       keras3_numpy_ops)

# The rest of Keras 3's ops, each module's __all__ (checked against Keras 3 on torch: tests/test_keras3_*_ops.py)
_KERAS3_MODULES = (keras3_nn_ops, keras3_numpy_ops, keras3_numpy_constants, keras3_nan_ops, keras3_index_ops,
                   keras3_constant_ops, keras3_misc_ops, keras3_control_ops, keras3_linalg_ops, keras3_linalg_more,
                   keras3_ctc_ops)
from .autodiff import keras3_complex_ops, keras3_fft_ops  # noqa: E402 (Fourier transforms on (real, imag) pairs)
_KERAS3_MODULES += (keras3_fft_ops, keras3_complex_ops)
globals().update({name: getattr(module, name) for module in _KERAS3_MODULES for name in module.__all__})


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
    skip = {"Tensor", "is_tensor", "gradients", "vjp", "grad", "cond", "while_loop", "fori_loop", "vectorized_map",
            "ones", "zeros", "full", "eye", "arange", "size", "ndim", "linspace", "meshgrid", "unstack", "allclose",
            "convert_to_numpy", "hstack", "vstack", "select", "shape",
            # (they make arrays from numbers, or tell a dtype: nothing to record in a graph)
            "identity", "tri", "empty", "array", "logspace", "geomspace", "bartlett", "blackman", "hamming", "hanning",
            "kaiser", "dtype", "custom_gradient", "scan", "associative_scan", "map", "vectorize"}
    for name in __all__:
        if name not in skip:
            globals()[name] = accepts_symbolic(globals()[name])
    install_operators()


pow = power  # noqa: A001 (Keras's K.pow)
absolute, amax, amin, silu = abs, max, min, swish  # (Keras 3's other names)


def shape(x):
    """Keras 3's ``keras.ops.shape``: the shape of ``x`` as a tuple of ints, None for a symbolic tensor's unknown
    sizes (``ops.reshape(x, ops.shape(x)[:-1] + (heads, depth))``). Keras 2's ``K.shape`` (gpunet.backend) is
    a 1-D int32 tensor instead."""
    from .layers.symbolic import is_symbolic
    if is_symbolic(x):
        return tuple(x.shape)
    from .autodiff import lift
    return tuple(int(d) for d in lift(x).data.shape)


def size(x):
    """How many entries ``x`` has."""
    from .autodiff import lift
    return int(lift(x).data.size)


def ndim(x):
    """How many axes ``x`` has."""
    from .autodiff import lift
    return int(lift(x).data.ndim)


def average(x, axis=None, weights=None):
    """The mean of ``x`` over ``axis``, weighted by ``weights`` (as long as that axis, or ``x``'s shape)."""
    if weights is None:
        return mean(x, axis=axis)
    from .autodiff import lift
    w = lift(weights)
    if axis is not None and w.data.ndim == 1:
        shape = [1] * len(shape_of(x))
        shape[axis] = -1
        w = reshape(w, shape)
    return divide(sum(multiply(x, w), axis=axis), sum(multiply(ones_like(x), w), axis=axis))


def shape_of(x):
    from .autodiff import lift
    return tuple(lift(x).data.shape)

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
           "reverse", "tile", "repeat_elements", "gather", "l2_normalize", "one_hot",
           # Keras 3's (autodiff/math_ops.py, array_ops.py, control.py)
           "log1p", "expm1", "erf", "rsqrt", "reciprocal", "relu6", "log_sigmoid", "nan_to_num", "floor", "ceil",
           "floor_divide", "isnan", "isinf", "isfinite", "logical_and", "logical_or", "logical_xor", "logical_not",
           "count_nonzero", "mod", "norm", "moments", "normalize", "ones", "zeros", "full", "full_like", "eye",
           "arange", "take", "take_along_axis", "split", "repeat", "flip", "moveaxis", "swapaxes", "broadcast_to",
           "pad", "tril", "triu", "argsort", "sort", "top_k", "slice", "slice_update", "einsum", "outer", "diagonal",
           "cond", "while_loop", "fori_loop", "vectorized_map", "absolute", "amax", "amin", "silu", "size", "ndim",
           "average",
           # more of Keras 3's (autodiff/more_ops.py)
           "tan", "sinh", "cosh", "arcsin", "arccos", "arctan", "arcsinh", "arccosh", "arctanh", "log2", "log10",
           "exp2", "cbrt", "trunc", "hypot", "arctan2", "logaddexp", "divide_no_nan", "copy", "ravel", "roll",
           "tensordot", "unstack", "hstack", "vstack", "trace", "linspace", "meshgrid", "isclose", "allclose",
           "convert_to_numpy", "select",
           # Keras 3's convolutions and poolings (autodiff/conv_ops.py)
           "conv", "conv_transpose", "depthwise_conv", "separable_conv", "max_pool", "average_pool"]
__all__ += [name for module in _KERAS3_MODULES for name in module.__all__]
_on_symbolic_tensors()


def _namespace(name, names, functions=None):
    """Keras 3's ``keras.ops.<name>`` (``ops.nn.sigmoid``, ``from gpunet.ops import numpy as knp``): a module
    holding the same functions as gpunet.ops, those Keras 3 files under it (or ``functions``, a dict, its own)."""
    import sys
    import types
    module = types.ModuleType(f"{__name__}.{name}", f"Keras 3's keras.ops.{name}: the same functions as gpunet.ops.")
    for attribute in names.split():
        setattr(module, attribute, (functions or globals())[attribute])
    module.__all__ = names.split()
    sys.modules[module.__name__] = module
    return module


nn = _namespace("nn", "binary_crossentropy categorical_crossentropy elu gelu hard_sigmoid leaky_relu log_sigmoid "
                      "log_softmax moments normalize one_hot relu relu6 selu sigmoid silu softmax softplus softsign "
                      "sparse_categorical_crossentropy swish conv conv_transpose depthwise_conv separable_conv "
                      "max_pool average_pool glu layer_normalization rms_normalization batch_normalization "
                      "dot_product_attention psnr depth_to_space space_to_depth multi_hot celu hard_shrink hard_silu "
                      "hard_swish hard_tanh soft_shrink sparse_plus sparse_sigmoid sparsemax squareplus tanh_shrink "
                      "threshold adaptive_average_pool adaptive_max_pool fold unfold polar "
                      "ctc_loss ctc_decode")
linalg = _namespace("linalg", "norm inv solve solve_triangular det cholesky cholesky_inverse pinv lstsq matrix_rank "
                              "qr svd eigh lu_factor eig jvp")


def _image_functions():
    from .autodiff import keras3_image_ops
    from .layers.symbolic import accepts_symbolic
    return {n: accepts_symbolic(getattr(keras3_image_ops, n)) for n in keras3_image_ops.__all__}


_IMAGE = _image_functions()
# Keras 3's keras.ops.image (autodiff/keras3_image_ops.py): only under ops.image, as in Keras 3
image = _namespace("image", " ".join(_IMAGE), _IMAGE)
numpy = _namespace("numpy", " ".join(n for n in __all__ if n not in {
    "Tensor", "is_tensor", "gradients", "vjp", "grad", "convert_to_tensor", "convert_to_numpy", "pow",
    "switch", "cast", "flatten", "batch_flatten", "permute_dimensions", "getitem", "batch_dot", "activation",
    "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy", "stop_gradient",
    "logsumexp", "shape", "reverse", "repeat_elements", "gather", "l2_normalize", "one_hot", "erf",
    "rsqrt", "relu6", "log_sigmoid", "norm", "moments", "normalize", "top_k", "slice", "slice_update", "cond",
    "while_loop", "fori_loop", "vectorized_map", "silu", "selu", "gelu", "swish", "leaky_relu", "relu", "sigmoid",
    "hard_sigmoid", "softmax", "log_softmax", "softplus", "softsign", "elu", "unstack", "conv", "conv_transpose",
    "depthwise_conv", "separable_conv", "max_pool", "average_pool", *nn.__all__, "in_top_k", "saturate_cast",
    "segment_sum", "segment_max", "segment_min", "segment_prod", "scatter", "scatter_update", "dtype", *linalg.__all__,
    "erfc", "erfinv", "cdist", "extract_sequences", "rearrange", "custom_gradient", "scan", "associative_scan", "map",
    "logdet", "fft", "fft2", "ifft2", "rfft", "irfft", "stft", "istft", "view_as_complex", "view_as_real"}))
