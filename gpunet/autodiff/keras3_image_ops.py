"""Keras 3's ``keras.ops.image`` (``gpunet.ops.image``): resizing, cropping, padding, patches, colour spaces,
filters and sampling, with Keras 3.15's signatures and defaults, checked against Keras 3 on torch
(tests/test_keras3_image_ops.py). Images are rank 3 (one image) or 4 (a batch); ``data_format`` None is
``image_data_format()``. Written with gpunet's tensor ops, so gradients reach the images (and
``map_coordinates``' coordinates, ``affine_transform``'s transform) on the tape. ``resize`` and
``scale_and_translate`` are in keras3_image_resize.py, the sampling functions in keras3_image_sampling.py.

Where gpunet departs from Keras 3 on torch:

- ``resize``: "lanczos3"/"lanczos5" are refused (as on torch); ``antialias`` is torch's (bilinear, bicubic;
  ignored for "nearest"). Integer images are resized in float32, rounded and saturated to their type.
- ``affine_transform`` divides by ``k = c0 x + c1 y + 1`` as documented (and as TensorFlow does); Keras 3 on
  torch and JAX instead add ``c0``, ``c1`` times the channel index to the row and column. Both agree for
  ``c0 = c1 = 0``. One transform applies to every image of a batch (torch's raises).
- ``perspective_transform`` solves the homography in the images' float type (float64 for float64 images;
  Keras 3 on torch always solves it in float32); ``ssim`` computes in the images' float type (Keras 3: float32),
  as ``scale_and_translate`` builds its weights (Keras 3 on torch: float32).
- ``gaussian_blur`` pads "same" for even kernel sizes too (as JAX; torch pads ``kernel_size[0] // 2`` on every
  side, growing the image); ``data_format`` None means ``image_data_format()`` (torch's eager path takes None as
  channels first). Integer images are blurred in floatx.
- ``elastic_transform`` draws its noise from gpunet's generator: the same distribution, not torch's values
  (an int ``seed`` gives the same field at every call).
- No gradient reaches ``scale_and_translate``'s ``scale``/``translation`` nor ``perspective_transform``'s points
  (constants). ``rgb_to_hsv``'s max/min send a tie's gradient to the first operand (torch splits it).
"""
import builtins

from .. import backend as B
from . import elementwise as E
from .array_ops import pad
from .conv_ops import data_format_of, depthwise_conv, int_tuple, padding_of
from .elementwise import _floating as _float
from .keras3_image_resize import resize, scale_and_translate
from .keras3_image_sampling import (affine_transform, elastic_transform, gaussian_blur, gaussian_kernel,
                                    images_last, map_coordinates, perspective_transform)
from .reductions import mean
from .shape_ops import expand_dims, getitem, reshape, stack, squeeze, transpose
from .tensor import Tensor, lift
from .windows import patches

__all__ = ["resize", "affine_transform", "map_coordinates", "crop_images", "pad_images", "extract_patches",
           "extract_patches_3d", "rgb_to_grayscale", "rgb_to_hsv", "hsv_to_rgb", "gaussian_blur",
           "perspective_transform", "elastic_transform", "scale_and_translate", "sobel_edges", "ssim"]

def _spans(name, before, after, target, length, kind):
    given = [before, after, target].count(None)
    if given != 1:
        raise ValueError(f"{name}: must specify exactly two of {kind[0]}, {kind[1]}, {kind[2]}; received "
                         f"{kind[0]}={before}, {kind[1]}={after}, {kind[2]}={target}")
    for label, v in zip(kind, (before, after, target)):
        if v is not None and (not isinstance(v, int) or v < 0):
            raise ValueError(f"{name}: {label} must be an int >= 0, received {label}={v!r}")
    return before, after, target


