"""Keras 3's remaining NumPy-style ``keras.ops`` (gpunet/autodiff/keras3_numpy_ops.py, keras3_nan_ops.py) against
Keras 3 on torch: values and gradients (torch autograd, random upstream gradient, float64), NaN inputs for the
nan-reductions and quantiles, constants and their dtypes, bad input; and the same ops on the active backend
(under --gpu-dryrun-strict: device arrays that follow CuPy's rules)."""
import math

import numpy as np
import pytest

from gpunet import backend as B
from gpunet.autodiff import Tensor, gradients
from gpunet import ops as N  # (the public names: gpunet/autodiff/keras3_nan_ops.py)
from gpunet import ops as K  # (keras3_numpy_ops.py, keras3_numpy_constants.py)
from keras_support import assert_constants_match, keras_float64_on_numpy, keras_on_torch, matches_torch

keras = keras_on_torch()
kops = keras.ops
torch = pytest.importorskip("torch")

RNG = np.random.default_rng(23)
X = RNG.uniform(-2.0, 2.0, (2, 3, 4))
POS = RNG.uniform(0.5, 2.0, (2, 3, 4))
M = RNG.uniform(-2.0, 2.0, (3, 4))
V3 = RNG.uniform(-2.0, 2.0, (4, 3))
XN = X.copy()
XN[0, 1, [0, 2]] = np.nan  # NaNs in some slices, no slice along any axis all NaN
XN[1, 2, 3] = np.nan
WITH_ZEROS = np.where(RNG.random((3, 4)) < 0.3, 0.0, M)


@pytest.fixture(autouse=True)
def _float64_on_numpy():
    with keras_float64_on_numpy(keras):
        yield


def _same(name, *args, **kwargs):
    """gpunet's ``name`` and Keras 3's, called with the tensors first and then ``args``/``kwargs``."""
    mine = getattr(K, name, None) or getattr(N, name)
    return (lambda *t: mine(*t, *args, **kwargs)), (lambda *t: getattr(kops, name)(*t, *args, **kwargs))


def _joined(split_fn, concat):
    """A split's pieces, each scaled differently, joined again: one output that checks every piece."""
    return lambda x: concat([p * (i + 1.0) for i, p in enumerate(split_fn(x))])


def _gp_concat(pieces, axis=0):
    from gpunet.autodiff.shape_ops import concatenate
    return concatenate(pieces, axis=axis)


