"""Keras's poolings over windows of 1, 2 or 3 spatial axes: `MaxPooling1D`/`2D`/`3D` (``MaxPool2D``...) and
`AveragePooling1D`/`2D`/`3D` (``AvgPool2D``...), with ``pool_size``, ``strides`` (default: the pool size),
``padding`` ("valid" or "same") and ``data_format``. As in TensorFlow, padded positions take no part: they
never win a max, and an average divides by the positions inside the input. The max's gradient goes to the
first maximal position of each window (TensorFlow's, PyTorch's). They compute with `gpunet.ops.max_pool` and
`average_pool` (autodiff/conv_ops.py)."""
from ..autodiff import conv_ops
from .base import Layer
from .convolutional import check_input_shape, data_format_of, int_tuple, padding_of, windowed_shape


class Pooling(Layer):
    """A reduction over each window of ``pool_size`` positions, every ``strides`` positions."""

    rank = None
    _reduce = None

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.pool_size = int_tuple(pool_size, self.rank, "pool_size", owner)
        self.strides = self.pool_size if strides is None else int_tuple(strides, self.rank, "strides", owner)
        self.padding = padding_of(padding, ("valid", "same"), owner)
        self.data_format = data_format_of(data_format)

    def build(self, input_shape):
        check_input_shape(self, input_shape, self.rank)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        channels = input_shape[-1 if self.data_format == "channels_last" else 1]
        return windowed_shape(input_shape, self.data_format, self.pool_size, self.strides, (1,) * self.rank,
                              self.padding, channels)

    def call(self, inputs):
        return self._reduce(inputs, self.pool_size, self.strides, self.padding, self.data_format)

    def get_config(self):
        config = super().get_config()
        config.update({"pool_size": list(self.pool_size), "padding": self.padding, "strides": list(self.strides),
                       "data_format": self.data_format})
        return config


class _Max:
    _reduce = staticmethod(conv_ops.max_pool)


class _Average:
    _reduce = staticmethod(conv_ops.average_pool)


class MaxPooling1D(_Max, Pooling):
    """The largest value of each window of ``pool_size`` steps of ``(batch, steps, features)``."""
    rank = 1

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format="channels_last", **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class AveragePooling1D(_Average, Pooling):
    """The mean of each window of ``pool_size`` steps (over its steps inside the sequence)."""
    rank = 1

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format="channels_last", **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class MaxPooling2D(_Max, Pooling):
    """The largest value of each ``pool_size`` (default 2 x 2) window of ``(batch, height, width, channels)``."""
    rank = 2

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class AveragePooling2D(_Average, Pooling):
    """The mean of each ``pool_size`` (default 2 x 2) window of images."""
    rank = 2

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class MaxPooling3D(_Max, Pooling):
    """The largest value of each ``pool_size`` (default 2 x 2 x 2) window of volumes."""
    rank = 3

    def __init__(self, pool_size=(2, 2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class AveragePooling3D(_Average, Pooling):
    """The mean of each ``pool_size`` (default 2 x 2 x 2) window of volumes."""
    rank = 3

    def __init__(self, pool_size=(2, 2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


MaxPool1D, MaxPool2D, MaxPool3D = MaxPooling1D, MaxPooling2D, MaxPooling3D  # (Keras's other names)
AvgPool1D, AvgPool2D, AvgPool3D = AveragePooling1D, AveragePooling2D, AveragePooling3D
