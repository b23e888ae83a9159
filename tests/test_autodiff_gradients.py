"""Every tensor op's gradient against central finite differences in float64, with a random
upstream gradient, on each backend (CuPy cases GPU-marked), including broadcasting,
reductions over each axis and the subgradients chosen at non-differentiable points."""
import numpy as np
import pytest

from gpunet import ops as O, losses
from gpunet.autodiff import Tensor, vjp, gradients

RNG = np.random.default_rng(3)


def _host(ops, a):
    return np.asarray(ops.to_host(a), dtype=np.float64)


def check(ops, fn, *arrays, rtol=1e-6, atol=1e-8, eps=1e-6):
    """Analytic vector-Jacobian products of ``fn`` against central differences of sum(fn * dy)."""
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    out, backward = vjp(fn, *[ops.asarray(a) for a in arrays])
    dy = RNG.standard_normal(tuple(out.shape))
    analytic = backward(ops.asarray(dy))

    def objective(values):
        res = fn(*[Tensor(ops.asarray(v)) for v in values])
        return float(np.sum(_host(ops, res.data if isinstance(res, Tensor) else res) * dy))

    for i, a in enumerate(arrays):
        numeric = np.zeros_like(a)
        flat = a.reshape(-1)
        for j in range(flat.size):
            old = flat[j]
            flat[j] = old + eps
            plus = objective(arrays)
            flat[j] = old - eps
            minus = objective(arrays)
            flat[j] = old
            numeric.reshape(-1)[j] = (plus - minus) / (2 * eps)
        np.testing.assert_allclose(_host(ops, analytic[i]), numeric, rtol=rtol, atol=atol,
                                   err_msg=f"gradient of input {i}")
    return analytic


def rand(*shape, low=-2.0, high=2.0):
    return RNG.uniform(low, high, shape)


def positive(*shape):
    return RNG.uniform(0.5, 2.0, shape)


def away_from_zero(*shape):
    return RNG.uniform(0.3, 2.0, shape) * RNG.choice([-1.0, 1.0], shape)


BINARY = {
    "add same": (O.add, rand(3, 4), rand(3, 4)),
    "add row": (O.add, rand(3, 4), rand(4)),
    "add col x row": (lambda a, b: a + b, rand(3, 1), rand(1, 4)),
    "add rank3 broadcast": (lambda a, b: a + b, rand(2, 3, 4), rand(3, 1)),
    "subtract broadcast": (lambda a, b: a - b, rand(3, 4), rand(3, 1)),
    "rsub number": (lambda a, b: 2.0 - a * b, rand(3, 4), rand(4)),
    "multiply broadcast": (lambda a, b: a * b, rand(2, 3, 4), rand(4)),
    "divide broadcast": (lambda a, b: a / b, rand(3, 4), away_from_zero(3, 1)),
    "rdivide number": (lambda a, b: 1.5 / b + a, rand(3), away_from_zero(3)),
    "power tensor exponent": (lambda a, b: a ** b, positive(3, 4), rand(4)),
    "rpow": (lambda a, b: 2.0 ** (a * b), rand(3), rand(3)),
    "maximum": (O.maximum, rand(3, 4), rand(4)),
    "minimum": (O.minimum, rand(3, 4), rand(3, 1)),
    "matmul 2d": (lambda a, b: a @ b, rand(3, 4), rand(4, 2)),
    "matmul batched broadcast": (O.matmul, rand(2, 3, 4), rand(4, 5)),
    "matmul batch x batch": (O.matmul, rand(2, 3, 4), rand(2, 4, 2)),
    "matmul vector right": (O.matmul, rand(3, 4), rand(4)),
    "matmul vector left": (O.matmul, rand(4), rand(4, 2)),
    "matmul vectors": (O.matmul, rand(4), rand(4)),
    "dot rank3 x 2d": (O.dot, rand(2, 3, 4), rand(4, 2)),
    "where": (lambda a, b: O.where(a > 0, a * 2, b), rand(3, 4), rand(4)),
    "concatenate last": (lambda a, b: O.concatenate([a, b]), rand(2, 3), rand(2, 4)),
    "concatenate first": (lambda a, b: O.concatenate([a, b, a], axis=0), rand(2, 3), rand(1, 3)),
    "stack": (lambda a, b: O.stack([a, b], axis=1), rand(2, 3), rand(2, 3)),
    "value used twice": (lambda a, b: a * a + a * b, rand(3), rand(3)),
}

