"""Keras 3's linear-algebra ``keras.ops`` on square systems and SVD-based inverses: ``inv``, ``solve``,
``solve_triangular``, ``det``, ``slogdet``, ``logdet``, ``cholesky``, ``cholesky_inverse``, ``pinv``, ``lstsq`` and
``matrix_rank``, batched over leading axes, with their vector-Jacobian products written out (the decompositions
``qr``, ``svd``, ``eigh`` and ``lu_factor`` are in keras3_linalg_more.py). Checked against Keras 3 on torch:
tests/test_keras3_linalg_ops.py.

Only ``xp.linalg`` functions that CuPy has are used (``inv``, ``solve``, ``det``, ``slogdet``, ``cholesky``,
``svd``...), so triangular solves go through ``solve`` on the triangle. On CuPy a singular or non positive-definite
matrix gives NaN or inf, not an exception: raising would need a device-to-host copy on every call.
"""
import builtins

from .elementwise import _floating as _float
from .math_ops import _xp
from .shape_ops import expand_dims, matmul, squeeze
from .tensor import Tensor, result, unbroadcast

__all__ = ["inv", "solve", "solve_triangular", "det", "slogdet", "logdet", "cholesky", "cholesky_inverse", "pinv",
           "lstsq", "matrix_rank"]


def _mT(a):
    return a.swapaxes(-1, -2)


def _matrix(x, name):
    """``x`` as a float tensor of rank 2 or more."""
    t = _float(x)
    if t.ndim < 2:
        raise ValueError(f"{name}: expected an input of rank 2 or more (a matrix or a stack of matrices), "
                         f"received shape {t.shape}")
    return t


def _square(x, name):
    t = _matrix(x, name)
    if t.shape[-1] != t.shape[-2]:
        raise ValueError(f"{name}: expected square matrices of shape (..., M, M), received shape {t.shape}")
    return t


def _sym(a):
    return 0.5 * (a + _mT(a))


def _broadcast_batch(name, *shapes):
    """The broadcast of batch shapes (CuPy has no ``broadcast_shapes`` in every version)."""
    rank = builtins.max(len(s) for s in shapes)
    out = []
    for dims in zip(*[(1,) * (rank - len(s)) + tuple(s) for s in shapes]):
        sizes = {d for d in dims if d != 1}
        if len(sizes) > 1:
            raise ValueError(f"{name}: expected batch shapes that broadcast together, received {shapes}")
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


def _is_vector(a, b):
    # torch's rule (Keras 3 on torch): b is a (batch of) vector(s) when it has one axis fewer than a, or just one.
    return b.ndim == 1 or b.ndim == a.ndim - 1


def _solve_system(a, b, name, project=None):
    """``x`` with ``project(a) @ x = b`` (``project`` keeps a triangle), b a vector or a matrix of columns; the
    gradient for ``a`` is projected the same way."""
    a, b = _square(a, name), _float(b)
    if b.ndim < 1:
        raise ValueError(f"{name}: expected b of rank 1 or more, received a scalar")
    vector, n = _is_vector(a, b), a.shape[-1]
    rows = b.shape[-1] if vector else b.shape[-2] if b.ndim >= 2 else None
    if rows != n:
        raise ValueError(f"{name}: expected b of shape (..., {n}) or (..., {n}, K) to match a of shape {a.shape}, "
                         f"received b of shape {b.shape}")
    xp = _xp()
    mat = a.data if project is None else project(a.data)
    cols = b.data[..., None] if vector else b.data
    batch = _broadcast_batch(name, mat.shape[:-2], cols.shape[:-2])
    # Explicit broadcasting: CuPy's batched solve wants equal batch shapes.
    mat_b = xp.broadcast_to(mat, batch + mat.shape[-2:])
    x = xp.linalg.solve(mat_b, xp.broadcast_to(cols, batch + cols.shape[-2:]))
    last = [None, None]  # (g, a^-T g): both vjps get the same g in one backward pass, so the solve is shared

    def solved(g):
        if last[0] is not g:
            last[:] = g, xp.linalg.solve(_mT(mat_b), g[..., None] if vector else g)
        return last[1]

    def grad_a(g):
        ga = unbroadcast(-solved(g) @ _mT(x), mat.shape)
        return ga if project is None else project(ga)
    return result(x[..., 0] if vector else x, (b, lambda g: unbroadcast(solved(g), cols.shape).reshape(b.shape)),
                  (a, grad_a))


