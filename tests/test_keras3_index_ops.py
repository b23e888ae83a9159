"""Keras 3's segment, scatter and lookup ops (gpunet/autodiff/keras3_index_ops.py, keras3_constant_ops.py) against
Keras 3 on torch: values and gradients (torch autograd, random upstream gradient, float64) for the
differentiable ones, values and dtypes for the constants, and the errors bad input gets."""
import math

import numpy as np
import pytest

from gpunet import backend as B
from gpunet.autodiff import Tensor, gradients
from gpunet import ops as K3  # (the public names: gpunet/autodiff/keras3_index_ops.py)
from gpunet import ops as W3  # (keras3_constant_ops.py)
from keras_support import keras_float64_on_numpy, keras_on_torch, matches_torch

keras = keras_on_torch()
kops = keras.ops
torch = pytest.importorskip("torch")

RNG = np.random.default_rng(7)
D = RNG.permutation(18).reshape(6, 3) * 0.37 - 2.0  # distinct values: no ties unless a case makes them
IDS = [0, 0, 2, 1, -1, 2]  # segment 3 empty, row 4 dropped (negative id)
TIES = np.array([[1.0, 2.0], [1.0, 0.5], [3.0, 2.0], [0.5, 0.5]])
ZEROS = np.array([[1.5, 0.0], [0.0, 2.0], [-3.0, 4.0], [2.0, 0.5], [0.5, -1.5]])
X = RNG.uniform(-3.0, 3.0, (3, 4))
Y = RNG.uniform(0.5, 2.0, (3, 4)) * np.where(RNG.random((3, 4)) < 0.5, -1, 1)


@pytest.fixture
def f64():
    with keras_float64_on_numpy(keras):
        yield


def torch_segment(how, ids, n):
    """Keras 3's torch segment reduction (backend/torch/math.py) kept in float64: Keras 3 itself runs it in
    float32 (``data.float()``), too coarse for a 1e-9 comparison; its values are checked at 1e-6 below."""
    init = {"sum": 0.0, "amax": -math.inf, "amin": math.inf, "prod": 1.0}[how]

    def run(data):
        index = torch.tensor(ids).reshape((-1,) + (1,) * (data.ndim - 1)).expand(data.shape)
        index = torch.where(index < 0, n, index)
        base = torch.full((n + 1,) + tuple(data.shape[1:]), init, dtype=data.dtype)
        return base.scatter_reduce(0, index, data, how)[:-1]
    return run


SEGMENTS = {
    "segment_sum": (lambda d: K3.segment_sum(d, IDS, 4), torch_segment("sum", IDS, 4), [D]),
    "segment_max": (lambda d: K3.segment_max(d, IDS, 4), torch_segment("amax", IDS, 4), [D]),
    "segment_min": (lambda d: K3.segment_min(d, IDS, 4), torch_segment("amin", IDS, 4), [D]),
    "segment_prod": (lambda d: K3.segment_prod(d, IDS, 4), torch_segment("prod", IDS, 4), [D]),
    # ties: torch's scatter_reduce splits the gradient equally among tied extremes, as gpunet does
    "segment_max ties": (lambda d: K3.segment_max(d, [1, 1, 0, 0]), torch_segment("amax", [1, 1, 0, 0], 2), [TIES]),
    "segment_min ties": (lambda d: K3.segment_min(d, [1, 1, 1, 0]), torch_segment("amin", [1, 1, 1, 0], 2), [TIES]),
    # one zero in a segment: its gradient is the product of the others, theirs 0
    "segment_prod zeros": (lambda d: K3.segment_prod(d, [0, 1, 0, 1, 1], 2),
                           torch_segment("prod", [0, 1, 0, 1, 1], 2), [ZEROS]),
}
CASES = dict(SEGMENTS)
CASES.update({
    "scatter points": (lambda v: K3.scatter([[0, 1], [2, 0], [0, 1]], v, (3, 2)),
                       lambda v: kops.scatter([[0, 1], [2, 0], [0, 1]], v, (3, 2)), [np.array([1.5, -2.0, 0.25])]),
    "scatter rows": (lambda v: K3.scatter([[2], [0]], v, (3, 4)), lambda v: kops.scatter([[2], [0]], v, (3, 4)),
                     [X[:2]]),
    "scatter_update rows": (lambda x, u: K3.scatter_update(x, [[1], [2]], u),
                            lambda x, u: kops.scatter_update(x, [[1], [2]], u), [X, Y[:2]]),
    "scatter_update points": (lambda x, u: K3.scatter_update(x, [[0, 3], [2, 1]], u),
                              lambda x, u: kops.scatter_update(x, [[0, 3], [2, 1]], u), [X, Y[0, :2]]),
    "scatter_update add": (lambda x, u: K3.scatter_update(x, [[0, 3], [2, 1], [0, 3]], u, reduction="add"),
                           lambda x, u: kops.scatter_update(x, [[0, 3], [2, 1], [0, 3]], u, reduction="add"),
                           [X, Y[0, :3]]),
    "get_item slices": (lambda x: K3.get_item(x, (slice(1, None), 2)), lambda x: kops.get_item(x, (slice(1, None), 2)),
                        [X]),
    "get_item repeats": (lambda x: K3.get_item(x, [0, 2, 0]), lambda x: kops.get_item(x, [0, 2, 0]), [X]),
    "fmod": (K3.fmod, kops.fmod, [X, Y]),
    "fmod broadcast": (K3.fmod, kops.fmod, [X, Y[0]]),
    "fmax": (K3.fmax, kops.fmax, [X, Y]),  # (no ties between X and Y: see test_fmax_fmin_ties_and_nan)
    "fmin": (K3.fmin, kops.fmin, [X, Y[:1]]),
    # Keras 3 on torch gives ldexp in float32 (result_type(x1, x2, float)) and torch.ldexp's gradient is 0 for
    # negative exponents (2 ** int truncates): x1 * 2.0 ** x2 in float64 is the reference (values: below)
    "ldexp": (lambda x: K3.ldexp(x, np.array([[1, -2, 0, 3]], dtype="int32")),
              lambda x: x * 2.0 ** torch.tensor([[1, -2, 0, 3]], dtype=torch.float64), [X]),
})


