"""Every differentiable ``K.*`` function against Keras 3's ``keras.ops`` on torch (value, and the
gradient through torch autograd with a random upstream gradient, float64), over argument variants;
the dtypes Keras 3 gives for int, bool and float32 input; and the discrepancies an audit found,
with tf.keras 2.21 values where TensorFlow's conventions are the reference."""
import numpy as np
import pytest

from keras_support import keras_float64_on_numpy, keras_on_torch, matches_torch

import gpunet.backend as K
from gpunet.autodiff import Tensor, gradients

keras = keras_on_torch()


@pytest.fixture(autouse=True)
def _keras_in_float64():
    with keras_float64_on_numpy(keras):
        yield


kops = keras.ops
torch = pytest.importorskip("torch")
F = torch.nn.functional

RNG = np.random.default_rng(11)
X = RNG.uniform(-2.0, 2.0, (2, 3, 4))
POS = RNG.uniform(0.5, 2.0, (2, 3, 4))
AXES = [None, 0, -1, 1, (0, 2), (-1, 0)]

# name: (K function, keras function, input); each run for every axis in AXES and keepdims.
REDUCTIONS = {
    "sum": (K.sum, kops.sum, X), "mean": (K.mean, lambda x, axis, keepdims: torch.mean(  # Keras 3's is float32 inside
        x, dim=tuple(range(x.ndim)) if axis is None else axis, keepdim=keepdims), X), "max": (K.max, kops.max, X),
    "min": (K.min, kops.min, X), "prod": (K.prod, kops.prod, X), "var": (K.var, kops.var, X),
    "std": (K.std, kops.std, X), "logsumexp": (K.logsumexp, kops.logsumexp, X),
}

