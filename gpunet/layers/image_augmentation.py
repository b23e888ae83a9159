"""tf.keras 2's image augmentation layers (``keras.layers.RandomFlip``, ``RandomRotation``, ``RandomZoom``,
``RandomTranslation``, ``RandomContrast``, ``RandomBrightness``, ``RandomCrop``): random while training (and
when called directly on images, as tf.keras 2's ``call(..., training=True)``), the identity in inference, images ``(batch, height, width, channels)`` or one image ``(height, width, channels)``. The
rotations, zooms and translations are TensorFlow's projective transform (backend/image_sampling.py: its
fill modes and bilinear or nearest reads, so a given transform gives TensorFlow's pixels); the random draws
come from gpunet's generator (or the layer's, with a ``seed``), as Dropout's masks, so they repeat with
``set_random_seed`` but are not TensorFlow's draws. Gradients pass through (the reads are a weighted gather)."""
import math
import numbers

from ..backend import image_sampling as S
from ..backend import random as _random
from .base import Layer

_FILL_MODES = ("reflect", "wrap", "constant", "nearest")


def _range(factor, name, owner, bound=None, non_negative=False):
    """Keras's factor: a number ``f`` (``[-f, f]``, or ``[1 - f, 1 + f]`` style for the caller) or a pair."""
    if isinstance(factor, (tuple, list)):
        if len(factor) != 2:
            raise ValueError(f"{owner}: `{name}` must be a number or a pair, received {factor!r}")
        lower, upper = float(factor[0]), float(factor[1])
    elif isinstance(factor, numbers.Real) and not isinstance(factor, bool):
        lower, upper = (0.0 if non_negative else -float(factor)), float(factor)
    else:
        raise ValueError(f"{owner}: `{name}` must be a number or a pair, received {factor!r}")
    if upper < lower:
        raise ValueError(f"{owner}: `{name}` cannot have negative values, got {factor!r}")
    if bound is not None and (abs(lower) > bound or abs(upper) > bound):
        raise ValueError(f"{owner}: `{name}` must have values between [-{bound}, {bound}], got {factor!r}")
    return lower, upper


def channels_last(kwargs, owner):
    """Take Keras 3's ``data_format`` (its configs write it) from ``kwargs``: channels last only, as tf.keras 2's."""
    value = kwargs.pop("data_format", None)
    if value not in (None, "channels_last"):
        raise NotImplementedError(f"{owner}(data_format={value!r}) is not implemented in gpunet: images are "
                                  "(batch, height, width, channels), as tf.keras 2's image layers take them.")


class _Random(Layer):
    """A weightless layer drawing from gpunet's generator, or its own with a ``seed`` (saved with the model)."""

    _allowed_kwargs = Layer._allowed_kwargs + ("rng_type", "data_format")

    def __init__(self, seed=None, **kwargs):
        channels_last(kwargs, type(self).__name__)
        rng_type = kwargs.pop("rng_type", None) or "stateful"  # (tf.keras 2's; gpunet draws from its generator)
        if rng_type not in ("stateful", "stateless", "legacy_stateful"):
            raise ValueError(f"Invalid `rng_type` received. Valid `rng_type` are ['stateful', 'stateless', "
                             f"'legacy_stateful']. Got: {rng_type}")
        super().__init__(**kwargs)
        self.seed, self.rng_type = seed, rng_type
        self._generator = None if seed is None else _random.make_generator(seed)

    def keras3_config(self, config):
        """Keras 3's form of `get_config`'s (saving/keras3_config.py): no ``rng_type``."""
        return {k: v for k, v in config.items() if k != "rng_type"}

    def _uniform(self, low, high, size):
        return (self._generator or _random.generator()).uniform(low, high, size)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, inputs, training=True):  # (tf.keras 2's default: a direct call augments)
        from .. import ops
        if not training:
            return inputs
        single = len(inputs.shape) == 3
        x = ops.expand_dims(inputs, 0) if single else inputs
        y = self._augment(x, ops)
        return y[0] if single else y

    def _config(self, **entries):
        config = super().get_config()
        config["rng_type"] = self.rng_type
        config.update(entries)
        config["seed"] = self.seed
        return config


