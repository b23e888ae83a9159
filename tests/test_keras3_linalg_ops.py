"""Keras 3's linear-algebra ops (gpunet/autodiff/keras3_linalg_ops.py, keras3_linalg_more.py) against Keras 3 on
torch: values and gradients (torch autograd, random upstream gradient, float64) on well-conditioned matrices, single
and batched; sign-invariant quantities for the decompositions whose vectors' signs are not unique; the constants
(sign, rank, pivots) and their dtypes; bad input; and the same ops on the active backend (under
--gpu-dryrun-strict: device arrays that follow CuPy's rules) against NumPy."""
import numpy as np
import pytest

from gpunet import backend as B
from gpunet.autodiff import Tensor, gradients
from gpunet import ops as LM  # (the public names: gpunet/autodiff/keras3_linalg_more.py)
from gpunet import ops as L  # (keras3_linalg_ops.py)
from gpunet.autodiff.reductions import sum
from gpunet.autodiff.shape_ops import concatenate, reshape
from keras_support import assert_constants_match, keras_float64_on_numpy, keras_on_torch, matches_torch

keras = keras_on_torch()
kops = keras.ops
torch = pytest.importorskip("torch")

RNG = np.random.default_rng(31)


def _well_conditioned(*shape):
    return RNG.uniform(-1.0, 1.0, shape) + 3.0 * np.eye(shape[-1])


def _spd(*shape):
    m = RNG.uniform(-1.0, 1.0, shape)
    return m @ m.swapaxes(-1, -2) + shape[-1] * np.eye(shape[-1])


SQ, SQB = _well_conditioned(4, 4), _well_conditioned(2, 3, 3, 3)
SPD, SPDB = _spd(4, 4), _spd(2, 3, 3)
LOW, UPB = np.tril(_well_conditioned(4, 4)), np.triu(_well_conditioned(2, 3, 3))
TALL, TALLB = RNG.uniform(-1, 1, (5, 3)), RNG.uniform(-1, 1, (2, 5, 3))
WIDE = RNG.uniform(-1, 1, (3, 5))
B4, B4B, VEC = RNG.uniform(-1, 1, (4, 2)), RNG.uniform(-1, 1, (2, 3, 3, 2)), RNG.uniform(-1, 1, (4,))
NEG_DET = SQ[[1, 0, 2, 3]]  # a row swap: a negative determinant
PIVOTED = SQB[..., ::-1, :].copy()  # LU needs row swaps


@pytest.fixture(autouse=True)
def _float64_on_numpy():
    with keras_float64_on_numpy(keras):
        yield


def _same(name, *args, module=L, **kwargs):
    mine = getattr(module, name)
    return (lambda *t: mine(*t, *args, **kwargs)), (lambda *t: getattr(kops, name)(*t, *args, **kwargs))


def _cat(mine, theirs):
    """Several outputs flattened per batch entry and joined: one output that checks them all."""
    def joined(parts, cat, flat):
        return cat([flat(p) for p in parts])
    return (lambda *t: joined(mine(*t), lambda ps: concatenate(ps, -1), lambda p: reshape(p, (-1,))),
            lambda *t: joined(theirs(*t), lambda ps: torch.cat(ps, -1), lambda p: p.reshape(-1)))


def _qr_fixed(qr, sign, diag):
    """q and r with r's diagonal made positive: the QR factorisation is then unique."""
    def fn(x, **kw):
        q, r = qr(x, **kw)
        s = sign(diag(r))
        return [q * s[..., None, :], r * s[..., :, None]]
    return fn


def _gp_sign_diag():
    return (lambda d: Tensor(np.sign(d.data))), (lambda r: Tensor(np.diagonal(r.data, axis1=-2, axis2=-1)))


def _t_sign_diag():
    return torch.sign, (lambda r: torch.diagonal(r.detach(), dim1=-2, dim2=-1))


def _qr_case(x, mode="reduced"):
    mine = _qr_fixed(lambda t: LM.qr(t, mode=mode), *_gp_sign_diag())
    theirs = _qr_fixed(lambda t: kops.qr(t, mode=mode), *_t_sign_diag())
    return (*_cat(mine, theirs), [x])