UNARY = {
    "negative": (lambda a: -a, rand(3, 4)),
    "square": (O.square, rand(3, 4)),
    "sqrt": (O.sqrt, positive(3, 4)),
    "abs": (O.abs, away_from_zero(3, 4)),
    "exp": (O.exp, rand(3, 4)),
    "log": (O.log, positive(3, 4)),
    "power constant": (lambda a: a ** 3, rand(3, 4)),
    "power fraction": (lambda a: O.pow(a, 0.5), positive(3)),
    "clip": (lambda a: O.clip(a, -1.0, 1.0), RNG.uniform(-1.9, 1.9, (4, 5)) + 0.05),
    "clip lower only": (lambda a: O.clip(a, 0.1, None), rand(6)),
    "cast float64": (lambda a: O.cast(a, "float64") * 2, rand(3)),
    "reshape": (lambda a: O.reshape(a, (4, 3)) * np.arange(12.0).reshape(4, 3), rand(3, 4)),
    "transpose": (lambda a: O.transpose(a) @ np.ones((3, 2)), rand(3, 4)),
    "transpose axes": (lambda a: O.transpose(a, (1, 2, 0)), rand(2, 3, 4)),
    "T": (lambda a: a.T, rand(2, 3)),
    "expand squeeze": (lambda a: O.squeeze(O.expand_dims(a, 1), 1) * 3, rand(2, 3)),
    "batch_flatten": (O.batch_flatten, rand(2, 3, 4)),
    "getitem slice": (lambda a: a[:, 1:3], rand(3, 4)),
    "getitem int and None": (lambda a: a[1, None, ::2], rand(3, 4)),
    "getitem ellipsis": (lambda a: a[..., -1], rand(2, 3, 4)),
    "getitem repeated indices": (lambda a: a[np.array([0, 2, 0, 0])], rand(3, 4)),
    "getitem boolean mask": (lambda a: a[np.array([True, False, True])], rand(3, 2)),
    "getitem list and column list": (lambda a: a[[2, 0, 2]][:, [1, 1, 0]], rand(3, 2)),
    "relu": (O.relu, away_from_zero(3, 4)),
    "relu alpha max_value threshold": (lambda a: O.relu(a, alpha=0.1, max_value=1.5, threshold=0.2),
                                      np.array([-1.7, -0.3, 0.35, 0.9, 1.3, 1.8, 2.5])),
    "sigmoid": (O.sigmoid, rand(3, 4)),
    "hard_sigmoid": (O.hard_sigmoid, np.array([-3.5, -1.0, 0.3, 1.9, 4.0])),  # (kinks: Keras 3 +-3)
    "tanh": (O.tanh, rand(3, 4)),
    "softmax last": (O.softmax, rand(3, 4)),
    "softmax axis 0": (lambda a: O.softmax(a, axis=0), rand(3, 4)),
    "log_softmax": (O.log_softmax, rand(3, 4)),
    "softplus": (O.softplus, rand(3, 4)),
    "softsign": (O.softsign, away_from_zero(3, 4)),
    "elu": (lambda a: O.elu(a, alpha=0.7), away_from_zero(3, 4)),
    "activation gelu": (lambda a: O.activation("gelu", a), rand(3, 4)),
    "activation swish": (lambda a: O.activation("swish", a), rand(3, 4)),
}

REDUCTIONS = [O.sum, O.mean, O.max, O.min, O.var, O.std, O.prod]
AXES = [None, 0, 1, -1, (0, 2), 2]


@pytest.mark.parametrize("name", list(BINARY))
def test_binary_op_gradients(ops, name):
    fn, a, b = BINARY[name]
    check(ops, fn, a, b)


@pytest.mark.parametrize("name", list(UNARY))
def test_unary_op_gradients(ops, name):
    fn, a = UNARY[name]
    check(ops, fn, a)


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("reduce", REDUCTIONS, ids=lambda f: f.__name__)
def test_reduction_gradients_over_each_axis(ops, reduce, axis, keepdims):
    x = RNG.permutation(np.linspace(0.5, 2.5, 24)).reshape(2, 3, 4)  # distinct values: max/min unique
    out = check(ops, lambda a: reduce(a, axis=axis, keepdims=keepdims), x)
    assert out[0].shape == (2, 3, 4)


