"""Keras 3's ``keras.ops.image.resize`` and ``scale_and_translate`` (gpunet.ops.image; the module docstring of
keras3_image_ops.py lists where gpunet departs from Keras 3): each axis resampled by a weight matrix built on the
active backend (torch's ``interpolate`` weights, JAX's ``compute_weight_mat``), applied with differentiable
einsum / matmul, so gradients reach the images."""
import builtins
import math

from .. import backend as B
from . import elementwise as E
from .array_ops import einsum, moveaxis, pad
from .keras3_image_sampling import check_choice, images_last
from .shape_ops import getitem, matmul
from .tensor import Tensor, lift

__all__ = ["resize", "scale_and_translate"]

_RESIZE = ("bilinear", "nearest", "bicubic")


def _cubic(xp, t, a):
    """Keys' cubic convolution weights of the 4 nodes around ``t`` in [0, 1] (torch's coefficients)."""
    def near(x):
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def _aa_filter(xp, x, interpolation):
    x = xp.abs(x)
    if interpolation == "bilinear":
        return xp.where(x < 1, 1 - x, 0)
    a = -0.5
    return xp.where(x < 1, ((a + 2) * x - (a + 3)) * x * x + 1, xp.where(x < 2, (((x - 5) * x + 8) * x - 4) * a, 0))


def resize_matrix(n, m, interpolation, antialias, dtype):
    """The ``(m, n)`` matrix of torch's ``interpolate`` from ``n`` to ``m`` samples along one axis (half-pixel
    centres, ``align_corners=False``; ``antialias``: torch's ``_upsample_*_aa`` filters)."""
    xp = B.get_backend().xp
    out, j = xp.arange(m, dtype=dtype)[:, None], xp.arange(n)[None, :]
    scale = n / m
    if interpolation == "nearest":  # torch's nearest-exact, in float32 as its kernel
        src = xp.floor(((out.astype("float64") + 0.5) * float(xp.float32(n) / xp.float32(m))).astype("float32"))
        return (j == xp.minimum(src.astype("int64"), n - 1)).astype(dtype)
    if antialias:
        size = 2 if interpolation == "bilinear" else 4
        support = size * 0.5 * scale if scale >= 1 else size * 0.5
        center = scale * (out + 0.5)
        lo = xp.maximum(xp.trunc(center - support + 0.5), 0)
        hi = xp.minimum(xp.trunc(center + support + 0.5), n)
        w = _aa_filter(xp, (j - center + 0.5) * (1 / scale if scale >= 1 else 1.0), interpolation)
        w = xp.where((j >= lo) & (j < hi), w, 0)
        total = w.sum(axis=1, keepdims=True)
        return (w / xp.where(total != 0, total, 1)).astype(dtype)
    src = scale * (out + 0.5) - 0.5
    if interpolation == "bilinear":
        src = xp.maximum(src, 0)
        low = xp.floor(src)
        lam = src - low
        low = low.astype("int64")
        high = xp.minimum(low + 1, n - 1)
        return ((j == low) * (1 - lam) + (j == high) * lam).astype(dtype)
    index = xp.minimum(xp.floor(src).astype("int64"), n - 1)
    lam = xp.clip(src - index, 0, 1)
    weights = _cubic(xp, lam, -0.75)
    return builtins.sum((j == xp.clip(index - 1 + k, 0, n - 1)) * weights[k] for k in range(4)).astype(dtype)


def _saturate(out, dtype):
    xp = B.get_backend().xp
    info = xp.iinfo(dtype) if dtype.kind in "iu" else None
    out = E.round(out)
    return E.cast(E.clip(out, info.min, info.max) if info else out, dtype)


def _aspect(t, size, crop, pad_to, fill_value):
    h, w = t.shape[1:3]
    th, tw = size
    if crop:
        ch = builtins.max(builtins.min(h, int(float(w * th) / tw)), 1)
        cw = builtins.max(builtins.min(w, int(float(h * tw) / th)), 1)
        top, left = int(float(h - ch) / 2), int(float(w - cw) / 2)
        return getitem(t, (slice(None), slice(top, top + ch), slice(left, left + cw)))
    if pad_to:
        ph = builtins.max(h, int(float(w * th) / tw))
        pw = builtins.max(w, int(float(h * tw) / th))
        top, left = int(float(ph - h) / 2), int(float(pw - w) / 2)
        return pad(t, [(0, 0), (top, top), (left, left), (0, 0)], constant_values=fill_value)
    return t


