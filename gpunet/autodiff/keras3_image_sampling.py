"""Keras 3's ``keras.ops.image`` functions that sample images at computed coordinates: ``map_coordinates``,
``affine_transform``, ``perspective_transform``, ``elastic_transform`` and the ``gaussian_blur`` the last one
smooths its displacements with (gpunet/autodiff/keras3_image_ops.py holds the rest and the deviations).

Each output value is a weighted sum of gathered input values, written with gpunet's tensor ops: gradients reach
the images (the gather's gradient adds up where several outputs read one input) and, for order 1 / "bilinear",
the coordinates (and so ``affine_transform``'s ``transform``), as on torch. Index arithmetic runs on the active
backend's arrays (``B.get_backend().xp``); the out-of-range rules are Keras 3's (``fill_mode``: "constant",
"nearest", "wrap", "mirror", "reflect").
"""
import functools
import itertools
import operator

from .. import backend as B
from ..backend.fp_quiet import fp_quiet
from . import elementwise as E
from .conv_ops import data_format_of, depthwise_conv, int_tuple
from .elementwise import _floating as _float
from .shape_ops import expand_dims, getitem, reshape, squeeze, transpose
from .tensor import Tensor, lift

__all__ = ["map_coordinates", "affine_transform", "perspective_transform", "elastic_transform", "gaussian_blur"]

FILL_MODES = ("constant", "nearest", "wrap", "mirror", "reflect")
ORDERS = {"nearest": 0, "bilinear": 1}


def images_last(images, data_format, name, spatial=2):
    """``images`` (rank ``spatial + 1`` or ``spatial + 2``) as a channels-last batch, and the function that
    puts a channels-last batch back into the input's layout."""
    t = lift(images)
    if t.ndim not in (spatial + 1, spatial + 2):
        raise ValueError(f"{name}: expected images of rank {spatial + 1} (a single image) or {spatial + 2} (a "
                         f"batch), received shape {tuple(t.shape)}")
    first = data_format_of(data_format) == "channels_first"
    unbatched = t.ndim == spatial + 1
    t = expand_dims(t, 0) if unbatched else t
    if first:
        t = transpose(t, (0,) + tuple(range(2, spatial + 2)) + (1,))

    def back(y):
        y = transpose(y, (0, spatial + 1) + tuple(range(1, spatial + 1))) if first else y
        return squeeze(y, 0) if unbatched else y
    return t, back


def check_choice(name, argument, value, allowed):
    if value not in allowed:
        raise ValueError(f"{name}: `{argument}` must be one of {list(allowed)}, received {value!r}")


def _mirror(xp, index, size):
    s = size - 1  # the triangular wave |x - round(x)| scaled to integers (Keras 3's _mirror_index_fixer)
    return xp.zeros_like(index) if s == 0 else xp.abs((index + s) % (2 * s) - s)


def _fix(xp, index, size, mode):
    if mode in ("constant", "nearest"):
        return xp.clip(index, 0, size - 1)
    if mode == "wrap":
        return index % size
    if mode == "mirror":
        return _mirror(xp, index, size)
    return (_mirror(xp, 2 * index + 1, 2 * size + 1) - 1) // 2  # reflect


def _nodes(coordinate, size, order, mode):
    """Along one axis: ``(index, valid, weight)`` per node, ``index`` fixed by ``mode``, ``valid`` the mask of
    in-range nodes ("constant" only, else None), ``weight`` a tensor (None for order 0)."""
    xp = B.get_backend().xp
    c = coordinate.data
    with fp_quiet(xp, invalid="ignore"):
        if order == 0:
            nodes = [((c if c.dtype.kind in "iu" else xp.round(c)).astype("int64"), None)]
        else:
            lower = xp.floor(c)
            upper = E.subtract(coordinate, Tensor(lower))
            index = lower.astype("int64")
            nodes = [(index, E.subtract(1, upper)), (index + 1, upper)]
    return [(_fix(xp, i, size, mode), (i >= 0) & (i < size) if mode == "constant" else None, w) for i, w in nodes]


