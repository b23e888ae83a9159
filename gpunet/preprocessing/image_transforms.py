"""Keras 2's image augmentation functions (``keras.preprocessing.image.apply_affine_transform``,
``random_rotation``, ``random_shift``, ``random_shear``, ``random_zoom``, ``apply_channel_shift``,
``apply_brightness_shift``...) on single images ``(rows, cols, channels)``: the same transform matrices, the
same draws from NumPy's global generator (``numpy.random.seed`` repeats them), and the same resampling, SciPy's
``ndimage.affine_transform`` (Keras's: spline interpolation of ``order``, its fill modes), so a transformed
image equals tf.keras's. They need SciPy, as Keras's do (``pip install 'gpunet[image]'``)."""
import numpy


def _ndimage():
    try:
        from scipy import ndimage
    except ImportError as exc:
        raise ImportError("Image transformations require SciPy, as Keras's do: pip install scipy (or pip install "
                          "'gpunet[image]')") from exc
    return ndimage


def transform_matrix_offset_center(matrix, x, y):
    """``matrix`` about the centre of an ``x`` by ``y`` image rather than its corner."""
    o_x, o_y = float(x) / 2 - 0.5, float(y) / 2 - 0.5
    offset = numpy.array([[1, 0, o_x], [0, 1, o_y], [0, 0, 1]])
    reset = numpy.array([[1, 0, -o_x], [0, 1, -o_y], [0, 0, 1]])
    return offset @ matrix @ reset


def _affine_matrix(theta, tx, ty, shear, zx, zy):
    """Rotation (degrees), shift, shear (degrees) and zoom composed in Keras's order; None for the identity."""
    parts = []
    if theta != 0:
        t = numpy.deg2rad(theta)
        parts.append(numpy.array([[numpy.cos(t), -numpy.sin(t), 0], [numpy.sin(t), numpy.cos(t), 0], [0, 0, 1]]))
    if tx != 0 or ty != 0:
        parts.append(numpy.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]]))
    if shear != 0:
        s = numpy.deg2rad(shear)
        parts.append(numpy.array([[1, -numpy.sin(s), 0], [0, numpy.cos(s), 0], [0, 0, 1]]))
    if zx != 1 or zy != 1:
        parts.append(numpy.array([[zx, 0, 0], [0, zy, 0], [0, 0, 1]]))
    matrix = None
    for part in parts:
        matrix = part if matrix is None else matrix @ part
    return matrix


def apply_affine_transform(x, theta=0, tx=0, ty=0, shear=0, zx=1, zy=1, row_axis=1, col_axis=2, channel_axis=0,
                           fill_mode="nearest", cval=0.0, order=1):
    """``x`` (rank 3, channels first or last) rotated by ``theta`` degrees, shifted by ``tx`` rows and ``ty``
    columns, sheared by ``shear`` degrees and zoomed by ``zx``, ``zy``, about its centre; points outside
    filled per ``fill_mode`` ("constant" with ``cval``, "nearest", "reflect", "wrap")."""
    if sorted((row_axis, col_axis, channel_axis)) != [0, 1, 2]:
        raise ValueError(f"'row_axis', 'col_axis', and 'channel_axis' must be 0, 1 and 2 in some order, received "
                         f"{row_axis}, {col_axis}, {channel_axis}")
    if x.ndim != 3:
        raise ValueError("Input arrays must be multi-channel 2D images.")
    if channel_axis not in (0, 2):
        raise ValueError("Channels are allowed and the first and last dimensions.")
    matrix = _affine_matrix(theta, tx, ty, shear, zx, zy)
    if matrix is None:
        return x
    ndimage = _ndimage()
    matrix = transform_matrix_offset_center(matrix, x.shape[row_axis], x.shape[col_axis])
    x = numpy.rollaxis(x, channel_axis, 0)
    if col_axis > row_axis:
        matrix[:, [0, 1]] = matrix[:, [1, 0]]
        matrix[[0, 1]] = matrix[[1, 0]]
    channels = [ndimage.affine_transform(c, matrix[:2, :2], matrix[:2, 2], order=order, mode=fill_mode, cval=cval)
                for c in x]
    return numpy.rollaxis(numpy.stack(channels, axis=0), 0, channel_axis + 1)


def flip_axis(x, axis):
    """``x`` reversed along ``axis``."""
    return numpy.flip(numpy.asarray(x), axis)


