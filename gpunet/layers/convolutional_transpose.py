"""Keras's transposed convolutions `Conv1DTranspose`, `Conv2DTranspose`, `Conv3DTranspose`
(``Convolution2DTranspose``...): the gradient of a convolution with respect to its input, run forward; an
image grows by ``strides`` per axis (an autoencoder's or a GAN's decoder). Kernel ``(*kernel_size, filters,
channels)`` as Keras keeps it; output lengths by Keras's ``deconv_output_length`` (with ``output_padding``),
TensorFlow's padding. They compute with `gpunet.ops.conv_transpose` (autodiff/conv_ops.py)."""
from ..autodiff import conv_ops
from .convolutional import Conv, add_bias, int_tuple, spatial_axes


class ConvTranspose(Conv):
    """``activation(conv_transpose(inputs, kernel) + bias)`` over ``rank`` spatial axes."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        if kwargs.get("groups", 1) != 1:
            raise NotImplementedError(f"{type(self).__name__}(groups={kwargs['groups']!r}) is not implemented: "
                                      "groups=1 only, as in Keras.")
        kwargs.pop("groups", None)
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate, 1, activation, use_bias,
                         kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
                         activity_regularizer, kernel_constraint, bias_constraint, **kwargs)
        if self.padding == "causal":
            raise ValueError(f"{type(self).__name__}: `padding` must be one of ['valid', 'same'], received 'causal'")
        self.output_padding = None
        if output_padding is not None:
            self.output_padding = int_tuple(output_padding, self.rank, "output_padding", type(self).__name__, 0)
            for stride, extra in zip(self.strides, self.output_padding):
                if extra >= stride:
                    raise ValueError(f"{type(self).__name__}: strides {self.strides} must be greater than output "
                                     f"padding {self.output_padding}")

    def _kernel_shape(self, input_shape, channels):
        return self.kernel_size + (self.filters, channels)

    def compute_output_shape(self, input_shape):
        axes, channel = spatial_axes(self.data_format, self.rank)
        shape = list(input_shape)
        extra = self.output_padding or (None,) * self.rank
        for i, axis in enumerate(axes):
            if shape[axis] is not None:
                shape[axis] = conv_ops.deconv_length(shape[axis], self.kernel_size[i], self.strides[i], self.padding,
                                                     extra[i], self.dilation_rate[i])
        shape[channel] = self.filters
        return tuple(shape)

    def call(self, inputs):
        y = conv_ops.conv_transpose(inputs, self.kernel, self.strides, self.padding, self.output_padding,
                                    self.data_format, self.dilation_rate)
        return self.activation(add_bias(y, self.bias, self.data_format, self.rank))

    def get_config(self):
        config = super().get_config()
        if self.rank == 3:
            del config["dilation_rate"]  # (tf.keras 2's Conv3DTranspose leaves it out)
        config["output_padding"] = None if self.output_padding is None else list(self.output_padding)
        return config

    def keras3_config(self, config):
        """Keras 3's form of `get_config`'s (saving/keras3_config.py): no ``groups``."""
        return {k: v for k, v in config.items() if k != "groups"}


class Conv1DTranspose(ConvTranspose):
    """Sequences lengthened ``strides`` times (the transposed Conv1D)."""
    rank = 1


class Conv2DTranspose(ConvTranspose):
    """Images enlarged ``strides`` times per axis (the transposed Conv2D)."""
    rank = 2


class Conv3DTranspose(ConvTranspose):
    """Volumes enlarged ``strides`` times per axis (the transposed Conv3D)."""
    rank = 3


Convolution1DTranspose, Convolution2DTranspose, Convolution3DTranspose = (  # (Keras's other names)
    Conv1DTranspose, Conv2DTranspose, Conv3DTranspose)
