"""Keras 3's matrix decompositions in ``keras.ops``: ``qr``, ``svd``, ``eigh`` and ``lu_factor``, batched over
leading axes, with the vector-Jacobian products of their outputs written out (the standard formulas, as torch's
backward passes: tests/test_keras3_linalg_ops.py). ``eig`` is not here: its eigenvalues and vectors are complex
in general, and gpunet computes on real numbers.

CuPy has no ``lu_factor``: the LU factorisation is a partial-pivoting elimination written with array operations,
one step per column, vectorised over the batch.
"""
from .keras3_linalg_ops import _matrix, _mT, _square, _sym
from .math_ops import _xp
from .tensor import Tensor, result

__all__ = ["qr", "svd", "eigh", "lu_factor"]


def _off_diagonal_reciprocal(xp, values):
    """``F[..., i, j] = 1 / (values[j] - values[i])`` off the diagonal, 0 on it."""
    diff = values[..., None, :] - values[..., :, None]
    off = ~xp.eye(values.shape[-1], dtype=bool)
    return xp.where(off, 1.0 / xp.where(off, diff, 1.0), 0.0).astype(values.dtype)


def _qr_square_vjp(xp, q, r, gq, gr):
    """The gradient for ``x = q r`` (M >= N, reduced): ``(gq + q copyltu(M)) r^-T`` with
    ``M = r gr^T - gq^T q`` (Walter and Lehmann, 2018)."""
    m = r @ _mT(gr) - _mT(gq) @ q
    copyltu = xp.tril(m) + _mT(xp.tril(m, -1))
    return _mT(xp.linalg.solve(r, _mT(gq + q @ copyltu)))


def _qr_vjp(xp, x, q, r, gq, gr):
    rows, cols = x.shape[-2:]
    if rows >= cols:
        return _qr_square_vjp(xp, q, r, gq, gr)
    # Wide: x = [x1 | x2] with x1 = q r1 square and r2 = q^T x2, so x2 reaches q through r2.
    r1, gr1, gr2, x2 = r[..., :rows], gr[..., :rows], gr[..., rows:], x[..., rows:]
    g1 = _qr_square_vjp(xp, q, r1, gq + x2 @ _mT(gr2), gr1)
    return xp.concatenate([g1, q @ gr2], axis=-1)


def qr(x, mode="reduced"):
    """``(q, r)`` with ``x = q r``, ``q`` (..., M, K) orthonormal and ``r`` (..., K, N) upper triangular,
    ``K = min(M, N)`` (``mode="reduced"``), or ``q`` (..., M, M) and ``r`` (..., M, N) (``"complete"``).
    Differentiable except for ``"complete"`` with M > N, where ``q``'s extra columns are not unique (as torch)."""
    if mode not in ("reduced", "complete"):
        raise ValueError("`mode` argument value not supported. Expected one of {'reduced', 'complete'}. "
                         f"Received: mode={mode}")
    t = _matrix(x, "qr")
    xp = _xp()
    q, r = xp.linalg.qr(t.data, mode=mode)

    def vjp(gq, gr):
        if mode == "complete" and t.shape[-2] > t.shape[-1]:
            raise NotImplementedError("qr: no gradient for mode='complete' with more rows than columns (the extra "
                                      f"columns of q are not unique), received shape {t.shape}")
        gq, gr = (xp.zeros_like(v) if g is None else g for v, g in ((q, gq), (r, gr)))
        return _qr_vjp(xp, t.data, q, r, gq, gr)
    return result(q, (t, lambda g: vjp(g, None))), result(r, (t, lambda g: vjp(None, g)))


def _svd_vjp(xp, u, s, vh, gu=None, gs=None, gvh=None):
    """The gradient for ``x = u diag(s) vh`` (reduced, ``k = min(M, N)`` columns), Townsend (2016):
    ``u [(F o (u^T gu - gu^T u)) S + diag(gs) + S (F o (v^T gv - gv^T v))] vh`` plus the parts of ``gu`` and ``gv``
    outside the spans of ``u`` and ``v``, with ``F[i, j] = 1 / (s_j^2 - s_i^2)``."""
    v = _mT(vh)
    core = 0.0
    if gs is not None:
        core = core + gs[..., :, None] * xp.eye(s.shape[-1], dtype=s.dtype)
    part = 0.0
    f = _off_diagonal_reciprocal(xp, s * s)
    if gu is not None:
        utg = _mT(u) @ gu
        core = core + (f * (utg - _mT(utg))) * s[..., None, :]
        part = part + ((gu - u @ utg) / s[..., None, :]) @ vh
    if gvh is not None:
        gv = _mT(gvh)
        vtg = vh @ gv
        core = core + s[..., :, None] * (f * (vtg - _mT(vtg)))
        part = part + (u / s[..., None, :]) @ _mT(gv - v @ vtg)
    return u @ core @ vh + part


