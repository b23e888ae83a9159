"""Keras's `GlobalAveragePooling2D`/`3D` and `GlobalMaxPooling2D`/`3D` (``GlobalAvgPool2D``...): the mean or
the maximum of each channel over all spatial positions, ``(batch, *spatial, channels)`` to ``(batch,
channels)`` (``keepdims=True`` keeps the spatial axes with size 1). The max's gradient is shared among tied
positions, as TensorFlow's ``reduce_max`` shares it. (The 1-D ones, which also take masks, are in
pooling.py.)"""
from .base import Layer
from .convolutional import data_format_of, spatial_axes


class GlobalPooling(Layer):
    rank = None
    _reduce = None

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format_of(data_format)
        self.keepdims = bool(keepdims)

    def build(self, input_shape):
        if len(input_shape) != self.rank + 2:
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: expected '
                             f"ndim={self.rank + 2}, found ndim={len(input_shape)}. Full shape received: "
                             f"{tuple(input_shape)}")
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        axes = spatial_axes(self.data_format, self.rank)[0]
        if self.keepdims:
            return tuple(1 if i in axes else d for i, d in enumerate(input_shape))
        return tuple(d for i, d in enumerate(input_shape) if i not in axes)

    def call(self, inputs):
        from .. import ops
        return getattr(ops, self._reduce)(inputs, axis=spatial_axes(self.data_format, self.rank)[0],
                                          keepdims=self.keepdims)

    def get_config(self):
        config = super().get_config()
        config.update({"data_format": self.data_format, "keepdims": self.keepdims})
        return config


class GlobalAveragePooling2D(GlobalPooling):
    """The mean of each channel over an image's rows and columns."""
    rank, _reduce = 2, "mean"


class GlobalMaxPooling2D(GlobalPooling):
    """The largest value of each channel over an image."""
    rank, _reduce = 2, "max"


class GlobalAveragePooling3D(GlobalPooling):
    """The mean of each channel over a volume."""
    rank, _reduce = 3, "mean"


class GlobalMaxPooling3D(GlobalPooling):
    """The largest value of each channel over a volume."""
    rank, _reduce = 3, "max"


GlobalAvgPool2D, GlobalMaxPool2D = GlobalAveragePooling2D, GlobalMaxPooling2D  # (Keras's other names)
GlobalAvgPool3D, GlobalMaxPool3D = GlobalAveragePooling3D, GlobalMaxPooling3D
