"""Keras 2's backend functions (``import gpunet.backend as K``; ``K.mean(K.square(y_pred - y_true), axis=-1)``).

They are gpunet's differentiable tensor ops (`gpunet.ops`), so a loss, metric, activation or
layer written with them trains: gradients come from the tape. ``K.epsilon()``, ``K.floatx()``
and the backend selection functions live in this package's ``__init__``.
"""
from ..ops import (Tensor, is_tensor, add, subtract, multiply, divide, power, pow, negative, square, sqrt, abs,
                   exp, log, clip, maximum, minimum, where, switch, sign, cast, ones_like, zeros_like, greater,
                   greater_equal, less, less_equal, equal, not_equal, sum, mean, max, min, prod, var, std, any, all,
                   argmax, argmin, reshape, flatten, batch_flatten, expand_dims, squeeze, transpose,
                   permute_dimensions, concatenate, stack, matmul, dot, batch_dot, relu, sigmoid, tanh,
                   softmax, softplus, softsign, elu, binary_crossentropy, categorical_crossentropy,
                   sparse_categorical_crossentropy, convert_to_tensor, round, stop_gradient, cumsum, cumprod,
                   logsumexp, reverse, tile, repeat_elements, gather, l2_normalize, one_hot)
from ..activations import hard_sigmoid  # Keras 2's backend function (keras.ops's, gpunet.ops's, is Keras 3's)
from ..autodiff.tensor import lift as _lift, value_of as _value_of
from ..autodiff.shape_ops import _ints, shape as _shape
from ..layers.symbolic import accepts_symbolic as _accepts_symbolic

shape = _accepts_symbolic(_shape)  # Keras 2's K.shape: a 1-D int32 tensor (keras.ops.shape, gpunet.ops's, a tuple)

_image_data_format = "channels_last"


def constant(value, dtype=None, shape=None, name=None):
    """A constant tensor of ``value`` (in floatx unless ``dtype`` says otherwise; ``name`` is ignored)."""
    from . import floatx, get_backend
    ops = get_backend()
    data = ops.asarray(value, dtype=dtype or floatx())
    if shape is not None:
        data = ops.xp.broadcast_to(data, tuple(shape)).copy()
    return Tensor(data)


def int_shape(x):
    """The shape of a tensor, weight or array as a tuple of ints (None where a symbolic tensor's size is open)."""
    if hasattr(x, "_keras_history"):  # an Input() or a layer's output in the functional API
        return tuple(x.shape)
    return tuple(_lift(x).shape)


def ndim(x):
    """The number of axes of ``x``."""
    return len(int_shape(x))


def eval(x):  # noqa: A001 (Keras's K.eval)
    """The values of ``x`` as a NumPy array."""
    return _lift(x).numpy()


def variable(value, dtype=None, name=None, constraint=None):
    """Keras 2's ``K.variable``: an array that keeps its values, in floatx unless ``dtype`` says
    otherwise. ``K.get_value``, ``K.set_value``, ``K.eval`` and ``assign``/``assign_add``/``assign_sub``
    read and update it in place; in expressions and ``K.*`` functions it is its current value, a
    constant (optimizers train layers' weights: make those with ``Layer.add_weight``)."""
    if constraint is not None:
        raise ValueError("K.variable takes no constraint in gpunet: only layer weights (add_weight) are trained, "
                         "and their constraints apply there.")
    from . import floatx, get_backend
    from ..metrics.state import MetricVariable
    ops = get_backend()
    data = ops.copy(ops.asarray(_value_of(value), dtype=dtype or floatx()))
    return MetricVariable(ops, name or "Variable", data)


def zeros(shape, dtype=None, name=None):
    """A `variable` of zeros (Keras 2's ``K.zeros``)."""
    from . import floatx, get_backend
    return variable(get_backend().zeros(_ints(shape), dtype or floatx()), dtype, name)


def ones(shape, dtype=None, name=None):
    """A `variable` of ones (Keras 2's ``K.ones``)."""
    from . import floatx, get_backend
    return variable(get_backend().ones(_ints(shape), dtype or floatx()), dtype, name)


def eye(size, dtype=None, name=None):
    """A `variable` holding the identity matrix; ``size`` is ``n`` or ``(rows, cols)``."""
    from . import floatx, get_backend
    dims = _ints(size)
    if len(dims) not in (1, 2):
        raise ValueError(f"eye takes a size n or (rows, cols), received {size!r}.")
    return variable(get_backend().eye(dims[0], dims[-1], dtype or floatx()), dtype, name)


def _generator(seed):
    """A generator of its own for an explicit ``seed`` (the same values every call), a `gpunet.random.SeedGenerator`'s
    (advancing at every call), else None: gpunet's global generator, which ``gpunet.utils.set_random_seed`` re-seeds."""
    from . import random as _random
    own = getattr(seed, "_generator", None)
    return own if own is not None else None if seed is None else _random.make_generator(seed)


def random_uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """Uniform values in ``[minval, maxval)``, drawn from gpunet's seeded generator (a constant)."""
    from . import floatx, get_backend
    draw = get_backend().draw_uniform(_ints(shape), float(minval), float(maxval), dtype or floatx(), _generator(seed))
    return Tensor(draw)


def random_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Normal values, drawn from gpunet's seeded generator (a constant)."""
    from . import floatx, get_backend
    draw = get_backend().draw_normal(_ints(shape), float(mean), float(stddev), dtype or floatx(), _generator(seed))
    return Tensor(draw)