def test_reductions_match_numpy_values(ops):
    x = rand(2, 3, 4)
    for reduce, ref in [(O.sum, np.sum), (O.mean, np.mean), (O.max, np.max), (O.var, np.var), (O.std, np.std)]:
        for axis in AXES:
            got = _host(ops, reduce(ops.asarray(x), axis=axis).data)
            np.testing.assert_allclose(got, ref(x, axis=axis), rtol=1e-12)


CROSSENTROPIES = {
    "K.binary_crossentropy": (lambda t, p: O.binary_crossentropy(t, p),
                              RNG.integers(0, 2, (4, 3)), RNG.uniform(0.05, 0.95, (4, 3))),
    "K.binary_crossentropy logits": (lambda t, p: O.binary_crossentropy(t, p, from_logits=True),
                                     RNG.uniform(0, 1, (4, 3)), rand(4, 3)),
    "K.categorical_crossentropy": (lambda t, p: O.categorical_crossentropy(t, p),
                                   np.eye(3)[[0, 2, 1, 1]], RNG.uniform(0.1, 1.0, (4, 3))),
    "K.categorical_crossentropy logits": (lambda t, p: O.categorical_crossentropy(t, p, from_logits=True),
                                          np.eye(3)[[0, 2, 1, 1]], rand(4, 3)),
    "K.sparse_categorical_crossentropy": (lambda t, p: O.sparse_categorical_crossentropy(t, p, from_logits=True),
                                          np.array([[0], [2], [1], [1]]), rand(4, 3)),
    "losses.binary_crossentropy": (losses.binary_crossentropy, RNG.integers(0, 2, (4, 3)),
                                   RNG.uniform(0.05, 0.95, (4, 3))),
    "losses.categorical_crossentropy": (losses.categorical_crossentropy, np.eye(3)[[0, 2, 1, 1]],
                                        RNG.uniform(0.1, 1.0, (4, 3))),
    "losses.mse": (losses.mse, rand(4, 3), rand(4, 3)),
    "losses.mae": (losses.mae, rand(4, 3), rand(4, 3) + 3),
    "losses.huber": (losses.huber, rand(4, 3), rand(4, 3) * 3),
    "losses.log_cosh": (losses.log_cosh, rand(4, 3), rand(4, 3)),
}


@pytest.mark.parametrize("name", list(CROSSENTROPIES))
def test_loss_functions_differentiate_with_respect_to_y_pred(ops, name):
    fn, target, pred = CROSSENTROPIES[name]
    target = ops.asarray(np.asarray(target, dtype=np.float64))
    check(ops, lambda p: fn(target, p), pred)


def test_keras_backend_crossentropies_match_keras_formulas(ops):
    t, p = np.array([[0.0, 1.0, 1.0]]), np.array([[0.2, 0.7, 1.0]])
    got = _host(ops, O.binary_crossentropy(ops.asarray(t), ops.asarray(p)).data)
    pc = np.clip(p, 1e-7, 1 - 1e-7)
    expected = -(t * np.log(pc + 1e-7) + (1 - t) * np.log(1 - pc + 1e-7))
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    logits = np.array([[-30.0, 0.5, 40.0]])
    got = _host(ops, O.binary_crossentropy(ops.asarray(t), ops.asarray(logits), from_logits=True).data)
    np.testing.assert_allclose(got, [[np.log1p(np.exp(-30.0)), np.log1p(np.exp(-0.5)), 0.0]], atol=1e-12)


# ---- non-differentiable points: the subgradients documented in gpunet/autodiff --------------------------
def grad_of(ops, fn, *arrays):
    inputs = [Tensor(ops.asarray(np.asarray(a, dtype=np.float64)), requires_grad=True) for a in arrays]
    return [_host(ops, g) for g in gradients(O.sum(fn(*inputs)), inputs)]