def resize(images, size, interpolation="bilinear", antialias=False, crop_to_aspect_ratio=False,
           pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0, data_format=None):
    """``images`` resized to ``size`` ``(height, width)`` as torch's ``interpolate`` (half-pixel centres):
    ``interpolation`` "bilinear", "nearest" (torch's "nearest-exact") or "bicubic" (Keys, a = -0.75);
    ``antialias`` widens the bilinear and bicubic filters when downsampling. ``crop_to_aspect_ratio`` takes
    the largest centred window of the target's aspect ratio first; ``pad_to_aspect_ratio`` pads evenly with
    ``fill_value`` instead (``fill_mode`` "constant" only). Differentiable in ``images``."""
    if interpolation in ("lanczos3", "lanczos5"):
        raise ValueError(f"resize: interpolation={interpolation!r} is not supported (nor is it by Keras 3 on "
                         f"torch); expected one of {list(_RESIZE)}")
    check_choice("resize", "interpolation", interpolation, _RESIZE)
    check_choice("resize", "fill_mode", fill_mode, ("constant",))
    if not isinstance(size, (list, tuple)) or len(size) != 2 or builtins.any(
            not isinstance(s, int) or isinstance(s, bool) or s <= 0 for s in size):
        raise ValueError(f"resize: expected `size` a tuple of 2 positive ints (height, width), received {size!r}")
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError("resize: only one of `pad_to_aspect_ratio` & `crop_to_aspect_ratio` can be True")
    t, back = images_last(images, data_format, "resize")
    dtype = t.dtype
    if dtype.kind != "f":
        t = E.cast(t, "float32")
    t = _aspect(t, tuple(size), crop_to_aspect_ratio, pad_to_aspect_ratio, fill_value)
    aa = bool(antialias) and interpolation != "nearest"
    rows = Tensor(resize_matrix(t.shape[1], size[0], interpolation, aa, t.dtype))
    cols = Tensor(resize_matrix(t.shape[2], size[1], interpolation, aa, t.dtype))
    out = einsum("pw,nowc->nopc", cols, einsum("oh,nhwc->nowc", rows, t))
    return back(out if out.dtype == dtype else _saturate(out, dtype))



_KERNELS = {"linear": lambda xp, x: xp.maximum(0, 1 - xp.abs(x)),
            "cubic": lambda xp, x: xp.where(x >= 2.0, 0.0, xp.where(x >= 1.0, ((-0.5 * x + 2.5) * x - 4.0) * x + 2.0,
                                                                     ((1.5 * x - 2.5) * x) * x + 1.0))}
_METHODS = {"linear": "linear", "bilinear": "linear", "trilinear": "linear", "triangle": "linear", "cubic": "cubic",
            "bicubic": "cubic", "tricubic": "cubic", "lanczos3": 3.0, "lanczos5": 5.0}


def _lanczos(xp, radius, x):
    y = radius * xp.sin(math.pi * x) * xp.sin(math.pi * x / radius)
    out = xp.where(x > 1e-3, y / xp.where(x != 0, math.pi ** 2 * x ** 2, 1), 1)
    return xp.where(x > radius, 0.0, out)


def _scale_weights(xp, n, m, scale, translation, method, antialias, dtype):
    """JAX's ``compute_weight_mat``: the ``(n, m)`` weights of input sample ``i`` in output sample ``j``."""
    inv = 1.0 / scale
    kernel_scale = xp.maximum(inv, 1.0) if antialias else 1.0
    sample = (xp.arange(m, dtype=dtype) + 0.5) * inv - translation * inv - 0.5
    x = xp.abs(sample[None, :] - xp.arange(n, dtype=dtype)[:, None]) / kernel_scale
    w = _lanczos(xp, method, x) if isinstance(method, float) else _KERNELS[method](xp, x)
    total = w.sum(axis=0, keepdims=True)
    w = xp.where(xp.abs(total) > 1000.0 * float(xp.finfo(xp.float32).eps), w / xp.where(total != 0, total, 1), 0)
    return xp.where(((sample >= -0.5) & (sample <= n - 0.5))[None, :], w, 0).astype(dtype)


def scale_and_translate(images, output_shape, scale, translation, spatial_dims, method, antialias=True):
    """JAX's ``scale_and_translate``: along each of ``spatial_dims``, output sample ``j`` reads input position
    ``(j + 0.5 - translation) / scale - 0.5`` through ``method``'s kernel (linear, cubic (Keys), lanczos3/5),
    widened when downsampling if ``antialias``; outside the input, 0. Differentiable in ``images``."""
    check_choice("scale_and_translate", "method", method, _METHODS)
    t = lift(images)
    shape = tuple(int(d) for d in output_shape)
    if len(shape) != t.ndim:
        raise ValueError(f"scale_and_translate: expected output_shape of rank {t.ndim} (the images'), received "
                         f"{output_shape!r}")
    xp = B.get_backend().xp
    s, tr = xp.asarray(lift(scale).data), xp.asarray(lift(translation).data)
    dtype = xp.result_type(s.dtype, tr.dtype)
    dims = tuple(spatial_dims)
    if s.shape != (len(dims),) or tr.shape != (len(dims),):
        raise ValueError(f"scale_and_translate: expected scale and translation of shape ({len(dims)},), one per "
                         f"spatial dim, received {tuple(s.shape)} and {tuple(tr.shape)}")
    out = E.cast(t, "float32") if t.dtype.kind in "iub" else t
    for i, d in enumerate(dims):
        d %= t.ndim
        w = _scale_weights(xp, t.shape[d], shape[d], s[i].astype(dtype), tr[i].astype(dtype), _METHODS[method],
                           antialias, dtype).astype(out.dtype)
        out = moveaxis(matmul(moveaxis(out, d, -1), Tensor(w)), -1, d)
    if t.dtype.kind in "iub":
        lo, hi = t.data.min(), t.data.max()
        return E.cast(E.clip(E.round(out), lo, hi), t.dtype)
    return out

