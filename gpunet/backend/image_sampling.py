"""Where each output pixel of TensorFlow's ``ImageProjectiveTransformV3`` reads (the image augmentation layers'
rotations, zooms and translations, tf.keras 2's ``transform``), as host index arithmetic: per output pixel up
to four source pixels with their weights, and the share of ``fill_value``. The layers gather those rows on the
active backend (autodiff ``take``), so the values are TensorFlow's: the same coordinate maps for each
``fill_mode`` ("reflect": d c b a | a b c d | d c b a, "wrap", "nearest", "constant") and the same bilinear or
nearest (round half away from zero) reads, a neighbour outside the image reading ``fill_value``."""
import numpy

f32 = numpy.float32  # (TensorFlow's arithmetic: a coordinate at an edge maps as it does there)

def _map(coord, length, mode):
    """TensorFlow's MapCoordinate for one axis."""
    if mode == "constant":
        return coord
    if mode == "nearest" or length <= 1:
        return numpy.clip(coord, 0, length - 1)
    c = coord.copy()
    low, high = c < 0, c > length - 1  # (TensorFlow's if / else: a coordinate is mapped once)
    if mode == "reflect":
        size2 = f32(2 * length)
        lc = size2 * (-c[low] / size2).astype(int) + c[low]
        c[low] = numpy.where(lc < -length, lc + size2, -lc - 1)
        hc = c[high] - size2 * (c[high] / size2).astype(int)
        c[high] = numpy.where(hc >= length, size2 - hc - 1, hc)
    else:  # wrap
        span = f32(length - 1)
        c[low] = c[low] + length * ((-c[low] / span).astype(int) + 1)
        c[high] = c[high] - length * (c[high] / span).astype(int)
    return numpy.clip(c, 0, length - 1)


def projective_reads(transforms, height, width, out_height, out_width, interpolation, fill_mode):
    """``(index, weight, fill)`` for images of ``height`` x ``width`` transformed by ``transforms`` (one row of 8
    per image, TensorFlow's ``[a0, a1, a2, b0, b1, b2, c0, c1]``: output ``(x, y)`` reads input ``((a0 x + a1 y +
    a2) / k, (b0 x + b1 y + b2) / k)``, ``k = c0 x + c1 y + 1``) into ``out_height`` x ``out_width``: ``index``
    ``(images, out_height, out_width, reads)`` rows of the flattened batch ``(images * height * width, channels)``,
    ``weight`` alike, ``fill`` the share of ``fill_value`` per output pixel."""
    t = numpy.asarray(transforms, dtype=f32).reshape(-1, 8)
    y, x = numpy.meshgrid(numpy.arange(out_height, dtype=f32), numpy.arange(out_width, dtype=f32), indexing="ij")
    k = t[:, 6, None, None] * x + t[:, 7, None, None] * y + 1
    degenerate = k == 0
    k = numpy.where(degenerate, f32(1), k)
    in_x = _map((t[:, 0, None, None] * x + t[:, 1, None, None] * y + t[:, 2, None, None]) / k, width, fill_mode)
    in_y = _map((t[:, 3, None, None] * x + t[:, 4, None, None] * y + t[:, 5, None, None]) / k, height, fill_mode)
    if interpolation == "nearest":
        corners = [(numpy.floor(numpy.abs(in_y) + 0.5) * numpy.sign(in_y),
                    numpy.floor(numpy.abs(in_x) + 0.5) * numpy.sign(in_x), numpy.ones_like(in_x))]
    else:
        y0, x0 = numpy.floor(in_y), numpy.floor(in_x)
        corners = [(y0, x0, (x0 + 1 - in_x) * (y0 + 1 - in_y)), (y0, x0 + 1, (in_x - x0) * (y0 + 1 - in_y)),
                   (y0 + 1, x0, (x0 + 1 - in_x) * (in_y - y0)), (y0 + 1, x0 + 1, (in_x - x0) * (in_y - y0))]
    image = numpy.arange(t.shape[0])[:, None, None] * (height * width)
    index, weight, fill = [], [], numpy.zeros(in_x.shape)
    for cy, cx, w in corners:
        inside = (cy >= 0) & (cy < height) & (cx >= 0) & (cx < width) & ~degenerate
        index.append(numpy.where(inside, image + cy.clip(0, height - 1) * width + cx.clip(0, width - 1), 0))
        weight.append(numpy.where(inside, w, 0.0))
        fill += numpy.where(inside, 0.0, w)
    fill = numpy.where(degenerate, 1.0, fill)
    return numpy.stack(index, -1).astype(numpy.int64), numpy.stack(weight, -1), fill


def rotation_transforms(angles, height, width):
    """tf.keras 2's ``get_rotation_matrix``: rotations by ``angles`` (radians) about the image centre."""
    cos, sin = numpy.cos(angles), numpy.sin(angles)
    x_offset = ((width - 1) - (cos * (width - 1) - sin * (height - 1))) / 2.0
    y_offset = ((height - 1) - (sin * (width - 1) + cos * (height - 1))) / 2.0
    zero = numpy.zeros_like(cos)
    return numpy.stack([cos, -sin, x_offset, sin, cos, y_offset, zero, zero], axis=1)


def zoom_transforms(height_zoom, width_zoom, height, width):
    """tf.keras 2's ``get_zoom_matrix``: zooms about the image centre."""
    x_offset = ((width - 1.0) / 2.0) * (1.0 - width_zoom)
    y_offset = ((height - 1.0) / 2.0) * (1.0 - height_zoom)
    zero = numpy.zeros_like(width_zoom)
    return numpy.stack([width_zoom, zero, x_offset, zero, height_zoom, y_offset, zero, zero], axis=1)


def translation_transforms(dx, dy):
    """tf.keras 2's ``get_translation_matrix``: shifts by ``dx`` columns and ``dy`` rows."""
    one, zero = numpy.ones_like(dx), numpy.zeros_like(dx)
    return numpy.stack([one, zero, -dx, zero, one, -dy, zero, zero], axis=1)


def resize_reads(length, out_length, interpolation):
    """The ``(out_length, length)`` matrix of ``tf.image.resize`` along one axis (half-pixel centres, no
    antialiasing): "bilinear" or "nearest"."""
    scale = length / out_length
    out = numpy.arange(out_length)
    matrix = numpy.zeros((out_length, length))
    if interpolation == "nearest":
        matrix[out, numpy.minimum(numpy.floor((out + 0.5) * scale).astype(int), length - 1)] = 1.0
        return matrix
    source = numpy.maximum((out + 0.5) * scale - 0.5, 0)
    low = numpy.minimum(numpy.floor(source).astype(int), length - 1)
    high = numpy.minimum(low + 1, length - 1)
    numpy.add.at(matrix, (out, low), 1 - (source - low))
    numpy.add.at(matrix, (out, high), source - low)
    return matrix
