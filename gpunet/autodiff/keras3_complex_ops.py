"""Keras 3's complex-number ops (``angle``, ``view_as_real``, ``polar``, ``view_as_complex``), ``eig``, ``view``
and ``jvp`` on gpunet's real-valued tape. Those with real results are here with their gradients; those whose
result is a complex tensor, or that need forward-mode differentiation, raise NotImplementedError saying why
(Keras 3's Fourier transforms take and give ``(real, imag)`` tuples instead: keras3_fft_ops.py).
"""
from .. import backend as B
from . import elementwise as E
from .shape_ops import stack
from .tensor import Tensor, lift, result

__all__ = ["angle", "view_as_real", "view", "polar", "view_as_complex", "eig", "jvp"]

_PI = 3.141592653589793
_TAPE = "gpunet's tape holds real tensors only"


def _complex_constant(t, name):
    if t.requires_grad:
        raise NotImplementedError(f"{name}: no gradient for a complex tensor ({_TAPE})")
    return t


def angle(x):
    """The angle (radians) of each entry: ``atan2(imag, real)`` of a complex array (a constant: no gradient), and
    for real ``x`` torch's ``pi`` where ``x < 0``, 0 elsewhere, NaN for NaN, with a zero gradient. Integer and
    boolean input gives floatx."""
    t, xp = lift(x), B.get_backend().xp
    if t.dtype.kind == "c":
        return Tensor(xp.angle(_complex_constant(t, "angle").data))
    t = E._floating(t)
    d = t.data
    data = xp.where(xp.isnan(d), d, xp.where(d < 0, _PI, 0.0)).astype(d.dtype)
    return result(data, (t, lambda g: xp.zeros_like(g)))


def view_as_real(x):
    """``(..., 2)``: the real and imaginary parts of ``x`` along a new last axis. A complex array is a constant
    (no gradient); a real ``x`` has a zero imaginary part (as NumPy's and JAX's Keras 3; torch's refuses it) and
    receives the gradient of its real part."""
    t = lift(x)
    if t.dtype.kind == "c":
        d = _complex_constant(t, "view_as_real").data
        return Tensor(B.get_backend().xp.stack([d.real, d.imag], axis=-1))
    return stack([t, E.zeros_like(t)], axis=-1)


def view(x, dtype=None):
    """The same bits read as ``dtype`` (``x.view(dtype)``): a dtype of another size scales the last axis (which
    must then have a length the sizes divide, and ``x`` a rank of 1 or more). The result is a constant (a bit
    reinterpretation has no gradient) unless ``dtype`` is None or ``x``'s own, where ``x`` passes through."""
    t, xp = lift(x), B.get_backend().xp
    if dtype is None or xp.dtype(dtype) == t.dtype:
        return result(t.data.view(), (t, lambda g: g))
    target = xp.dtype(dtype)
    if target.kind == "c":
        raise NotImplementedError(f"view: no complex dtype ({_TAPE}), received dtype={dtype!r}")
    old, new = t.dtype.itemsize, target.itemsize
    if old != new and (t.ndim == 0 or (t.shape[-1] * old) % new):
        raise ValueError(f"view: {t.dtype} as {target.name} changes the element size ({old} to {new} bytes): "
                         f"expected a last axis of a length times {old} divisible by {new}, received shape {t.shape}")
    return Tensor(xp.ascontiguousarray(t.data).view(target))


def polar(abs_, angle):
    """Refused: Keras 3's ``polar`` returns a complex tensor."""
    raise NotImplementedError(f"polar: Keras 3 returns a complex tensor, and {_TAPE}; compute the (real, imag) pair "
                              "as (abs_ * cos(angle), abs_ * sin(angle))")


def view_as_complex(x):
    """Refused: Keras 3's ``view_as_complex`` returns a complex tensor."""
    raise NotImplementedError(f"view_as_complex: Keras 3 returns a complex tensor, and {_TAPE}; use the (real, imag) "
                              "pair (x[..., 0], x[..., 1]), which gpunet's fft, fft2, ifft2, irfft and istft take")


def eig(x):
    """Refused: a general matrix's eigenvalues and eigenvectors are complex."""
    raise NotImplementedError(f"eig: a general matrix's eigenvalues and eigenvectors are complex tensors, and {_TAPE}; "
                              "for a symmetric (Hermitian) matrix use eigh, whose results are real")


def jvp(fun, primals, tangents, has_aux=False):
    """Refused: gpunet differentiates in reverse mode only."""
    raise NotImplementedError("jvp: gpunet's tape differentiates in reverse mode only: it has no forward mode, and its "
                              "backward passes run on arrays, not on the tape, so a jvp cannot be taken as the vjp "
                              "of a vjp (finite differences would not be exact); use gradients/vjp for "
                              "vector-Jacobian products")
