"""Keras's ``image_dataset_from_directory`` (``keras.utils``; also ``keras.preprocessing``): batches of
images read from a directory's class subdirectories, as a gpunet `Dataset` (Keras gives a ``tf.data.Dataset``)
with tf.keras 2.21's files, order, labels, splits, messages and pixels.

Files are decoded by Pillow (``pip install 'gpunet[image]'``) and resized as ``tf.image.resize`` resizes
(half-pixel centres, no antialiasing, TensorFlow's float32 arithmetic), so PNG, BMP and GIF images equal
tf.keras's bit for bit. JPEG files are decoded with libjpeg's accurate integer DCT, where TensorFlow's default
is the fast one: pixels within a few levels of tf.keras's (equal to TensorFlow's
``dct_method="INTEGER_ACCURATE"``)."""
import numpy as np

from .directory_index import from_directory

ALLOWLIST_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
_CHANNELS = {"grayscale": 1, "rgb": 3, "rgba": 4}
_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


def _axis_reads(length, out_length):
    """TensorFlow's bilinear reads along one axis in float32: the lower and upper source index and the
    weight of the upper one."""
    scale = np.float32(length) / np.float32(out_length)
    source = (np.arange(out_length, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5)
    floor = np.floor(source)
    low = np.maximum(floor, 0).astype(int)
    high = np.minimum(np.ceil(source), length - 1).astype(int)
    return low, high, (source - floor).astype(np.float32)


def _resize(image, height, width, interpolation):
    """``image`` ``(rows, cols, channels)`` as ``tf.image.resize`` gives it: float32 (bilinear) or its own
    dtype (nearest)."""
    rows, cols = image.shape[:2]
    if interpolation == "nearest":
        pick = [np.minimum(np.floor((np.arange(n_out, dtype=np.float32) + np.float32(0.5))
                                    * (np.float32(n) / np.float32(n_out))), n - 1).astype(int)
                for n, n_out in ((rows, height), (cols, width))]
        return image[pick[0]][:, pick[1]]
    x = image.astype(np.float32)
    (top, bottom, y_lerp), (left, right, x_lerp) = _axis_reads(rows, height), _axis_reads(cols, width)
    x_lerp = x_lerp[:, None]
    upper = x[top][:, left] + (x[top][:, right] - x[top][:, left]) * x_lerp
    lower = x[bottom][:, left] + (x[bottom][:, right] - x[bottom][:, left]) * x_lerp
    return upper + (lower - upper) * y_lerp[:, None, None]


def _decode(path, channels):
    """The image file at ``path`` as uint8 ``(rows, cols, channels)``, converted as TensorFlow's decoders
    convert (a GIF's first frame)."""
    from ..preprocessing.image_utils import _pil
    with _pil().open(path) as img:
        if channels == 1 and img.format == "JPEG":
            img.draft("L", img.size)  # (libjpeg's own grayscale output, TensorFlow's channels=1)
        if channels == 1 and img.mode not in ("L", "LA", "I", "I;16"):
            # libpng's and TensorFlow's RGB-to-gray: (9797 R + 19234 G + 3737 B) >> 15, not Pillow's rounding
            rgb = np.asarray(img.convert("RGB"), dtype=np.int64)
            gray = (9797 * rgb[..., 0] + 19234 * rgb[..., 1] + 3737 * rgb[..., 2]) >> 15
            return gray.astype(np.uint8)[..., None]
        array = np.asarray(img.convert(_MODES[channels]))
    return array.reshape(array.shape[:2] + (channels,))


def _loader(image_size, channels, interpolation, crop_to_aspect_ratio):
    height, width = image_size

    def load(path):
        image = _decode(path, channels)
        if crop_to_aspect_ratio:  # (Keras's smart_resize crop, the Resizing layer's)
            from ..layers.image_resizing import crop_to_aspect
            image = crop_to_aspect(image[None], height, width)[0]
        return _resize(image, height, width, interpolation)
    return load


def _image_size(image_size):
    if (not isinstance(image_size, (tuple, list)) or len(image_size) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in image_size)):
        raise ValueError(f"`image_size` must be a tuple of two positive ints (height, width), received {image_size!r}")
    return tuple(image_size)


def image_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None, color_mode="rgb",
                                 batch_size=32, image_size=(256, 256), shuffle=True, seed=None, validation_split=None,
                                 subset=None, interpolation="bilinear", follow_links=False, crop_to_aspect_ratio=False,
                                 **kwargs):
    """A `Dataset` of ``(images, labels)`` batches (images alone when ``labels`` or ``label_mode`` is None) from
    ``directory``: one subdirectory per class (``labels="inferred"``, classes sorted by name unless
    ``class_names`` orders them), or a list of labels for the files in path order. Images float32 ``(batch,
    *image_size, channels)`` (uint8 with ``interpolation="nearest"``, as TensorFlow's), labels int32 ``(batch,)``
    (``"int"``), float32 ``(batch, 1)`` (``"binary"``) or one-hot float32 (``"categorical"``). With ``shuffle``,
    the files are shuffled once with ``seed`` (Keras's order: the same files in each subset) and the training
    set reshuffled each epoch in a buffer of ``8 * batch_size``. ``subset="both"`` gives the training and the
    validation set. Attributes ``class_names`` and ``file_paths``. Keras 3's ``data_format`` (channels last)
    and ``verbose`` are taken too."""
    if "smart_resize" in kwargs:
        crop_to_aspect_ratio = kwargs.pop("smart_resize")
    if kwargs.pop("data_format", None) not in (None, "channels_last"):
        raise NotImplementedError("image_dataset_from_directory: gpunet gives channels-last images only")
    if kwargs.pop("pad_to_aspect_ratio", False):
        raise NotImplementedError("image_dataset_from_directory(pad_to_aspect_ratio=True) is not implemented in gpunet")
    kwargs.pop("verbose", None)
    if kwargs:
        raise TypeError(f"Unknown keywords argument(s): {tuple(kwargs.keys())}")
    if color_mode not in _CHANNELS:
        raise ValueError('`color_mode` must be one of {"rgb", "rgba", "grayscale"}. Received: '
                         f"color_mode={color_mode}")
    if str(interpolation).lower() not in ("bilinear", "nearest"):
        raise NotImplementedError(f"image_dataset_from_directory(interpolation={interpolation!r}) is not implemented "
                                  "in gpunet ('bilinear' and 'nearest' are).")
    load = _loader(_image_size(image_size), _CHANNELS[color_mode], str(interpolation).lower(), crop_to_aspect_ratio)
    return from_directory(directory, load, ALLOWLIST_FORMATS, ("image files", "images", "images"), labels, label_mode,
                          class_names, batch_size, shuffle, seed, validation_split, subset, follow_links)