def inv(x):
    """The inverse of each square matrix in ``x`` (..., M, M)."""
    t = _square(x, "inv")
    out = _xp().linalg.inv(t.data)
    return result(out, (t, lambda g: -_mT(out) @ g @ _mT(out)))


def solve(a, b):
    """``x`` with ``a @ x = b``: ``a`` (..., M, M), ``b`` (..., M) or (..., M, K); batch axes broadcast."""
    return _solve_system(a, b, "solve")


def solve_triangular(a, b, lower=False):
    """``x`` with ``a @ x = b`` for triangular ``a``: only its lower (``lower=True``) or upper triangle is read,
    and only that triangle gets a gradient, as torch's."""
    xp = _xp()
    return _solve_system(a, b, "solve_triangular", xp.tril if lower else xp.triu)


def _inv_t(t):
    return _mT(_xp().linalg.inv(t.data))


def det(x):
    """The determinant of each square matrix; its gradient ``det(x) * inv(x)^T`` needs ``x`` invertible."""
    t = _square(x, "det")
    xp = _xp()
    out = xp.asarray(xp.linalg.det(t.data))  # (NumPy gives a scalar for one matrix; the tape wants arrays)
    return result(out, (t, lambda g: (g * out)[..., None, None] * _inv_t(t)))


def slogdet(x):
    """``(sign, log|det|)`` of each square matrix; the sign is a constant, ``log|det|``'s gradient is
    ``inv(x)^T``."""
    t = _square(x, "slogdet")
    xp = _xp()
    sign, logabs = (xp.asarray(v) for v in xp.linalg.slogdet(t.data))
    return Tensor(sign), result(logabs, (t, lambda g: g[..., None, None] * _inv_t(t)))


def logdet(x):
    """``log(det(x))``: NaN where the determinant is negative, -inf where it is 0 (torch's); the gradient is
    ``inv(x)^T``."""
    t = _square(x, "logdet")
    xp = _xp()
    sign, logabs = xp.linalg.slogdet(t.data)
    out = xp.where(sign > 0, logabs, xp.where(sign == 0, -xp.inf, xp.nan)).astype(logabs.dtype)
    return result(out, (t, lambda g: g[..., None, None] * _inv_t(t)))


def cholesky(x, upper=False):
    """The Cholesky factor of each symmetric positive-definite matrix: lower ``L`` with ``x = L L^T``, or upper
    ``U = L^T`` (``upper=True``) with ``x = U^T U``. The gradient is symmetric, as torch's."""
    t = _square(x, "cholesky")
    xp = _xp()
    try:
        low = xp.linalg.cholesky(t.data)
    except ValueError as e:  # numpy.linalg.LinAlgError; Keras 3 reports it as a ValueError with this prefix
        raise ValueError(f"Cholesky decomposition failed: {e}") from e
    eye = xp.eye(t.shape[-1], dtype=low.dtype)

    def vjp(g):
        # Murray (2016): phi = tril(L^T gL) with the diagonal halved; gA = sym(L^-T phi L^-1).
        g_low = xp.tril(_mT(g) if upper else g)
        p = _mT(low) @ g_low
        phi = xp.tril(p) - 0.5 * p * eye
        low_inv = xp.linalg.inv(low)
        return _sym(_mT(low_inv) @ phi @ low_inv)
    return result(_mT(low) if upper else low, (t, vjp))


