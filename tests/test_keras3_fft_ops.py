"""Keras 3's Fourier transforms on ``(real, imag)`` pairs (gpunet/autodiff/keras3_fft_ops.py) and its complex-number
ops, ``view``, ``eig`` and ``jvp`` (keras3_complex_ops.py) against Keras 3 on torch: values and gradients (torch
autograd, random upstream gradient, float64), finite differences on each backend (CuPy: under --gpu-dryrun-strict,
emulated arrays that follow CuPy's rules), dtypes, bad input and the names refused with NotImplementedError."""
import numpy as np
import pytest

import gpunet
from gpunet import backend as B
from gpunet import ops as O
from gpunet.autodiff import Tensor, gradients
from gpunet.autodiff.shape_ops import concatenate, reshape
from keras_support import keras_float64_on_numpy, keras_on_torch, matches_torch

keras = keras_on_torch()
kops = keras.ops
torch = pytest.importorskip("torch")

RNG = np.random.default_rng(41)
A, Bm = RNG.standard_normal((3, 8)), RNG.standard_normal((3, 8))
A3, B3 = RNG.standard_normal((2, 3, 5)), RNG.standard_normal((2, 3, 5))
SIG = RNG.standard_normal((2, 40))
SIG3 = RNG.standard_normal((2, 2, 27))
WIN = RNG.uniform(0.5, 1.5, 12)


@pytest.fixture(autouse=True)
def _float64_on_numpy():
    with keras_float64_on_numpy(keras):
        yield


def _flat(parts, cat, flatten):
    """One tensor of an op's output (a ``(real, imag)`` tuple flattened and joined) for matches_torch."""
    return cat([flatten(p) for p in parts]) if isinstance(parts, tuple) else parts


def _mine(name, *args, pair=True, **kwargs):
    fn = getattr(O, name)
    call = (lambda a, b: fn((a, b), *args, **kwargs)) if pair else (lambda a: fn(a, *args, **kwargs))
    return lambda *t: _flat(call(*t), lambda p: concatenate(p, 0), lambda p: reshape(p, (-1,)))


def _theirs(name, *args, pair=True, **kwargs):
    fn = getattr(kops, name)
    call = (lambda a, b: fn((a, b), *args, **kwargs)) if pair else (lambda a: fn(a, *args, **kwargs))
    return lambda *t: _flat(call(*t), torch.cat, lambda p: p.reshape(-1))


def _both(name, *args, pair=True, **kwargs):
    return _mine(name, *args, pair=pair, **kwargs), _theirs(name, *args, pair=pair, **kwargs)


def _spectrum(*args, source=SIG, **kwargs):
    """Keras 3's stft of ``source``: istft's input."""
    real, imag = kops.stft(torch.tensor(source), *args, **kwargs)
    return [real.numpy(), imag.numpy()]


