"""Keras's image file helpers (``keras.utils.load_img``, ``img_to_array``, ``array_to_img``, ``save_img``;
also ``keras.preprocessing.image``'s): PIL images to float arrays and back, with tf.keras 2's arguments and
results. They need Pillow, as Keras's do (``pip install 'gpunet[image]'``): without it they say so."""
import io
import pathlib
import warnings

import numpy

from .. import backend as B

_INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "hamming", "box", "lanczos")


def _pil():
    try:
        from PIL import Image
    except ImportError as exc:
        raise ImportError("Image files need Pillow (PIL), as Keras's image helpers do: pip install pillow "
                          "(or pip install 'gpunet[image]')") from exc
    return Image


def _data_format(data_format):
    value = B.image_data_format() if data_format is None else data_format
    if value not in ("channels_first", "channels_last"):
        raise ValueError(f"Invalid data_format: {data_format!r} (expected 'channels_last' or 'channels_first')")
    return value


def array_to_img(x, data_format=None, scale=True, dtype=None):
    """A PIL image of the rank-3 array ``x`` (1, 3 or 4 channels); ``scale`` maps its range onto 0..255."""
    image = _pil()
    data_format = _data_format(data_format)
    x = numpy.asarray(x, dtype=dtype or B.floatx())
    if x.ndim != 3:
        raise ValueError(f"Expected image array to have rank 3 (single image). Got array with shape: {x.shape}")
    if data_format == "channels_first":
        x = x.transpose(1, 2, 0)
    if scale:
        x = x - numpy.min(x)
        top = numpy.max(x)
        if top != 0:
            x /= top
        x *= 255
    channels = x.shape[2]
    if channels in (3, 4):
        return image.fromarray(x.astype("uint8"), "RGBA" if channels == 4 else "RGB")
    if channels == 1:
        if numpy.max(x) > 255:  # (16-bit images keep their range)
            return image.fromarray(x[:, :, 0].astype("int32"), "I")
        return image.fromarray(x[:, :, 0].astype("uint8"), "L")
    raise ValueError(f"Unsupported channel number: {channels}")


def img_to_array(img, data_format=None, dtype=None):
    """The PIL image ``img`` as a rank-3 float array (a grayscale image gets one channel)."""
    data_format = _data_format(data_format)
    x = numpy.asarray(img, dtype=dtype or B.floatx())
    if x.ndim == 3:
        return x.transpose(2, 0, 1) if data_format == "channels_first" else x
    if x.ndim == 2:
        return x.reshape((1,) + x.shape if data_format == "channels_first" else x.shape + (1,))
    raise ValueError(f"Unsupported image shape: {x.shape}")


def save_img(path, x, data_format=None, file_format=None, scale=True, **kwargs):
    """Write the array ``x`` as an image file (``file_format`` from the name unless given)."""
    img = array_to_img(x, data_format=data_format, scale=scale)
    if img.mode == "RGBA" and file_format in ("jpg", "jpeg"):
        warnings.warn("The JPG format does not support RGBA images, converting to RGB.")
        img = img.convert("RGB")
    img.save(path, format=file_format, **kwargs)


def load_img(path, grayscale=False, color_mode="rgb", target_size=None, interpolation="nearest",
             keep_aspect_ratio=False):
    """The image file ``path`` (a path or a BytesIO) as a PIL image in ``color_mode`` ("grayscale", "rgb",
    "rgba"), resized to ``target_size`` ``(height, width)`` (``keep_aspect_ratio``: the centre cropped to
    the target's aspect ratio first)."""
    image = _pil()
    if grayscale:
        warnings.warn('grayscale is deprecated. Please use color_mode = "grayscale"')
        color_mode = "grayscale"
    if isinstance(path, io.BytesIO):
        img = image.open(path)
    elif isinstance(path, (pathlib.Path, bytes, str)):
        with open(path, "rb") as f:
            img = image.open(io.BytesIO(f.read()))
    else:
        raise TypeError(f"path should be path-like or io.BytesIO, not {type(path)}")
    modes = {"grayscale": ("L", "I;16", "I"), "rgba": ("RGBA",), "rgb": ("RGB",)}
    if color_mode not in modes:
        raise ValueError('color_mode must be "grayscale", "rgb", or "rgba"')
    if img.mode not in modes[color_mode]:
        img = img.convert(modes[color_mode][0])
    if target_size is None or img.size == (target_size[1], target_size[0]):
        return img
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(f"Invalid interpolation method {interpolation} specified. Supported methods are "
                         f"{', '.join(_INTERPOLATIONS)}")
    resample = getattr(image.Resampling, interpolation.upper())
    size = (target_size[1], target_size[0])
    if not keep_aspect_ratio:
        return img.resize(size, resample)
    width, height = img.size
    crop_height = min(height, (width * size[1]) // size[0])
    crop_width = min(width, (height * size[0]) // size[1])
    top, left = (height - crop_height) // 2, (width - crop_width) // 2
    return img.resize(size, resample, box=[left, top, left + crop_width, top + crop_height])
