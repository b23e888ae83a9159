"""Keras's weightless reshaping of 1, 2 or 3 spatial axes: `ZeroPadding1D`/`2D`/`3D`, `Cropping1D`/`2D`/`3D`,
`UpSampling1D`/`2D`/`3D` (each value repeated ``size`` times per axis; UpSampling2D's ``interpolation``
"nearest" or "bilinear", the latter TensorFlow's ``tf.image.resize``: half-pixel centres, edges clamped).
Arguments, defaults and configs as in tf.keras 2."""
import numbers

from .. import backend as B
from ..backend.image_sampling import resize_reads
from .base import Layer
from .convolutional import check_input_shape, data_format_of, int_tuple, spatial_axes


def _pairs(value, rank, name, owner):
    """Keras's padding/cropping argument: an int (all sides), ``rank`` ints (both sides of each axis) or
    ``rank`` pairs, as ``((before, after), ...)``."""
    def whole(v):
        return isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 0
    if whole(value):
        pairs = ((value, value),) * rank
    elif isinstance(value, (list, tuple)) and len(value) == rank and all(whole(v) for v in value):
        pairs = tuple((v, v) for v in value)
    elif (isinstance(value, (list, tuple)) and len(value) == rank
          and all(isinstance(v, (list, tuple)) and len(v) == 2 and all(whole(w) for w in v) for v in value)):
        pairs = tuple(tuple(v) for v in value)
    elif rank == 1 and isinstance(value, (list, tuple)) and len(value) == 2 and all(whole(v) for v in value):
        pairs = (tuple(value),)
    else:
        raise ValueError(f"{owner}: `{name}` must be an int >= 0, a tuple of {rank} of them, or a tuple of {rank} "
                         f"(before, after) pairs; received {value!r}")
    return tuple((int(a), int(b)) for a, b in pairs)


class _Spatial(Layer):
    rank = None

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = "channels_last" if self.rank == 1 else data_format_of(data_format)

    def build(self, input_shape):
        if len(input_shape) != self.rank + 2:
            check_input_shape(self, input_shape, self.rank)
        super().build(input_shape)

    def _map_axes(self, shape, change):
        out = list(shape)
        for i, axis in enumerate(spatial_axes(self.data_format, self.rank)[0]):
            out[axis] = None if shape[axis] is None else change(i, shape[axis])
        return tuple(out)

    def _config(self, key, value, **more):
        """The config in tf.keras's order: the layer's argument, ``data_format`` (2-D and 3-D), then ``more``."""
        config = super().get_config()
        config[key] = value
        if self.rank > 1:
            config["data_format"] = self.data_format
        config.update(more)
        return config


class _ZeroPadding(_Spatial):
    def __init__(self, padding, data_format=None, **kwargs):
        super().__init__(data_format, **kwargs)
        self.padding = _pairs(padding, self.rank, "padding", type(self).__name__)

    def compute_output_shape(self, input_shape):
        return self._map_axes(input_shape, lambda i, n: n + sum(self.padding[i]))

    def call(self, inputs):
        from .. import ops
        widths = [(0, 0)] * (self.rank + 2)
        for i, axis in enumerate(spatial_axes(self.data_format, self.rank)[0]):
            widths[axis] = self.padding[i]
        return ops.pad(inputs, widths)

    def get_config(self):
        return self._config("padding", self.padding[0] if self.rank == 1 else self.padding)


class _Cropping(_Spatial):
    def __init__(self, cropping, data_format=None, **kwargs):
        super().__init__(data_format, **kwargs)
        self.cropping = _pairs(cropping, self.rank, "cropping", type(self).__name__)

    def compute_output_shape(self, input_shape):
        shape = self._map_axes(input_shape, lambda i, n: n - sum(self.cropping[i]))
        if any(d is not None and d <= 0 for d in shape[1:]):
            raise ValueError(f"{type(self).__name__} '{self.name}': cropping {self.cropping} leaves nothing of inputs "
                             f"of shape {tuple(input_shape)}")
        return shape

    def call(self, inputs):
        from .. import ops
        self.compute_output_shape(inputs.shape)
        index = [slice(None)] * (self.rank + 2)
        for i, axis in enumerate(spatial_axes(self.data_format, self.rank)[0]):
            before, after = self.cropping[i]
            index[axis] = slice(before, inputs.shape[axis] - after)
        return ops.getitem(inputs, tuple(index))

    def get_config(self):
        return self._config("cropping", self.cropping[0] if self.rank == 1 else self.cropping)