CASES = {
    "fft": (*_both("fft"), [A, Bm]), "fft 1-D": (*_both("fft"), [A[0], Bm[0]]), "fft 3-D": (*_both("fft"), [A3, B3]),
    "fft2": (*_both("fft2"), [A3, B3]), "fft2 2-D": (*_both("fft2"), [A, Bm]), "ifft2": (*_both("ifft2"), [A3, B3]),
    "rfft": (*_both("rfft", pair=False), [A]), "rfft odd": (*_both("rfft", pair=False), [A3]),
    "rfft shorter": (*_both("rfft", 5, pair=False), [A]), "rfft longer": (*_both("rfft", 13, pair=False), [A3]),
    "irfft": (*_both("irfft"), [A3, B3]), "irfft odd": (*_both("irfft", 9), [A3, B3]),
    "irfft fewer bins": (*_both("irfft", 12), [A3, B3]), "irfft more bins": (*_both("irfft", 4), [A, Bm]),
    "irfft one": (*_both("irfft", 1), [A, Bm]),
    "stft hann": (*_both("stft", 16, 4, 16, pair=False), [SIG]),
    "stft hamming padded window": (*_both("stft", 10, 3, 16, window="hamming", pair=False), [SIG]),
    "stft no window not centred": (*_both("stft", 16, 5, 16, window=None, center=False, pair=False), [SIG]),
    "stft window tensor 3-D": (*_both("stft", 12, 4, 15, window=WIN, pair=False), [SIG3]),
    "stft hop = frame": (*_both("stft", 8, 8, 8, pair=False), [SIG]),
    "istft torch's": (*_both("istft", 16, 4, 16), _spectrum(16, 4, 16)),
    "istft torch's length short": (*_both("istft", 16, 4, 16, length=30), _spectrum(16, 4, 16)),
    "istft torch's length long": (*_both("istft", 8, 4, 8, length=47, window="hamming"),
                                  _spectrum(8, 4, 8, window="hamming")),
    "istft torch's 4-D": (*_both("istft", 12, 3, 12, window=WIN), _spectrum(12, 3, 12, window=WIN, source=SIG3)),
    "istft padded window": (*_both("istft", 10, 3, 16, window="hamming"), _spectrum(10, 3, 16, window="hamming")),
    "istft not centred": (*_both("istft", 16, 4, 16, center=False), _spectrum(16, 4, 16, center=False)),
    "istft no window": (*_both("istft", 16, 5, 16, window=None, center=False),
                        _spectrum(16, 5, 16, window=None, center=False)),
    "istft window tensor length": (*_both("istft", 12, 4, 15, window=WIN, length=25),
                                   _spectrum(12, 4, 15, window=WIN, source=SIG3)),
    "angle real": (*_both("angle", pair=False), [np.array([-1.5, -0.0, 0.0, 2.0, -3.0])]),
    "view_as_real complex-free sum": (lambda a: O.view_as_real(a)[..., 0] * 2.0, lambda a: a * 2.0, [A]),
}


@pytest.mark.parametrize("name", CASES)
def test_matches_keras3_on_torch(name):
    mine, theirs, arrays = CASES[name]
    matches_torch(mine, theirs, arrays)


def _upstream(out, xp):
    return xp.asarray(np.random.default_rng(7).standard_normal(out.shape))


def _flat_mine(fn):
    return lambda *t: _flat(fn(*t), lambda p: concatenate(p, 0), lambda p: reshape(p, (-1,)))


BACKEND_CASES = [
    (lambda a, b: O.fft((a, b)), [A, Bm]),
    (lambda a, b: O.fft2((a, b)), [A3, B3]),
    (lambda a, b: O.ifft2((a * 2.0, b)), [A3, B3]),
    (lambda a: O.rfft(a, 11), [A]),
    (lambda a, b: O.irfft((a, b), 7), [A3, B3]),
    (lambda a: O.stft(a, 10, 3, 16, window="hamming"), [SIG[:, :24]]),
    (lambda a, b: O.istft((a, b), 8, 4, 8, length=22), _spectrum(8, 4, 8, source=SIG[:, :24])),
    (lambda a, b: O.istft((a, b), 6, 3, 8, center=False), _spectrum(6, 3, 8, source=SIG[:, :24], center=False)),
    (lambda a: O.angle(a) + O.view_as_real(a)[..., 0] * a, [A]),
]


@pytest.mark.parametrize("case", range(len(BACKEND_CASES)))
def test_gradients_by_finite_differences_on_each_backend(ops, case):
    """On each backend, values as on NumPy and each input's gradient (random upstream) as central differences of
    ``sum(output * upstream)`` give it."""
    fn, arrays = BACKEND_CASES[case]
    fn = _flat_mine(fn)
    with B.use_backend("numpy"):
        want = fn(*[Tensor(a) for a in arrays]).data
    ins = [Tensor(ops.asarray(a), requires_grad=True) for a in arrays]
    out = fn(*ins)
    np.testing.assert_allclose(ops.to_host(out.data), want, rtol=1e-12, atol=1e-12)
    up = _upstream(out, ops.xp)
    grads = gradients(out, ins, up)
    loss = lambda *xs: float(ops.to_host((fn(*[Tensor(ops.asarray(x)) for x in xs]).data * up).sum()))  # noqa: E731
    eps = 1e-6
    for i, a in enumerate(arrays):
        numeric = np.zeros(a.shape)
        for j in np.ndindex(a.shape):
            hi, lo = [x.copy() for x in arrays], [x.copy() for x in arrays]
            hi[i][j] += eps
            lo[i][j] -= eps
            numeric[j] = (loss(*hi) - loss(*lo)) / (2 * eps)
        np.testing.assert_allclose(ops.to_host(grads[i]), numeric, rtol=1e-6, atol=1e-7)


