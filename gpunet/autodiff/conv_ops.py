"""Keras 3's convolution and pooling ops (``keras.ops.conv``, ``conv_transpose``, ``depthwise_conv``,
``separable_conv``, ``max_pool``, ``average_pool``) over 1, 2 or 3 spatial axes, with Keras's arguments and
TensorFlow's padding arithmetic; the convolution and pooling layers call them.

A convolution gathers its input's windows (`windows.patches`) and multiplies them with the kernel in one
matrix product, so its gradients are a matrix product and a `windows.fold`. ``channels_first`` inputs are
transposed to channels last and back.
"""
import math
import numbers

from .. import backend as B
from ..backend import index_maps as I
from . import elementwise as E
from .shape_ops import matmul, reshape, transpose
from .tensor import lift
from .windows import convolution, fold, patches, window_max, window_sum


def int_tuple(value, rank, name, owner=None, minimum=1):
    """``value`` (an int, or a tuple or list of ``rank`` ints) as a tuple of ``rank`` ints >= ``minimum``; the
    error names ``owner`` (a layer's class) when given."""
    values = tuple(value) if isinstance(value, (list, tuple)) else (value,) * rank
    if len(values) != rank or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= minimum
                                       for v in values):
        where = f"{owner}: " if owner else ""
        raise ValueError(f"{where}`{name}` must be an int >= {minimum} or a tuple of {rank} of them, received "
                         f"{value!r}")
    return tuple(int(v) for v in values)


def padding_of(padding, allowed=("valid", "same"), owner=None):
    """``padding`` lower-cased, checked to be one of ``allowed``."""
    value = padding.lower() if isinstance(padding, str) else padding
    if value not in allowed:
        where = f"{owner}: " if owner else ""
        raise ValueError(f"{where}`padding` must be one of {list(allowed)}, received {padding!r}")
    return value


def data_format_of(data_format):
    """``data_format`` checked, ``None`` the global ``image_data_format()`` (Keras's ``normalize_data_format``)."""
    value = B.image_data_format() if data_format is None else str(data_format).lower()
    if value not in ("channels_last", "channels_first"):
        raise ValueError(f"`data_format` must be 'channels_last' or 'channels_first', received {data_format!r}")
    return value


def _to_channels_last(x, data_format, rank):
    """``x`` as channels last, checked to have ``rank`` spatial axes, and the function that puts a result back
    in ``data_format``."""
    t = lift(x)
    if t.data.ndim != rank + 2:
        raise ValueError(f"Expected inputs with {rank + 2} axes (batch, {rank} spatial, channels), received shape "
                         f"{tuple(t.data.shape)}")
    if data_format_of(data_format) == "channels_last":
        return t, lambda y: y
    last = transpose(t, (0,) + tuple(range(2, rank + 2)) + (1,))
    return last, lambda y: transpose(y, (0, rank + 1) + tuple(range(1, rank + 1)))


def _windows(x, sizes, strides, dilations, padding):
    plan = I.window_plan(x.data.shape[1:-1], sizes, strides, dilations, padding)[0]
    return patches(x, plan), plan