def pad_images(images, top_padding=None, left_padding=None, bottom_padding=None, right_padding=None,
               target_height=None, target_width=None, data_format=None):
    """``images`` with zero rows and columns around them: give two of each ``(top_padding, bottom_padding,
    target_height)`` and ``(left_padding, right_padding, target_width)``."""
    t, back = images_last(images, data_format, "pad_images")
    h, w = t.shape[1:3]
    top, bottom, th = _spans("pad_images", top_padding, bottom_padding, target_height, h,
                             ("top_padding", "bottom_padding", "target_height"))
    left, right, tw = _spans("pad_images", left_padding, right_padding, target_width, w,
                             ("left_padding", "right_padding", "target_width"))
    top = th - bottom - h if top is None else top
    bottom = th - top - h if bottom is None else bottom
    left = tw - right - w if left is None else left
    right = tw - left - w if right is None else right
    for label, v in (("top_padding", top), ("bottom_padding", bottom), ("left_padding", left),
                     ("right_padding", right)):
        if v < 0:
            raise ValueError(f"pad_images: {label} must be >= 0, received {label}={v} (images of height {h}, "
                             f"width {w})")
    return back(pad(t, [(0, 0), (top, bottom), (left, right), (0, 0)]))


def crop_images(images, top_cropping=None, left_cropping=None, bottom_cropping=None, right_cropping=None,
                target_height=None, target_width=None, data_format=None):
    """The ``target_height`` x ``target_width`` window of ``images``: give two of each ``(top_cropping,
    bottom_cropping, target_height)`` and ``(left_cropping, right_cropping, target_width)``."""
    t, back = images_last(images, data_format, "crop_images")
    h, w = t.shape[1:3]
    top, bottom, th = _spans("crop_images", top_cropping, bottom_cropping, target_height, h,
                             ("top_cropping", "bottom_cropping", "target_height"))
    left, right, tw = _spans("crop_images", left_cropping, right_cropping, target_width, w,
                             ("left_cropping", "right_cropping", "target_width"))
    top = h - th - bottom if top is None else top
    th = h - bottom - top if th is None else th
    left = w - tw - right if left is None else left
    tw = w - right - left if tw is None else tw
    for label, v in (("top_cropping", top), ("target_height", th), ("left_cropping", left), ("target_width", tw)):
        if v < 0:
            raise ValueError(f"crop_images: {label} must be >= 0, received {label}={v} (images of height {h}, "
                             f"width {w})")
    if top + th > h or left + tw > w:
        raise ValueError(f"crop_images: the window rows {top}:{top + th}, columns {left}:{left + tw} does not fit "
                         f"images of height {h}, width {w}")
    return back(getitem(t, (slice(None), slice(top, top + th), slice(left, left + tw))))


