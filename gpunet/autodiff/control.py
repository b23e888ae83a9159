"""Keras 3's control-flow ops, run eagerly: gpunet records ops as they run, so a Python ``if`` or loop over
them is differentiable as it is, and these only give Keras 3's calls their meaning (``ops.cond``,
``ops.while_loop``, ``ops.fori_loop``, ``ops.vectorized_map``)."""
from .shape_ops import getitem, stack
from .tensor import lift, value_of


def cond(pred, true_fn, false_fn):
    """``true_fn()`` where ``pred`` holds, else ``false_fn()``."""
    return true_fn() if bool(value_of(pred)) else false_fn()


def while_loop(cond, body, loop_vars, maximum_iterations=None):  # noqa: A002 (Keras's names)
    """``loop_vars = body(*loop_vars)`` while ``cond(*loop_vars)`` holds (at most ``maximum_iterations``
    times); returns the last ``loop_vars`` (one value given: that value)."""
    single = not isinstance(loop_vars, (list, tuple))
    values = (loop_vars,) if single else tuple(loop_vars)
    steps = 0
    while (maximum_iterations is None or steps < maximum_iterations) and bool(value_of(cond(*values))):
        out = body(*values)
        values = (out,) if single or not isinstance(out, (list, tuple)) else tuple(out)
        if len(values) != (1 if single else len(loop_vars)):
            raise ValueError(f"while_loop: body returned {len(values)} values for {len(loop_vars)} loop_vars")
        steps += 1
    return values[0] if single else type(loop_vars)(values)


def fori_loop(lower, upper, body_fun, init_val):
    """``init_val = body_fun(i, init_val)`` for ``i`` from ``lower`` to ``upper - 1``."""
    value = init_val
    for i in range(int(value_of(lower)), int(value_of(upper))):
        value = body_fun(i, value)
    return value


def vectorized_map(function, elements):
    """``function`` on each slice of ``elements`` along its first axis (a tensor, or a list or tuple of them
    cut together), the results stacked."""
    several = isinstance(elements, (list, tuple))
    parts = [lift(e) for e in elements] if several else [lift(elements)]
    n = parts[0].shape[0]
    outs = [function(type(elements)(getitem(p, i) for p in parts) if several else getitem(parts[0], i))
            for i in range(n)]
    return stack(outs, axis=0)