CASES = {
    "fabs": (*_same("fabs"), [X]), "true_divide": (*_same("true_divide"), [X, POS]),
    "deg2rad": (*_same("deg2rad"), [X]), "rad2deg": (*_same("rad2deg"), [X]), "fliplr": (*_same("fliplr"), [M]),
    "flipud": (*_same("flipud"), [X]), "rot90": (*_same("rot90"), [X]), "rot90 k=2": (*_same("rot90", k=2), [M]),
    "rot90 k=3 axes": (*_same("rot90", k=3, axes=(1, 2)), [X]),
    "rot90 k=-1 negative axes": (*_same("rot90", k=-1, axes=(-1, 0)), [X]),
    "diff": (*_same("diff"), [X]), "diff n=2 axis=0": (*_same("diff", n=2, axis=1), [X]),
    "diag vector": (*_same("diag", k=1), [M[0]]), "diag vector k<0": (*_same("diag", k=-2), [M[1]]),
    "diag matrix": (*_same("diag", k=1), [M]), "diagflat": (*_same("diagflat", k=-1), [M[:2]]),
    "cross": (*_same("cross"), [V3, V3[::-1] * 2.0]), "vdot vectors": (*_same("vdot"), [M[0], M[1]]),
    # (Keras 3 on torch takes neither broadcasting nor axisa/axisb/axisc: torch.linalg.cross is the reference)
    "cross broadcast": (K.cross, torch.linalg.cross, [V3, V3[1:2]]),
    "cross axes": (lambda a, b: K.cross(a, b, axisa=0, axisb=-1, axisc=0),
                   lambda a, b: torch.linalg.cross(a.T, b).T, [V3.T, V3]),
    "cross axis": (*_same("cross", axis=0), [V3.T.copy(), V3[::-1].T * 2.0]),
    "cross 2-vectors": (K.cross, lambda a, b: a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0],
                        [M[:, :2], M[::-1, 2:].copy()]),
    "cross 2 and 3": (K.cross, lambda a, b: torch.linalg.cross(torch.nn.functional.pad(a, (0, 1)), b),
                      [V3[:, :2], V3]),
    "dstack vectors": (lambda a, b: K.dstack([a, b]), lambda a, b: kops.dstack([a, b]), [M[0], M[1]]),
    "dstack matrices": (lambda a, b: K.dstack([a, b]), lambda a, b: kops.dstack([a, b]), [M, M * 2]),
    "hsplit": (_joined(lambda x: K.hsplit(x, 2), _gp_concat), _joined(lambda x: kops.hsplit(x, 2), kops.concatenate),
               [M]),
    "vsplit at": (_joined(lambda x: K.vsplit(x, [1]), _gp_concat),
                  _joined(lambda x: kops.vsplit(x, [1]), kops.concatenate), [M]),
    "dsplit": (_joined(lambda x: K.dsplit(x, 2), _gp_concat), _joined(lambda x: kops.dsplit(x, 2), kops.concatenate),
               [X]),
    "array_split uneven": (_joined(lambda x: K.array_split(x, 3, axis=2), lambda p: _gp_concat(p, 2)),
                           _joined(lambda x: kops.array_split(x, 3, axis=2), lambda p: kops.concatenate(p, 2)), [X]),
    "append": (*_same("append"), [M, X]), "append axis": (*_same("append", axis=1), [M, M[:, :2]]),
    "logaddexp2": (*_same("logaddexp2"), [X * 10, POS]), "inner": (*_same("inner"), [X, M]),
    "inner scalar": (*_same("inner"), [M, np.array(1.5)]),
    # (Keras 3 on torch takes only vectors in vdot: torch.vdot of the flattened inputs is the reference)
    "vdot": (K.vdot, lambda a, b: torch.vdot(a.reshape(-1), b.reshape(-1)), [M, M[::-1] + 1.0]),
    "kron": (*_same("kron"), [M[:2, :2], X]), "kron vectors": (*_same("kron"), [M[0], M[1, :3]]),
    "trapezoid": (*_same("trapezoid"), [X]), "trapezoid dx axis": (*_same("trapezoid", dx=0.5, axis=1), [X]),
    "trapezoid x": (lambda y, x: K.trapezoid(y, x), lambda y, x: kops.trapezoid(y, x), [M, np.cumsum(POS[0, 0])]),
    "trapezoid x like y": (lambda y, x: K.trapezoid(y, x, axis=0), lambda y, x: kops.trapezoid(y, x, axis=0),
                           [M, np.cumsum(POS[0], axis=0)]),
    "sinc": (*_same("sinc"), [WITH_ZEROS]), "ptp": (*_same("ptp"), [X]),
    "ptp axis keepdims": (*_same("ptp", axis=1, keepdims=True), [X]), "real": (*_same("real"), [X]),
    "conj": (*_same("conj"), [X]), "conjugate": (*_same("conjugate"), [X]),
    # NaN-ignoring reductions, on input with NaNs
    "nansum": (*_same("nansum"), [XN]), "nansum axis": (*_same("nansum", axis=1), [XN]),
    "nanmean": (*_same("nanmean", axis=(0, 2), keepdims=True), [XN]), "nanmean all": (*_same("nanmean"), [XN]),
    "nanmax": (*_same("nanmax", axis=1), [XN]), "nanmax all": (*_same("nanmax"), [XN]),
    "nanmin": (*_same("nanmin", axis=-1, keepdims=True), [XN]), "nanprod": (*_same("nanprod", axis=1), [XN]),
    "nanvar": (*_same("nanvar", axis=1), [XN]), "nanvar all": (*_same("nanvar"), [XN]),
    "nanstd": (*_same("nanstd", axis=2, keepdims=True), [XN]),
    "nancumsum": (*_same("nancumsum", axis=1), [XN]), "nancumsum flat": (*_same("nancumsum"), [XN]),
    "nancumprod": (*_same("nancumprod", axis=2), [XN]),
    # quantiles: the gradient goes to the interpolated sorted entries (torch.quantile's)
    "median": (*_same("median"), [X]), "median even axis": (*_same("median", axis=2, keepdims=True), [X]),
    "quantile": (*_same("quantile", [0.1, 0.5, 0.9], axis=(0, 2)), [X]),
    "quantile keepdims": (*_same("quantile", [0.25, 1.0], axis=1, keepdims=True), [X]),
    "percentile": (*_same("percentile", 30.0, axis=0), [M]),
    "nanmedian": (*_same("nanmedian", axis=2), [XN]), "nanmedian all": (*_same("nanmedian"), [XN]),
    "nanquantile": (*_same("nanquantile", [0.2, 0.7], axis=1), [XN]),
    "nanpercentile": (*_same("nanpercentile", [10.0, 50.0], axis=-1, keepdims=True), [XN]),
}
CASES.update({f"quantile {m}": (*_same("quantile", 0.4, axis=-1, method=m), [X])
              for m in ("lower", "higher", "midpoint", "nearest")})
