"""Keras's depthwise and separable convolutions: `DepthwiseConv1D`/`2D` (each channel convolved with its own
``depth_multiplier`` filters; kernel ``depthwise_kernel`` ``(*kernel_size, channels, depth_multiplier)``) and
`SeparableConv1D`/`2D` (``SeparableConvolution2D``...: the depthwise convolution, then a 1 x 1 convolution
``pointwise_kernel`` to ``filters`` channels), MobileNet's and Xception's blocks, with Keras's arguments,
weights and configs. They compute with `gpunet.ops.depthwise_conv` and `separable_conv`."""
from .. import activations, initializers
from ..autodiff import conv_ops
from .base import Layer
from .convolutional import (add_bias, check_input_shape, data_format_of, int_tuple, padding_of, windowed_shape)
from .weight_args import keep_weight_arguments, weight_arguments_config


_TF_KERAS_KEYS = ("groups", "kernel_initializer", "kernel_regularizer", "kernel_constraint")


def _drop_tf_keras_keys(kwargs, owner):
    """tf.keras 2 writes its Conv base's ``groups`` (always 1) and, for SeparableConv, the unused ``kernel_*``
    arguments into these layers' configs: read them back and let them go."""
    groups = kwargs.pop("groups", 1)
    if groups != 1:
        raise NotImplementedError(f"{owner}(groups={groups!r}) is not implemented: groups=1 only, as in Keras.")
    for key in _TF_KERAS_KEYS[1:]:
        kwargs.pop(key, None)
    return kwargs


class _Windowed(Layer):
    """The arguments and shapes the depthwise and separable convolutions share."""

    rank = None
    _kernels = ()
    _allowed_kwargs = Layer._allowed_kwargs + _TF_KERAS_KEYS

    def keras3_config(self, config):
        """Keras 3's form of `get_config`'s (saving/keras3_config.py): without tf.keras's extra keys."""
        return {k: v for k, v in config.items() if k not in _TF_KERAS_KEYS}

    def _setup(self, arguments):
        owner, rank = type(self).__name__, self.rank
        self.kernel_size = int_tuple(arguments["kernel_size"], rank, "kernel_size", owner)
        self.strides = int_tuple(arguments["strides"], rank, "strides", owner)
        self.dilation_rate = int_tuple(arguments["dilation_rate"], rank, "dilation_rate", owner)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"{owner}: `strides > 1` not supported in conjunction with `dilation_rate > 1`. "
                             f"Received: strides={self.strides} and dilation_rate={self.dilation_rate}")
        self.padding = padding_of(arguments["padding"], ("valid", "same"), owner)
        self.data_format = data_format_of(arguments["data_format"])
        self.depth_multiplier = int_tuple(arguments["depth_multiplier"], 1, "depth_multiplier", owner)[0]
        self.activation, self.use_bias = activations.get(arguments["activation"]), bool(arguments["use_bias"])
        keep_weight_arguments(self, arguments, self._kernels + ("bias",))
        self.bias = None

    def _weight(self, kind, shape):
        """The weight ``<kind>_kernel`` (or ``bias``) made with the layer's ``<kind>_initializer``..."""
        return self.add_weight(name=kind if kind == "bias" else f"{kind}_kernel", shape=shape,
                               initializer=getattr(self, f"{kind}_initializer"),
                               regularizer=getattr(self, f"{kind}_regularizer"),
                               constraint=getattr(self, f"{kind}_constraint"))

    def _shape(self, input_shape, channels):
        return windowed_shape(input_shape, self.data_format, self.kernel_size, self.strides, self.dilation_rate,
                              self.padding, channels)

    def _config(self, first, weights):
        """tf.keras 2's order: its Conv base's entries (``groups`` 1; ``weights`` the initializers... of the
        base's kernel and bias), then ``depth_multiplier`` and the depthwise/pointwise arguments."""
        config = super().get_config()
        config.update(first)
        config.update({
            "kernel_size": list(self.kernel_size), "strides": list(self.strides), "padding": self.padding,
            "data_format": self.data_format, "dilation_rate": list(self.dilation_rate), "groups": 1,
            "activation": activations.serialize(self.activation), "use_bias": self.use_bias})
        config.update(weights)
        config["depth_multiplier"] = self.depth_multiplier
        config.update(weight_arguments_config(self, self._kernels, activity=False))
        return config