def test_stft_then_istft_gives_the_signal_back(ops):
    """Exactly where torch's istft runs (sequence_length == fft_length, centred); Keras 3's other path divides by
    the windows' steady-state overlap, exact only away from the ends."""
    x = Tensor(ops.asarray(SIG3))
    for args, kwargs, inner in (((16, 4, 16), {}, slice(None)), ((12, 4, 12), {"window": WIN}, slice(None)),
                                ((10, 3, 16), {"window": "hamming"}, slice(3, -3))):
        spectrum = O.stft(x, *args, **kwargs)
        back = O.istft(spectrum, *args, length=SIG3.shape[-1], **kwargs)
        np.testing.assert_allclose(ops.to_host(back.data)[..., inner], SIG3[..., inner], rtol=1e-9, atol=1e-12)


def test_dtypes(ops):
    x32 = Tensor(ops.asarray(A.astype("float32")))
    for part in (*O.fft((x32, x32)), *O.rfft(x32), O.irfft((x32, x32)), *O.stft(x32, 4, 2, 4)):
        assert part.dtype == "float32"
    assert O.rfft(Tensor(ops.asarray(np.arange(6))))[0].dtype == B.floatx()
    assert O.fft((Tensor(ops.asarray(A.astype("float16"))),) * 2)[0].dtype == "float16"
    assert O.angle(Tensor(ops.asarray(np.array([-2, 3])))).dtype == B.floatx()
    assert O.view_as_real(Tensor(ops.asarray(A))).shape == A.shape + (2,)


def test_complex_arrays_give_constants():
    z = np.array([[1 + 3j, 2 - 5j], [4 - 3j, -1 + 0j]])
    np.testing.assert_allclose(O.angle(z).data, kops.angle(torch.tensor(z)).numpy(), rtol=1e-12)
    np.testing.assert_array_equal(O.view_as_real(z).data, kops.view_as_real(torch.tensor(z)).numpy())


@pytest.mark.parametrize("dtype, source", [("int16", np.array([1.0, -2.5], "float32")),
                                           ("float32", np.array([[1, 2], [3, -4]], "int32")),
                                           ("int64", np.array([1.5, 2.0, -3.0, 0.25], "float32")),
                                           ("uint8", np.array([1.5, -2.0], "float64"))])
def test_view_reinterprets_the_bits_as_keras3(dtype, source):
    got = O.view(source, dtype)
    want = kops.view(torch.tensor(source), dtype).numpy()
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got.data, want)


def test_view_to_its_own_dtype_passes_the_gradient():
    x = Tensor(A, requires_grad=True)
    (g,) = gradients(O.view(x, "float64") * 3.0, [x])
    np.testing.assert_array_equal(g, np.full(A.shape, 3.0))
    assert not O.view(x, "int64").requires_grad


@pytest.mark.parametrize("call, message", [
    (lambda: O.polar(A, A), "polar: Keras 3 returns a complex tensor"),
    (lambda: O.nn.polar(A, A), "polar: .*abs_ \\* cos\\(angle\\)"),
    (lambda: O.view_as_complex(np.stack([A, Bm], -1)), "view_as_complex: Keras 3 returns a complex tensor"),
    (lambda: O.eig(np.eye(3)), "eig: a general matrix's eigenvalues and eigenvectors are complex"),
    (lambda: O.linalg.eig(np.eye(3)), "use eigh"),
    (lambda: O.jvp(lambda x: x * 2.0, (A,), (A,)), "jvp: gpunet's tape differentiates in reverse mode only"),
    (lambda: O.linalg.jvp(lambda x: x, (A,), (A,), has_aux=True), "no forward mode"),
    (lambda: O.view(A, "complex128"), "view: no complex dtype"),
])
def test_refused_names_say_why(call, message):
    with pytest.raises(NotImplementedError, match=message):
        call()