def _patches(images, size, strides, dilation_rate, padding, data_format, rank, name):
    t, back = images_last(images, data_format, name, spatial=rank)
    sizes = int_tuple(size, rank, "size", owner=name)
    steps = int_tuple(sizes if strides is None else strides, rank, "strides", owner=name)
    dilations = int_tuple(dilation_rate, rank, "dilation_rate", owner=name)
    padding = padding_of(padding, owner=name)
    plan = []
    for n, k, s, d in zip(t.shape[1:-1], sizes, steps, dilations):
        span = d * (k - 1) + 1
        out = -(-n // s) if padding == "same" else (n - span) // s + 1
        if out < 1:
            raise ValueError(f"{name}: a patch of {sizes} (dilation {dilations}) does not fit images of spatial "
                             f"shape {tuple(t.shape[1:-1])}")
        total = builtins.max((out - 1) * s + span - n, 0)
        plan.append((total // 2, total - total // 2, k, s, d, out))
    cols = patches(t, tuple(plan))  # (batch, *outputs, window, channels): Keras's (*size, channels) order
    return back(reshape(cols, cols.shape[:-2] + (cols.shape[-2] * cols.shape[-1],)))


def extract_patches(images, size, strides=None, dilation_rate=1, padding="valid", data_format=None):
    """The ``size`` patches of ``images``, each flattened (rows, columns, channels) into the channel axis:
    ``(batch, rows, cols, size[0] * size[1] * channels)``; ``strides`` default to ``size``. A ``size`` of 3
    ints extracts 3-D patches of volumes (`extract_patches_3d`)."""
    if not isinstance(size, int):
        if not isinstance(size, (tuple, list)):
            raise TypeError(f"extract_patches: expected `size` an int or a tuple, received {size!r} of type "
                            f"{type(size).__name__}")
        if len(size) not in (2, 3):
            raise ValueError(f"extract_patches: expected `size` a tuple of length 2 or 3, received {size!r}")
        if len(size) == 3:
            return extract_patches_3d(images, size, strides, dilation_rate, padding, data_format)
    return _patches(images, size, strides or None, dilation_rate, padding, data_format, 2, "extract_patches")


def extract_patches_3d(volumes, size, strides=None, dilation_rate=1, padding="valid", data_format=None):
    """The 3-D patches of ``volumes`` (rank 4 or 5), each flattened into the channel axis."""
    return _patches(volumes, size, strides, dilation_rate, padding, data_format, 3, "extract_patches_3d")


def _channels(images, data_format, name, allowed=(3,)):
    t = lift(images)
    if t.ndim not in (3, 4):
        raise ValueError(f"{name}: expected images of rank 3 (a single image) or 4 (a batch), received shape "
                         f"{tuple(t.shape)}")
    axis = t.ndim - 1 if data_format_of(data_format) == "channels_last" else t.ndim - 3
    if t.shape[axis] not in allowed:
        raise ValueError(f"{name}: expected {' or '.join(map(str, allowed))} channels on axis {axis}, received "
                         f"shape {tuple(t.shape)}")
    return t, axis


def _planes(t, axis):
    return [getitem(t, (slice(None),) * axis + (i,)) for i in range(3)]


def rgb_to_grayscale(images, data_format=None):
    """``0.2989 R + 0.587 G + 0.114 B`` with the channel axis kept (of length 1); a single channel is copied.
    Integer images keep their type (truncated, as torch's)."""
    t, axis = _channels(images, data_format, "rgb_to_grayscale", (1, 3))
    if t.shape[axis] == 1:
        return Tensor(t.data.copy()) if not t.requires_grad else E.multiply(t, 1)
    r, g, b = _planes(_float(t) if t.dtype.kind != "f" else t, axis)
    gray = E.add(E.add(E.multiply(r, 0.2989), E.multiply(g, 0.587)), E.multiply(b, 0.114))
    return expand_dims(gray if gray.dtype == t.dtype else E.cast(gray, t.dtype), axis)


def _float_images(images, data_format, name):
    t, axis = _channels(images, data_format, name)
    if t.dtype.kind != "f":
        raise ValueError(f"{name}: expected images of a float dtype, received {t.dtype}")
    return t, axis


def rgb_to_hsv(images, data_format=None):
    """RGB in [0, 1] to hue, saturation, value in [0, 1] (dm_pix's formulas, as Keras 3)."""
    t, axis = _float_images(images, data_format, "rgb_to_hsv")
    xp = B.get_backend().xp
    t = E.where(xp.abs(t.data) < xp.finfo(t.dtype).eps, 0.0, t)
    r, g, b = _planes(t, axis)
    value = E.maximum(E.maximum(r, g), b)
    span = E.subtract(value, E.minimum(E.minimum(r, g), b))
    positive, spread = value.data > 0, span.data > 0
    saturation = E.where(positive, E.divide(span, E.where(positive, value, 1.0)), 0.0)
    norm = E.divide(1.0, E.multiply(E.where(spread, span, 1.0), 6.0))
    hue = E.where(value.data == g.data, E.add(E.multiply(norm, E.subtract(b, r)), 2.0 / 6.0),
                  E.add(E.multiply(norm, E.subtract(r, g)), 4.0 / 6.0))
    hue = E.where(value.data == r.data, E.multiply(norm, E.subtract(g, b)), hue)
    hue = E.add(E.where(spread, hue, 0.0), (hue.data < 0).astype(hue.dtype))
    return stack([hue, saturation, value], axis)


def hsv_to_rgb(images, data_format=None):
    """Hue, saturation, value in [0, 1] to RGB (dm_pix's formulas, as Keras 3)."""
    t, axis = _float_images(images, data_format, "hsv_to_rgb")
    h, s, v = _planes(t, axis)
    xp = B.get_backend().xp
    dh = E.multiply(E.subtract(h, Tensor(xp.floor(h.data))), 6.0)  # torch.remainder(h, 1)
    dr = E.clip(E.subtract(E.abs(E.subtract(dh, 3.0)), 1.0), 0.0, 1.0)
    dg = E.clip(E.subtract(2.0, E.abs(E.subtract(dh, 2.0))), 0.0, 1.0)
    db = E.clip(E.subtract(2.0, E.abs(E.subtract(dh, 4.0))), 0.0, 1.0)
    one_minus_s = E.subtract(1.0, s)
    return stack([E.multiply(v, E.add(one_minus_s, E.multiply(s, d))) for d in (dr, dg, db)], axis)


def sobel_edges(images, data_format=None):
    """The Sobel gradients of each channel (zeros beyond the edge) stacked last as ``[dy, dx]``: ``(batch,
    height, width, channels, 2)`` channels last, ``(batch, channels, height, width, 2)`` channels first."""
    t = lift(images)
    if t.ndim != 4:
        raise ValueError(f"sobel_edges: expected a batch of images of rank 4, received shape {tuple(t.shape)}")
    x, back = images_last(t, data_format, "sobel_edges")
    x = _float(x)
    xp = B.get_backend().xp
    gx = xp.asarray([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=x.dtype)
    edges = [depthwise_conv(x, Tensor(xp.ascontiguousarray(xp.broadcast_to(k[:, :, None, None],
                                                                           (3, 3, x.shape[-1], 1)))), 1, "same")
             for k in (gx.T, gx)]
    return stack([back(e) for e in edges], -1)


def ssim(image1, image2, max_val=1.0, filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03, data_format=None):
    """The structural similarity of ``image1`` and ``image2`` (a Gaussian window of ``filter_size`` and
    ``filter_sigma``, "valid"), averaged over positions and channels: one value per image."""
    a, back = images_last(image1, data_format, "ssim")
    b, _ = images_last(image2, data_format, "ssim")
    if a.shape != b.shape:
        raise ValueError(f"ssim: expected images of one shape, received {tuple(lift(image1).shape)} and "
                         f"{tuple(lift(image2).shape)}")
    dtype = a.dtype
    a, b = _float(a), _float(b)
    n, h, w, c = a.shape
    if builtins.min(h, w) < filter_size:
        raise ValueError(f"ssim: images of {h} x {w} are smaller than the filter_size {filter_size}")
    xp = B.get_backend().xp
    g = gaussian_kernel(filter_size, filter_sigma, a.dtype)
    kernel = Tensor(xp.ascontiguousarray((g[:, None] * g[None, :])[:, :, None, None]))

    def blur(x):
        return depthwise_conv(reshape(transpose(x, (0, 3, 1, 2)), (n * c, h, w, 1)), kernel, 1, "valid")
    mu1, mu2 = blur(a), blur(b)
    mu11, mu22, mu12 = E.multiply(mu1, mu1), E.multiply(mu2, mu2), E.multiply(mu1, mu2)
    s11 = E.subtract(blur(E.multiply(a, a)), mu11)
    s22 = E.subtract(blur(E.multiply(b, b)), mu22)
    s12 = E.subtract(blur(E.multiply(a, b)), mu12)
    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    num = E.multiply(E.add(E.multiply(mu12, 2.0), c1), E.add(E.multiply(s12, 2.0), c2))
    den = E.multiply(E.add(E.add(mu11, mu22), c1), E.add(E.add(s11, s22), c2))
    per_image = mean(reshape(mean(E.divide(num, den), axis=(1, 2, 3)), (n, c)), axis=-1)
    out = squeeze(per_image, 0) if lift(image1).ndim == 3 else per_image
    return out if out.dtype == dtype else E.cast(out, dtype)