CASES.update({f"nanquantile {m}": (*_same("nanquantile", 0.5, axis=1, method=m), [XN])
              for m in ("lower", "higher", "midpoint", "nearest")})


@pytest.mark.parametrize("name", list(CASES))
def test_value_and_gradient_match_keras3(name):
    mine, theirs, arrays = CASES[name]
    matches_torch(mine, theirs, arrays)


def test_nan_inputs_give_nan_where_keras3_does():
    all_nan = XN.copy()
    all_nan[1, 0, :] = np.nan  # one slice along the last axis with no number in it
    for name in ("nanmean", "nanmax", "nanmin", "nanvar", "nanstd", "nanmedian"):
        got = getattr(N, name)(all_nan, axis=-1).data
        want = getattr(kops, name)(torch.tensor(all_nan), axis=-1).numpy()
        # (Keras 3 on torch computes nanmean/nanvar/nanstd in float32 even for float64 input, hence 2e-6; NumPy's
        # nan-functions, in float64, are the exact reference)
        np.testing.assert_allclose(got, want, rtol=2e-6, err_msg=name)
        with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
            np.testing.assert_allclose(got, getattr(np, name)(all_nan, axis=-1), rtol=1e-12, err_msg=name)
        assert np.isnan(got[1, 0]) and np.isfinite(np.delete(got.ravel(), 3)).all(), name
    # a NaN anywhere in a slice makes its (non-nan) quantile NaN, as NumPy's and torch's
    got = N.quantile(XN, 0.5, axis=-1).data
    np.testing.assert_allclose(got, kops.quantile(torch.tensor(XN), 0.5, axis=-1).numpy(), rtol=2e-6)
    np.testing.assert_allclose(got, np.quantile(XN, 0.5, axis=-1), rtol=1e-12)
    assert np.isnan(got).sum() == 2
    # gpunet gives an all-NaN slice a gradient of 0 (torch's nanmean/nanvar give NaN there); the rest still flows
    t = Tensor(all_nan, requires_grad=True)
    (g,) = gradients(N.nanmean(t, axis=-1), [t], np.ones((2, 3)))
    assert (g[1, 0] == 0).all() and (g[np.isnan(all_nan)] == 0).all()
    np.testing.assert_allclose(g[0, 0], 0.25)
    np.testing.assert_allclose(g[0, 1, [1, 3]], 0.5)


def test_constants_match_keras3_values_and_dtypes():
    keras.config.set_floatx("float32")
    previous = B.floatx()
    B.set_floatx("float32")
    try:
        _check_constants()
    finally:
        B.set_floatx(previous)