@pytest.mark.parametrize("name", list(CASES))
def test_value_and_gradient_match_keras3(name, f64):
    mine, theirs, arrays = CASES[name]
    matches_torch(mine, theirs, arrays)


@pytest.mark.parametrize("name", ["segment_sum", "segment_max", "segment_min", "segment_prod"])
def test_segment_values_match_keras3s_float32_computation(name, f64):
    got = getattr(K3, name)(D, IDS, 4).data
    want = getattr(kops, name)(torch.tensor(D), torch.tensor(IDS), 4).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert got.dtype == want.dtype == np.float64
    assert np.isinf(got[3]).all() if "m" in name[8:10] else (got[3] == (1.0 if "prod" in name else 0.0)).all()


def test_ldexp_values_match_keras3(f64):
    e = np.array([[1, -2, 0, 3]], dtype="int32")
    want = kops.ldexp(torch.tensor(X, dtype=torch.float32), torch.tensor(e)).numpy()
    got = K3.ldexp(X.astype("float32"), e).data
    np.testing.assert_array_equal(got, want)
    assert got.dtype == want.dtype == np.float32
    assert K3.ldexp(np.array([1, 2], "int32"), 3).data.tolist() == [8.0, 16.0]


def test_fmax_fmin_ties_and_nan(f64):
    a, b = np.array([1.0, np.nan, 2.0, np.nan]), np.array([1.0, 3.0, np.nan, np.nan])
    for mine, theirs in ((K3.fmax, kops.fmax), (K3.fmin, kops.fmin)):
        np.testing.assert_array_equal(mine(a, b).data, theirs(torch.tensor(a), torch.tensor(b)).numpy())
    ta, tb = Tensor(np.array([1.0, 2.0]), requires_grad=True), Tensor(np.array([1.0, 5.0]), requires_grad=True)
    ga, gb = gradients(K3.fmax(ta, tb), [ta, tb])
    assert ga.tolist() == [1.0, 0.0] and gb.tolist() == [0.0, 1.0]  # a tie goes to x1 (torch's rule)


def _host(t):
    return t.numpy() if isinstance(t, Tensor) else np.asarray(t)


def _same(got, want):
    """A gpunet constant (on the default backend: the emulated CuPy under --gpu-dryrun-strict) against Keras 3's
    value on torch: equal values and dtype."""
    want = want.detach().numpy() if hasattr(want, "detach") else np.asarray(want)
    got = _host(got)
    np.testing.assert_array_equal(got, want)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)


def test_differentiable_ops_on_the_default_backend():
    """The same ops on the default backend (device arrays under --gpu-dryrun-strict) give NumPy's values and
    gradients: no host array mixed into device code."""
    ops = B.get_backend()
    cases = [(lambda d: K3.segment_max(d, IDS, 4), [D]), (lambda d: K3.segment_prod(d, [0, 1, 0, 1, 1]), [ZEROS]),
             (lambda d: K3.segment_sum(d, np.array(IDS)), [D]),
             (lambda v: K3.scatter([[0, 1], [2, 0], [0, 1]], v, (3, 2)), [np.array([1.5, -2.0, 0.25])]),
             (lambda x, u: K3.scatter_update(x, np.array([[1], [2]]), u), [X, Y[:2]]),
             (lambda x: K3.get_item(x, [0, 2, 0]), [X]), (K3.fmod, [X, Y]), (K3.fmax, [X, Y]), (K3.fmin, [X, Y]),
             (lambda x: K3.ldexp(x, 3), [X])]
    for fn, arrays in cases:
        with B.use_backend("numpy"):
            ins = [Tensor(a, requires_grad=True) for a in arrays]
            want = fn(*ins)
            want_grads = gradients(want, ins, np.ones(want.shape))
        ins = [Tensor(ops.asarray(a), requires_grad=True) for a in arrays]
        got = fn(*ins)
        np.testing.assert_allclose(got.numpy(), want.data, rtol=1e-12)
        for g, w in zip(gradients(got, ins, ops.asarray(np.ones(got.shape))), want_grads):
            np.testing.assert_allclose(ops.to_host(g), w, rtol=1e-12)


