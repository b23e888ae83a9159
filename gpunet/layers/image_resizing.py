"""tf.keras 2's image resizing layers ``keras.layers.Resizing`` and ``CenterCrop``: images ``(batch, height,
width, channels)`` (or one image) resized as ``tf.image.resize`` resizes ("bilinear" or "nearest"; half-pixel
centres, no antialiasing: one matrix product per axis) or cropped about their centre; in training and
inference alike."""
from ..backend.image_sampling import resize_reads
from .base import Layer


def resize(x, height, width, interpolation, ops):
    """``x`` ``(batch, rows, cols, channels)`` resized to ``height`` x ``width``."""
    if x.dtype.kind != "f":  # (integer pixels: interpolate in float32, as tf.image.resize does,
        x = ops.cast(x, "float32")  # not through a weight matrix truncated to the integer type)
    for axis, size in ((1, height), (2, width)):
        if x.shape[axis] != size:
            matrix = ops.convert_to_tensor(resize_reads(x.shape[axis], size, interpolation).astype(x.dtype))
            x = ops.moveaxis(ops.tensordot(x, matrix, axes=[[axis], [1]]), -1, axis)
    return x


def crop_to_aspect(x, height, width):
    """The largest centred window of ``x``'s images with the aspect ratio ``height`` : ``width`` (Keras's
    ``smart_resize`` crop)."""
    rows, cols = x.shape[1], x.shape[2]
    crop_rows, crop_cols = min(rows, int(cols * height / width)), min(cols, int(rows * width / height))
    top, left = (rows - crop_rows) // 2, (cols - crop_cols) // 2
    return x[:, top:top + crop_rows, left:left + crop_cols, :]


def _size(value, name, owner):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{owner}: `{name}` must be an int >= 1, received {value!r}")
    return value


class _Images(Layer):
    _allowed_kwargs = Layer._allowed_kwargs + ("data_format",)

    def __init__(self, height, width, **kwargs):
        from .image_augmentation import channels_last
        channels_last(kwargs, type(self).__name__)
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.height, self.width = _size(height, "height", owner), _size(width, "width", owner)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        shape[-3:-1] = [self.height, self.width]
        return tuple(shape)

    def call(self, inputs):
        from .. import ops
        if len(inputs.shape) not in (3, 4):
            raise ValueError(f"{type(self).__name__} '{self.name}' expects images (batch, height, width, channels) "
                             f"or one image (height, width, channels), received shape {tuple(inputs.shape)}")
        single = len(inputs.shape) == 3
        y = self._images(ops.expand_dims(inputs, 0) if single else inputs, ops)
        return y[0] if single else y


class Resizing(_Images):
    """Images resized to ``height`` x ``width``; ``crop_to_aspect_ratio`` first crops the largest centred
    window of the target's aspect ratio."""

    _allowed_kwargs = _Images._allowed_kwargs + ("antialias", "pad_to_aspect_ratio", "fill_mode", "fill_value")

    def __init__(self, height, width, interpolation="bilinear", crop_to_aspect_ratio=False, **kwargs):
        for key, inert in (("antialias", False), ("pad_to_aspect_ratio", False)):  # (Keras 3's options)
            if kwargs.pop(key, inert) != inert:
                raise NotImplementedError(f"Resizing({key}=True) is not implemented in gpunet.")
        kwargs.pop("fill_mode", None), kwargs.pop("fill_value", None)  # (they go with pad_to_aspect_ratio only)
        super().__init__(height, width, **kwargs)
        if interpolation not in ("bilinear", "nearest"):
            raise NotImplementedError(f"Resizing(interpolation={interpolation!r}) is not implemented in gpunet "
                                      "('bilinear' and 'nearest' are).")
        self.interpolation, self.crop_to_aspect_ratio = interpolation, bool(crop_to_aspect_ratio)

    def _images(self, x, ops):
        if self.crop_to_aspect_ratio:
            x = crop_to_aspect(x, self.height, self.width)
        return resize(x, self.height, self.width, self.interpolation, ops)

    def get_config(self):
        config = super().get_config()
        config.update({"height": self.height, "width": self.width, "interpolation": self.interpolation,
                       "crop_to_aspect_ratio": self.crop_to_aspect_ratio})
        return config


class CenterCrop(_Images):
    """The central ``height`` x ``width`` window of each image (an image smaller than that is resized up,
    its largest centred window of the target's aspect ratio, as tf.keras's)."""

    def _images(self, x, ops):
        rows, cols = x.shape[1], x.shape[2]
        if rows >= self.height and cols >= self.width:
            top, left = (rows - self.height) // 2, (cols - self.width) // 2
            return x[:, top:top + self.height, left:left + self.width, :]
        return resize(crop_to_aspect(x, self.height, self.width), self.height, self.width, "bilinear", ops)

    def get_config(self):
        config = super().get_config()
        config.update({"height": self.height, "width": self.width})
        return config