class _Transforming(_Random):
    """Rotation, zoom or translation: a projective transform per image, read per ``fill_mode``."""

    def __init__(self, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if fill_mode not in _FILL_MODES:
            raise NotImplementedError(f"Unknown `fill_mode` {fill_mode}. Only `reflect`, `wrap`, `constant` and "
                                      "`nearest` are supported.")
        if interpolation not in ("nearest", "bilinear"):
            raise NotImplementedError(f"Unknown `interpolation` {interpolation}. Only `nearest` and `bilinear` are "
                                      "supported.")
        self.fill_mode, self.interpolation, self.fill_value = fill_mode, interpolation, fill_value

    def _augment(self, x, ops):
        images, height, width, channels = x.shape
        return transform(x, self._transforms(images, height, width), self.interpolation, self.fill_mode,
                         self.fill_value, ops)

    def _config(self, **entries):
        return super()._config(**entries, fill_mode=self.fill_mode, fill_value=self.fill_value,
                               interpolation=self.interpolation)


def transform(x, transforms, interpolation, fill_mode, fill_value, ops, out_size=None):
    """The images ``x`` ``(batch, height, width, channels)`` through TensorFlow's projective ``transforms``."""
    images, height, width, channels = x.shape
    out_height, out_width = out_size or (height, width)
    index, weight, fill = S.projective_reads(transforms, height, width, out_height, out_width, interpolation,
                                             fill_mode)
    rows = ops.take(ops.reshape(x, (-1, channels)), index.reshape(-1), axis=0)
    reads = ops.reshape(rows, index.shape + (channels,)) * weight[..., None].astype(x.dtype)
    y = ops.sum(reads, axis=-2)
    if fill_value:
        y = y + (fill[..., None] * fill_value).astype(x.dtype)
    return y


class RandomRotation(_Transforming):
    """Each image rotated by a random fraction of a full turn in ``factor`` (``0.1``: up to 36 degrees either
    way; a pair: ``[lower, upper]``)."""

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, **kwargs)
        self.factor = factor
        self.lower, self.upper = _range(factor, "factor", "RandomRotation")

    def _transforms(self, images, height, width):
        angles = self._uniform(self.lower * 2.0 * math.pi, self.upper * 2.0 * math.pi, images)
        return S.rotation_transforms(angles, height, width)

    def get_config(self):
        return self._config(factor=self.factor)


class RandomZoom(_Transforming):
    """Each image zoomed by a random ``1 + f``, ``f`` in ``height_factor`` (positive: zoom out), the width by
    ``width_factor`` (None: the height's factor, keeping the aspect ratio)."""

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self.height_range = _range(height_factor, "height_factor", "RandomZoom", bound=1.0)
        self.width_range = None if width_factor is None else _range(width_factor, "width_factor", "RandomZoom",
                                                                    bound=1.0)

    def _transforms(self, images, height, width):
        height_zoom = 1.0 + self._uniform(*self.height_range, images)
        width_zoom = height_zoom if self.width_range is None else 1.0 + self._uniform(*self.width_range, images)
        return S.zoom_transforms(height_zoom, width_zoom, height, width)

    def get_config(self):
        return self._config(height_factor=self.height_factor, width_factor=self.width_factor)