def _combine(terms, fill_value, items, gather):
    """The sum over node combinations of the weights' product times the gathered values (``fill_value``
    where a node is out of range)."""
    out = None
    for combo in itertools.product(*items):
        indices, valids, weights = zip(*combo)
        values = gather(indices)
        masks = [v for v in valids if v is not None]
        if masks:
            values = E.where(terms(functools.reduce(operator.and_, masks)), values, fill_value)
        weights = [w for w in weights if w is not None]
        if weights:
            values = E.multiply(terms(functools.reduce(E.multiply, weights)), values)
        out = values if out is None else E.add(out, values)
    return out


def _finish(out, dtype):
    """Integer images: the result rounded and cast back; others cast back to their type."""
    if str(out.dtype) == str(dtype):
        return out
    if dtype.kind in "iub" and out.dtype.kind == "f":
        out = E.round(out)
    return E.cast(out, dtype)


def _fill(t, fill_value):
    return int(fill_value) if t.dtype.kind in "iu" and isinstance(fill_value, (int, float)) else fill_value


def _coordinate_list(coordinates):
    if isinstance(coordinates, (list, tuple)):
        return [lift(c) for c in coordinates]
    c = lift(coordinates)
    return [getitem(c, i) for i in range(c.shape[0])] if c.ndim else [c]


def map_coordinates(inputs, coordinates, order, fill_mode="constant", fill_value=0):
    """``inputs`` sampled at ``coordinates`` (one array per axis of ``inputs``, all of one shape, the output's):
    ``order`` 0 (nearest, halves to even) or 1 (linear); outside the input as ``fill_mode`` says ("constant":
    ``fill_value``). Order 1 is differentiable in ``inputs`` and ``coordinates``."""
    t = lift(inputs)
    coords = _coordinate_list(coordinates)
    if len(coords) != t.ndim:
        raise ValueError(f"map_coordinates: the first axis of `coordinates` must be the rank of `inputs` "
                         f"({t.ndim}), received {len(coords)} coordinate arrays for inputs of shape {tuple(t.shape)}")
    if coords[0].ndim < 1:
        raise ValueError(f"map_coordinates: expected coordinates of rank 2 or more, received shape ({len(coords)},)")
    if order not in (0, 1):
        raise NotImplementedError(f"map_coordinates: `order` must be 0 or 1 (Keras 3's), received {order!r}")
    check_choice("map_coordinates", "fill_mode", fill_mode, FILL_MODES)
    if order == 1:
        coords = [c if c.dtype.kind == "f" else _float(c) for c in coords]
    flat, strides = reshape(t, (-1,)), [1] * t.ndim
    for axis in range(t.ndim - 2, -1, -1):
        strides[axis] = strides[axis + 1] * t.shape[axis + 1]
    items = [_nodes(c, n, order, fill_mode) for c, n in zip(coords, t.shape)]
    out = _combine(lambda x: x, _fill(t, fill_value), items,
                   lambda indices: getitem(flat, sum(i * s for i, s in zip(indices, strides))))
    return _finish(out, t.dtype)


def sample(t, ys, xs, order, fill_mode, fill_value):
    """The channels-last batch ``t`` ``(B, H, W, C)`` read at rows ``ys`` and columns ``xs`` (tensors
    ``(B, H', W')``), each channel as Keras 3's ``map_coordinates`` would: ``(B, H', W', C)``."""
    xp = B.get_backend().xp
    n, h, w, c = t.shape
    rows = reshape(t, (n * h * w, c))
    base = xp.arange(n, dtype="int64").reshape(n, 1, 1) * (h * w)
    items = [_nodes(ys, h, order, fill_mode), _nodes(xs, w, order, fill_mode)]
    out = _combine(lambda x: expand_dims(x, -1) if isinstance(x, Tensor) else x[..., None], _fill(t, fill_value),
                   items, lambda ij: getitem(rows, base + ij[0] * w + ij[1]))
    return _finish(out, t.dtype)