def cholesky_inverse(x, upper=False):
    """The inverse of ``A = L L^T`` (or ``U^T U``, ``upper=True``) from its Cholesky factor ``x``, of which only
    the lower (upper) triangle is read. The gradient is torch's, ``-A^-1 (g + g^T) A^-1 x`` (``-x A^-1 ...``):
    it is not masked to the triangle and uses ``x`` as given, so it is the exact derivative for a triangular ``x``."""
    t = _square(x, "cholesky_inverse")
    xp = _xp()
    factor = xp.triu(t.data) if upper else xp.tril(t.data)
    f_inv = xp.linalg.inv(factor)
    out = f_inv @ _mT(f_inv) if upper else _mT(f_inv) @ f_inv

    def vjp(g):
        inner = out @ (g + _mT(g)) @ out
        return -(t.data @ inner if upper else inner @ t.data)  # (torch's backward multiplies by the input)
    return result(out, (t, vjp))


def _default_rtol(t):
    return builtins.max(t.shape[-2:]) * float(_xp().finfo(t.dtype).eps)


def pinv(x, rcond=None):
    """The Moore-Penrose pseudo-inverse (..., N, M) of each (..., M, N) matrix, from its SVD: singular values at or
    below ``rcond`` (default ``max(M, N) * eps``, torch's) times the largest are dropped. The gradient is the
    pseudo-inverse's derivative at constant rank (Golub and Pereyra)."""
    t = _matrix(x, "pinv")
    xp = _xp()
    u, s, vh = xp.linalg.svd(t.data, full_matrices=False)
    rtol = _default_rtol(t) if rcond is None else rcond
    keep = s > rtol * s[..., :1]
    inv_s = xp.where(keep, 1.0 / xp.where(keep, s, 1.0), 0.0).astype(s.dtype)
    out = (_mT(vh) * inv_s[..., None, :]) @ _mT(u)

    def vjp(g):
        a, p, gt = t.data, out, _mT(g)
        return (-_mT(p) @ g @ _mT(p) + (gt @ p - a @ (p @ gt @ p)) @ _mT(p)
                + _mT(p) @ (p @ gt - (p @ gt @ p) @ a))
    # (I - A P) G^T P P^T and P^T P G^T (I - P A), multiplied out to skip forming identities.
    return result(out, (t, vjp))


def lstsq(a, b, rcond=None):
    """The least-squares solution ``x`` of ``a @ x = b`` of smallest norm, ``pinv(a, rcond) @ b``: ``a`` (..., M, N),
    ``b`` (..., M) or (..., M, K). Singular values at or below ``rcond`` (default ``max(M, N) * eps``) times the
    largest count as 0. Differentiable through that composition, as torch's lstsq."""
    ta, tb = _matrix(a, "lstsq"), _float(b)
    if tb.ndim < 1:
        raise ValueError("lstsq: expected b of rank 1 or more, received a scalar")
    vector, m = _is_vector(ta, tb), ta.shape[-2]
    rows = tb.shape[-1] if vector else tb.shape[-2] if tb.ndim >= 2 else None
    if rows != m:
        raise ValueError(f"lstsq: expected b of shape (..., {m}) or (..., {m}, K) to match a of shape {ta.shape}, "
                         f"received b of shape {tb.shape}")
    p = pinv(ta, rcond)
    return squeeze(matmul(p, expand_dims(tb, -1)), -1) if vector else matmul(p, tb)


def matrix_rank(x, tol=None):
    """The number of singular values above ``tol`` (absolute), or by default above ``max(M, N) * eps`` times the
    largest, per matrix (int32, no gradient)."""
    t = _matrix(x, "matrix_rank")
    xp = _xp()
    s = xp.linalg.svd(t.data, compute_uv=False)
    cut = _default_rtol(t) * s[..., :1] if tol is None else tol
    return Tensor(xp.asarray((s > cut).sum(axis=-1), dtype=xp.int32))