class RandomTranslation(_Transforming):
    """Each image shifted by random fractions of its height (``height_factor``) and width (``width_factor``)."""

    def __init__(self, height_factor, width_factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self.height_range = _range(height_factor, "height_factor", "RandomTranslation", bound=1.0)
        self.width_range = _range(width_factor, "width_factor", "RandomTranslation", bound=1.0)

    def _transforms(self, images, height, width):
        dy = self._uniform(*self.height_range, images) * height
        dx = self._uniform(*self.width_range, images) * width
        return S.translation_transforms(dx, dy)

    def get_config(self):
        return self._config(height_factor=self.height_factor, width_factor=self.width_factor)


class RandomFlip(_Random):
    """Each image flipped left-right ("horizontal"), upside down ("vertical") or either, each with
    probability 1/2."""

    def __init__(self, mode="horizontal_and_vertical", seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if mode not in ("horizontal", "vertical", "horizontal_and_vertical"):
            raise ValueError(f"RandomFlip layer {self.name} received an unknown mode argument {mode}")
        self.mode = mode

    def _augment(self, x, ops):
        images = x.shape[0]
        for axis, name in ((2, "horizontal"), (1, "vertical")):
            if name in self.mode:
                flip = (self._uniform(0.0, 1.0, images) < 0.5).reshape(-1, 1, 1, 1)
                x = ops.where(ops.convert_to_tensor(flip), ops.flip(x, axis=axis), x)
        return x

    def get_config(self):
        return self._config(mode=self.mode)


class RandomContrast(_Random):
    """Each image's contrast scaled by a random factor in ``[1 - lower, 1 + upper]`` about its per-channel
    mean, then clipped to [0, 255] (tf.keras 2.21's)."""

    def __init__(self, factor, seed=None, value_range=(0, 255), **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.factor, self.value_range = factor, list(value_range)  # (Keras 3's clip range; tf.keras 2's 0..255)
        lower, upper = factor if isinstance(factor, (tuple, list)) else (factor, factor)
        if lower < 0.0 or upper < 0.0 or lower > 1.0:
            raise ValueError(f"Factor cannot have negative values or greater than 1.0, got {factor}")
        self.lower, self.upper = lower, upper

    def _augment(self, x, ops):
        scale = self._uniform(1.0 - self.lower, 1.0 + self.upper, x.shape[0]).reshape(-1, 1, 1, 1)
        mean = ops.mean(x, axis=(1, 2), keepdims=True)
        return ops.clip((x - mean) * scale.astype(x.dtype) + mean, *self.value_range)

    def get_config(self):
        config = self._config(factor=self.factor)
        if self.value_range != [0, 255]:  # (tf.keras 2 has no such argument: written only when it is not its range)
            config["value_range"] = self.value_range
        return config


class RandomBrightness(_Random):
    """A random share of ``value_range``'s span (``factor``: a number ``f`` for ``[-f, f]``, or a pair in
    [-1, 1]) added to each image, then clipped to ``value_range``."""

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.factor, self.value_range = factor, list(value_range)
        self.lower, self.upper = _range(factor, "factor", "RandomBrightness", bound=1.0)
        if len(self.value_range) != 2 or self.value_range[0] > self.value_range[1]:
            raise ValueError(f"The `value_range` argument should be a list of two numbers. Got {value_range}")

    def _augment(self, x, ops):
        low, high = self.value_range
        shift = self._uniform(self.lower, self.upper, x.shape[0]).reshape(-1, 1, 1, 1) * (high - low)
        return ops.clip(x + shift.astype(x.dtype), low, high)

    def get_config(self):
        return self._config(factor=[self.lower, self.upper], value_range=self.value_range)


class RandomCrop(_Random):
    """A random ``height`` x ``width`` window of the batch while training (one window for the whole batch, as
    tf.keras 2's); in inference, and for images smaller than that, the largest centred window of the target's
    aspect ratio resized to it (Keras's ``smart_resize``)."""

    def __init__(self, height, width, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        from .image_resizing import _size
        self.height, self.width = _size(height, "height", "RandomCrop"), _size(width, "width", "RandomCrop")

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        shape[-3:-1] = [self.height, self.width]
        return tuple(shape)

    def call(self, inputs, training=True):
        from .. import ops
        from .image_resizing import crop_to_aspect, resize
        single = len(inputs.shape) == 3
        x = ops.expand_dims(inputs, 0) if single else inputs
        rows, cols = x.shape[1] - self.height, x.shape[2] - self.width
        if training and rows >= 0 and cols >= 0:
            top, left = (int(v) for v in (self._generator or _random.generator()).integers(0, (rows + 1, cols + 1)))
            y = x[:, top:top + self.height, left:left + self.width, :]
        else:
            y = resize(crop_to_aspect(x, self.height, self.width), self.height, self.width, "bilinear", ops)
        return y[0] if single else y

    def get_config(self):
        return self._config(height=self.height, width=self.width)