@pytest.mark.parametrize("call, error, message", [
    (lambda: O.fft(A), ValueError, "fft: expected x as a tuple \\(real, imag\\).*received ndarray"),
    (lambda: O.fft((A, A, A)), ValueError, "received tuple of length 3"),
    (lambda: O.fft((A, A[:2])), ValueError, "same shape, received \\(3, 8\\) and \\(2, 8\\)"),
    (lambda: O.ifft2((A.astype(int), A)), ValueError, "float real and imaginary parts, received dtypes int64"),
    (lambda: O.fft2((A[0], Bm[0])), ValueError, "fft2: expected parts of rank 2 or more, received shape \\(8,\\)"),
    (lambda: O.rfft(A, 0), ValueError, "rfft: expected fft_length a positive int or None, received 0"),
    (lambda: O.irfft((A, Bm), 2.5), ValueError, "irfft: expected fft_length a positive int or None, received 2.5"),
    (lambda: O.irfft((A[:, :1], Bm[:, :1])), ValueError, "fft_length \\(default 2 \\* \\(bins - 1\\)\\) of at least 1"),
    (lambda: O.stft(SIG.astype(int), 8, 4, 8), TypeError, "stft: expected x of dtype float32 or float64, received int"),
    (lambda: O.stft(SIG, 8, 0, 8), ValueError, "stft: expected sequence_stride a positive int, received 0"),
    (lambda: O.stft(SIG, 16, 4, 8), ValueError, "fft_length at least sequence_length=16, received fft_length=8"),
    (lambda: O.stft(SIG, 8, 4, 8, window="kaiser"), ValueError, "expected window \"hann\", \"hamming\".*'kaiser'"),
    (lambda: O.stft(SIG, 8, 4, 8, window=WIN), ValueError, "window of shape \\(8,\\).*received shape \\(12,\\)"),
    (lambda: O.stft(SIG[:, :4], 8, 4, 8), ValueError, "reflect-pads by fft_length // 2 = 4"),
    (lambda: O.stft(SIG[:, :6], 8, 4, 8, center=False), ValueError, "at least fft_length=8 samples, received 6"),
    (lambda: O.istft((A, Bm), 8, 4, 8, length=-1), ValueError, "length a non-negative int or None, received -1"),
    (lambda: O.istft((A, Bm), 8, 9, 8), ValueError, "sequence_stride at most fft_length=8, received 9"),
    (lambda: O.istft((A[0], Bm[0]), 8, 4, 8), ValueError, "istft: expected parts of rank 2 or more"),
    (lambda: O.istft((A, Bm), 8, 4, 8), ValueError, "fft_length // 2 \\+ 1 = 5 frequency bins, received shape"),
    (lambda: O.istft(_spectrum(8, 8, 8), 8, 8, 8), ValueError, "window's overlap-add is zero"),
    (lambda: O.view(np.float32(1.0), "int16"), ValueError, "view: float32 as int16 changes the element size"),
    (lambda: O.view(np.ones(3, "float32"), "float64"), ValueError, "received shape \\(3,\\)"),
])
def test_bad_input_is_refused_clearly(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_names_are_where_keras3_has_them():
    names = "fft fft2 ifft2 rfft irfft stft istft angle polar view_as_complex view_as_real eig view jvp".split()
    for name in names:
        assert hasattr(kops, name) and name in O.__all__, name
        public = getattr(O, name)  # (gpunet.ops's, which also records itself on symbolic tensors)
        module = getattr(public, "__wrapped__", public).__module__
        assert module in ("gpunet.autodiff.keras3_fft_ops", "gpunet.autodiff.keras3_complex_ops") and public.__doc__
        for space in ("numpy", "linalg", "nn"):
            assert hasattr(getattr(O, space), name) == hasattr(getattr(keras.ops, space), name), (space, name)


def test_a_pair_on_symbolic_tensors_is_two_outputs_of_one_op_layer():
    inputs = gpunet.Input((8,))
    real, imag = O.rfft(inputs)
    model = gpunet.Model(inputs, [real, imag])
    assert model.output_shape == [(None, 5), (None, 5)]
    x = np.random.default_rng(3).random((4, 8)).astype("float32")
    for got, want in zip(model.predict(x, verbose=0), O.rfft(x)):
        np.testing.assert_allclose(got, np.asarray(want), rtol=1e-6, atol=1e-6)
