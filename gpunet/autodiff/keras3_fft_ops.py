"""Keras 3's Fourier transforms (``fft``, ``fft2``, ``ifft2``, ``rfft``, ``irfft``, ``stft``, ``istft``) on the
real-valued tape: a complex value is a ``(real, imag)`` tuple of float tensors, as Keras 3 takes and returns it.

The transforms are linear: for ``y = L z`` (``z = a + ib``) and an upstream gradient ``g = g_re + i g_im`` the
gradients of ``a`` and ``b`` are the real and imaginary parts of ``L^H g`` (``fft``'s adjoint is ``n * ifft``,
``ifft2``'s ``fft2 / n``). ``stft`` and ``istft`` are built from framing, windows, ``rfft``/``irfft`` and
overlap-add on the tape, as Keras 3 on torch computes them (tests/test_keras3_fft_ops.py).
"""
import builtins

from .. import backend as B
from . import elementwise as E
from .array_ops import pad
from .keras3_misc_ops import extract_sequences
from .shape_ops import getitem, reshape, stack
from .tensor import Tensor, lift, result

__all__ = ["fft", "fft2", "ifft2", "rfft", "irfft", "stft", "istft"]

_ALL = builtins.slice(None)


def _pair(x, name, rank):
    """The ``(real, imag)`` tuple ``x`` as one tensor ``(2, ...)`` on the tape (float parts of one shape)."""
    if not isinstance(x, (tuple, list)) or len(x) != 2:
        raise ValueError(f"{name}: expected x as a tuple (real, imag) of two float tensors, received "
                         f"{type(x).__name__}" + (f" of length {len(x)}" if isinstance(x, (tuple, list)) else ""))
    real, imag = lift(x[0]), lift(x[1])
    if real.dtype.kind != "f" or imag.dtype.kind != "f":
        raise ValueError(f"{name}: expected float real and imaginary parts, received dtypes {real.dtype} and "
                         f"{imag.dtype}")
    if real.shape != imag.shape:
        raise ValueError(f"{name}: expected real and imaginary parts of the same shape, received {real.shape} "
                         f"and {imag.shape}")
    if real.ndim < rank:
        raise ValueError(f"{name}: expected parts of rank {rank} or more, received shape {real.shape}")
    if real.dtype != imag.dtype:
        dtype = B.get_backend().xp.result_type(real.dtype, imag.dtype)
        real, imag = E.cast(real, dtype), E.cast(imag, dtype)
    return stack([real, imag])


def _split(t):
    return getitem(t, 0), getitem(t, 1)


def _spectral(t, forward, adjoint, complex_in, complex_out):
    """``forward`` (a linear map on backend arrays) on ``t``: a stacked ``(2, ...)`` pair where ``complex_in``,
    a real tensor otherwise; the result stacked likewise where ``complex_out``. Its gradient is ``adjoint``
    (the map's conjugate transpose) of the upstream gradient. float16 is computed in float32."""
    xp, dtype = B.get_backend().xp, t.dtype
    work = "float64" if dtype == "float64" else "float32"

    def run(fn, d, cin, cout):
        d = d.astype(work)
        z = (d[0] + 1j * d[1]).astype("complex128" if work == "float64" else "complex64") if cin else d
        y = fn(xp, z)
        return (xp.stack([y.real, y.imag]) if cout else y.real).astype(dtype)

    return result(run(forward, t.data, complex_in, complex_out),
                  (t, lambda g: run(adjoint, g, complex_out, complex_in)))


def fft(x):
    """The discrete Fourier transform of ``x = (real, imag)`` along its last axis, as ``(real, imag)``."""
    t = _pair(x, "fft", 1)
    n = t.shape[-1]
    return _split(_spectral(t, lambda xp, z: xp.fft.fft(z), lambda xp, g: xp.fft.ifft(g) * n, True, True))


def fft2(x):
    """The 2-D discrete Fourier transform of ``x = (real, imag)`` over its last two axes, as ``(real, imag)``."""
    t = _pair(x, "fft2", 2)
    n = t.shape[-1] * t.shape[-2]
    return _split(_spectral(t, lambda xp, z: xp.fft.fft2(z), lambda xp, g: xp.fft.ifft2(g) * n, True, True))


def ifft2(x):
    """The inverse 2-D discrete Fourier transform (``1 / n`` scaled) of ``x = (real, imag)`` over its last two
    axes, as ``(real, imag)``."""
    t = _pair(x, "ifft2", 2)
    n = t.shape[-1] * t.shape[-2]
    return _split(_spectral(t, lambda xp, z: xp.fft.ifft2(z), lambda xp, g: xp.fft.fft2(g) / n, True, True))


def _fft_length(fft_length, name):
    if fft_length is not None and (not isinstance(fft_length, int) or isinstance(fft_length, bool)
                                   or fft_length < 1):
        raise ValueError(f"{name}: expected fft_length a positive int or None, received {fft_length!r}")
    return fft_length