def random_bernoulli(shape, p=0.0, dtype=None, seed=None):
    """1 with probability ``p``, else 0 (Keras 2: a uniform draw ``<= p``), from gpunet's seeded generator."""
    from . import floatx
    dtype = dtype or floatx()
    draw = random_uniform(shape, dtype=dtype, seed=seed).data
    return Tensor((draw <= float(p)).astype(dtype))


def random_binomial(shape, p=0.0, dtype=None, seed=None):
    """Keras 2's older name of `random_bernoulli`."""
    return random_bernoulli(shape, p, dtype, seed)


def dropout(x, level, noise_shape=None, seed=None):
    """``x`` with each value zeroed with probability ``level`` and the rest scaled by ``1 / (1 - level)``
    (``tf.nn.dropout``); ``noise_shape`` (None entries: ``x``'s) shares one draw over broadcast axes.
    The gradient passes through the kept values, scaled the same way."""
    from . import floatx, get_backend
    t = _lift(x)
    if not 0.0 <= float(level) < 1.0:
        raise ValueError(f"K.dropout's level is the fraction of values to drop, in [0, 1), received {level!r}.")
    dims = t.shape if noise_shape is None else tuple(
        t.shape[i - len(noise_shape)] if d is None else int(d) for i, d in enumerate(noise_shape))
    dtype = t.dtype if t.dtype.kind == "f" else floatx()
    return multiply(t, Tensor(get_backend().dropout_mask(dims, float(level), dtype, _generator(seed))))


def _number(value):
    return _lift(value).numpy().item() if is_tensor(value) else value


def arange(start, stop=None, step=1, dtype="int32"):
    """``start, start + step, ...`` below ``stop`` (one argument: ``0 .. start - 1``), as Keras 2's ``K.arange``
    (int32 unless ``dtype`` says otherwise; float bounds with the default give float32, as ``tf.range``)."""
    from . import get_backend
    start, stop, step = _number(start), _number(stop), _number(step)
    if stop is None:
        start, stop = 0, (start if start > 0 else 0)
    data = get_backend().xp.arange(start, stop, step)
    if data.dtype.kind == "f" and dtype == "int32":
        dtype = "float32"
    return Tensor(data.astype(dtype))


def in_top_k(predictions, targets, k):
    """Keras 2's ``K.in_top_k``: for each row of ``predictions`` (batch, classes), whether the class
    ``targets[i]`` is among the ``k`` largest; ties at the boundary count as in (``tf.math.in_top_k``),
    a row with a non-finite prediction or an out-of-range target gives False. A constant."""
    from . import get_backend
    ops = get_backend()
    xp, pred = ops.xp, _lift(predictions).data
    labels = ops.asarray(_value_of(targets)).reshape(-1).astype("int64")
    valid = (labels >= 0) & (labels < pred.shape[-1])
    picked = pred[xp.arange(pred.shape[0]), xp.where(valid, labels, 0)][:, None]
    above = (pred > picked).sum(axis=-1)
    return Tensor(valid & xp.isfinite(pred).all(axis=-1) & (above < int(k)))


def cast_to_floatx(x):
    """``x`` in floatx: a tensor for a tensor or variable, an array of the same kind for a backend array,
    and (as Keras 2) a NumPy array for anything else."""
    from . import floatx, get_backend, resolve
    if is_tensor(x):
        return cast(x, floatx())
    if isinstance(x, get_backend().xp.ndarray):
        return x.astype(floatx())
    return resolve("numpy").asarray(x, dtype=floatx())


def count_params(x):
    """The number of values in ``x`` (a weight, variable, tensor or array)."""
    total = 1
    for n in int_shape(x):
        total *= n
    return total


def image_data_format():
    """Keras's image data format setting, ``'channels_last'`` unless set: the convolution and pooling layers'
    ``data_format`` when they are given None."""
    return _image_data_format


def set_image_data_format(data_format):
    """Set what `image_data_format` returns: ``'channels_last'`` or ``'channels_first'``."""
    global _image_data_format
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"Unknown data_format {data_format!r}: expected 'channels_last' or 'channels_first'.")
    _image_data_format = str(data_format)


__all__ = ["Tensor", "is_tensor", "add", "subtract", "multiply", "divide", "power", "pow", "negative", "square",
           "sqrt", "abs", "exp", "log", "clip", "maximum", "minimum", "where", "switch", "sign", "cast", "ones_like",
           "zeros_like", "greater", "greater_equal", "less", "less_equal", "equal", "not_equal", "sum", "mean", "max",
           "min", "prod", "var", "std", "any", "all", "argmax", "argmin", "reshape", "flatten", "batch_flatten",
           "expand_dims", "squeeze", "transpose", "permute_dimensions", "concatenate", "stack", "matmul", "dot",
           "batch_dot", "relu", "sigmoid", "hard_sigmoid", "tanh", "softmax", "softplus", "softsign", "elu",
           "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy",
           "convert_to_tensor", "constant", "int_shape", "ndim", "eval", "round", "stop_gradient", "cumsum",
           "cumprod", "logsumexp", "shape", "reverse", "tile", "repeat_elements", "gather", "l2_normalize", "one_hot",
           "variable", "zeros", "ones", "eye", "random_uniform", "random_normal", "random_bernoulli",
           "random_binomial", "dropout", "arange", "in_top_k", "cast_to_floatx", "count_params",
           "image_data_format", "set_image_data_format"]
