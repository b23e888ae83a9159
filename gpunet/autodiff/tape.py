"""Running the tape backwards: reverse-mode gradients of tensors recorded by the ops.

Each op stores, per operand that needs a gradient, a vector-Jacobian product
``vjp(g)``. `gradients` visits the recorded graph once in reverse topological order,
summing the contributions that reach each tensor, so a value used twice gets both.
"""
import contextlib

from .. import backend as B
from .tensor import Tensor, lift


def _reverse_topological(roots):
    # Depth-first post-order (over every root: a post-order of the whole walk is still topological). A node is marked when it is expanded, not when it is pushed: marking
    # on push let a tensor reached by two paths of different lengths (``x - K.mean(x)``) come out
    # before one of its users, so that user's gradient arrived after x's had been passed on.
    order, expanded_ids, stack = [], set(), [(root, False) for root in reversed(roots)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in expanded_ids:
            continue
        expanded_ids.add(id(node))
        stack.append((node, True))
        for parent, _ in node.parents:
            if id(parent) not in expanded_ids:
                stack.append((parent, False))
    order.reverse()
    return order


def gradients(output, inputs, upstream=None):
    """d(sum(output * upstream))/d(input) for each of ``inputs`` (tensors made with
    ``requires_grad=True``), as backend arrays; zeros for an input ``output`` does not use.
    ``upstream`` defaults to ones (for a scalar loss: the plain gradient). ``output`` may be a
    list of tensors, with ``upstream`` a list (None for ones) of one array each: the gradient of
    the sum of their terms (a layer's output and the losses its ``call`` added)."""
    ops = B.get_backend()
    several = isinstance(output, list)
    outputs = [lift(o) for o in output] if several else [lift(output)]
    upstreams = list(upstream) if several and upstream is not None else [upstream] * len(outputs)
    grads = {}
    for out, up in zip(outputs, upstreams):
        if up is None:
            up = ops.ones(out.shape, out.dtype)
        elif tuple(up.shape) != out.shape:
            raise ValueError(f"The upstream gradient has shape {tuple(up.shape)}, the output {out.shape}.")
        grads[id(out)] = grads[id(out)] + up if id(out) in grads else up
    wanted = {id(t) for t in inputs}
    for node in _reverse_topological(outputs):
        g = grads.get(id(node))
        if g is None or not node.parents:
            continue
        if id(node) not in wanted:
            del grads[id(node)]  # intermediate: free it as soon as it has been passed on
        for parent, vjp in node.parents:
            contribution = vjp(g)
            key = id(parent)
            previous = grads.get(key)
            grads[key] = contribution if previous is None else previous + contribution
    out = []
    for t in inputs:
        g = grads.get(id(t))
        if g is None:
            g = ops.zeros(t.shape, t.dtype)
        elif tuple(g.shape) != t.shape:  # a scalar's gradient may arrive as a 0-d array of another shape
            g = g.reshape(t.shape)
        out.append(g.astype(t.dtype, copy=False) if g.dtype != t.dtype else g)
    return out


def vjp(fn, *arrays, ops=None):
    """Run ``fn`` on tensors of ``arrays`` and return ``(output array, backward)``:
    ``backward(dy)`` gives the gradient with respect to each of ``arrays``. ``ops`` (a
    Backend) is used inside ``fn`` and ``backward`` when given (a layer's own backend)."""
    scope = B.use_backend(ops) if ops is not None else contextlib.nullcontext()
    with scope:
        inputs = [Tensor(a, requires_grad=True) for a in arrays]
        output = lift(fn(*inputs))

    def backward(dy):
        with B.use_backend(ops) if ops is not None else contextlib.nullcontext():
            return gradients(output, inputs, dy)
    return output.data, backward


def grad(fn):
    """``grad(f)(*arrays)``: the gradients of the scalar ``f(*tensors)`` with respect to each array."""
    def gradient(*arrays):
        inputs = [Tensor(B.get_backend().asarray(a), requires_grad=True) for a in arrays]
        return gradients(fn(*inputs), inputs)
    return gradient