def _projective(t, transforms, order, fill_mode, fill_value, name):
    """``t`` (channels-last batch) where output ``(x, y)`` reads input ``((a0 x + a1 y + a2) / k, (b0 x + b1 y
    + b2) / k)``, ``k = c0 x + c1 y + 1``, for ``transforms`` ``(1 or batch, 8)``."""
    n, h, w = t.shape[:3]
    if transforms.shape[0] not in (1, n):
        raise ValueError(f"{name}: expected one transform or one per image ({n}), received {transforms.shape[0]}")
    xp = B.get_backend().xp
    dtype = transforms.dtype
    y = Tensor(xp.arange(h, dtype=dtype).reshape(1, h, 1))
    x = Tensor(xp.arange(w, dtype=dtype).reshape(1, 1, w))
    a = [reshape(getitem(transforms, (slice(None), i)), (-1, 1, 1)) for i in range(8)]
    k = E.add(E.add(E.multiply(a[6], x), E.multiply(a[7], y)), 1)
    xs = E.divide(E.add(E.add(E.multiply(a[0], x), E.multiply(a[1], y)), a[2]), k)
    ys = E.divide(E.add(E.add(E.multiply(a[3], x), E.multiply(a[4], y)), a[5]), k)
    zeros = Tensor(xp.zeros((n, h, w), dtype))
    return sample(t, E.add(ys, zeros), E.add(xs, zeros), order, fill_mode, fill_value)


def affine_transform(images, transform, interpolation="bilinear", fill_mode="constant", fill_value=0,
                     data_format=None):
    """``images`` transformed by ``transform`` (``(8,)`` or one row per image, ``[a0, a1, a2, b0, b1, b2, c0,
    c1]``: output ``(x, y)`` reads input ``((a0 x + a1 y + a2) / k, (b0 x + b1 y + b2) / k)``, ``k = c0 x + c1 y
    + 1``); ``interpolation`` "nearest" or "bilinear", outside the image as ``fill_mode`` says."""
    check_choice("affine_transform", "interpolation", interpolation, ORDERS)
    check_choice("affine_transform", "fill_mode", fill_mode, FILL_MODES)
    t, back = images_last(images, data_format, "affine_transform")
    tr = lift(transform)
    if tr.ndim not in (1, 2) or tr.shape[-1] != 8:
        raise ValueError(f"affine_transform: expected a transform of shape (8,) or (batch, 8), received shape "
                         f"{tuple(tr.shape)}")
    tr = _float(tr) if tr.dtype.kind != "f" else tr
    tr = reshape(tr, (1, 8)) if tr.ndim == 1 else tr
    return back(_projective(t, tr, ORDERS[interpolation], fill_mode, fill_value, "affine_transform"))


def _points(points, dtype, name, argument):
    p = lift(points).data.astype(dtype)
    if p.ndim not in (2, 3) or tuple(p.shape[-2:]) != (4, 2):
        raise ValueError(f"{name}: expected {argument} of shape (4, 2) for a single image or (N, 4, 2) for a "
                         f"batch, received shape {tuple(p.shape)}")
    return p.reshape(-1, 4, 2)


def homography(start_points, end_points, dtype="float64"):
    """The ``(N, 8)`` transforms mapping each of the 4 ``end_points`` onto its ``start_points`` (Keras 3's
    ``compute_homography_matrix``), solved in float64 at least."""
    xp = B.get_backend().xp
    s = _points(start_points, dtype, "perspective_transform", "start_points")
    e = _points(end_points, dtype, "perspective_transform", "end_points")
    if s.shape != e.shape:
        raise ValueError(f"perspective_transform: start_points and end_points must have the same shape, "
                         f"received {tuple(s.shape)} and {tuple(e.shape)}")
    ex, ey, sx, sy = e[..., 0], e[..., 1], s[..., 0], s[..., 1]
    one, zero = xp.ones_like(ex), xp.zeros_like(ex)
    rows_x = xp.stack([ex, ey, one, zero, zero, zero, -sx * ex, -sx * ey], -1)
    rows_y = xp.stack([zero, zero, zero, ex, ey, one, -sy * ex, -sy * ey], -1)
    a = xp.stack([rows_x, rows_y], 2).reshape(-1, 8, 8)  # rows: x1, y1, x2, y2, ...
    b = xp.stack([sx, sy], -1).reshape(-1, 8, 1)
    compute = xp.result_type(dtype, "float32")
    return xp.linalg.solve(a.astype(compute), b.astype(compute)).reshape(-1, 8).astype(dtype)