def _conv_last(x, kernel, strides, padding, dilations, bias=None):
    """The convolution of channels-last ``x`` (padding may be Conv1D's "causal"), plus ``bias``; groups where
    the kernel takes fewer channels than ``x`` has (Keras 3's rule)."""
    k = lift(kernel)
    sizes, (channels, filters) = k.data.shape[:-2], k.data.shape[-2:]
    groups = x.data.shape[-1] // channels
    if channels * groups != x.data.shape[-1] or filters % groups:
        raise ValueError(f"The kernel takes {channels} input channel(s) per group and gives {filters} filter(s): "
                         f"the inputs' {x.data.shape[-1]} channels and the filters must split into equal groups")
    if groups == 1:
        return convolution(x, k, I.window_plan(x.data.shape[1:-1], sizes, strides, dilations, padding)[0], bias)
    cols, plan = _windows(x, sizes, strides, dilations, padding)
    window = cols.data.shape[-2]
    outputs = cols.data.shape[:-2]
    cols = transpose(reshape(cols, (-1, window, groups, channels)), (2, 0, 1, 3))
    w = transpose(reshape(k, (window, channels, groups, filters // groups)), (2, 0, 1, 3))
    y = matmul(reshape(cols, (groups, -1, window * channels)), reshape(w, (groups, window * channels, -1)))
    y = reshape(transpose(y, (1, 0, 2)), outputs + (filters,))
    return y if bias is None else E.add(y, bias)


def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """The convolution of ``inputs`` ``(batch, *spatial, channels)`` with ``kernel`` ``(*kernel_size,
    channels / groups, filters)`` (Keras 3's ``ops.conv``)."""
    return convolve(inputs, kernel, strides, padding_of(padding), data_format, dilation_rate)


def convolve(inputs, kernel, strides, padding, data_format, dilation_rate, bias=None):
    """`conv` plus ``bias`` (a convolution layer's), whose ``padding`` may also be "causal" (Conv1D's: the start
    padded with ``span - 1`` zeros)."""
    rank = lift(kernel).data.ndim - 2
    x, back = _to_channels_last(inputs, data_format, rank)
    return back(_conv_last(x, kernel, int_tuple(strides, rank, "strides"), padding,
                           int_tuple(dilation_rate, rank, "dilation_rate"), bias))


def deconv_length(length, size, stride, padding, output_padding, dilation):
    """Keras's ``deconv_output_length``: a transposed convolution's output length along one axis."""
    span = size + (size - 1) * (dilation - 1)
    if output_padding is None:
        return length * stride + max(span - stride, 0) if padding == "valid" else length * stride
    pad = span // 2 if padding == "same" else 0
    return (length - 1) * stride + span - 2 * pad + output_padding


def conv_transpose(inputs, kernel, strides, padding="valid", output_padding=None, data_format=None,
                   dilation_rate=1):
    """The transposed convolution (the gradient of `conv` with respect to its input) of ``inputs`` with
    ``kernel`` ``(*kernel_size, filters, channels)`` (Keras 3's ``ops.conv_transpose``)."""
    k = lift(kernel)
    rank = k.data.ndim - 2
    sizes, strides = k.data.shape[:-2], int_tuple(strides, rank, "strides")
    dilations, padding = int_tuple(dilation_rate, rank, "dilation_rate"), padding_of(padding)
    extra = (None,) * rank if output_padding is None else int_tuple(output_padding, rank, "output_padding", minimum=0)
    spatial = _spatial_shape(inputs, data_format, rank)
    lengths = tuple(deconv_length(n, s, st, padding, e, d)
                    for n, s, st, e, d in zip(spatial, sizes, strides, extra, dilations))
    return transpose_to(inputs, kernel, lengths, strides, padding, data_format, dilations)


def _spatial_shape(inputs, data_format, rank):
    shape = tuple(lift(inputs).data.shape)
    return shape[1:-1] if data_format_of(data_format) == "channels_last" else shape[2:]


def transpose_to(inputs, kernel, lengths, strides, padding, data_format, dilations):
    """The transposed convolution whose outputs have spatial ``lengths`` (Keras 2's ``K.conv2d_transpose``
    takes them as its ``output_shape``): the convolution of such outputs must give the inputs' shape."""
    k = lift(kernel)
    rank = k.data.ndim - 2
    x, back = _to_channels_last(inputs, data_format, rank)
    sizes, (filters, channels) = k.data.shape[:-2], k.data.shape[-2:]
    plan, _ = I.window_plan(lengths, sizes, strides, dilations, padding)
    if tuple(p[5] for p in plan) != tuple(x.data.shape[1:-1]):
        raise ValueError(f"Outputs of spatial shape {tuple(lengths)} would not convolve back to the inputs' "
                         f"{tuple(x.data.shape[1:-1])} ({padding} padding, strides {strides}): each output_padding "
                         "must be below its stride")
    window = math.prod(sizes)
    cols = matmul(reshape(x, (-1, channels)), transpose(reshape(k, (window * filters, channels))))
    cols = reshape(cols, tuple(x.data.shape[:-1]) + (window, filters))
    return back(fold(cols, plan, (x.data.shape[0],) + tuple(lengths) + (filters,)))


def _depthwise_last(x, kernel, strides, padding, dilations):
    k = lift(kernel)
    sizes, (channels, multiplier) = k.data.shape[:-2], k.data.shape[-2:]
    if channels != x.data.shape[-1]:
        raise ValueError(f"The depthwise kernel takes {channels} channel(s), the inputs have {x.data.shape[-1]}")
    cols, plan = _windows(x, sizes, strides, dilations, padding)
    window, outputs = cols.data.shape[-2], cols.data.shape[:-2]
    per_channel = transpose(reshape(cols, (-1, window, channels)), (2, 0, 1))  # (channels, positions, window)
    y = matmul(per_channel, reshape(transpose(reshape(k, (window, channels, multiplier)), (1, 0, 2)),
                                    (channels, window, multiplier)))
    return reshape(transpose(y, (1, 0, 2)), outputs + (channels * multiplier,))


def depthwise_conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """Each channel convolved with its own ``depth_multiplier`` filters: ``kernel`` ``(*kernel_size,
    channels, depth_multiplier)``, outputs ``channels * depth_multiplier`` (Keras 3's ``ops.depthwise_conv``)."""
    rank = lift(kernel).data.ndim - 2
    x, back = _to_channels_last(inputs, data_format, rank)
    return back(_depthwise_last(x, kernel, int_tuple(strides, rank, "strides"), padding_of(padding),
                                int_tuple(dilation_rate, rank, "dilation_rate")))


def separable_conv(inputs, depthwise_kernel, pointwise_kernel, strides=1, padding="valid", data_format=None,
                   dilation_rate=1):
    """`depthwise_conv` then a 1x1 convolution with ``pointwise_kernel`` (Keras 3's ``ops.separable_conv``)."""
    rank = lift(depthwise_kernel).data.ndim - 2
    x, back = _to_channels_last(inputs, data_format, rank)
    y = _depthwise_last(x, depthwise_kernel, int_tuple(strides, rank, "strides"), padding_of(padding),
                        int_tuple(dilation_rate, rank, "dilation_rate"))
    p = lift(pointwise_kernel)
    return back(reshape(matmul(reshape(y, (-1, p.data.shape[-2])), reshape(p, p.data.shape[-2:])),
                        tuple(y.data.shape[:-1]) + (p.data.shape[-1],)))


def _pool_last(x, pool_size, strides, padding, reduce):
    rank = x.data.ndim - 2
    sizes = int_tuple(pool_size, rank, "pool_size")
    strides = sizes if strides is None else int_tuple(strides, rank, "strides")
    padding = padding_of(padding)
    plan, counts = I.window_plan(x.data.shape[1:-1], sizes, strides, (1,) * rank, padding)
    if reduce == "max":
        return window_max(x, plan)
    total = window_sum(x, plan)
    if padding == "valid":
        return E.divide(total, float(math.prod(sizes)))
    ops = B.get_backend()
    return E.divide(total, ops.asarray(counts.reshape(counts.shape + (1,)), dtype=total.data.dtype))


def max_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """The largest value of each window (Keras 3's ``ops.max_pool``); padded positions never win."""
    rank = lift(inputs).data.ndim - 2
    x, back = _to_channels_last(inputs, data_format, rank)
    return back(_pool_last(x, pool_size, strides, padding, "max"))


def average_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """The mean of each window over its positions inside the input (Keras 3's ``ops.average_pool``,
    TensorFlow's: padding takes no part)."""
    rank = lift(inputs).data.ndim - 2
    x, back = _to_channels_last(inputs, data_format, rank)
    return back(_pool_last(x, pool_size, strides, padding, "average"))