def _check_constants():
    special = np.array([-np.inf, -1.0, -0.0, 0.0, 2.0, np.inf, np.nan])
    ints = np.array([-3, 0, 5], dtype="int32")
    nan_rows = np.array([[1.0, np.nan, 3.0], [np.nan] * 3, [np.nan, -2.0, -2.0]])
    # (Keras 3 on torch turns float64 into float32 here; gpunet keeps NumPy's float64, so float32 input is compared)
    pairs = [(K.heaviside(WITH_ZEROS.astype("float32"), 0.5), kops.heaviside(WITH_ZEROS.astype("float32"), 0.5)),
             (K.heaviside(ints, np.array(2, "int32")), kops.heaviside(ints, np.array(2, "int32"))),
             (K.heaviside(M.astype("float32"), 1), kops.heaviside(M.astype("float32"), 1)),
             (K.signbit(special[:-1]), kops.signbit(special[:-1])), (K.signbit(ints), kops.signbit(ints)),
             (K.isneginf(special), kops.isneginf(special)), (K.isposinf(special), kops.isposinf(special)),
             (K.isreal(X), kops.isreal(X)),
             (K.imag(X), np.imag(X)),  # (Keras 3 on torch refuses real input; NumPy's zeros are the reference)
             (N.nanargmax(nan_rows, axis=1), kops.nanargmax(nan_rows, axis=1)),
             (N.nanargmin(nan_rows, axis=0, keepdims=True), kops.nanargmin(nan_rows, axis=0, keepdims=True)),
             (N.nanargmax(nan_rows), kops.nanargmax(nan_rows)), (N.nanargmin(ints), kops.nanargmin(ints)),
             (K.tri(3), kops.tri(3)), (K.tri(3, 4, k=-1, dtype="int32"), kops.tri(3, 4, k=-1, dtype="int32")),
             (K.tri(2, 4, k=2), kops.tri(2, 4, k=2)),
             (K.array([1, 2]), kops.array([1, 2])), (K.array([1.0, 2]), kops.array([1.0, 2])),
             (K.array(np.arange(3)), kops.array(np.arange(3))), (K.array([True]), kops.array([True])),
             (K.array([[1, 2]], dtype="float64"), kops.array([[1, 2]], dtype="float64")), (K.array(3), kops.array(3))]
    assert_constants_match(pairs)
    for mine, theirs in [(K.empty((2, 3)), kops.empty((2, 3))), (K.empty((4,), "int32"), kops.empty((4,), "int32")),
                         (K.empty_like(ints), kops.empty_like(ints)),
                         (K.empty_like(M, dtype="float16"), kops.empty_like(M, dtype="float16"))]:
        assert mine.shape == tuple(theirs.shape) and str(mine.dtype) == str(theirs.dtype).replace("torch.", "")
    for mine, theirs in [(K.logspace(0, 3, 4), kops.logspace(0, 3, 4)),
                         (K.logspace(0, 3, 4, endpoint=False, base=2), kops.logspace(0, 3, 4, endpoint=False, base=2)),
                         (K.logspace(-1.0, 2.0, 7, dtype="float64"), kops.logspace(-1.0, 2.0, 7, dtype="float64")),
                         (K.geomspace(1, 1000, 4), kops.geomspace(1, 1000, 4)),
                         (K.geomspace(-2.0, -0.5, 5, endpoint=False), kops.geomspace(-2.0, -0.5, 5, endpoint=False))]:
        assert mine.dtype == theirs.numpy().dtype
        np.testing.assert_allclose(mine.data, theirs.numpy(), rtol=2e-7)
    # (Keras 3 on torch takes no axis nor array ends here: NumPy is the reference)
    np.testing.assert_allclose(K.geomspace([1.0, -8.0], [16.0, -1.0], 5, axis=1).data,
                               np.geomspace([1.0, -8.0], [16.0, -1.0], 5, axis=1), rtol=1e-6)
    np.testing.assert_allclose(K.logspace([0.0, 1.0], 2.0, 3, base=3).data, np.logspace([0.0, 1.0], 2.0, 3, base=3),
                               rtol=1e-6)
    assert K.geomspace(1, 2, 0).shape == (0,) and K.logspace(0, 1, 1).data.tolist() == [1.0]


def test_integer_input_follows_keras3_dtypes():
    ints = np.array([[3, 1, 4], [1, 5, 9]], dtype="int32")
    assert N.nansum(ints).dtype == "int32" and N.nansum(ints.astype("int8")).dtype == "int32"
    assert N.nansum(np.array([True, True])).data.tolist() == 2
    assert N.nanmax(ints, axis=1).data.tolist() == [4, 9] and N.nanmax(ints).dtype == "int32"
    assert K.ptp(ints, axis=0).data.tolist() == [2, 4, 5] and K.real(ints).dtype == "int32"
    assert K.true_divide(ints, 2).dtype == B.floatx() and K.fabs(-ints).dtype == B.floatx()
    np.testing.assert_allclose(N.median(ints, axis=1).data, [3.0, 5.0])
    np.testing.assert_allclose(N.nanmean(ints).data, np.mean(ints))