def test_subgradients_at_kinks(ops):
    x = np.array([-1.0, 0.0, 2.0])
    assert grad_of(ops, O.abs, x)[0].tolist() == [-1.0, 0.0, 1.0]
    assert grad_of(ops, O.relu, x)[0].tolist() == [0.0, 0.0, 1.0]
    assert grad_of(ops, O.sign, x)[0].tolist() == [0.0, 0.0, 0.0]
    a, b = np.array([1.0, 2.0, 3.0]), np.array([1.0, 5.0, 0.0])
    assert [g.tolist() for g in grad_of(ops, O.maximum, a, b)] == [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
    assert [g.tolist() for g in grad_of(ops, O.minimum, a, b)] == [[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    assert grad_of(ops, lambda t: O.clip(t, 0.0, 2.0), np.array([-0.5, 0.0, 1.0, 2.0, 2.5]))[0].tolist() == \
        [0.0, 1.0, 1.0, 1.0, 0.0]
    assert grad_of(ops, O.max, np.array([1.0, 3.0, 3.0, 2.0]))[0].tolist() == [0.0, 0.5, 0.5, 0.0]
    assert grad_of(ops, lambda t: O.relu(t, max_value=1.0), np.array([0.0, 1.0, 1.5]))[0].tolist() == \
        [0.0, 1.0, 0.0]
    with np.errstate(divide="ignore"):
        assert grad_of(ops, O.sqrt, np.array([0.0, 4.0]))[0].tolist() == [np.inf, 0.25]
    assert grad_of(ops, lambda t: O.cast(t > 0, "float64") * t, x)[0].tolist() == [0.0, 0.0, 1.0]


@pytest.mark.parametrize("reduction", ["auto", "sum", "none"])
def test_loss_objects_called_on_tensors_reduce_on_the_tape(ops, reduction):
    target = ops.asarray(rand(4, 3))
    weights = ops.asarray(positive(4))
    loss = losses.MeanSquaredError(reduction=reduction)
    check(ops, lambda p: loss(target, p, sample_weight=weights), rand(4, 3))
    pred = rand(4, 3)
    got = loss(Tensor(target), Tensor(ops.asarray(pred)), sample_weight=weights)
    np.testing.assert_allclose(_host(ops, got.data), _host(ops, loss(target, ops.asarray(pred), weights)),
                               rtol=1e-12)


# ---- a value reached by paths of different lengths: every path's gradient must arrive ---------------------
def _focal(y_true, y_pred):
    # the tutorials' focal loss: pt reaches the loss through pow and through log, and y_pred
    # reaches pt directly and through 1 - y_pred
    y_pred = O.clip(y_pred, 1e-7, 1 - 1e-7)
    pt = O.switch(O.equal(y_true, 1), y_pred, 1 - y_pred)
    return -O.mean(O.pow(1.0 - pt, 2) * O.log(pt), axis=-1)


def _antirectifier(x):
    # keras.io's Lambda example: x feeds the mean subtracted from it
    x = x - O.mean(x, axis=1, keepdims=True)
    x = O.l2_normalize(x, axis=1)
    return O.concatenate([O.relu(x), O.relu(-x)], axis=1)


def test_shared_subexpressions_on_paths_of_different_lengths(ops):
    c = lambda t: t * 1.0  # noqa: E731 - an intermediate node, used twice below
    assert grad_of(ops, lambda t: (lambda u: u + (1 - u) * 3)(c(t)), np.ones(3))[0].tolist() == [-2.0] * 3
    mask = ops.asarray(np.array([1.0, 0.0, 1.0, 0.0]))
    assert grad_of(ops, lambda t: (lambda u: O.switch(O.equal(mask, 1), u, -u))(c(t)), np.ones(4))[0].tolist() == \
        [1.0, -1.0, 1.0, -1.0]
    y_true = ops.asarray(np.array([[1.0], [0.0], [1.0], [0.0]]))
    got = check(ops, lambda p: _focal(y_true, p), np.array([[0.3], [0.6], [0.9], [0.2]]))[0]
    # tf.keras 2.21 (tf.GradientTape) on the same function, mean over the batch: scale back by 4
    np.testing.assert_allclose(_host(ops, vjp(lambda p: O.mean(_focal(y_true, p)),
                                              ops.asarray(np.array([[0.3], [0.6], [0.9], [0.2]])))[1](
        ops.asarray(np.array(1.0)))[0]).ravel(), [-0.8297238, 0.4998873, -0.00804581, 0.03481435], rtol=1e-5)
    assert got.shape == (4, 1)
    check(ops, _antirectifier, rand(3, 5))