def perspective_transform(images, start_points, end_points, interpolation="bilinear", fill_value=0,
                          data_format=None):
    """``images`` warped so that ``start_points`` (4 ``(x, y)`` corners, or ``(N, 4, 2)``) move to
    ``end_points``; ``interpolation`` "nearest" or "bilinear", ``fill_value`` outside the image."""
    check_choice("perspective_transform", "interpolation", interpolation, ORDERS)
    t, back = images_last(images, data_format, "perspective_transform")
    dtype = t.dtype if t.dtype.kind == "f" else B.floatx()
    tr = Tensor(homography(start_points, end_points, dtype))
    return back(_projective(t, tr, ORDERS[interpolation], "constant", fill_value, "perspective_transform"))


def gaussian_kernel(size, sigma, dtype):
    xp = B.get_backend().xp
    x = xp.arange(size, dtype=dtype) - (size - 1) / 2
    k = xp.exp(-0.5 * (x / xp.asarray(sigma, dtype)) ** 2)
    return k / xp.sum(k)


def gaussian_blur(images, kernel_size=(3, 3), sigma=(1.0, 1.0), data_format=None):
    """Each channel convolved with a normalized Gaussian (zeros beyond the edge, the output as large as the
    input). As Keras 3's JAX and torch backends, the kernel's rows (the height axis) take ``kernel_size[1]`` and
    ``sigma[1]``, its columns ``kernel_size[0]`` and ``sigma[0]``."""
    t, back = images_last(images, data_format, "gaussian_blur")
    t = _float(t)
    size = int_tuple(kernel_size, 2, "kernel_size", owner="gaussian_blur")
    sigmas = tuple(sigma) if isinstance(sigma, (list, tuple)) else (sigma, sigma)
    if len(sigmas) != 2 or any(not isinstance(s, (int, float)) or s <= 0 for s in sigmas):
        raise ValueError(f"gaussian_blur: `sigma` must be a positive number or a tuple of 2, received {sigma!r}")
    kx, ky = gaussian_kernel(size[0], sigmas[0], t.dtype), gaussian_kernel(size[1], sigmas[1], t.dtype)
    xp = B.get_backend().xp
    kernel = xp.broadcast_to((ky[:, None] * kx[None, :])[:, :, None, None], (size[1], size[0], t.shape[-1], 1))
    return back(depthwise_conv(t, Tensor(xp.ascontiguousarray(kernel)), 1, "same", "channels_last"))


def elastic_transform(images, alpha=20.0, sigma=5.0, interpolation="bilinear", fill_mode="reflect", fill_value=0.0,
                      seed=None, data_format=None):
    """``images`` displaced by a random field: normal noise times ``sigma`` per pixel and axis, blurred by a
    Gaussian of ``sigma`` (kernel ``int(6 sigma) | 1``), scaled by ``alpha``; sampled as
    `map_coordinates` does. The noise is gpunet's (``seed``: an int gives the same field every call)."""
    check_choice("elastic_transform", "interpolation", interpolation, ORDERS)
    check_choice("elastic_transform", "fill_mode", fill_mode, FILL_MODES)
    t, back = images_last(images, data_format, "elastic_transform")
    if not isinstance(sigma, (int, float)) or sigma <= 0 or not isinstance(alpha, (int, float)):
        raise ValueError(f"elastic_transform: expected a number `alpha` and a positive number `sigma`, received "
                         f"alpha={alpha!r}, sigma={sigma!r}")
    from ..random import normal
    n, h, w = t.shape[:3]
    dtype = t.dtype if t.dtype.kind == "f" else B.floatx()
    noise = E.multiply(normal((n, h, w, 2), dtype=str(dtype), seed=seed), float(sigma))
    size = int(6 * sigma) | 1
    field = gaussian_blur(noise, (size, size), (sigma, sigma), "channels_last").data
    xp = B.get_backend().xp
    grid_y = xp.arange(h, dtype=dtype).reshape(1, h, 1)
    grid_x = xp.arange(w, dtype=dtype).reshape(1, 1, w)
    ys, xs = Tensor(grid_y + alpha * field[..., 0]), Tensor(grid_x + alpha * field[..., 1])
    return back(sample(t, ys, xs, ORDERS[interpolation], fill_mode, fill_value))