I32 = np.array([[3, 1, 4], [1, 5, 9], [2, 6, 5]], dtype="int32")
F32 = np.array([0.5, -1.25, 3.0, 2.0, -0.5, 7.5], dtype="float32")
SEQ = np.array([-1.0, 0.0, 0.5, 2.0, 2.0, 9.0], dtype="float32")


def test_lookups_match_keras3():
    t = torch.tensor
    xs = np.array([1, 3, 3, 0, 7], dtype="int32")
    w = np.array([0.5, 1.0, 2.0, 0.25, 1.5], dtype="float32")
    pairs = [
        (W3.searchsorted(SEQ, F32), kops.searchsorted(t(SEQ), t(F32))),
        (W3.searchsorted(SEQ, F32, side="right"), kops.searchsorted(t(SEQ), t(F32), side="right")),
        (W3.digitize(F32, SEQ[1:4]), kops.digitize(t(F32), t(SEQ[1:4]))),
        (W3.bincount(xs), kops.bincount(t(xs))),
        (W3.bincount(xs, weights=w, minlength=10), kops.bincount(t(xs), weights=t(w), minlength=10)),
        (W3.bincount(I32, minlength=10), kops.bincount(t(I32), minlength=10)),
        (W3.isin(I32, np.array([1, 5], "int32")), kops.isin(t(I32), t(np.array([1, 5], "int32")))),
        (W3.isin(I32, np.array([1, 5], "int32"), invert=True),
         kops.isin(t(I32), t(np.array([1, 5], "int32")), invert=True)),
        (W3.histogram(F32, bins=4)[0], kops.histogram(t(F32), bins=4)[0]),
        (W3.histogram(F32, bins=3, range=(-2.0, 4.0))[1], kops.histogram(t(F32), bins=3, range=(-2.0, 4.0))[1]),
    ]
    pairs += list(zip(W3.unique(xs, return_inverse=True, return_counts=True),
                      kops.unique(t(xs), return_inverse=True, return_counts=True)))
    pairs += list(zip(W3.unique(xs, return_index=True, size=6, fill_value=-1),
                      kops.unique(t(xs), return_index=True, size=6, fill_value=-1)))
    pairs.append((W3.unique(I32, axis=1), kops.unique(t(I32), axis=1)))
    pairs += list(zip(W3.nonzero(I32 - 5), kops.nonzero(t(I32 - 5))))  # (Keras on torch: a (ndim, n) tensor)
    pairs += list(zip(W3.unravel_index(np.array([0, 5, 7], "int32"), (2, 4)),
                      kops.unravel_index(t(np.array([0, 5, 7], "int32")), (2, 4))))
    for got, want in pairs:
        _same(got, want)
    # Keras 3 on torch fails on a 2-D x with return_index (scatter_reduce on the 2-D inverse): NumPy's is the
    # reference there, as Keras 3 on NumPy returns it
    values, index = W3.unique(I32, return_index=True)
    np.testing.assert_array_equal(values.numpy(), np.unique(I32))
    np.testing.assert_array_equal(index.numpy(), np.unique(I32, return_index=True)[1])


def test_argpartition_partitions_as_keras3():
    x = np.array([[9.0, 1.0, 7.0, 3.0, 5.0], [2.0, 8.0, 4.0, 6.0, 0.0]], dtype="float32")
    got = W3.argpartition(x, 2)
    want = kops.argpartition(torch.tensor(x), 2)
    # the order within each side is unspecified (torch's and NumPy's differ): the kth entry and the sides agree
    parted = np.take_along_axis(x, got.numpy(), axis=-1)
    assert got.numpy().dtype == np.int32 and want.numpy().dtype == np.int32
    np.testing.assert_array_equal(parted[:, 2], np.sort(x, axis=-1)[:, 2])
    assert (parted[:, :2] <= parted[:, 2:3]).all() and (parted[:, 3:] >= parted[:, 2:3]).all()
    np.testing.assert_array_equal(np.sort(got.numpy()[:, :2]), np.sort(want.numpy()[:, :2]))