def _svd_case(x, full_matrices):
    k = min(x.shape[-2:])

    def invariant(u, s, vh):  # each column's sign is free: squares and the singular values are not
        return [s, u[..., :k] * u[..., :k], vh[..., :k, :] * vh[..., :k, :]]
    return (*_cat(lambda t: invariant(*LM.svd(t, full_matrices)),
                  lambda t: invariant(*kops.svd(t, full_matrices))), [x])


def _eigh_case(x):
    return (*_cat(lambda t: (lambda w, v: [w, v * v])(*LM.eigh(t)), lambda t: (lambda w, v: [w, v * v])(*kops.eigh(t))),
            [x])


CASES = {
    "inv": (*_same("inv"), [SQ]), "inv batched": (*_same("inv"), [SQB]),
    "solve matrix": (*_same("solve"), [SQ, B4]), "solve vector": (*_same("solve"), [SQ, VEC]),
    "solve batched": (*_same("solve"), [SQB, B4B]), "solve batched vector": (*_same("solve"), [SQB, B4B[..., 0]]),
    "solve broadcast": (*_same("solve"), [SQB, B4B[0, 0]]),
    "solve_triangular upper": (*_same("solve_triangular"), [SQ, B4]),  # (only the upper triangle is read)
    "solve_triangular lower": (*_same("solve_triangular", lower=True), [LOW, VEC]),
    "solve_triangular batched": (*_same("solve_triangular"), [UPB, B4B[:, 0]]),
    "det": (*_same("det"), [SQ]), "det batched": (*_same("det"), [SQB]),
    "slogdet": (lambda t: L.slogdet(t)[1], lambda t: kops.slogdet(t)[1], [SQB]),
    "slogdet negative": (lambda t: L.slogdet(t)[1], lambda t: kops.slogdet(t)[1], [NEG_DET]),
    "logdet": (*_same("logdet"), [SPD]), "logdet batched": (*_same("logdet"), [SPDB]),
    "cholesky": (*_same("cholesky"), [SPD]), "cholesky upper batched": (*_same("cholesky", upper=True), [SPDB]),
    "cholesky_inverse": (*_same("cholesky_inverse"), [LOW]),
    "cholesky_inverse full input": (*_same("cholesky_inverse"), [SQ]),  # (only the lower triangle is read)
    "cholesky_inverse upper batched": (*_same("cholesky_inverse", upper=True), [UPB]),
    "qr square": _qr_case(SQ), "qr tall batched": _qr_case(TALLB), "qr wide": _qr_case(WIDE),
    "qr complete square": _qr_case(SQB, "complete"),
    "svd values": (*_same("svd", module=LM, compute_uv=False), [TALLB]),
    "svd square": _svd_case(SQ, True), "svd tall reduced batched": _svd_case(TALLB, False),
    "svd wide reduced": _svd_case(WIDE, False),
    "svd reconstruction": (lambda t: (lambda u, s, vh: (u * s[..., None, :]) @ vh)(*LM.svd(t, False)),
                           lambda t: (lambda u, s, vh: (u * s[..., None, :]) @ vh)(*kops.svd(t, False)), [TALLB]),
    "eigh": _eigh_case(SPD), "eigh batched": _eigh_case(SPDB),
    "pinv tall": (*_same("pinv"), [TALLB]), "pinv wide": (*_same("pinv"), [WIDE]),
    "lstsq matrix": (*_same("lstsq"), [TALL, RNG.uniform(-1, 1, (5, 2))]),
    "lstsq vector": (*_same("lstsq"), [TALL, RNG.uniform(-1, 1, (5,))]),
    "lstsq square": (*_same("lstsq"), [SQ, B4]),
    "lu_factor": (lambda t: LM.lu_factor(t)[0], lambda t: kops.lu_factor(t)[0], [SQ]),
    "lu_factor batched": (lambda t: LM.lu_factor(t)[0], lambda t: kops.lu_factor(t)[0], [SQB]),
    "lu_factor pivoted": (lambda t: LM.lu_factor(t)[0], lambda t: kops.lu_factor(t)[0], [PIVOTED]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_value_and_gradient_match_keras3(name):
    mine, theirs, arrays = CASES[name]
    matches_torch(mine, theirs, arrays)


RANK_DEFICIENT = np.stack([np.outer([1.0, 2, 3], [1.0, -1, 2]), np.diag([1.0, 1e-20, 2.0]), SQB[0, 0]])


def test_constants_match_keras3_values_and_dtypes():
    sign, _ = L.slogdet(np.stack([SQ, NEG_DET]))
    for x in (SQ, PIVOTED, TALLB, WIDE):
        lu, piv = LM.lu_factor(x)
        want_lu, want_piv = kops.lu_factor(torch.tensor(x))
        np.testing.assert_allclose(lu.data, want_lu.numpy(), rtol=1e-12, atol=1e-14)
        assert_constants_match([(piv, want_piv)])
    assert_constants_match([
        (sign, kops.slogdet(torch.tensor(np.stack([SQ, NEG_DET])))[0]),
        (L.matrix_rank(RANK_DEFICIENT), kops.matrix_rank(torch.tensor(RANK_DEFICIENT))),
        (L.matrix_rank(RANK_DEFICIENT, tol=1.5), kops.matrix_rank(torch.tensor(RANK_DEFICIENT), tol=1.5)),
        (L.matrix_rank(TALL), kops.matrix_rank(torch.tensor(TALL))),
    ])
    assert L.matrix_rank(RANK_DEFICIENT).data.tolist() == [1, 2, 3]
    assert L.logdet(NEG_DET).data.tolist() != L.logdet(NEG_DET).data.tolist()  # NaN, as torch's
    assert np.isnan(kops.logdet(torch.tensor(NEG_DET)).numpy())


def test_float32_stays_float32_and_integers_compute_in_floatx():
    x32, spd32 = SQB.astype(np.float32), SPDB.astype(np.float32)
    outs = [L.inv(x32), L.solve(x32, x32), L.det(x32), *L.slogdet(x32), L.logdet(spd32), L.cholesky(spd32),
            L.cholesky_inverse(x32), L.pinv(x32), L.lstsq(x32, x32), *LM.qr(x32), *LM.svd(x32), *LM.eigh(spd32),
            LM.lu_factor(x32)[0]]
    assert [o.dtype for o in outs] == [np.float32] * len(outs)
    assert all(isinstance(o.data, np.ndarray) for o in outs)  # (not NumPy scalars, for one matrix either)
    assert L.det(SQ).data.shape == () and isinstance(L.det(SQ).data, np.ndarray)
    assert L.inv(np.array([[2, 0], [0, 4]])).dtype == B.floatx() and L.matrix_rank(SQ).data.dtype == np.int32
    np.testing.assert_allclose(L.inv(x32).data, np.linalg.inv(SQB), rtol=1e-5)


def test_rcond_drops_small_singular_values_as_keras3():
    x, b = RANK_DEFICIENT[1], SQ[:3, 0]
    for rcond in (None, 1e-6):
        np.testing.assert_allclose(L.pinv(x, rcond).data, kops.pinv(torch.tensor(x), rcond).numpy(), rtol=1e-12)
    np.testing.assert_allclose(L.lstsq(x, b, 1e-6).data, kops.lstsq(torch.tensor(x), torch.tensor(b), 1e-6).numpy(),
                               rtol=1e-12)
    # rcond=None: NumPy's minimal-norm answer (Keras 3 on torch's CPU driver, gelsy, zeroes x[2] here)
    np.testing.assert_allclose(L.lstsq(x, b).data, np.linalg.lstsq(x, b, rcond=None)[0], rtol=1e-12)
    assert L.pinv(x).data[1, 1] == 0.0 and L.pinv(x, 1e-30).data[1, 1] == 1e20  # 1e-20 / 2 is below 3 * eps


def test_decompositions_reconstruct_their_input():
    q, r = LM.qr(TALLB, mode="complete")
    assert q.shape == (2, 5, 5) and r.shape == (2, 5, 3)
    np.testing.assert_allclose(q.data @ r.data, TALLB, atol=1e-12)
    u, s, vh = LM.svd(TALL)
    assert u.shape == (5, 5) and vh.shape == (3, 3)
    np.testing.assert_allclose((u.data[:, :3] * s.data) @ vh.data, TALL, atol=1e-12)
    lu, piv = LM.lu_factor(PIVOTED)
    perm = np.broadcast_to(np.arange(3), (2, 3, 3)).copy()
    for index in np.ndindex(2, 3):  # replay LAPACK's swaps: x[perm] == L U
        for j, p in enumerate(piv.data[index]):
            perm[index][[j, p]] = perm[index][[p, j]]
    assert (perm != np.arange(3)).any()  # (some swap happened)
    low, up = np.tril(lu.data, -1) + np.eye(3), np.triu(lu.data)
    np.testing.assert_allclose(np.take_along_axis(PIVOTED, perm[..., None], -2), low @ up, atol=1e-12)


def test_complete_qr_of_a_tall_matrix_has_no_gradient():
    x = Tensor(TALL, requires_grad=True)
    with pytest.raises(NotImplementedError, match="qr: no gradient for mode='complete' with more rows"):
        gradients(LM.qr(x, mode="complete")[0], [x])


@pytest.mark.parametrize("call, message", [
    (lambda: L.inv(TALL), r"inv: expected square matrices of shape \(\.\.\., M, M\), received shape \(5, 3\)"),
    (lambda: L.det(VEC), r"det: expected an input of rank 2 or more .*, received shape \(4,\)"),
    (lambda: LM.eigh(WIDE), r"eigh: expected square matrices .* received shape \(3, 5\)"),
    (lambda: L.solve(SQ, TALL), r"solve: expected b of shape \(\.\.\., 4\) or \(\.\.\., 4, K\) to match a of shape "
                                r"\(4, 4\), received b of shape \(5, 3\)"),
    (lambda: L.lstsq(TALL, VEC), r"lstsq: expected b of shape \(\.\.\., 5\) or \(\.\.\., 5, K\)"),
    (lambda: L.cholesky(NEG_DET), "Cholesky decomposition failed"),
    (lambda: LM.qr(SQ, mode="r"), r"Expected one of \{'reduced', 'complete'\}. Received: mode=r"),
    (lambda: LM.lu_factor(VEC), r"lu_factor: expected an input of rank 2 or more"),
])
def test_bad_input_is_refused_clearly(call, message):
    with pytest.raises(ValueError, match=message):
        call()


ACTIVE = [
    (L.inv, [SQB]), (L.solve, [SQB, B4B]), (lambda a, b: L.solve_triangular(a, b, lower=True), [LOW, VEC]),
    (L.det, [SQB]), (lambda t: L.slogdet(t)[1], [SQB]), (L.logdet, [SPDB]), (L.cholesky, [SPDB]),
    (L.cholesky_inverse, [LOW]), (L.pinv, [TALLB]), (L.lstsq, [TALL, TALL[:, :2]]),
    (lambda t: LM.qr(t)[0] * 2 + sum(LM.qr(t)[1]), [TALLB]), (lambda t: LM.qr(t)[1], [WIDE]),
    (lambda t: LM.svd(t, False)[0] ** 2, [TALLB]), (lambda t: LM.svd(t)[1], [SQB]),
    (lambda t: LM.svd(t, compute_uv=False), [WIDE]), (lambda t: LM.svd(t)[2] ** 2, [WIDE]),
    (lambda t: LM.eigh(t)[0], [SPDB]), (lambda t: LM.eigh(t)[1] ** 2, [SPD]),
    (lambda t: LM.lu_factor(t)[0], [PIVOTED]),
]


def test_ops_run_on_the_active_backend():
    """On the default backend ("auto": under --gpu-dryrun-strict, the emulated CuPy whose arrays refuse NumPy
    operands and implicit host copies), the values and gradients NumPy gives."""
    def run_all(backend):
        with B.use_backend(backend) as ops:
            outs = []
            for fn, arrays in ACTIVE:
                ins = [Tensor(ops.asarray(a), requires_grad=True) for a in arrays]
                out = fn(*ins)
                grads = gradients(out, ins, ops.xp.ones(out.shape, out.dtype))
                outs.append([ops.to_host(out.data)] + [ops.to_host(g) for g in grads])
            return outs
    for got, want in zip(run_all("auto"), run_all("numpy")):
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)
    with B.use_backend("auto") as ops:
        for got, want in [(L.matrix_rank(ops.asarray(RANK_DEFICIENT)), [1, 2, 3]),
                          (L.slogdet(ops.asarray(NEG_DET))[0], -1.0),
                          (LM.lu_factor(ops.asarray(SQ))[1], kops.lu_factor(torch.tensor(SQ))[1].numpy())]:
            np.testing.assert_array_equal(ops.to_host(got.data), want)
