"""Elementwise ops with broadcasting, each with its vector-Jacobian products.

Subgradients at the points where a function has no derivative are TensorFlow's (what
Keras 2 trains with): ``abs`` and ``sign`` give 0 at 0; ``maximum(a, b)`` passes the
gradient to ``a`` where ``a >= b`` and ``minimum(a, b)`` where ``a <= b``; ``clip``
passes it where ``min_value <= x <= max_value`` (bounds included); ``sqrt`` at 0 and
``log`` at 0 give ``inf``, ``x ** p`` at 0 gives ``p * 0 ** (p - 1)``.
Comparisons, ``sign``, ``round``, ``cast`` to a non-float type, ``ones_like``/``zeros_like``
and ``stop_gradient`` give constants (no gradient).
"""
import builtins

from .. import backend as B
from .tensor import Tensor, lift, raw, result, unbroadcast


def _xp():
    return B.get_backend().xp


def _binary(a, b):
    """Operands as tensors or Python numbers, and their arrays."""
    ta = a if isinstance(a, (bool, int, float)) else lift(a)
    tb = b if isinstance(b, (bool, int, float)) else lift(b)
    return ta, tb, raw(ta), raw(tb)


def _shape(t):
    return t.shape if isinstance(t, Tensor) else ()


def _floating(a):
    """``a`` as a tensor of floats: integer and boolean input is computed in floatx, as Keras 3's
    ``exp``/``log``/``sqrt``/``mean`` do (NumPy would widen it to float64). Such input is a constant."""
    t = lift(a)
    if t.data.dtype.kind in "fc":
        return t
    return Tensor(t.data.astype(B.floatx()))


def add(a, b):
    """``a + b``."""
    ta, tb, x, y = _binary(a, b)
    sa, sb = _shape(ta), _shape(tb)
    return result(x + y, (ta, lambda g: unbroadcast(g, sa)), (tb, lambda g: unbroadcast(g, sb)))


def subtract(a, b):
    """``a - b``."""
    ta, tb, x, y = _binary(a, b)
    sa, sb = _shape(ta), _shape(tb)
    return result(x - y, (ta, lambda g: unbroadcast(g, sa)), (tb, lambda g: unbroadcast(-g, sb)))


def multiply(a, b):
    """``a * b``."""
    ta, tb, x, y = _binary(a, b)
    sa, sb = _shape(ta), _shape(tb)
    return result(x * y, (ta, lambda g: unbroadcast(g * y, sa)), (tb, lambda g: unbroadcast(g * x, sb)))


def divide(a, b):
    """``a / b``."""
    ta, tb, x, y = _binary(a, b)
    sa, sb = _shape(ta), _shape(tb)
    out = x / y
    return result(out, (ta, lambda g: unbroadcast(g / y, sa)), (tb, lambda g: unbroadcast(-g * out / y, sb)))


def power(a, b):
    """``a ** b`` (Keras's ``K.pow``); the gradient for ``b`` is ``a ** b * log(a)``, 0 where
    ``a <= 0`` (TensorFlow's)."""
    ta, tb, x, y = _binary(a, b)
    sa, sb = _shape(ta), _shape(tb)
    out = x ** y
    xp = _xp()

    def grad_base(g):
        return unbroadcast(g * y * x ** (y - 1), sa)

    def grad_exponent(g):
        # TensorFlow's choice: 0 where the base is not positive (log undefined there) instead of
        # NaN from out * log(x), which would poison a trained exponent whenever a base is 0.
        base = xp.asarray(x)
        positive = base > 0
        log_base = xp.log(xp.where(positive, base, 1))
        return unbroadcast(g * xp.where(positive, out * log_base, 0), sb)
    return result(out, (ta, grad_base), (tb, grad_exponent))


def _null():
    import contextlib
    return contextlib.nullcontext()


def negative(a):
    """``-a``."""
    t = lift(a)
    return result(-t.data, (t, lambda g: -g))


def square(a):
    """``a ** 2``."""
    t = lift(a)
    x = t.data
    return result(x * x, (t, lambda g: 2 * g * x))


def sqrt(a):
    """Square root; gradient ``inf`` at 0 (as TensorFlow)."""
    t = _floating(a)
    xp = _xp()
    out = xp.sqrt(t.data)

    def vjp(g):
        with xp.errstate(divide="ignore") if hasattr(xp, "errstate") else _null():
            return g / (2 * out)
    return result(out, (t, vjp))


def abs(a):  # noqa: A001 (Keras's name)
    """``|a|``; gradient ``sign(a)``, 0 at 0."""
    t = lift(a)
    xp = _xp()
    return result(xp.abs(t.data), (t, lambda g: g * xp.sign(t.data)))


def exp(a):
    """``e ** a``."""
    t = _floating(a)
    out = _xp().exp(t.data)
    return result(out, (t, lambda g: g * out))


def sin(a):
    """Sine; gradient ``cos(a)``."""
    t = _floating(a)
    xp = _xp()
    return result(xp.sin(t.data), (t, lambda g: g * xp.cos(t.data)))


def cos(a):
    """Cosine; gradient ``-sin(a)``."""
    t = _floating(a)
    xp = _xp()
    return result(xp.cos(t.data), (t, lambda g: -g * xp.sin(t.data)))


def log(a):
    """Natural logarithm; gradient ``1 / a`` (``inf`` at 0)."""
    t = _floating(a)
    xp = _xp()
    with xp.errstate(divide="ignore") if hasattr(xp, "errstate") else _null():
        out = xp.log(t.data)
    return result(out, (t, lambda g: g / t.data))