# name: (K call, reference call, inputs): keras.ops, or torch where Keras 3 on torch computes float64 in
# float32 (mean, matmul); the calls take the inputs as tensors of each library.
CALLS = {
    "square": (K.square, kops.square, [X]), "sqrt": (K.sqrt, kops.sqrt, [POS]), "abs": (K.abs, kops.abs, [X]),
    "exp": (K.exp, kops.exp, [X]), "log": (K.log, kops.log, [POS]), "negative": (K.negative, kops.negative, [X]),
    "add": (K.add, kops.add, [X, X[0, :, :1]]), "subtract": (K.subtract, kops.subtract, [X, X[1]]),
    "multiply": (K.multiply, kops.multiply, [X, X[:, :1]]), "divide": (K.divide, kops.divide, [X, POS[0]]),
    "pow": (K.pow, kops.power, [POS, X[0]]), "maximum": (K.maximum, kops.maximum, [X, X[0, 0] + 0.1]),  # no ties: torch splits them
    "minimum": (K.minimum, kops.minimum, [X, X[1, 1] + 0.1]),
    "clip": (lambda x: K.clip(x, -0.5, 1), lambda x: kops.clip(x, -0.5, 1), [X]),
    "where": (lambda a, b: K.switch(a > b, a, b), lambda a, b: kops.where(a > b, a, b), [X, X[::-1].copy()]),
    "relu": (K.relu, kops.relu, [X]), "sigmoid": (K.sigmoid, kops.sigmoid, [X]), "tanh": (K.tanh, kops.tanh, [X]),
    "softplus": (K.softplus, kops.softplus, [X]), "softsign": (K.softsign, kops.softsign, [X]),
    "elu": (K.elu, kops.elu, [X]),
    "softmax axis 1": (lambda x: K.softmax(x, axis=1), lambda x: kops.softmax(x, axis=1), [X]),
    "cumsum -1": (lambda x: K.cumsum(x, axis=-1), lambda x: kops.cumsum(x, axis=-1), [X]),
    "cumsum None": (lambda x: K.cumsum(x, axis=None), lambda x: kops.cumsum(x, axis=None), [X]),
    "cumprod 1": (lambda x: K.cumprod(x, axis=1), lambda x: kops.cumprod(x, axis=1), [POS]),
    "reshape": (lambda x: K.reshape(x, (4, -1)), lambda x: kops.reshape(x, (4, -1)), [X]),
    "flatten": (K.flatten, lambda x: kops.reshape(x, (-1,)), [X]),
    "batch_flatten": (K.batch_flatten, lambda x: kops.reshape(x, (2, -1)), [X]),
    "expand_dims": (lambda x: K.expand_dims(x, 1), lambda x: kops.expand_dims(x, 1), [X]),
    "squeeze": (lambda x: K.squeeze(x, -1), lambda x: kops.squeeze(x, -1), [X[..., :1]]),
    "transpose": (K.transpose, kops.transpose, [X]),
    "permute_dimensions": (lambda x: K.permute_dimensions(x, (2, 0, 1)), lambda x: kops.transpose(x, (2, 0, 1)), [X]),
    "concatenate": (lambda a, b: K.concatenate([a, b], axis=1), lambda a, b: kops.concatenate([a, b], axis=1),
                    [X, X[:, :2]]),
    "stack -1": (lambda a, b: K.stack([a, b], axis=-1), lambda a, b: kops.stack([a, b], axis=-1), [X, POS]),
    "dot": (K.dot, torch.matmul, [X, POS[0].T]), "matmul": (K.matmul, torch.matmul, [X, POS.swapaxes(1, 2)]),
    "batch_dot 3d": (K.batch_dot, torch.matmul, [X, POS.swapaxes(1, 2)]),
    "batch_dot 2d": (K.batch_dot, lambda a, b: kops.sum(a * b, axis=1, keepdims=True), [X[:, 0], POS[:, 1]]),
    "reverse": (lambda x: K.reverse(x, [0, 2]), lambda x: kops.flip(x, (0, 2)), [X]),
    "tile": (lambda x: K.tile(x, (1, 2, 3)), lambda x: kops.tile(x, (1, 2, 3)), [X]),
    "repeat_elements": (lambda x: K.repeat_elements(x, 2, 1), lambda x: kops.repeat(x, 2, axis=1), [X]),
    "gather": (lambda x: K.gather(x, np.array([1, 0, 1])), lambda x: kops.take(x, np.array([1, 0, 1]), axis=0), [X]),
    "l2_normalize": (lambda x: K.l2_normalize(x, axis=-1), lambda x: F.normalize(x, dim=-1, eps=1e-6), [X]),
    "categorical_crossentropy": (lambda p: K.categorical_crossentropy(np.eye(4)[[0, 3, 1]], p),
                                 lambda p: keras.losses.categorical_crossentropy(np.eye(4)[[0, 3, 1]], p),
                                 [POS[0] / POS[0].sum(-1, keepdims=True)]),
    "binary_crossentropy logits": (lambda p: K.binary_crossentropy(np.eye(4)[[0, 3, 1]], p, from_logits=True),
                                   lambda p: kops.binary_crossentropy(np.eye(4)[[0, 3, 1]], p, from_logits=True),
                                   [X[0]]),
}
CASES = {f"{n} axis={a} keepdims={k}": (lambda *t, f=f, a=a, k=k: f(*t, axis=a, keepdims=k),
                                        lambda *t, f=g, a=a, k=k: f(*t, axis=a, keepdims=k), [x])
         for n, (f, g, x) in REDUCTIONS.items() for a in AXES for k in (False, True)}
CASES.update(CALLS)


@pytest.mark.parametrize("name", list(CASES))
def test_value_and_gradient_match_keras3(name):
    mine, theirs, arrays = CASES[name]
    matches_torch(mine, theirs, arrays)


I32, I64, BOOL, F32 = np.array([1, 2], np.int32), np.array([1, 2]), np.array([True, False]), np.ones(2, np.float32)
# (K call, input, keras 3.15 ops on torch's dtype for the same call, measured)
DTYPES = [(K.mean, I32, "float32"), (K.mean, I64, "float32"), (K.mean, BOOL, "float32"), (K.exp, I32, "float32"),
          (K.sqrt, I64, "float32"), (K.log, I32, "float32"), (K.var, I32, "float32"), (K.std, I32, "float32"),
          (K.logsumexp, I32, "float32"), (K.max, I32, "int32"), (K.square, I32, "int32"), (K.abs, I32, "int32"),
          (K.round, I32, "int32"), (K.sign, I32, "int32"), (K.cumprod, I32, "int32"), (K.cumsum, BOOL, "int32"),
          (lambda x: K.clip(x, 0, 1), F32, "float32"), (lambda x: K.switch(x, 1.0, 0.0), BOOL, "float32"),
          (lambda x: K.clip(x, 0, 1), I32, "int32"), (K.mean, F32, "float32"), (K.var, F32, "float32"),
          (K.std, F32, "float32"), (K.l2_normalize, F32, "float32"), (K.logsumexp, F32, "float32"),
          (lambda x: K.pow(x, 2), F32, "float32"), (lambda x: K.binary_crossentropy(x, x * 0.5), F32, "float32")]


