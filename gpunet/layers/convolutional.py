"""Keras's convolutions over 1, 2 or 3 spatial axes: `Conv1D`, `Conv2D`, `Conv3D` (``Convolution1D``...),
with Keras's arguments (``padding`` "valid", "same", Conv1D's "causal"; ``strides``, ``dilation_rate``,
``groups``, ``data_format``) and its kernel layout ``(*kernel_size, channels / groups, filters)``, so weights
and files move to and from Keras unchanged. They compute with `gpunet.ops.conv` (autodiff/conv_ops.py):
the input's windows times the kernel in one matrix product; gradients from the tape."""
from .. import activations
from ..autodiff import conv_ops
from ..autodiff.conv_ops import int_tuple, padding_of
from ..backend.index_maps import windows as windows_plan
from .base import Layer
from .weight_args import keep_weight_arguments, weight_arguments_config


def data_format_of(data_format):
    """Keras's ``normalize_data_format``: ``None`` is the global ``image_data_format()``."""
    return conv_ops.data_format_of(data_format)


def spatial_axes(data_format, rank):
    """The positions of the spatial axes in a ``(batch, ...)`` shape, and of the channels."""
    if data_format == "channels_last":
        return tuple(range(1, rank + 1)), rank + 1
    return tuple(range(2, rank + 2)), 1


def check_input_shape(layer, input_shape, rank):
    """The channels of ``input_shape``, which must have ``rank`` spatial axes and known channels."""
    axes, channel = spatial_axes(layer.data_format, rank)
    if len(input_shape) != rank + 2 or input_shape[channel] is None:
        names = "steps" if rank == 1 else ", ".join(("depth", "height", "width")[-rank:])
        order = f"(batch, {names}, channels)" if channel != 1 else f"(batch, channels, {names})"
        raise ValueError(f"{type(layer).__name__} '{layer.name}' expects inputs {order} with known channels "
                         f"(data_format='{layer.data_format}'), received input shape {tuple(input_shape)}")
    return input_shape[channel]


def windowed_shape(input_shape, data_format, sizes, strides, dilations, padding, channels):
    """The output shape of windows over ``input_shape``'s spatial axes (unknown lengths stay None)."""
    axes, channel = spatial_axes(data_format, len(sizes))
    shape = list(input_shape)
    for axis, size, stride, dilation in zip(axes, sizes, strides, dilations):
        if shape[axis] is not None:
            shape[axis] = windows_plan(shape[axis], size, stride, dilation, padding)[2].shape[0]
    shape[channel] = channels
    return tuple(shape)


def add_bias(y, bias, data_format, rank):
    """``y + bias`` along the channels."""
    if bias is None:
        return y
    if data_format == "channels_last":
        return y + bias
    from .. import ops
    return y + ops.reshape(bias, (-1,) + (1,) * rank)


class Conv(Layer):
    """``activation(conv(inputs, kernel) + bias)`` over ``rank`` spatial axes (Keras's ``Conv`` base)."""

    rank = None

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1, groups=1,
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        owner, rank = type(self).__name__, self.rank
        self.filters = int_tuple(filters, 1, "filters", owner)[0]
        self.groups = int_tuple(groups, 1, "groups", owner)[0]
        if self.filters % self.groups:
            raise ValueError(f"{owner}: the number of filters must be evenly divisible by the number of groups. "
                             f"Received: groups={self.groups}, filters={self.filters}")
        self.kernel_size = int_tuple(kernel_size, rank, "kernel_size", owner)
        self.strides = int_tuple(strides, rank, "strides", owner)
        self.dilation_rate = int_tuple(dilation_rate, rank, "dilation_rate", owner)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"{owner}: `strides > 1` not supported in conjunction with `dilation_rate > 1`. "
                             f"Received: strides={self.strides} and dilation_rate={self.dilation_rate}")
        self.padding = padding_of(padding, ("valid", "same", "causal") if rank == 1 else ("valid", "same"), owner)
        self.data_format = data_format_of(data_format)
        self.activation, self.use_bias = activations.get(activation), bool(use_bias)
        keep_weight_arguments(self, locals(), ("kernel", "bias"))
        self.kernel = self.bias = None

    def _kernel_shape(self, input_shape, channels):
        if channels % self.groups:
            raise ValueError(f"{type(self).__name__} '{self.name}': the number of input channels must be evenly "
                             f"divisible by the number of groups. Received groups={self.groups}, but the input has "
                             f"{channels} channels (full input shape is {tuple(input_shape)}).")
        return self.kernel_size + (channels // self.groups, self.filters)

    def build(self, input_shape):
        channels = check_input_shape(self, input_shape, self.rank)
        self.kernel = self.add_weight(name="kernel", shape=self._kernel_shape(input_shape, channels),
                                      initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint)

    def compute_output_shape(self, input_shape):
        return windowed_shape(input_shape, self.data_format, self.kernel_size, self.strides, self.dilation_rate,
                              self.padding, self.filters)

    def call(self, inputs):
        return self.activation(conv_ops.convolve(inputs, self.kernel, self.strides, self.padding, self.data_format,
                                                 self.dilation_rate, self.bias))

    def get_config(self):
        config = super().get_config()
        config.update({
            "filters": self.filters, "kernel_size": list(self.kernel_size), "strides": list(self.strides),
            "padding": self.padding, "data_format": self.data_format, "dilation_rate": list(self.dilation_rate),
            "groups": self.groups, "activation": activations.serialize(self.activation), "use_bias": self.use_bias})
        config.update(weight_arguments_config(self, ("kernel", "bias")))
        return config


class Conv1D(Conv):
    """A convolution over the steps of ``(batch, steps, channels)``; ``padding="causal"`` pads the start only,
    so step t sees steps <= t."""
    rank = 1


class Conv2D(Conv):
    """A convolution over the rows and columns of images ``(batch, height, width, channels)``."""
    rank = 2


class Conv3D(Conv):
    """A convolution over volumes ``(batch, depth, height, width, channels)``."""
    rank = 3


Convolution1D, Convolution2D, Convolution3D = Conv1D, Conv2D, Conv3D  # (Keras's other names)