def clip(x, min_value=None, max_value=None):
    """``x`` limited to ``[min_value, max_value]`` (None: unbounded). As Keras 2, a
    ``max_value`` below ``min_value`` becomes ``min_value``. The gradient passes where
    ``min_value <= x <= max_value``."""
    t = lift(x)
    xp, data = _xp(), t.data
    lo = -float("inf") if min_value is None else raw(min_value)
    hi = float("inf") if max_value is None else raw(max_value)
    if min_value is not None and max_value is not None:
        # Python numbers stay Python numbers: xp.maximum(1, 0) is an int64 array, which would widen
        # float32 input to float64 (K.clip(y_pred, 0, 1)).
        numbers = isinstance(hi, (int, float)) and isinstance(lo, (int, float))
        hi = builtins.max(hi, lo) if numbers else xp.maximum(hi, lo)
    out = xp.clip(data, lo, hi)
    return result(out, (t, lambda g: g * ((data >= lo) & (data <= hi))))


def maximum(a, b):
    """Elementwise maximum; at ties the gradient goes to ``a``."""
    ta, tb, x, y = _binary(a, b)
    sa, sb = _shape(ta), _shape(tb)
    xp = _xp()
    first = x >= y
    return result(xp.maximum(x, y), (ta, lambda g: unbroadcast(g * first, sa)),
                  (tb, lambda g: unbroadcast(g * ~first, sb)))


def minimum(a, b):
    """Elementwise minimum; at ties the gradient goes to ``a``."""
    ta, tb, x, y = _binary(a, b)
    sa, sb = _shape(ta), _shape(tb)
    xp = _xp()
    first = x <= y
    return result(xp.minimum(x, y), (ta, lambda g: unbroadcast(g * first, sa)),
                  (tb, lambda g: unbroadcast(g * ~first, sb)))


def where(condition, x, y):
    """``x`` where ``condition`` holds, else ``y`` (Keras 3's ``ops.where``); each gets the
    gradient where it was chosen. Two Python numbers give floatx values, as in Keras."""
    xp = _xp()
    cond = raw(condition)
    if isinstance(x, (bool, int, float)) and isinstance(y, (bool, int, float)):
        x = lift(x)  # else xp.where(cond, 1.0, 0.0) would be float64
    ta, tb, a, b = _binary(x, y)
    sa, sb = _shape(ta), _shape(tb)
    return result(xp.where(cond, a, b), (ta, lambda g: unbroadcast(xp.where(cond, g, 0), sa)),
                  (tb, lambda g: unbroadcast(xp.where(cond, 0, g), sb)))


def switch(condition, then_expression, else_expression):
    """Keras 2's ``K.switch``: `where`, where a scalar condition picks one whole branch and a
    condition of rank 2 or more but below the branches' rank is extended by trailing axes (tf.keras
    2's reshape and tile: a ``(batch, steps)`` mask selects whole feature vectors of ``(batch, steps,
    features)``); a rank-1 condition broadcasts as in NumPy, as there. Branches may be callables."""
    then_expression = then_expression() if callable(then_expression) else then_expression
    else_expression = else_expression() if callable(else_expression) else else_expression
    cond = raw(condition)
    cond = cond if hasattr(cond, "ndim") else B.get_backend().asarray(cond)
    ranks = [len(_shape(e if isinstance(e, (bool, int, float)) else lift(e)))
             for e in (then_expression, else_expression)]
    if 1 < cond.ndim < builtins.max(ranks):
        cond = cond.reshape(tuple(cond.shape) + (1,) * (builtins.max(ranks) - cond.ndim))
    return where(cond, then_expression, else_expression)


def sign(x):
    """-1, 0 or 1 by the sign of ``x``; a constant (zero gradient almost everywhere)."""
    return Tensor(_xp().sign(raw(x)))


def round(x):  # noqa: A001 (Keras's name)
    """``x`` rounded to the nearest integer, halves to even (TensorFlow's ``tf.round``); a constant."""
    return Tensor(_xp().round(lift(x).data))


def stop_gradient(variables):
    """``variables``' values as constants: no gradient flows back through them (a list for a list or tuple)."""
    if isinstance(variables, (list, tuple)):
        return [stop_gradient(v) for v in variables]
    return Tensor(lift(variables).data)


def cast(x, dtype):
    """``x`` converted to ``dtype``. Between float types the gradient passes (cast back);
    to integers or booleans the result is a constant."""
    t = lift(x)
    name = str(getattr(dtype, "name", dtype))
    out = t.data.astype(name)
    if out.dtype.kind != "f" or t.data.dtype.kind != "f":
        return Tensor(out)
    source = t.data.dtype
    return result(out, (t, lambda g: g.astype(source)))


def ones_like(x, dtype=None):
    """Ones of ``x``'s shape (constant)."""
    data = raw(x)
    return Tensor(_xp().ones(data.shape, dtype=dtype or data.dtype))


def zeros_like(x, dtype=None):
    """Zeros of ``x``'s shape (constant)."""
    data = raw(x)
    return Tensor(_xp().zeros(data.shape, dtype=dtype or data.dtype))


def _compare(name):
    def compare(x, y):
        return Tensor(getattr(_xp(), name)(raw(x), raw(y)))
    compare.__name__ = name
    compare.__doc__ = f"Elementwise ``{name}`` as booleans (a constant: comparisons have no gradient)."
    return compare


greater = _compare("greater")
greater_equal = _compare("greater_equal")
less = _compare("less")
less_equal = _compare("less_equal")
equal = _compare("equal")
not_equal = _compare("not_equal")