def test_integer_arithmetic_and_windows_match_keras3():
    t = torch.tensor
    a, b = np.array([12, 18, -7, 0], "int32"), np.array([8, 27, 21, 5], "int32")
    small = np.array([1, 2, 3], "int32")
    pairs = [(W3.gcd(a, b), kops.gcd(t(a), t(b))), (W3.lcm(a, b), kops.lcm(t(a), t(b))),
             (W3.bitwise_and(a, b), kops.bitwise_and(t(a), t(b))), (W3.bitwise_or(a, b), kops.bitwise_or(t(a), t(b))),
             (W3.bitwise_xor(a, b), kops.bitwise_xor(t(a), t(b))), (W3.bitwise_not(a), kops.bitwise_not(t(a))),
             (W3.bitwise_invert(a), kops.bitwise_invert(t(a))),
             (W3.bitwise_left_shift(a, small[[0, 1, 2, 0]]), kops.bitwise_left_shift(t(a), t(small[[0, 1, 2, 0]]))),
             (W3.left_shift(a, 2), kops.left_shift(t(a), 2)), (W3.right_shift(a, 1), kops.right_shift(t(a), 1)),
             (W3.bitwise_right_shift(b, small[[2, 1, 0, 0]]),
              kops.bitwise_right_shift(t(b), t(small[[2, 1, 0, 0]]))),
             (W3.vander(small), kops.vander(t(small))), (W3.vander(F32[:3], N=4, increasing=True),
                                                         kops.vander(t(F32[:3]), N=4, increasing=True))]
    for got, want in pairs:
        _same(got, want)
    for name in ("bartlett", "blackman", "hamming", "hanning"):
        got, want = getattr(W3, name)(7), getattr(kops, name)(7)
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, atol=1e-7)
        assert got.numpy().dtype == want.numpy().dtype == np.float32
    np.testing.assert_allclose(W3.kaiser(6, 4.0).numpy(), kops.kaiser(6, 4.0).numpy(), rtol=1e-6)
    assert W3.dtype(W3.kaiser(6, 4.0)) == kops.dtype(kops.kaiser(6, 4.0)) == "float32"
    assert W3.dtype(Tensor(B.get_backend().asarray(a))) == kops.dtype(t(a)) == "int32"
    assert W3.dtype(np.zeros(2, "float64")) == "float64"


def test_nextafter_steps_in_its_own_dtype():
    # Keras 3 on torch steps in float64 and rounds back to float32 (returning x1): NumPy is the reference
    x1, x2 = np.array([1.0, -2.0, 0.0], "float32"), np.array([2.0, -3.0, -1.0], "float32")
    got = W3.nextafter(x1, x2).numpy()
    np.testing.assert_array_equal(got, np.nextafter(x1, x2))
    assert got.dtype == np.float32 and (got != x1).all()
    assert W3.nextafter(np.array([1, 2], "int32"), np.array([3, 0], "int32")).numpy().dtype == np.float32


def test_bad_input_is_named():
    with pytest.raises(ValueError, match=r"segment_sum: segment ids must be in \[0, num_segments=2\).*received id 2"):
        K3.segment_sum(D, IDS, 2)
    with pytest.raises(ValueError, match=r"segment_max: segment_ids of shape \(5,\) must match .* shape \(6, 3\)"):
        K3.segment_max(D, IDS[:5])
    with pytest.raises(TypeError, match="segment_prod: segment_ids must be integers, received dtype float"):
        K3.segment_prod(D, np.array(IDS, dtype="float32"))
    with pytest.raises(IndexError, match=r"scatter: index 3 is out of bounds for axis 0 of size 3 \(expected"):
        K3.scatter([[3, 0]], [1.0], (3, 2))
    with pytest.raises(ValueError, match=r"scatter_update: updates must have shape \(2, 4\) .* received shape"):
        K3.scatter_update(X, [[1], [2]], Y[:2, :3])
    with pytest.raises(NotImplementedError, match="reduction='mul' is not implemented"):
        K3.scatter_update(X, [[1]], Y[:1], reduction="mul")
    with pytest.raises(TypeError, match="ldexp: the exponent x2 must be integers, received dtype float"):
        K3.ldexp(X, Y)
    with pytest.raises(ValueError, match=r"searchsorted: sorted_sequence must be 1-D; received shape \(3, 3\)"):
        W3.searchsorted(I32, F32)
    with pytest.raises(ValueError, match="bincount: x must be non-negative; received -1"):
        W3.bincount(np.array([0, -1], "int32"))
    with pytest.raises(ValueError, match=r"unravel_index: indices must be in \[0, 8\) for shape \(2, 4\); received 8"):
        W3.unravel_index(np.array([8], "int32"), (2, 4))
    with pytest.raises(TypeError, match="gcd: x1 must be integers, received dtype float32"):
        W3.gcd(F32, F32)
