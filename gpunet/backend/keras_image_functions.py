"""Keras 2's backend functions for convolutions, poolings, padding and resizing (``K.conv2d``, ``K.pool2d``,
``K.spatial_2d_padding``, ``K.resize_images``...), with tf.keras 2's signatures and defaults; differentiable
(they are gpunet.ops' convolutions, autodiff/conv_ops.py), so a layer of your own written with them trains."""
from ..autodiff import conv_ops as _C
from ..autodiff.array_ops import pad as _pad
from ..autodiff.tensor import lift as _lift


def conv1d(x, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """1-D convolution; ``padding`` "valid", "same" or "causal"."""
    return _C.convolve(x, kernel, strides, _C.padding_of(padding, ("valid", "same", "causal")), data_format,
                       dilation_rate)


def conv2d(x, kernel, strides=(1, 1), padding="valid", data_format=None, dilation_rate=(1, 1)):
    """2-D convolution: ``kernel`` ``(rows, cols, channels, filters)``."""
    return _C.conv(x, kernel, strides, padding, data_format, dilation_rate)


def conv3d(x, kernel, strides=(1, 1, 1), padding="valid", data_format=None, dilation_rate=(1, 1, 1)):
    """3-D convolution: ``kernel`` ``(depth, rows, cols, channels, filters)``."""
    return _C.conv(x, kernel, strides, padding, data_format, dilation_rate)


def _transposed(x, kernel, output_shape, strides, padding, data_format, dilation_rate):
    rank = _lift(kernel).data.ndim - 2
    shape = tuple(int(d) for d in output_shape)
    lengths = shape[1:-1] if _C.data_format_of(data_format) == "channels_last" else shape[2:]
    if len(lengths) != rank:
        raise ValueError(f"output_shape must be (batch, {rank} spatial lengths, channels), received {output_shape!r}")
    return _C.transpose_to(x, kernel, lengths, _C.int_tuple(strides, rank, "strides"), _C.padding_of(padding),
                           data_format, _C.int_tuple(dilation_rate, rank, "dilation_rate"))


def conv2d_transpose(x, kernel, output_shape, strides=(1, 1), padding="valid", data_format=None,
                     dilation_rate=(1, 1)):
    """2-D transposed convolution to ``output_shape`` ``(batch, rows, cols, filters)``: ``kernel`` ``(rows,
    cols, filters, channels)``."""
    return _transposed(x, kernel, output_shape, strides, padding, data_format, dilation_rate)


def conv3d_transpose(x, kernel, output_shape, strides=(1, 1, 1), padding="valid", data_format=None):
    """3-D transposed convolution to ``output_shape``."""
    return _transposed(x, kernel, output_shape, strides, padding, data_format, 1)


def depthwise_conv2d(x, depthwise_kernel, strides=(1, 1), padding="valid", data_format=None, dilation_rate=(1, 1)):
    """Each channel convolved with its own filters: ``depthwise_kernel`` ``(rows, cols, channels, multiplier)``."""
    return _C.depthwise_conv(x, depthwise_kernel, strides, padding, data_format, dilation_rate)


def separable_conv1d(x, depthwise_kernel, pointwise_kernel, strides=1, padding="valid", data_format=None,
                     dilation_rate=1):
    """A depthwise then a pointwise 1-D convolution."""
    return _C.separable_conv(x, depthwise_kernel, pointwise_kernel, strides, padding, data_format, dilation_rate)


def separable_conv2d(x, depthwise_kernel, pointwise_kernel, strides=(1, 1), padding="valid", data_format=None,
                     dilation_rate=(1, 1)):
    """A depthwise then a pointwise 2-D convolution."""
    return _C.separable_conv(x, depthwise_kernel, pointwise_kernel, strides, padding, data_format, dilation_rate)


def _pool(x, pool_size, strides, padding, data_format, pool_mode):
    if pool_mode not in ("max", "avg"):
        raise ValueError(f"Invalid pool_mode: {pool_mode}. Expected 'max' or 'avg'.")
    run = _C.max_pool if pool_mode == "max" else _C.average_pool
    return run(x, pool_size, strides, padding, data_format)


def pool2d(x, pool_size, strides=(1, 1), padding="valid", data_format=None, pool_mode="max"):
    """2-D pooling, ``pool_mode`` "max" or "avg" (note Keras 2's default ``strides=(1, 1)``)."""
    return _pool(x, pool_size, strides, padding, data_format, pool_mode)


def pool3d(x, pool_size, strides=(1, 1, 1), padding="valid", data_format=None, pool_mode="max"):
    """3-D pooling, ``pool_mode`` "max" or "avg"."""
    return _pool(x, pool_size, strides, padding, data_format, pool_mode)


def _spatial_pad(x, padding, data_format, rank):
    widths = [(0, 0)] + [tuple(p) for p in padding] + [(0, 0)]
    if _C.data_format_of(data_format) == "channels_first":
        widths = [(0, 0), (0, 0)] + widths[1:-1]
    if len(widths) != _lift(x).data.ndim or len(padding) != rank:
        raise ValueError(f"padding {padding!r} needs {rank} (before, after) pairs for inputs of rank {rank + 2}")
    return _pad(x, widths)


def temporal_padding(x, padding=(1, 1)):
    """Zeros before and after the steps (axis 1) of a 3-D tensor."""
    return _spatial_pad(x, [padding], "channels_last", 1)


def spatial_2d_padding(x, padding=((1, 1), (1, 1)), data_format=None):
    """Zero rows and columns around the images of a 4-D tensor."""
    return _spatial_pad(x, padding, data_format, 2)


def spatial_3d_padding(x, padding=((1, 1), (1, 1), (1, 1)), data_format=None):
    """Zeros around the volumes of a 5-D tensor."""
    return _spatial_pad(x, padding, data_format, 3)


def resize_images(x, height_factor, width_factor, data_format, interpolation="nearest"):
    """Images enlarged by whole factors, as UpSampling2D ("nearest" or "bilinear")."""
    from ..layers.spatial_reshaping import upsample
    return upsample(_lift(x), (height_factor, width_factor), _C.data_format_of(data_format), interpolation)


def resize_volumes(x, depth_factor, height_factor, width_factor, data_format):
    """Volumes enlarged by whole factors, each value repeated."""
    from ..layers.spatial_reshaping import upsample
    return upsample(_lift(x), (depth_factor, height_factor, width_factor), _C.data_format_of(data_format), "nearest")


__all__ = ["conv1d", "conv2d", "conv3d", "conv2d_transpose", "conv3d_transpose", "depthwise_conv2d",
           "separable_conv1d", "separable_conv2d", "pool2d", "pool3d", "temporal_padding", "spatial_2d_padding",
           "spatial_3d_padding", "resize_images", "resize_volumes"]