@pytest.mark.parametrize("fn, x, dtype", DTYPES)
def test_result_dtypes_are_keras3s(fn, x, dtype):
    assert str(fn(x).dtype) == dtype


def _grad(fn, *arrays):
    ins = [Tensor(np.asarray(a, dtype=np.float64), requires_grad=True) for a in arrays]
    return [np.asarray(g).tolist() for g in gradients(K.sum(fn(*ins)), ins)]


# ---- discrepancies the audit found (each failed before its fix) ------------------------------------
def test_tensorflow_values_at_kinks_and_zeros():
    # tf.keras 2.21 (tf.GradientTape), measured: sigmoid(0) - z at logit 0, not 1 - z
    z = np.array([1.0, 0.0, 0.3])
    np.testing.assert_allclose(_grad(lambda x: K.binary_crossentropy(z, x, from_logits=True), [0.0] * 3)[0],
                               [-0.5, 0.5, 0.2], rtol=1e-12)
    # tf.pow's exponent gradient is 0 where the base is <= 0 (was nan)
    np.testing.assert_allclose(_grad(lambda y: K.pow(np.array([0.0, -2.0, 2.0]), y), [2.0] * 3)[0],
                               [0.0, 0.0, 4 * np.log(2.0)], rtol=1e-12)
    # tf.reduce_prod's gradient is exact with zeros (was nan: prod / x)
    assert _grad(K.prod, [0.0, 2.0, 3.0])[0] == [6.0, 0.0, 0.0]
    assert _grad(lambda x: K.prod(x, axis=1), [[0.0, 2.0, 3.0], [1.0, 2.0, 4.0]])[0] == [[6, 0, 0], [8, 4, 2]]


def test_keras2_switch_extends_a_rank2_condition_over_trailing_axes():
    cond = np.array([[True, False, True], [False, False, True]])
    got = K.switch(cond, np.ones((2, 3, 2)), np.zeros((2, 3, 2)))  # tf.keras 2.21's result: whole rows
    np.testing.assert_array_equal(got.data, np.repeat(cond[..., None], 2, axis=-1).astype(float))
    assert K.switch(True, lambda: K.constant(1.0), lambda: K.constant(2.0)).numpy() == 1.0


@pytest.mark.parametrize("x, y, axes, shape", [((4, 3), (4, 3), None, (4, 1)), ((4, 3), (4, 3, 5), None, (4, 5)),
                                               ((4, 2, 3), (4, 3), (2, 1), (4, 2)), ((4, 3, 2), (4, 3, 5), 1, (4, 2, 5))])
def test_batch_dot_follows_keras2_axes_and_shapes(x, y, axes, shape):  # shapes from tf.keras 2.21
    a, b = RNG.standard_normal(x), RNG.standard_normal(y)
    got = K.batch_dot(a, b, axes=axes)
    assert got.shape == shape
    ta, tb = torch.as_tensor(a), torch.as_tensor(b)
    ax = (len(x) - 1, len(y) - (1 if len(y) == 2 else 2)) if axes is None else \
        ((axes, axes) if isinstance(axes, int) else axes)
    letters_a, letters_b = "bijk"[:len(x)], "bmno"[:len(y)]
    letters_b = letters_b.replace(letters_b[ax[1]], letters_a[ax[0]])
    rest = letters_a.replace(letters_a[ax[0]], "")[1:] + letters_b.replace(letters_a[ax[0]], "")[1:]
    expected = torch.einsum(f"{letters_a},{letters_b}->b{rest}", ta, tb).reshape(shape)
    np.testing.assert_allclose(got.data, expected.numpy(), rtol=1e-12)


def test_shapes_from_K_shape_reshape_and_activations_take_scalars():
    x = K.constant(np.ones((2, 3)))
    assert K.reshape(x, (K.shape(x)[0], -1)).shape == (2, 3) and K.reshape(x, K.shape(x)).shape == (2, 3)
    assert K.cumsum(np.array([True, True, False])).numpy().tolist() == [1, 2, 2]  # was a running "or"
    t = Tensor(np.array([[0.5, -1.0]]), requires_grad=True)
    s = K.sigmoid(K.mean(t))  # 0-d input to an activation used to raise
    sig = 1 / (1 + np.exp(0.25))
    assert s.shape == ()
    np.testing.assert_allclose(gradients(s, [t])[0], np.full((1, 2), sig * (1 - sig) / 2), rtol=1e-12)