@pytest.mark.parametrize("call, error, message", [
    (lambda: K.rot90(M, axes=(0, 0)), ValueError, r"rot90: axes must be 2 different axes of a rank-2 input, "
                                                   r"received \(0, 0\)"),
    (lambda: K.rot90(M, axes=(0, 1, 2)), ValueError, r"rot90: axes must be 2 axes, received \(0, 1, 2\)"),
    (lambda: K.fliplr(M[0]), ValueError, r"fliplr: expected an input of rank 2 or more, received shape \(4,\)"),
    (lambda: K.diag(X), ValueError, r"diag: expected a 1-D or 2-D input, received shape \(2, 3, 4\)"),
    (lambda: K.diff(M, n=-1), ValueError, "diff: n must be a non-negative int, received -1"),
    (lambda: K.cross(M, M), ValueError, r"cross: the vectors must have 2 or 3 components, received shapes \(3, 4\)"),
    (lambda: K.inner(M, M[:, :3]), ValueError, r"inner: the last axes must match, received shapes \(3, 4\) and "
                                               r"\(3, 3\)"),
    (lambda: K.vdot(M, X), ValueError, r"vdot: expected as many entries in both, received shapes \(3, 4\) and"),
    (lambda: K.array_split(M, 0), ValueError, "array_split: the number of sections must be positive, received 0"),
    (lambda: K.hsplit(M, 3), ValueError, "do not split into 3 equal parts"),
    (lambda: K.dstack([]), ValueError, "dstack: expected a non-empty list"),
    (lambda: K.geomspace(0, 4), ValueError, "geomspace: expected non-zero start and stop of the same sign"),
    (lambda: K.logspace(0, 1, -2), ValueError, "logspace: num must be a non-negative int, received -2"),
    (lambda: K.real(np.array([1 + 2j])), TypeError, "real: gpunet computes on real numbers; expected a real tensor, "
                                                    "received complex128"),
    (lambda: N.quantile(M, 1.5), ValueError, r"quantile: q must be within \[0, 1\], received 1.5"),
    (lambda: N.percentile(M, [10, 120]), ValueError, r"percentile: q must be within \[0, 100\], received \[10, 120\]"),
    (lambda: N.quantile(M, [[0.5]]), ValueError, "quantile: q must be a scalar or 1-D"),
    (lambda: N.nanmedian(M, axis=2), ValueError, "Reduction axis 2 is out of range for a tensor of rank 2"),
    (lambda: N.quantile(M, 0.5, method="cubic"), ValueError, "quantile: method must be one of linear, lower, higher, "
                                                             "midpoint, nearest; received 'cubic'"),
])
def test_bad_input_is_refused_clearly(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_ops_run_on_the_active_backend():
    """On the default backend ("auto": under --gpu-dryrun-strict, the emulated CuPy whose arrays refuse NumPy
    operands and implicit host copies), values and gradients as on NumPy."""
    with B.use_backend("auto") as ops:
        xp = ops.xp

        def run(fn, *arrays):
            ins = [Tensor(ops.asarray(a), requires_grad=True) for a in arrays]
            out = fn(*ins)
            grads = gradients(out, ins, xp.ones(out.shape, out.dtype))
            return ops.to_host(out.data), [ops.to_host(g) for g in grads]

        value, (g,) = run(lambda t: N.nanquantile(t, [0.25, 0.5], axis=1), XN)
        np.testing.assert_allclose(value, np.nanquantile(XN, [0.25, 0.5], axis=1), rtol=1e-12)
        assert g.shape == XN.shape and g[np.isnan(XN)].tolist() == [0.0] * 3 and math.isclose(g.sum(), 16.0)
        for fn, want in [(lambda t: N.nanvar(t, axis=2), np.nanvar(XN, axis=2)),
                         (lambda t: N.nanmax(t, axis=0), np.nanmax(XN, axis=0)),
                         (lambda t: N.nancumprod(t, axis=1), np.nancumprod(XN, axis=1)),
                         (lambda t: K.diag(t[0, 0]), np.diag(X[0, 0])), (lambda t: K.sinc(t), np.sinc(XN)),
                         (lambda t: K.kron(t[0], t[1]), np.kron(XN[0], XN[1])),
                         (lambda t: K.cross(t[..., :3], t[0, 0, 1:]), np.cross(XN[..., :3], XN[0, 0, 1:])),
                         (lambda t: K.rot90(t, 3, axes=(2, 0)), np.rot90(XN, 3, axes=(2, 0))),
                         (lambda t: K.trapezoid(t, dx=0.5), np.trapezoid(XN, dx=0.5)),
                         (lambda t: K.logaddexp2(N.nancumsum(t, axis=1), 1.0),
                          np.logaddexp2(np.nancumsum(XN, axis=1), 1.0))]:
            value, (g,) = run(fn, XN)
            np.testing.assert_allclose(value, want, rtol=1e-12)
            assert g.shape == XN.shape
        for got, want in [(K.tri(3, k=1), np.tri(3, k=1)), (K.logspace(0, 2, 3), np.logspace(0, 2, 3)),
                          (K.geomspace(2, 32, 5), np.geomspace(2, 32, 5)), (K.array([1, 2]), np.array([1, 2])),
                          (K.heaviside(ops.asarray(WITH_ZEROS), 0.5), np.heaviside(WITH_ZEROS, 0.5)),
                          (K.isposinf(ops.asarray(np.array([np.inf, 1.0]))), [True, False]),
                          (N.nanargmax(ops.asarray(XN), axis=1), np.nanargmax(XN, axis=1))]:
            np.testing.assert_allclose(ops.to_host(got.data), want, rtol=1e-6)
