"""Random expression DAGs on gpunet's tape against the same expressions in PyTorch autograd (float64).

Hypothesis builds 1-3 inputs of small broadcastable shapes, then a chain of ops whose operands are any
earlier node, so subexpressions are shared and reach the result along paths of different lengths.
The value and the vector-Jacobian product (random upstream gradient) must agree to ~1e-9.

Kinks are not avoided but checked: the torch side spells TensorFlow's subgradients (README), with
torch.where for maximum/minimum (ties to the first argument), amax/amin (tied maxima share),
clamp (bounds pass), abs/relu (0 at 0), so ``x - x`` feeding a maximum is compared too. Only the
singular points the tape documents as inf/nan (sqrt/log at 0, std at 0, cumprod at 0) are kept
out of reach by feeding those ops positive values.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from gpunet import backend as B, ops as O
from gpunet.autodiff import Tensor, gradients

torch = pytest.importorskip("torch", reason="the differential test compares with torch autograd")
F = torch.nn.functional


def _tf_max(a, b):
    return torch.where(a >= b, a, b)


def _tf_min(a, b):
    return torch.where(a <= b, a, b)


def _axes_t(axis, ndim):
    return tuple(range(ndim)) if axis is None else (axis if isinstance(axis, tuple) else (axis,))


def _torch_prod(x, axis, keepdims):
    for a in sorted((d % x.ndim for d in _axes_t(axis, x.ndim)), reverse=True):
        x = torch.prod(x, dim=a, keepdim=True)
    return x if keepdims else x.reshape([n for i, n in enumerate(x.shape) if i not in
                                         {d % x.ndim for d in _axes_t(axis, x.ndim)}])


# name: (gpunet fn, torch fn); each takes the operand nodes and the drawn parameters.
UNARY = {
    "negative": (lambda x: -x, lambda x: -x),
    "square": (O.square, torch.square),
    "exp∘tanh": (lambda x: O.exp(O.tanh(x)), lambda x: torch.exp(torch.tanh(x))),
    "log(1+x²)": (lambda x: O.log(1.0 + O.square(x)), lambda x: torch.log(1.0 + x * x)),
    "sqrt(1+x²)": (lambda x: O.sqrt(1 + O.square(x)), lambda x: torch.sqrt(1 + x * x)),
    "abs": (O.abs, torch.abs),
    "pow 3": (lambda x: O.pow(x, 3), lambda x: x ** 3),
    "rpow": (lambda x: 2.0 ** O.tanh(x), lambda x: 2.0 ** torch.tanh(x)),
    "clip": (lambda x: O.clip(x, -0.5, 0.7), lambda x: torch.clamp(x, -0.5, 0.7)),
    "clip int bounds": (lambda x: O.clip(x, 0, 1), lambda x: torch.clamp(x, 0, 1)),
    "relu": (O.relu, torch.relu),
    "sigmoid": (O.sigmoid, torch.sigmoid),
    "tanh": (O.tanh, torch.tanh),
    "softplus": (O.softplus, F.softplus),
    "softsign": (O.softsign, F.softsign),
    "elu": (O.elu, F.elu),
    "sign * x": (lambda x: O.sign(x) * x, lambda x: torch.sign(x) * x),
    "round const": (lambda x: x * O.round(O.stop_gradient(x)), lambda x: x * torch.round(x.detach())),
    "bce logits": (lambda x: O.binary_crossentropy(O.sigmoid(O.stop_gradient(x)), x, from_logits=True),
                   lambda x: F.binary_cross_entropy_with_logits(x, torch.sigmoid(x.detach()), reduction="none")),
}

BINARY = {
    "add": (O.add, torch.add),
    "subtract": (lambda a, b: a - b, torch.sub),
    "multiply": (lambda a, b: a * b, torch.mul),
    "divide": (lambda a, b: a / (1.0 + O.square(b)), lambda a, b: a / (1.0 + b * b)),
    "power": (lambda a, b: O.pow(1.0 + O.square(a), O.tanh(b)), lambda a, b: (1.0 + a * a) ** torch.tanh(b)),
    "maximum": (O.maximum, _tf_max),
    "minimum": (O.minimum, _tf_min),
    "where": (lambda a, b: O.where(a > b, a * 2.0, b), lambda a, b: torch.where(a > b, a * 2.0, b)),
    "switch": (lambda a, b: O.switch(O.less(a, 0.3), b, a), lambda a, b: torch.where(a < 0.3, b, a)),
}

REDUCE = {
    "sum": (O.sum, lambda x, ax, k: torch.sum(x, dim=_axes_t(ax, x.ndim), keepdim=k)),
    "mean": (O.mean, lambda x, ax, k: torch.mean(x, dim=_axes_t(ax, x.ndim), keepdim=k)),
    "max": (O.max, lambda x, ax, k: torch.amax(x, dim=_axes_t(ax, x.ndim), keepdim=k)),
    "min": (O.min, lambda x, ax, k: torch.amin(x, dim=_axes_t(ax, x.ndim), keepdim=k)),
    "prod": (O.prod, _torch_prod),
    "var": (O.var, lambda x, ax, k: torch.var(x, dim=_axes_t(ax, x.ndim), correction=0, keepdim=k)),
    "logsumexp": (O.logsumexp, lambda x, ax, k: torch.logsumexp(x, dim=_axes_t(ax, x.ndim), keepdim=k)),
}

ALONG = {  # ops along one axis
    "softmax": (lambda x, a: O.softmax(x, axis=a), lambda x, a: torch.softmax(x, dim=a)),
    "log_softmax": (lambda x, a: O.log_softmax(x, axis=a), lambda x, a: torch.log_softmax(x, dim=a)),
    "cumsum": (lambda x, a: O.cumsum(x, axis=a), lambda x, a: torch.cumsum(x, dim=a)),
    "cumprod": (lambda x, a: O.cumprod(1.0 + O.square(x), axis=a), lambda x, a: torch.cumprod(1.0 + x * x, dim=a)),
    "reverse": (lambda x, a: O.reverse(x, a), lambda x, a: torch.flip(x, (a,))),
    "repeat_elements": (lambda x, a: O.repeat_elements(x, 2, a), lambda x, a: torch.repeat_interleave(x, 2, a)),
    "expand_dims": (lambda x, a: O.expand_dims(x, a) * 2.0, lambda x, a: torch.unsqueeze(x, a) * 2.0),
    "l2_normalize": (lambda x, a: O.l2_normalize(x, axis=a),
                     lambda x, a: x / torch.sqrt(_tf_max(torch.sum(x * x, dim=a, keepdim=True),
                                                         torch.tensor(1e-12, dtype=x.dtype)))),
    "concat self": (lambda x, a: O.concatenate([x, O.square(x), x], axis=a),
                    lambda x, a: torch.cat([x, x * x, x], dim=a)),
    "stack": (lambda x, a: O.stack([x, -x], axis=a), lambda x, a: torch.stack([x, -x], dim=a)),
}


@st.composite
def programs(draw):
    """(inputs, list of steps); a step names an op, its operand indices and parameters."""
    rank = draw(st.integers(1, 3))
    full = draw(st.lists(st.integers(1, 3), min_size=rank, max_size=rank))
    shapes = []
    for _ in range(draw(st.integers(1, 3))):
        r = draw(st.integers(0, rank))
        tail = full[rank - r:]
        shapes.append(tuple(n if draw(st.booleans()) else 1 for n in tail))
    return shapes, draw(st.integers(0, 2 ** 31 - 1))


def _broadcasts(*shapes):
    try:
        np.broadcast_shapes(*shapes)
        return True
    except ValueError:
        return False


def _step(data, nodes):
    """Draw one op over ``nodes`` ((gpunet tensor, torch tensor) pairs) and return the new pair."""
    i = data.draw(st.integers(0, len(nodes) - 1), label="operand")
    g, t = nodes[i]
    nd = t.ndim
    kinds = ["unary", "binary", "matmul"] + (["reduce", "along", "shape"] if nd else [])
    kind = data.draw(st.sampled_from(kinds), label="kind")
    if kind == "unary":
        gf, tf = UNARY[data.draw(st.sampled_from(sorted(UNARY)), label="unary")]
        return gf(g), tf(t)
    if kind == "binary":
        partners = [j for j, (_, u) in enumerate(nodes) if _broadcasts(t.shape, u.shape)]
        j = data.draw(st.sampled_from(partners), label="partner")  # i itself is always there
        gf, tf = BINARY[data.draw(st.sampled_from(sorted(BINARY)), label="binary")]
        if data.draw(st.booleans(), label="swap"):
            return gf(nodes[j][0], g), tf(nodes[j][1], t)
        return gf(g, nodes[j][0]), tf(t, nodes[j][1])
    if kind == "matmul":  # x @ x^T: both operands are the same node
        if nd < 2:
            return O.dot(g, g) if nd == 1 else g * g, (torch.dot(t, t) if nd == 1 else t * t)
        perm = tuple(range(nd - 2)) + (nd - 1, nd - 2)
        return O.matmul(g, O.transpose(g, perm)), torch.matmul(t, t.permute(perm))
    if kind == "reduce":
        axis = data.draw(st.one_of(st.none(), st.integers(-nd, nd - 1),
                                   st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True)
                                   .map(tuple)), label="axis")
        keepdims = data.draw(st.booleans(), label="keepdims")
        gf, tf = REDUCE[data.draw(st.sampled_from(sorted(REDUCE)), label="reduce")]
        return gf(g, axis=axis, keepdims=keepdims), tf(t, axis, keepdims)
    if kind == "along":
        axis = data.draw(st.integers(-nd, nd - 1), label="axis")
        gf, tf = ALONG[data.draw(st.sampled_from(sorted(ALONG)), label="along")]
        return gf(g, axis), tf(t, axis)
    op = data.draw(st.sampled_from(["reshape", "transpose", "getitem", "gather", "tile", "flatten"]), label="shape")
    if op == "reshape":
        return O.reshape(g, t.shape[::-1]), t.reshape(t.shape[::-1])
    if op == "flatten":
        return O.flatten(g), t.reshape(-1)
    if op == "transpose":
        perm = tuple(data.draw(st.permutations(range(nd)), label="perm"))
        return O.transpose(g, perm), t.permute(perm)
    if op == "tile":
        reps = tuple(data.draw(st.lists(st.integers(1, 2), min_size=nd, max_size=nd), label="reps"))
        return O.tile(g, reps), t.repeat(reps)
    idx = np.array(data.draw(st.lists(st.integers(0, t.shape[0] - 1), min_size=1, max_size=4), label="rows"))
    if op == "gather":  # repeated rows: their gradients add up
        return O.gather(g, idx), t[torch.as_tensor(idx)]
    start = data.draw(st.integers(0, t.shape[0] - 1), label="start")
    return g[start::2][idx % len(range(start, t.shape[0], 2))], t[start::2][torch.as_tensor(
        idx % len(range(start, t.shape[0], 2)))]


def _tame(g, t):
    # Keep values moderate so that 1e-9 relative agreement is meaningful after squares and products.
    if t.numel() and float(t.detach().abs().max()) > 50.0:
        return O.tanh(g * 0.02), torch.tanh(t * 0.02)
    return g, t


@settings(max_examples=400, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(programs(), st.data())
def test_random_expression_dags_match_torch_autograd(program, data):
    shapes, seed = program
    rng = np.random.default_rng(seed)
    arrays = [rng.uniform(-2.0, 2.0, s) for s in shapes]
    with B.use_backend("numpy"):
        g_inputs = [Tensor(a.copy(), requires_grad=True) for a in arrays]
        t_inputs = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
        nodes = list(zip(g_inputs, t_inputs))
        for _ in range(data.draw(st.integers(1, 7), label="steps")):
            nodes.append(_tame(*_step(data, nodes)))
        g_out, t_out = nodes[-1]
        expected = t_out.detach().numpy()
        np.testing.assert_allclose(np.asarray(g_out.data), expected, rtol=1e-9, atol=1e-12)
        upstream = rng.standard_normal(expected.shape)
        got = gradients(g_out, g_inputs, upstream) if isinstance(g_out, Tensor) and g_out.requires_grad \
            else [np.zeros(a.shape) for a in arrays]
        wanted = torch.autograd.grad(t_out, t_inputs, torch.as_tensor(upstream), allow_unused=True) \
            if t_out.requires_grad else [None] * len(arrays)
        for k, (mine, theirs) in enumerate(zip(got, wanted)):
            theirs = np.zeros(arrays[k].shape) if theirs is None else theirs.numpy()
            scale = max(1.0, float(np.abs(theirs).max(initial=0.0)))
            np.testing.assert_allclose(np.asarray(mine), theirs, rtol=1e-9, atol=1e-10 * scale,
                                       err_msg=f"gradient of input {k}")