def _resize(xp, a, n):
    """``a`` cropped or zero-padded at the end of its last axis to ``n`` entries."""
    if a.shape[-1] >= n:
        return a[..., :n]
    return xp.concatenate([a, xp.zeros(a.shape[:-1] + (n - a.shape[-1],), a.dtype)], axis=-1)


def _rfft(t, n):
    length = t.shape[-1]
    # adjoint: sum_k Re(conj(g_k) e^(-2 pi i jk / n)) = Re(n * ifft(g zero-padded to n))_j, then back to length
    return _spectral(t, lambda xp, d: xp.fft.rfft(d, n),
                     lambda xp, g: _resize(xp, (xp.fft.ifft(g, n) * n).real, length), False, True)


def rfft(x, fft_length=None):
    """The discrete Fourier transform of the real ``x`` along its last axis (cropped or zero-padded to
    ``fft_length``): the ``fft_length // 2 + 1`` non-negative frequencies, as ``(real, imag)``. Integer input is
    computed in floatx."""
    n = _fft_length(fft_length, "rfft")
    t = E._floating(x)
    if t.ndim < 1:
        raise ValueError(f"rfft: expected an input of rank 1 or more, received shape {t.shape}")
    return _split(_rfft(t, n or t.shape[-1]))


def _irfft(t, n):
    bins = t.shape[-1]

    def adjoint(xp, u):  # the bins that stand for two (k and n - k) count twice; the imaginary parts of
        h = xp.fft.rfft(u) / n  # the DC and Nyquist bins, which irfft ignores, get Im(rfft(u)) = 0 there
        scale = xp.full((n // 2 + 1,), 2.0, dtype=h.real.dtype)
        scale[0] = 1.0
        if n % 2 == 0:
            scale[-1] = 1.0
        return _resize(xp, h * scale, bins)
    return _spectral(t, lambda xp, z: xp.fft.irfft(z, n), adjoint, True, False)


def irfft(x, fft_length=None):
    """The real inverse of `rfft`: ``x = (real, imag)`` holding non-negative frequencies along its last axis
    (cropped or zero-padded to ``fft_length // 2 + 1`` bins), ``fft_length`` (default ``2 * (bins - 1)``) real
    samples. The imaginary parts of the DC and Nyquist bins are ignored."""
    n = _fft_length(fft_length, "irfft")
    t = _pair(x, "irfft", 1)
    n = n or 2 * (t.shape[-1] - 1)
    if n < 1:
        raise ValueError(f"irfft: expected fft_length (default 2 * (bins - 1)) of at least 1, received {n} for "
                         f"{t.shape[-1]} bins")
    return _irfft(t, n)


def _frame_ints(name, sequence_length, sequence_stride, fft_length):
    for label, v in (("sequence_length", sequence_length), ("sequence_stride", sequence_stride),
                     ("fft_length", fft_length)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name}: expected {label} a positive int, received {v!r}")
    if fft_length < sequence_length:
        raise ValueError(f"{name}: expected fft_length at least sequence_length={sequence_length}, received "
                         f"fft_length={fft_length}")


def _window(window, sequence_length, fft_length, dtype, name):
    """The window (periodic "hann" or "hamming", or a tensor of ``sequence_length`` entries) zero-padded on both
    sides to ``fft_length`` as torch pads it, as a tensor of ``dtype``; None for None."""
    if window is None:
        return None
    if isinstance(window, str):
        if window not in ("hann", "hamming"):
            raise ValueError(f'{name}: expected window "hann", "hamming", a tensor or None, received {window!r}')
        xp = B.get_backend().xp
        cos = xp.cos(xp.arange(sequence_length, dtype="float64") * (2.0 * 3.141592653589793 / sequence_length))
        a = 0.5 if window == "hann" else 0.54
        w = lift((a - (1.0 - a) * cos if sequence_length > 1 else xp.ones((1,))).astype(dtype))
    else:
        w = lift(window)
        if w.ndim != 1 or w.shape[0] != sequence_length:
            raise ValueError(f"{name}: expected a window of shape ({sequence_length},) (sequence_length), received "
                             f"shape {w.shape}")
        w = E.cast(w, dtype) if w.dtype != dtype else w
    left = (fft_length - sequence_length) // 2
    return pad(w, [(left, fft_length - sequence_length - left)]) if fft_length > sequence_length else w


def stft(x, sequence_length, sequence_stride, fft_length, window="hann", center=True):
    """The short-time Fourier transform of the real ``x`` (float32 or float64) along its last axis:
    ``(real, imag)`` of shape ``(..., frames, fft_length // 2 + 1)``, each frame ``fft_length`` samples every
    ``sequence_stride`` (``x`` reflect-padded by ``fft_length // 2`` on both sides where ``center``), multiplied
    by ``window`` (``sequence_length`` entries, centred in the frame). A window tensor receives its gradient."""
    t = lift(x)
    if str(t.dtype) not in ("float32", "float64"):
        raise TypeError(f"stft: expected x of dtype float32 or float64, received {t.dtype}")
    _frame_ints("stft", sequence_length, sequence_stride, fft_length)
    if t.ndim < 1:
        raise ValueError(f"stft: expected an input of rank 1 or more, received shape {t.shape}")
    w = _window(window, sequence_length, fft_length, str(t.dtype), "stft")
    if center:
        half = fft_length // 2
        if t.shape[-1] <= half:
            raise ValueError(f"stft: center=True reflect-pads by fft_length // 2 = {half}, which needs more "
                             f"samples than that, received shape {t.shape}")
        t = pad(t, [(0, 0)] * (t.ndim - 1) + [(half, half)], mode="reflect")
    if t.shape[-1] < fft_length:
        raise ValueError(f"stft: expected at least fft_length={fft_length} samples"
                         f"{' after centring' if center else ''}, received {t.shape[-1]}")
    frames = extract_sequences(t, fft_length, sequence_stride)
    return _split(_rfft(frames if w is None else E.multiply(frames, w), fft_length))


def _overlap_add(frames, stride):
    """``(..., F, n)`` frames added into ``(..., (F - 1) * stride + n)``, frame ``k`` at ``k * stride``."""
    count, n = frames.shape[-2], frames.shape[-1]
    parts = -(-n // stride)
    lead = (_ALL,) * (frames.ndim - 2)
    blocks = reshape(pad(frames, [(0, 0)] * (frames.ndim - 1) + [(0, parts * stride - n)]),
                     frames.shape[:-1] + (parts, stride))
    out = None
    for j in range(parts):  # block j of every frame lands j blocks later
        piece = getitem(blocks, lead + (_ALL, j, _ALL))
        piece = pad(piece, [(0, 0)] * (frames.ndim - 2) + [(j, parts - 1 - j), (0, 0)])
        out = piece if out is None else E.add(out, piece)
    flat = reshape(out, frames.shape[:-2] + ((count + parts - 1) * stride,))
    return getitem(flat, lead + (builtins.slice(0, (count - 1) * stride + n),))


def istft(x, sequence_length, sequence_stride, fft_length, length=None, window="hann", center=True):
    """The inverse of `stft`: ``x = (real, imag)`` of shape ``(..., frames, bins)`` back to samples, overlap-added
    and divided by the window's overlap (``length`` samples where given). As Keras 3 on torch: with
    ``sequence_length == fft_length``, ``center`` and a window, torch's ``istft`` (the summed squared windows of
    the frames present); otherwise their steady-state sum, and no scaling without a window. The window is a
    constant here (no gradient reaches a window tensor)."""
    _frame_ints("istft", sequence_length, sequence_stride, fft_length)
    if length is not None and (not isinstance(length, int) or isinstance(length, bool) or length < 0):
        raise ValueError(f"istft: expected length a non-negative int or None, received {length!r}")
    if sequence_stride > fft_length:
        raise ValueError(f"istft: expected sequence_stride at most fft_length={fft_length}, received "
                         f"{sequence_stride}")
    t = _pair(x, "istft", 2)
    xp, dtype, count = B.get_backend().xp, str(t.dtype), t.shape[-2]
    w = _window(window, sequence_length, fft_length, dtype, "istft")
    w = None if w is None else w.data
    expected = fft_length + sequence_stride * (count - 1)
    if sequence_length == fft_length and center and w is not None:  # torch.istft
        if t.shape[-1] != fft_length // 2 + 1:
            raise ValueError(f"istft: expected fft_length // 2 + 1 = {fft_length // 2 + 1} frequency bins, "
                             f"received shape {t.shape[1:]}")
        y = _overlap_add(E.multiply(_irfft(t, fft_length), w), sequence_stride)
        envelope = _overlap_add(Tensor(xp.broadcast_to(w * w, (count, fft_length))), sequence_stride).data
        start = fft_length // 2
        end = start + length if length is not None else expected - start
        window_part = (Ellipsis, builtins.slice(start, builtins.min(end, expected)))
        envelope = envelope[window_part]
        if envelope.size and float(xp.abs(envelope).min()) < 1e-11:
            raise ValueError("istft: the window's overlap-add is zero (below 1e-11) inside the output: no inverse "
                             "for this window and sequence_stride")
        y = E.divide(getitem(y, window_part), envelope)
        return pad(y, [(0, 0)] * (y.ndim - 1) + [(0, end - expected)]) if end > expected else y
    frames = _irfft(t, fft_length)
    if w is not None:
        parts = -(-fft_length // sequence_stride)
        square = xp.concatenate([w * w, xp.zeros((parts * sequence_stride - fft_length,), w.dtype)])
        denominator = xp.tile(square.reshape(parts, sequence_stride).sum(axis=0), parts)[:fft_length]
        frames = E.multiply(frames, w / denominator)
    start = fft_length // 2 if center else 0
    end = start + length if length is not None else -(fft_length // 2) if center else expected
    return getitem(_overlap_add(frames, sequence_stride), (Ellipsis, builtins.slice(start, end)))
