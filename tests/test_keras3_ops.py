"""Keras 3's ``keras.ops`` that gpunet.ops adds beyond Keras 2's backend functions (gpunet/autodiff/math_ops.py,
array_ops.py, control.py), against Keras 3 on torch: values and gradients (torch autograd, random upstream
gradient, float64), constants and their dtypes, the refusals, and a custom loss written with them training a
model as the same loss written with Keras 2's functions."""
import math

import numpy as np
import pytest

import gpunet
from gpunet import backend as B
from gpunet import ops
from keras_support import assert_constants_match, keras_float64_on_numpy, keras_on_torch, matches_torch

keras = keras_on_torch()
kops = keras.ops
torch = pytest.importorskip("torch")

RNG = np.random.default_rng(3)
X = RNG.uniform(-2.0, 2.0, (2, 3, 4))
POS = RNG.uniform(0.5, 2.0, (2, 3, 4))
M = RNG.uniform(-2.0, 2.0, (3, 4))
IDX = np.array([[2, 0, 1, 3], [3, 3, 0, 1], [1, 2, 2, 0]])  # (repeats: their gradients add up)


@pytest.fixture(autouse=True)
def _float64_on_numpy():
    with keras_float64_on_numpy(keras):
        yield


CASES = {
    "log1p": (ops.log1p, kops.log1p, [POS - 0.4]), "expm1": (ops.expm1, kops.expm1, [X]),
    "erf": (ops.erf, kops.erf, [X]), "rsqrt": (ops.rsqrt, kops.rsqrt, [POS]),
    "reciprocal": (ops.reciprocal, kops.reciprocal, [POS]), "relu6": (ops.relu6, kops.relu6, [X * 4]),
    "log_sigmoid": (ops.log_sigmoid, kops.log_sigmoid, [X * 10]), "silu": (ops.silu, kops.silu, [X]),
    "mod": (ops.mod, kops.mod, [POS * 3, POS[0] + 0.1]),
    "norm": (ops.norm, kops.norm, [X]),
    "norm axis -1 keepdims": (lambda x: ops.norm(x, axis=-1, keepdims=True),
                              lambda x: kops.norm(x, axis=-1, keepdims=True), [X]),
    "norm ord 1 axis 1": (lambda x: ops.norm(x, ord=1, axis=1), lambda x: kops.norm(x, ord=1, axis=1), [X]),
    "norm ord 3 axis 0": (lambda x: ops.norm(x, ord=3, axis=0), lambda x: kops.norm(x, ord=3, axis=0), [X]),
    "norm ord inf axis 2": (lambda x: ops.norm(x, ord=math.inf, axis=2),
                            lambda x: kops.norm(x, ord=math.inf, axis=2), [X]),
    "norm fro (1, 2)": (lambda x: ops.norm(x, ord="fro", axis=(1, 2)),
                        lambda x: kops.norm(x, ord="fro", axis=(1, 2)), [X]),
    "norm matrix ord 1": (lambda x: ops.norm(x, ord=1), lambda x: kops.norm(x, ord=1), [M]),
    "norm matrix ord -inf": (lambda x: ops.norm(x, ord=-math.inf, axis=(0, 1), keepdims=True),
                             lambda x: kops.norm(x, ord=-math.inf, axis=(0, 1), keepdims=True), [M]),
    "moments mean": (lambda x: ops.moments(x, axes=[0, 2])[0], lambda x: kops.moments(x, axes=[0, 2])[0], [X]),
    "moments variance keepdims": (lambda x: ops.moments(x, axes=[1], keepdims=True)[1],
                                  lambda x: kops.moments(x, axes=[1], keepdims=True)[1], [X]),
    # (Keras 3 on torch takes the norm in float32 there: torch's own arithmetic is the reference)
    "normalize": (ops.normalize, lambda x: x / torch.clamp(torch.linalg.vector_norm(x, dim=-1, keepdim=True), 1e-7),
                  [X]),
    "normalize order 1 axis 0": (lambda x: ops.normalize(x, axis=0, order=1), lambda x: x / torch.clamp(
        torch.linalg.vector_norm(x, ord=1, dim=0, keepdim=True), 1e-7), [X]),
    "nan_to_num": (ops.nan_to_num, kops.nan_to_num, [X]),
    "take axis 1": (lambda x: ops.take(x, [2, 0, 2, -1], axis=1), lambda x: kops.take(x, [2, 0, 2, -1], axis=1),
                    [X]),
    "take flat": (lambda x: ops.take(x, IDX), lambda x: kops.take(x, IDX), [X]),
    "take_along_axis": (lambda x: ops.take_along_axis(x, IDX, axis=1),
                        lambda x: kops.take_along_axis(x, IDX, axis=1), [M]),
    "take_along_axis broadcast": (lambda x: ops.take_along_axis(x, IDX[None, :2, :], axis=-1),
                                  lambda x: kops.take_along_axis(x, IDX[None, :2, :], axis=-1), [X[:, :2]]),
    "split": (lambda x: ops.split(x, 2, axis=-1)[1], lambda x: kops.split(x, 2, axis=-1)[1], [X]),
    "split at": (lambda x: ops.split(x, [1, 3], axis=2)[2], lambda x: kops.split(x, [1, 3], axis=2)[2], [X]),
    "repeat": (lambda x: ops.repeat(x, 2, axis=1), lambda x: kops.repeat(x, 2, axis=1), [X]),
    "repeat counts": (lambda x: ops.repeat(x, [1, 0, 3]), lambda x: kops.repeat(x, torch.tensor([1, 0, 3])), [X[0, 0, :3]]),
    "flip": (ops.flip, kops.flip, [X]), "flip axis": (lambda x: ops.flip(x, 1), lambda x: kops.flip(x, 1), [X]),
    "moveaxis": (lambda x: ops.moveaxis(x, 0, -1), lambda x: kops.moveaxis(x, 0, -1), [X]),
    "moveaxis several": (lambda x: ops.moveaxis(x, (0, 1), (2, 0)), lambda x: kops.moveaxis(x, (0, 1), (2, 0)), [X]),
    "swapaxes": (lambda x: ops.swapaxes(x, 0, 2), lambda x: kops.swapaxes(x, 0, 2), [X]),
    "broadcast_to": (lambda x: ops.broadcast_to(x, (2, 3, 4)), lambda x: kops.broadcast_to(x, (2, 3, 4)),
                     [X[0, :, :1]]),
    "pad constant": (lambda x: ops.pad(x, ((0, 0), (1, 2), (2, 0)), constant_values=0.5),
                     lambda x: kops.pad(x, ((0, 0), (1, 2), (2, 0)), constant_values=0.5), [X]),
    "pad reflect": (lambda x: ops.pad(x, ((1, 1), (2, 1)), mode="reflect"),
                    lambda x: kops.pad(x, ((1, 1), (2, 1)), mode="reflect"), [M]),
    # (Keras 3 on torch pads "symmetric" as "edge" and has no "edge": NumPy's modes, by its index maps, are the
    # reference here)
    "pad symmetric": (lambda x: ops.pad(x, ((2, 0), (0, 3)), mode="symmetric"),
                      lambda x: x[np.pad(np.arange(3), (2, 0), mode="symmetric")][
                          :, np.pad(np.arange(4), (0, 3), mode="symmetric")], [M]),
    "pad edge": (lambda x: ops.pad(x, ((0, 1), (2, 2)), mode="edge"),
                 lambda x: x[np.pad(np.arange(3), (0, 1), mode="edge")][:, np.pad(np.arange(4), 2, mode="edge")], [M]),
    "tril": (lambda x: ops.tril(x, -1), lambda x: kops.tril(x, -1), [X]),
    "triu": (lambda x: ops.triu(x, 1), lambda x: kops.triu(x, 1), [M]),
    "sort": (ops.sort, kops.sort, [X]), "sort axis 0": (lambda x: ops.sort(x, 0), lambda x: kops.sort(x, 0), [X]),
    "top_k": (lambda x: ops.top_k(x, 2)[0], lambda x: kops.top_k(x, 2)[0], [X]),
    "slice": (lambda x: ops.slice(x, (1, 0, 1), (1, 2, 3)), lambda x: kops.slice(x, (1, 0, 1), (1, 2, 3)), [X]),
    "slice_update": (lambda x, u: ops.slice_update(x, (0, 1, 1), u), lambda x, u: kops.slice_update(x, (0, 1, 1), u),
                     [X, POS[:1, :2, :2]]),
    "einsum matmul": (lambda a, b: ops.einsum("ij,jk->ik", a, b), lambda a, b: kops.einsum("ij,jk->ik", a, b),
                      [M, POS[0].T]),
    "einsum batch": (lambda a, b: ops.einsum("bij,bkj->bik", a, b), lambda a, b: kops.einsum("bij,bkj->bik", a, b),
                     [X, POS]),
    "einsum implicit": (lambda a, b: ops.einsum("ij,jk", a, b), lambda a, b: kops.einsum("ij,jk", a, b),
                        [M, POS[0].T]),
    "einsum summed away": (lambda a, b: ops.einsum("ij,k->j", a, b), lambda a, b: kops.einsum("ij,k->j", a, b),
                           [M, POS[0, 0]]),
    "einsum ellipsis left": (lambda a, b: ops.einsum("...j,jk->...k", a, b),
                             lambda a, b: kops.einsum("...j,jk->...k", a, b), [X, M.T]),
    "einsum ellipsis right": (lambda a, b: ops.einsum("ij...,jk->ik...", a, b),
                              lambda a, b: kops.einsum("ij...,jk->ik...", a, b), [X, POS[0]]),
    "einsum ellipsis broadcast": (lambda a, b: ops.einsum("...ij,...jk->...ik", a, b),
                                  lambda a, b: kops.einsum("...ij,...jk->...ik", a, b), [X, M.T]),
    "outer": (ops.outer, kops.outer, [M[0], POS[0, 0, :3]]),
    "diagonal": (lambda x: ops.diagonal(x, 1), lambda x: kops.diagonal(x, 1), [M]),
    "diagonal axes": (lambda x: ops.diagonal(x, -1, 1, 2), lambda x: kops.diagonal(x, -1, 1, 2), [X]),
    # (Keras 3 on torch divides by the weights' sum over the last axis, whatever the axis: NumPy's average here)
    "average": (lambda x: ops.average(x, axis=1, weights=POS), lambda x: (x * torch.tensor(POS)).sum(1) / torch.tensor(
        POS).sum(1), [X]),
    "average 1-D weights": (lambda x: ops.average(x, axis=1, weights=np.array([0.2, 0.5, 1.0])), lambda x: (
        x * torch.tensor([0.2, 0.5, 1.0], dtype=torch.float64)[:, None]).sum(1) / 1.7, [X]),
    "cond": (lambda x: ops.cond(ops.sum(x) > 0, lambda: x * 2, lambda: -x),
             lambda x: kops.cond(kops.sum(x) > 0, lambda: x * 2, lambda: -x), [X]),
    "fori_loop": (lambda x: ops.fori_loop(0, 3, lambda i, v: v * x + i, x),
                  lambda x: kops.fori_loop(0, 3, lambda i, v: v * x + i, x), [X]),
    "while_loop": (lambda x: ops.while_loop(lambda v, n: n < 3, lambda v, n: (ops.sin(v) * x, n + 1), (x, 0))[0],
                   lambda x: kops.while_loop(lambda v, n: n < 3, lambda v, n: (kops.sin(v) * x, n + 1), (x, 0))[0],
                   [X]),
    "vectorized_map": (lambda x: ops.vectorized_map(lambda r: ops.sum(r * r, axis=-1), x),
                       lambda x: kops.vectorized_map(lambda r: kops.sum(r * r, axis=-1), x), [X]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_value_and_gradient_match_keras3(name):
    mine, theirs, arrays = CASES[name]
    matches_torch(mine, theirs, arrays)


def test_constants_values_and_dtypes_are_keras3s():
    keras.config.set_floatx("float32")
    B.set_floatx("float32")
    X, POS, M = (a.astype("float32") for a in (globals()["X"], globals()["POS"], globals()["M"]))
    pairs = [(ops.ones((2, 3)), kops.ones((2, 3))), (ops.zeros((2,), "int32"), kops.zeros((2,), "int32")),
             (ops.full((2, 2), 7.0), kops.full((2, 2), 7.0)), (ops.full_like(M, 2), kops.full_like(torch.tensor(M), 2)),
             (ops.eye(3, 4, 1), kops.eye(3, 4, 1)), (ops.arange(5), kops.arange(5)),
             (ops.arange(1, 7, 2), kops.arange(1, 7, 2)), (ops.arange(0.5, 2.0, 0.5), kops.arange(0.5, 2.0, 0.5)),
             (ops.floor(X), kops.floor(torch.tensor(X))), (ops.ceil(X), kops.ceil(torch.tensor(X))),
             (ops.floor_divide(X, 0.7), kops.floor_divide(torch.tensor(X), 0.7)),
             (ops.isnan(np.array([1.0, np.nan])), kops.isnan(torch.tensor([1.0, np.nan]))),
             (ops.isinf(np.array([np.inf, 1.0])), kops.isinf(torch.tensor([np.inf, 1.0]))),
             (ops.isfinite(np.array([np.inf, 1.0])), kops.isfinite(torch.tensor([np.inf, 1.0]))),
             (ops.logical_and(X > 0, POS > 1), kops.logical_and(torch.tensor(X > 0), torch.tensor(POS > 1))),
             (ops.logical_or(X > 0, POS > 1), kops.logical_or(torch.tensor(X > 0), torch.tensor(POS > 1))),
             (ops.logical_xor(X > 0, POS > 1), kops.logical_xor(torch.tensor(X > 0), torch.tensor(POS > 1))),
             (ops.logical_not(X > 0), kops.logical_not(torch.tensor(X > 0))),
             (ops.count_nonzero(np.array([[0, 1], [2, 0]]), axis=0), kops.count_nonzero(torch.tensor([[0, 1], [2, 0]]),
                                                                                          axis=0)),
             (ops.argsort(X), kops.argsort(torch.tensor(X)))]
    assert_constants_match(pairs)
    np.testing.assert_array_equal(np.asarray(ops.top_k(X, 3)[1].data), kops.top_k(torch.tensor(X), 3)[1].numpy())
    assert ops.top_k(X, 3)[1].data.dtype == "int32"  # (TensorFlow's; torch's are int64)
    assert ops.size(X) == 24 and ops.ndim(X) == 3
    x = np.array([1.0, np.nan, np.inf, -np.inf])
    np.testing.assert_array_equal(np.asarray(ops.nan_to_num(x, nan=2.0, posinf=9.0, neginf=-9.0).data),
                                  [1.0, 2.0, 9.0, -9.0])
    parts = ops.split(np.arange(10.0), [3, 7])
    assert [p.shape for p in parts] == [(3,), (4,), (3,)]


@pytest.mark.parametrize("call, error, message", [
    (lambda: ops.einsum("ij,jk->ik", X, M.T), ValueError, "subscripts 'ij' of 'ij,jk->ik' do not fit an operand of 3"),
    (lambda: ops.einsum("i.j,jk->ik", M, M.T), ValueError, "each operand's subscripts are letters with at most one"),
    (lambda: ops.einsum("ii->i", M[:, :3]), NotImplementedError, "a diagonal"),
    (lambda: ops.einsum("ij,jk->ik", M), ValueError, "names 2 operands, received 1"),
    (lambda: ops.norm(M, ord="nuc"), NotImplementedError, "the matrix norm ord='nuc' is not implemented"),
    (lambda: ops.norm(M, ord=2, axis=(0, 1)), NotImplementedError, "the matrix norm ord=2"),
    (lambda: ops.norm(X, ord=1), ValueError, r"x must be 1-D or 2-D; received shape \(2, 3, 4\)"),
    (lambda: ops.pad(M, 1, mode="median"), NotImplementedError, "mode 'median' is not implemented"),
    (lambda: ops.pad(M, 1, mode="reflect", constant_values=2), ValueError, "constant_values goes with"),
    (lambda: ops.split(X, 3, axis=-1), ValueError, "4 entries along axis -1 do not split into 3 equal parts"),
    (lambda: ops.take(X, np.array([0.5])), TypeError, "take takes integer indices, received float64"),
    (lambda: ops.take_along_axis(M, IDX[0], axis=1), ValueError, r"indices need as many axes as x \(2\)"),
    (lambda: ops.moments(X, [0], synchronized=True), NotImplementedError, "synchronized=True"),
    (lambda: ops.while_loop(lambda a, b: True, lambda a, b: (a,), (1, 2)), ValueError, "returned 1 values for 2"),
])
def test_what_is_not_implemented_or_wrong_is_refused_by_name(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_a_loss_written_with_keras3_ops_trains_as_the_same_loss_in_keras2_functions():
    """A user's loss in keras.ops (norm, log1p, moments, take_along_axis) and the same in K functions: the
    same History and weights (on NumPy's fused step, the loss running its own gradient)."""
    K = gpunet.backend
    B.set_floatx("float64")
    cols = np.array([[0, 2]])

    def mine(y_true, y_pred):
        diff = y_pred - y_true
        picked = ops.take_along_axis(diff, np.repeat(cols, diff.shape[0], axis=0), axis=1)
        return ops.log1p(ops.norm(diff, axis=-1)) + ops.moments(picked, axes=[1])[1]

    def reference(y_true, y_pred):
        diff = y_pred - y_true
        picked = K.concatenate([diff[:, 0:1], diff[:, 2:3]], axis=-1)
        variance = K.mean(K.square(picked), axis=1) - K.square(K.mean(picked, axis=1))
        return K.log(1.0 + K.sqrt(K.sum(K.square(diff), axis=-1))) + variance

    def train(loss):
        gpunet.utils.set_random_seed(2)
        rng = np.random.default_rng(8)
        x, y = rng.standard_normal((40, 5)), rng.standard_normal((40, 3))
        model = gpunet.models.Sequential([gpunet.layers.Dense(8, input_dim=5, activation="tanh"),
                                          gpunet.layers.Dense(3)])
        model.compile(optimizer="adam", loss=loss)
        return model.fit(x, y, epochs=3, batch_size=8, verbose=0).history["loss"], model.get_weights()

    got, want = train(mine), train(reference)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-12)
    for g, w in zip(got[1], want[1]):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-13)


def test_the_new_elementwise_ops_on_symbolic_tensors_save_as_tf_keras_op_layers(tmp_path):
    """Called on a functional model's tensors they are TFOpLambda layers under TensorFlow's names
    (``math.log1p``...), which tf.keras 2 loads and predicts alike, and gpunet reads back from its file."""
    from keras_support import tf_keras_or_skip
    tf_keras = tf_keras_or_skip()
    B.set_floatx("float32")
    inputs = gpunet.layers.Input((4,))
    h = gpunet.layers.Dense(3)(inputs)
    out = ops.concatenate([ops.log1p(ops.abs(h)), ops.expm1(h * 0.1), ops.erf(h), ops.rsqrt(ops.abs(h) + 1.0),
                           ops.reciprocal(h + 5.0), ops.relu6(h * 4), ops.log_sigmoid(h), ops.floor(h), ops.ceil(h),
                           ops.mod(h, 0.7), ops.floor_divide(h, 0.7)], axis=-1)
    model = gpunet.models.Model(inputs, out)
    x = RNG.standard_normal((5, 4)).astype("float32")
    model.save(tmp_path / "m.h5")
    theirs = tf_keras.models.load_model(tmp_path / "m.h5")
    np.testing.assert_allclose(theirs.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    theirs.save(tmp_path / "tf.h5")
    np.testing.assert_array_equal(gpunet.models.load_model(tmp_path / "tf.h5").predict(x, verbose=0),
                                  model.predict(x, verbose=0))
    with pytest.raises(NotImplementedError, match="the op norm applied to symbolic tensors"):
        gpunet.models.Model(inputs, ops.norm(h, axis=-1)).save(tmp_path / "norm.h5")