class _UpSampling(_Spatial):
    def __init__(self, size, data_format=None, interpolation="nearest", **kwargs):
        super().__init__(data_format, **kwargs)
        owner = type(self).__name__
        self.size = int_tuple(size, self.rank, "size", owner)
        if interpolation not in ("nearest", "bilinear") or (interpolation != "nearest" and self.rank != 2):
            allowed = "'nearest' or 'bilinear'" if self.rank == 2 else "'nearest'"
            raise NotImplementedError(f"{owner}(interpolation={interpolation!r}) is not implemented in gpunet "
                                      f"({allowed} is).")
        self.interpolation = interpolation

    def compute_output_shape(self, input_shape):
        return self._map_axes(input_shape, lambda i, n: n * self.size[i])

    def call(self, inputs):
        return upsample(inputs, self.size, self.data_format, self.interpolation)

    def get_config(self):
        if self.rank == 1:
            return self._config("size", self.size[0])
        if self.rank == 2:
            return self._config("size", self.size, interpolation=self.interpolation)
        return self._config("size", self.size)


def upsample(inputs, size, data_format, interpolation):
    """``inputs`` enlarged ``size[i]`` times along each spatial axis: each value repeated ("nearest") or
    interpolated ("bilinear", tf.image.resize's)."""
    from .. import ops
    rank = len(size)
    axes = spatial_axes(data_format, rank)[0]
    if interpolation == "bilinear":
        y = inputs
        for i, axis in enumerate(axes):
            reads = resize_reads(inputs.shape[axis], inputs.shape[axis] * size[i], "bilinear")
            matrix = B.get_backend().asarray(reads, dtype=inputs.dtype)
            y = ops.moveaxis(ops.tensordot(y, matrix, axes=[[axis], [1]]), -1, axis)
        return y
    # each value repeated: an axis of length `size` after each spatial axis, broadcast, then merged
    expanded, ones, out = list(inputs.shape), [1] * (len(inputs.shape) + rank), list(inputs.shape)
    for i, axis in reversed(list(enumerate(axes))):
        expanded.insert(axis + 1, 1)
        ones[axis + 1 + i] = size[i]
        out[axis] *= size[i]
    repeated = ops.reshape(inputs, tuple(expanded)) * ops.ones(tuple(ones), dtype=inputs.dtype)
    return ops.reshape(repeated, tuple(out))


class ZeroPadding1D(_ZeroPadding):
    """Zeros added before and after the steps of ``(batch, steps, features)``: ``padding`` an int or a pair."""
    rank = 1

    def __init__(self, padding=1, **kwargs):
        super().__init__(padding, **kwargs)


class ZeroPadding2D(_ZeroPadding):
    """Zero rows and columns around images: ``padding`` an int, ``(rows, columns)`` or ``((top, bottom),
    (left, right))``."""
    rank = 2

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)


class ZeroPadding3D(_ZeroPadding):
    """Zeros around volumes, per spatial axis."""
    rank = 3

    def __init__(self, padding=(1, 1, 1), data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)


class Cropping1D(_Cropping):
    """``cropping`` steps removed from the start and end of each sequence."""
    rank = 1

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(cropping, **kwargs)


class Cropping2D(_Cropping):
    """Rows and columns removed from image borders: ``((top, bottom), (left, right))``, or as ZeroPadding2D."""
    rank = 2

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(cropping, data_format, **kwargs)


class Cropping3D(_Cropping):
    """Positions removed from the borders of volumes, per spatial axis."""
    rank = 3

    def __init__(self, cropping=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(cropping, data_format, **kwargs)


class UpSampling1D(_UpSampling):
    """Each step repeated ``size`` times."""
    rank = 1

    def __init__(self, size=2, **kwargs):
        super().__init__(size, **kwargs)


class UpSampling2D(_UpSampling):
    """Images enlarged ``size`` times (rows, columns): each pixel repeated ("nearest") or interpolated
    ("bilinear")."""
    rank = 2

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(size, data_format, interpolation, **kwargs)


class UpSampling3D(_UpSampling):
    """Volumes enlarged ``size`` times per axis, each value repeated."""
    rank = 3

    def __init__(self, size=(2, 2, 2), data_format=None, **kwargs):
        super().__init__(size, data_format, **kwargs)
