"""Elementwise ops with broadcasting, each with its vector-Jacobian products.

Subgradients at the points where a function has no derivative are TensorFlow's (what
Keras 2 trains with): ``abs`` and ``sign`` give 0 at 0; ``maximum(a, b)`` passes the
gradient to ``a`` where ``a >= b`` and ``minimum(a, b)`` where ``a <= b``; ``clip``
passes it where ``min_value <= x <= max_value`` (bounds included); ``sqrt`` at 0 and
``log`` at 0 give ``inf``, ``x ** p`` at 0 gives ``p * 0 ** (p - 1)``.
Comparisons, ``sign``, ``round``, ``cast`` to a non-float type, ``ones_like``/``zeros_like``
and ``stop_gradient`` give constants (no gradient).
"""
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
    """``a ** b`` (Keras's ``K.pow``); the gradient for ``b`` is ``a ** b * log(a)``."""
    ta, tb, x, y = _binary(a, b)
    sa, sb = _shape(ta), _shape(tb)
    out = x ** y
    xp = _xp()

    def grad_base(g):
        return unbroadcast(g * y * x ** (y - 1), sa)

    def grad_exponent(g):
        with xp.errstate(divide="ignore", invalid="ignore") if hasattr(xp, "errstate") else _null():
            return unbroadcast(g * out * xp.log(x), sb)
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
    t = lift(a)
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
    t = lift(a)
    out = _xp().exp(t.data)
    return result(out, (t, lambda g: g * out))


def log(a):
    """Natural logarithm; gradient ``1 / a`` (``inf`` at 0)."""
    t = lift(a)
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
        hi = xp.maximum(hi, lo) if not isinstance(hi, float) or not isinstance(lo, float) else max(hi, lo)
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
    gradient where it was chosen."""
    xp = _xp()
    cond = raw(condition)
    ta, tb, a, b = _binary(x, y)
    sa, sb = _shape(ta), _shape(tb)
    return result(xp.where(cond, a, b), (ta, lambda g: unbroadcast(xp.where(cond, g, 0), sa)),
                  (tb, lambda g: unbroadcast(xp.where(cond, 0, g), sb)))


def switch(condition, then_expression, else_expression):
    """Keras 2's ``K.switch``: `where` (a scalar condition picks one whole branch)."""
    return where(condition, then_expression, else_expression)


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