def svd(x, full_matrices=True, compute_uv=True):
    """``(u, s, vh)`` with ``x = u[..., :K] diag(s) vh[..., :K, :]``, singular values ``s`` (..., K) descending;
    ``u`` (..., M, M) and ``vh`` (..., N, N) with ``full_matrices``, else (..., M, K) and (..., K, N). With
    ``compute_uv=False`` only ``s``. The gradient of ``s`` holds for any matrix; that of ``u`` and ``vh`` needs
    distinct non-zero singular values and ignores the extra columns of full ``u``/``vh`` (torch's)."""
    t = _matrix(x, "svd")
    xp = _xp()
    if not compute_uv:
        s = xp.linalg.svd(t.data, compute_uv=False)

        def grad_s(g):
            u, _, vh = xp.linalg.svd(t.data, full_matrices=False)  # only when a gradient is wanted
            return (u * g[..., None, :]) @ vh
        return result(s, (t, grad_s))
    u, s, vh = xp.linalg.svd(t.data, full_matrices=full_matrices)
    k = s.shape[-1]
    uk, vhk = u[..., :k], vh[..., :k, :]
    return (result(u, (t, lambda g: _svd_vjp(xp, uk, s, vhk, gu=g[..., :k]))),
            result(s, (t, lambda g: _svd_vjp(xp, uk, s, vhk, gs=g))),
            result(vh, (t, lambda g: _svd_vjp(xp, uk, s, vhk, gvh=g[..., :k, :]))))


def eigh(x):
    """``(w, v)``: the eigenvalues (ascending) and orthonormal eigenvectors (columns) of each symmetric matrix,
    from its lower triangle. The gradient is symmetric (torch's); that of ``v`` needs distinct eigenvalues."""
    t = _square(x, "eigh")
    xp = _xp()
    w, v = xp.linalg.eigh(t.data)

    def vjp(gw, gv):
        inner = 0.0 if gw is None else gw[..., :, None] * xp.eye(w.shape[-1], dtype=w.dtype)
        if gv is not None:
            inner = inner + _off_diagonal_reciprocal(xp, w) * (_mT(v) @ gv)
        return _sym(v @ inner @ _mT(v))
    return result(w, (t, lambda g: vjp(g, None))), result(v, (t, lambda g: vjp(None, g)))


def _lu_in_place(xp, lu):
    """Doolittle elimination with partial pivoting (LAPACK's getrf) on ``lu`` (..., M, N), overwritten with
    ``L - I + U``; returns the pivots (row j swapped with row pivots[j], 0-based) and the row permutation
    ``perm`` with ``x[perm] = L U``."""
    rows = lu.shape[-2]
    index = xp.arange(rows)
    perm = xp.broadcast_to(index, lu.shape[:-2] + (rows,))
    pivots = []
    for j in range(min(lu.shape[-2:])):
        p = j + xp.argmax(xp.abs(lu[..., j:, j]), axis=-1)
        pivots.append(p)
        # The swap by masks, not a scatter: CuPy lacks put_along_axis in some versions.
        is_j, is_p = index == j, index == p[..., None]
        at_p = xp.broadcast_to(p[..., None, None], p.shape + (1, lu.shape[-1]))
        row_j, row_p = lu[..., j, :], xp.take_along_axis(lu, at_p, axis=-2)[..., 0, :]
        lu = xp.where(is_j[:, None], row_p[..., None, :], xp.where(is_p[..., None], row_j[..., None, :], lu))
        perm_j, perm_p = perm[..., j], xp.take_along_axis(perm, p[..., None], axis=-1)[..., 0]
        perm = xp.where(is_j, perm_p[..., None], xp.where(is_p, perm_j[..., None], perm))
        pivot = lu[..., j, j]
        # A zero pivot means the column is already 0 below it: LAPACK skips the scaling, so do we.
        lu[..., j + 1:, j] = lu[..., j + 1:, j] / xp.where(pivot == 0, 1.0, pivot)[..., None]
        lu[..., j + 1:, j + 1:] = lu[..., j + 1:, j + 1:] - lu[..., j + 1:, j:j + 1] * lu[..., j:j + 1, j + 1:]
    return lu, xp.stack(pivots, axis=-1).astype(xp.int32), perm


def lu_factor(x):
    """``(lu, pivots)``: the LU factorisation with partial pivoting of each (..., M, N) matrix, as LAPACK's
    getrf and Keras 3 give it: ``lu`` holds ``L`` (unit diagonal, not stored) below the diagonal and ``U`` on and
    above it; ``pivots`` (..., min(M, N)), int32, 0-based: row ``i`` was swapped with row ``pivots[i]``. ``lu``
    is differentiable for square matrices (torch's formula); ``pivots`` is a constant."""
    t = _matrix(x, "lu_factor")
    xp = _xp()
    if t.shape[-1] == 0 or t.shape[-2] == 0:
        return Tensor(t.data.copy()), Tensor(xp.zeros(t.shape[:-2] + (0,), dtype=xp.int32))
    lu, pivots, perm = _lu_in_place(xp, t.data.copy())
    n = t.shape[-1]

    def vjp(g):
        if t.shape[-2] != n:
            raise NotImplementedError(f"lu_factor: the gradient is for square matrices, received shape {t.shape}")
        eye = xp.eye(n, dtype=lu.dtype)
        low, up = xp.tril(lu, -1) + eye, xp.triu(lu)
        # gA = P L^-T (tril(L^T gL, -1) + triu(gU U^T)) U^-T, with gL = tril(g, -1) and gU = triu(g).
        phi = xp.tril(_mT(low) @ xp.tril(g, -1), -1) + xp.triu(xp.triu(g) @ _mT(up))
        ga = _mT(xp.linalg.solve(up, _mT(xp.linalg.solve(_mT(low), phi))))
        back = xp.argsort(perm, axis=-1)[..., None]
        return xp.take_along_axis(ga, xp.broadcast_to(back, back.shape[:-1] + (n,)), axis=-2)
    return result(lu, (t, vjp)), Tensor(pivots)