class DepthwiseConv(_Windowed):
    _kernels = ("depthwise",)

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **_drop_tf_keras_keys(kwargs, type(self).__name__))
        self._setup(locals())
        self.depthwise_kernel = None

    def build(self, input_shape):
        channels = check_input_shape(self, input_shape, self.rank)
        self.depthwise_kernel = self._weight("depthwise", self.kernel_size + (channels, self.depth_multiplier))
        if self.use_bias:
            self.bias = self._weight("bias", (channels * self.depth_multiplier,))

    def compute_output_shape(self, input_shape):
        channels = check_input_shape(self, input_shape, self.rank)
        return self._shape(input_shape, channels * self.depth_multiplier)

    def call(self, inputs):
        y = conv_ops.depthwise_conv(inputs, self.depthwise_kernel, self.strides, self.padding, self.data_format,
                                    self.dilation_rate)
        return self.activation(add_bias(y, self.bias, self.data_format, self.rank))

    def get_config(self):
        return self._config({}, weight_arguments_config(self, ("bias",)))


class SeparableConv(_Windowed):
    _kernels = ("depthwise", "pointwise")

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 depth_multiplier=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **_drop_tf_keras_keys(kwargs, type(self).__name__))
        self.filters = int_tuple(filters, 1, "filters", type(self).__name__)[0]
        self._setup(locals())
        self.depthwise_kernel = self.pointwise_kernel = None

    def build(self, input_shape):
        channels = check_input_shape(self, input_shape, self.rank)
        self.depthwise_kernel = self._weight("depthwise", self.kernel_size + (channels, self.depth_multiplier))
        self.pointwise_kernel = self._weight("pointwise", (1,) * self.rank + (channels * self.depth_multiplier,
                                                                              self.filters))
        if self.use_bias:
            self.bias = self._weight("bias", (self.filters,))

    def compute_output_shape(self, input_shape):
        return self._shape(input_shape, self.filters)

    def call(self, inputs):
        y = conv_ops.separable_conv(inputs, self.depthwise_kernel, self.pointwise_kernel, self.strides, self.padding,
                                    self.data_format, self.dilation_rate)
        return self.activation(add_bias(y, self.bias, self.data_format, self.rank))

    def get_config(self):
        bias = weight_arguments_config(self, ("bias",))  # (tf.keras 2 writes its base's unused kernel_* too)
        weights = {"kernel_initializer": initializers.serialize(initializers.get("glorot_uniform")),
                   "bias_initializer": bias["bias_initializer"], "kernel_regularizer": None,
                   "bias_regularizer": bias["bias_regularizer"], "activity_regularizer": bias["activity_regularizer"],
                   "kernel_constraint": None, "bias_constraint": bias["bias_constraint"]}
        return self._config({"filters": self.filters}, weights)


class DepthwiseConv1D(DepthwiseConv):
    """Each channel of ``(batch, steps, channels)`` convolved with its own filters."""
    rank = 1


class DepthwiseConv2D(DepthwiseConv):
    """Each channel of an image convolved with its own ``depth_multiplier`` filters."""
    rank = 2


class SeparableConv1D(SeparableConv):
    """A depthwise then a pointwise convolution over sequences."""
    rank = 1


class SeparableConv2D(SeparableConv):
    """A depthwise then a pointwise convolution over images (fewer weights than Conv2D)."""
    rank = 2


SeparableConvolution1D, SeparableConvolution2D = SeparableConv1D, SeparableConv2D  # (Keras's other names)