def random_rotation(x, rg, row_axis=1, col_axis=2, channel_axis=0, fill_mode="nearest", cval=0.0,
                    interpolation_order=1):
    """``x`` rotated by a uniform random angle in ``[-rg, rg]`` degrees."""
    theta = numpy.random.uniform(-rg, rg)
    return apply_affine_transform(x, theta=theta, row_axis=row_axis, col_axis=col_axis, channel_axis=channel_axis,
                                  fill_mode=fill_mode, cval=cval, order=interpolation_order)


def random_shift(x, wrg, hrg, row_axis=1, col_axis=2, channel_axis=0, fill_mode="nearest", cval=0.0,
                 interpolation_order=1):
    """``x`` shifted by uniform random fractions of its height (``hrg``) and width (``wrg``)."""
    h, w = x.shape[row_axis], x.shape[col_axis]
    tx = numpy.random.uniform(-hrg, hrg) * h
    ty = numpy.random.uniform(-wrg, wrg) * w
    return apply_affine_transform(x, tx=tx, ty=ty, row_axis=row_axis, col_axis=col_axis, channel_axis=channel_axis,
                                  fill_mode=fill_mode, cval=cval, order=interpolation_order)


def random_shear(x, intensity, row_axis=1, col_axis=2, channel_axis=0, fill_mode="nearest", cval=0.0,
                 interpolation_order=1):
    """``x`` sheared by a uniform random angle in ``[-intensity, intensity]`` degrees."""
    shear = numpy.random.uniform(-intensity, intensity)
    return apply_affine_transform(x, shear=shear, row_axis=row_axis, col_axis=col_axis, channel_axis=channel_axis,
                                  fill_mode=fill_mode, cval=cval, order=interpolation_order)


def random_zoom(x, zoom_range, row_axis=1, col_axis=2, channel_axis=0, fill_mode="nearest", cval=0.0,
                interpolation_order=1):
    """``x`` zoomed by uniform random factors in ``zoom_range`` (a pair) along rows and columns."""
    if len(zoom_range) != 2:
        raise ValueError(f"`zoom_range` should be a tuple or list of two floats. Received: {zoom_range}")
    zx, zy = (1, 1) if zoom_range[0] == 1 and zoom_range[1] == 1 else numpy.random.uniform(*zoom_range, 2)
    return apply_affine_transform(x, zx=zx, zy=zy, row_axis=row_axis, col_axis=col_axis, channel_axis=channel_axis,
                                  fill_mode=fill_mode, cval=cval, order=interpolation_order)


def apply_channel_shift(x, intensity, channel_axis=0):
    """Each channel of ``x`` plus ``intensity``, clipped to ``x``'s range."""
    x = numpy.rollaxis(x, channel_axis, 0)
    low, high = numpy.min(x), numpy.max(x)
    x = numpy.stack([numpy.clip(c + intensity, low, high) for c in x], axis=0)
    return numpy.rollaxis(x, 0, channel_axis + 1)


def random_channel_shift(x, intensity_range, channel_axis=0):
    """`apply_channel_shift` by a uniform random intensity in ``[-intensity_range, intensity_range]``."""
    return apply_channel_shift(x, numpy.random.uniform(-intensity_range, intensity_range), channel_axis)


def apply_brightness_shift(x, brightness, scale=True):
    """``x``'s brightness times ``brightness`` (PIL's ImageEnhance, as Keras: the image goes through 8 bits)."""
    from .image_utils import _pil, array_to_img, img_to_array
    _pil()
    from PIL import ImageEnhance
    low, high = numpy.min(x), numpy.max(x)
    local_scale = (low < 0) or (high > 255)
    enhanced = ImageEnhance.Brightness(array_to_img(x, scale=local_scale or scale)).enhance(brightness)
    x = img_to_array(enhanced)
    if not scale and local_scale:
        x = x / 255 * (high - low) + low
    return x


def random_brightness(x, brightness_range, scale=True):
    """`apply_brightness_shift` by a uniform random factor in ``brightness_range`` (a pair)."""
    if len(brightness_range) != 2:
        raise ValueError(f"`brightness_range should be tuple or list of two floats. Received: {brightness_range}")
    return apply_brightness_shift(x, numpy.random.uniform(brightness_range[0], brightness_range[1]), scale)
