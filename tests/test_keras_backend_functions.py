"""``import gpunet.backend as K``: Keras 2's backend functions next to the backend selection API."""
import numpy as np
import pytest

import gpunet
import gpunet.backend as K
from gpunet.autodiff import Tensor, gradients, vjp
from gpunet.layers import Dense, Lambda
from gpunet.models import Sequential
from gpunet.testing import check_gradient

ISSUE_NAMES = ["mean", "sum", "square", "sqrt", "abs", "exp", "log", "clip", "maximum", "minimum", "pow", "dot",
               "transpose", "reshape", "concatenate", "sigmoid", "tanh", "softmax", "relu", "epsilon", "cast",
               "ones_like", "zeros_like", "sign", "where", "switch", "binary_crossentropy",
               "categorical_crossentropy", "std", "var", "any", "all", "greater", "greater_equal", "less",
               "less_equal", "equal", "not_equal"]


def test_keras2_names_and_the_backend_selection_api_live_together():
    missing = [n for n in ISSUE_NAMES if not callable(getattr(K, n, None))]
    assert not missing
    assert K.epsilon() == 1e-7 and K.floatx() == "float32" and callable(K.set_backend) and callable(K.use_backend)
    assert K.backend() in ("numpy", "cupy")


def test_values_on_plain_arrays_and_mixed_operands(ops):
    x = np.array([[1.0, -2.0, 3.0], [0.5, 0.0, -1.0]], dtype="float32")
    assert isinstance(K.mean(x), Tensor)
    np.testing.assert_allclose(K.mean(K.square(x), axis=-1).numpy(), [14 / 3, 1.25 / 3], rtol=1e-6)
    assert K.mean(x).dtype == np.float32 and (K.constant(2.0) * x).dtype == np.float32
    np.testing.assert_array_equal(K.switch(x > 0, x, K.zeros_like(x)).numpy(), np.maximum(x, 0))
    np.testing.assert_array_equal(K.any(K.greater(x, 2.5), axis=1).numpy(), [True, False])
    np.testing.assert_array_equal(K.all(K.not_equal(x, 0.0), axis=1).numpy(), [True, False])
    np.testing.assert_allclose((x + K.ones_like(x)).numpy(), x + 1)  # NumPy array on the left
    assert K.int_shape(K.concatenate([x, x])) == (2, 6) and K.ndim(x) == 2
    assert float(K.sum(K.cast(K.equal(x, 0.0), "float32"))) == 1.0


def test_gradients_flow_through_keras_functions(ops):
    x = Tensor(ops.asarray(np.array([[0.2, 0.9], [0.6, 0.3]])), requires_grad=True)
    y = ops.asarray(np.array([[0.0, 1.0], [1.0, 0.0]]))
    loss = K.mean(K.binary_crossentropy(y, K.clip(x, K.epsilon(), 1 - K.epsilon())))
    (g,) = gradients(loss, [x])
    xh, yh = ops.to_host(x.data), ops.to_host(y)
    expected = (-(yh / (xh + 1e-7)) + (1 - yh) / (1 - xh + 1e-7)) / 4
    np.testing.assert_allclose(ops.to_host(g), expected, rtol=1e-6)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="Reduction axis 2 is out of range for a tensor of rank 2"):
        K.sum(np.zeros((2, 2)), axis=2)
    with pytest.raises(ValueError, match=r"K.dot in gpunet multiplies by a 1-D or 2-D tensor"):
        K.dot(np.zeros((2, 2)), np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="upstream gradient has shape"):
        t = Tensor(np.zeros(3), requires_grad=True)
        gradients(t * 2, [t], np.zeros(2))


# ---- the rest of Keras 2's K.* functions ------------------------------------------------------------------
AUDIT_NAMES = ["round", "l2_normalize", "cumsum", "cumprod", "shape", "int_shape", "one_hot", "gather",
               "cast_to_floatx", "random_uniform", "random_normal", "random_binomial", "random_bernoulli", "dropout",
               "reverse", "tile", "repeat_elements", "zeros", "ones", "eye", "variable", "constant",
               "image_data_format", "set_image_data_format", "floatx", "count_params", "expand_dims", "squeeze",
               "stack", "flatten", "batch_flatten", "argmin", "prod", "logsumexp", "softplus", "softsign", "elu",
               "hard_sigmoid", "in_top_k", "stop_gradient", "permute_dimensions", "arange", "less", "less_equal",
               "greater_equal", "not_equal", "maximum"]


def test_the_audited_keras2_names_exist():
    assert [n for n in AUDIT_NAMES if not callable(getattr(K, n, None))] == []
    assert set(AUDIT_NAMES) - {"floatx", "set_image_data_format"} <= set(K.__all__)


def _values(t):  # host values of a tensor or an array
    return np.asarray(t.numpy() if isinstance(t, Tensor) else t)


def test_values_match_numpy_and_keras2_semantics(ops):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4)).astype("float32")
    np.testing.assert_array_equal(_values(K.round(np.array([0.5, 1.5, 2.5, -0.5, -1.5, 2.4]))),
                                  [0.0, 2.0, 2.0, -0.0, -2.0, 2.0])  # halves to even, as tf.round
    norm = K.l2_normalize(x, axis=-1)
    assert norm.dtype == np.float32
    np.testing.assert_allclose(_values(norm), x / np.sqrt((x ** 2).sum(-1, keepdims=True)), rtol=1e-6)
    np.testing.assert_allclose(_values(K.l2_normalize(x)), x / np.sqrt((x ** 2).sum()), rtol=1e-6)
    np.testing.assert_array_equal(_values(K.l2_normalize(np.zeros((2, 3)), axis=1)), np.zeros((2, 3)))
    np.testing.assert_allclose(_values(K.cumsum(x)), np.cumsum(x, axis=0), rtol=1e-6)  # Keras 2: axis 0
    np.testing.assert_allclose(_values(K.cumprod(x, axis=-1)), np.cumprod(x, axis=-1), rtol=1e-6)
    assert K.cumsum(np.arange(6, dtype="int32")).dtype == np.int32
    shape = K.shape(x)
    assert shape.dtype == np.int32 and _values(shape).tolist() == [3, 4] and int(shape[0]) == 3
    np.testing.assert_array_equal(_values(K.one_hot(np.array([[0, 2], [5, -1]]), 4)),
                                  [[[1, 0, 0, 0], [0, 0, 1, 0]], [[0, 0, 0, 0], [0, 0, 0, 0]]])
    assert K.one_hot(np.array([1]), 3).dtype == np.float32
    np.testing.assert_array_equal(_values(K.gather(x, np.array([[2, 0], [2, 2]]))), x[[[2, 0], [2, 2]]])
    np.testing.assert_array_equal(_values(K.gather(x, 1)), x[1])
    np.testing.assert_array_equal(_values(K.gather(x, K.argmin(x, axis=0))), x[np.argmin(x, axis=0)])
    np.testing.assert_array_equal(_values(K.reverse(x, 1)), x[:, ::-1])
    np.testing.assert_array_equal(_values(K.reverse(x, [0, 1])), x[::-1, ::-1])
    np.testing.assert_array_equal(_values(K.tile(x, [2, 3])), np.tile(x, (2, 3)))
    np.testing.assert_array_equal(_values(K.tile(x[0], 3)), np.tile(x[0], 3))
    np.testing.assert_array_equal(_values(K.tile(x, [K.shape(x)[0], 1])), np.tile(x, (3, 1)))
    np.testing.assert_array_equal(_values(K.repeat_elements(x, 3, axis=1)), np.repeat(x, 3, axis=1))
    big = x * 300  # exp overflows float32: the maximum is subtracted first
    lse = np.log(np.exp(big.astype(np.float64) - big.max(1, keepdims=True)).sum(1)) + big.max(1)
    np.testing.assert_allclose(_values(K.logsumexp(big, axis=1)), lse, rtol=1e-6)
    assert K.logsumexp(x, keepdims=True).shape == (1, 1)
    np.testing.assert_array_equal(_values(K.logsumexp(np.full((2, 3), -np.inf), axis=1)), [-np.inf, -np.inf])
    assert _values(K.arange(5)).tolist() == [0, 1, 2, 3, 4] and K.arange(5).dtype == np.int32
    assert _values(K.arange(-3)).tolist() == [] and _values(K.arange(1, 10, 3, dtype="float32")).tolist() == [1, 4, 7]
    p = np.array([[0.1, 0.5, 0.5, 0.2], [0.3, 0.3, 0.3, 0.1], [1.0, np.nan, 0.0, 0.0], [0.1, 0.2, 0.3, 0.4]])
    # ties at the boundary count as in; a non-finite row or an out-of-range target is False (tf.math.in_top_k)
    assert _values(K.in_top_k(p, np.array([2, 3, 0, 4]), 1)).tolist() == [True, False, False, False]
    assert _values(K.in_top_k(p, np.array([0, 0, 0, 2]), 2)).tolist() == [False, True, False, True]
    assert K.count_params(np.zeros((3, 5))) == 15 and K.int_shape(K.expand_dims(x, 1)) == (3, 1, 4)


def test_constants_floatx_and_image_data_format(ops):
    cast = K.cast_to_floatx([1, 2])
    assert type(cast) is np.ndarray and cast.dtype == np.float32  # Keras 2: a NumPy array for a list
    assert K.cast_to_floatx(K.constant([1, 2], dtype="int32")).dtype == np.float32
    K.set_floatx("float64")
    assert K.cast_to_floatx(ops.asarray(np.ones(2, "float32"))).dtype == np.float64
    assert K.constant(1.0, name="c").dtype == np.float64
    assert K.image_data_format() == "channels_last"
    try:
        K.set_image_data_format("channels_first")
        assert K.image_data_format() == "channels_first"
        with pytest.raises(ValueError, match="Unknown data_format 'nhwc'"):
            K.set_image_data_format("nhwc")
    finally:
        K.set_image_data_format("channels_last")


def test_variables_work_with_get_value_set_value_eval_and_expressions(ops):
    v = K.variable([[1, 2], [3, 4]], name="w")
    assert v.dtype == np.float32 and v.name == "w" and K.int_shape(v) == (2, 2) and K.count_params(v) == 4
    np.testing.assert_array_equal(K.get_value(v), [[1, 2], [3, 4]])
    K.set_value(v, np.full((2, 2), 0.5))
    np.testing.assert_array_equal(K.eval(K.sum(v * 2, axis=0)), [2.0, 2.0])
    v.assign_add(np.ones((2, 2)))
    np.testing.assert_array_equal(K.eval(v), np.full((2, 2), 1.5))
    source = np.arange(3.0)
    copy, source[0] = K.variable(source, dtype="float64"), 9.0
    assert copy.dtype == np.float64 and K.get_value(copy)[0] == 0.0  # the variable keeps its own copy
    np.testing.assert_array_equal(K.get_value(K.zeros((2, 3))), np.zeros((2, 3), "float32"))
    np.testing.assert_array_equal(K.eval(K.ones((2,), dtype="int32")), [1, 1])
    np.testing.assert_array_equal(K.get_value(K.eye(3)), np.eye(3))
    np.testing.assert_array_equal(K.get_value(K.eye((2, 3))), np.eye(2, 3))
    with pytest.raises(ValueError, match="takes no constraint"):
        K.variable(1.0, constraint=lambda w: w)


def test_random_functions_draw_from_gpunets_seeded_generator(ops):
    def draws():
        return [_values(K.random_uniform((2, 3), -1.0, 2.0)), _values(K.random_normal((4,), 1.0, 0.5)),
                _values(K.random_binomial((5,), 0.5)), _values(K.dropout(np.ones((2, 4), "float32"), 0.5))]

    gpunet.utils.set_random_seed(21)
    first = draws()
    gpunet.utils.set_random_seed(21)
    for a, b in zip(first, draws()):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], _values(K.random_uniform((2, 3), -1.0, 2.0)))
    np.testing.assert_array_equal(_values(K.random_normal((3,), seed=4)), _values(K.random_normal((3,), seed=4)))
    u = _values(K.random_uniform((20000,), -1.0, 2.0))
    assert u.dtype == np.float32 and u.min() >= -1.0 and u.max() < 2.0 and abs(u.mean() - 0.5) < 0.03
    n = _values(K.random_normal((K.shape(u)[0],), 1.0, 0.5, dtype="float64"))
    assert n.dtype == np.float64 and abs(n.mean() - 1.0) < 0.02 and abs(n.std() - 0.5) < 0.02
    b = _values(K.random_bernoulli((20000,), 0.3))
    assert set(np.unique(b)) == {0.0, 1.0} and abs(b.mean() - 0.3) < 0.02
    d = _values(K.dropout(np.ones((200, 100), "float32"), 0.25))
    assert set(np.unique(d)) == {0.0, np.float32(1 / 0.75)} and abs((d == 0).mean() - 0.25) < 0.02
    rows = _values(K.dropout(np.ones((50, 6)), 0.5, noise_shape=(None, 1)))
    assert (rows == rows[:, :1]).all()  # one draw per row, shared along the broadcast axis
    with pytest.raises(ValueError, match=r"level is the fraction of values to drop, in \[0, 1\)"):
        K.dropout(np.ones(3), 1.0)


def _check(ops, fn, x):
    """``fn``'s gradient by finite differences (float64, random upstream gradient)."""
    state = {}

    def forward(a):
        out, state["backward"] = vjp(fn, ops.asarray(a))
        return ops.to_host(out)
    check_gradient(forward, lambda dy: ops.to_host(state["backward"](ops.asarray(dy))[0]), x, rtol=1e-6)


R3 = np.random.default_rng(8).uniform(-2.0, 2.0, (2, 3, 4))
GRADIENTS = {
    "l2_normalize last": (lambda a: K.l2_normalize(a, axis=-1), R3),
    "l2_normalize all": (K.l2_normalize, R3),
    "l2_normalize axes": (lambda a: K.l2_normalize(a, axis=[0, 2]), R3),
    "cumsum 0": (K.cumsum, R3),
    "cumsum -1": (lambda a: K.cumsum(a, axis=-1), R3),
    "cumprod 1": (lambda a: K.cumprod(a, axis=1), np.abs(R3) + 0.5),
    "gather repeated": (lambda a: K.gather(a, np.array([[1, 0], [1, 1]])), R3),
    "gather int": (lambda a: K.gather(a, 1), R3),
    "reverse": (lambda a: K.reverse(a, [0, 2]) * np.arange(24.0).reshape(2, 3, 4), R3),
    "tile": (lambda a: K.tile(a, [2, 1, 3]), R3),
    "repeat_elements": (lambda a: K.repeat_elements(a, 3, axis=1), R3),
    "repeat_elements last": (lambda a: K.repeat_elements(a, 2, axis=-1), R3),
    "logsumexp all": (K.logsumexp, R3),
    "logsumexp axis keepdims": (lambda a: K.logsumexp(a, axis=1, keepdims=True), R3 * 50),
    "permute_dimensions": (lambda a: K.permute_dimensions(a, (2, 0, 1)), R3),
    "dropout seeded": (lambda a: K.dropout(a, 0.4, seed=3), R3),
    "round is a constant": (lambda a: K.round(a) * a, R3),
    "expand_squeeze_stack": (lambda a: K.stack([K.squeeze(K.expand_dims(a, 0), 0), a], axis=1), R3),
}


@pytest.mark.parametrize("name", list(GRADIENTS))
def test_gradients_against_finite_differences_in_float64(ops, name):
    fn, x = GRADIENTS[name]
    _check(ops, fn, x.copy())


def test_functions_without_gradients_give_constants(ops):
    x = Tensor(ops.asarray(np.array([[0.2, 1.6], [2.5, -0.7]])), requires_grad=True)
    for out in [K.round(x), K.one_hot(K.argmin(x), 3), K.argmin(x), K.less(x, 1.0), K.not_equal(x, 0.0),
                K.in_top_k(x, np.array([0, 1]), 1), K.shape(x), K.stop_gradient(x), K.stop_gradient([x, x])[1]]:
        assert not out.requires_grad and not out.parents
    assert K.random_normal((2,)).requires_grad is False and K.dropout(x, 0.5).requires_grad
    (g,) = gradients(K.sum(K.stop_gradient(x) * x), [x])  # d/dx of c * x with c held: c
    np.testing.assert_array_equal(ops.to_host(g), ops.to_host(x.data))


# ---- end to end: the Stack Overflow F1 metric (K.round) and an l2_normalize loss during fit ---------------
def recall_m(y_true, y_pred):
    true_positives = K.sum(K.round(K.clip(y_true * y_pred, 0, 1)))
    possible_positives = K.sum(K.round(K.clip(y_true, 0, 1)))
    return true_positives / (possible_positives + K.epsilon())


def precision_m(y_true, y_pred):
    true_positives = K.sum(K.round(K.clip(y_true * y_pred, 0, 1)))
    predicted_positives = K.sum(K.round(K.clip(y_pred, 0, 1)))
    return true_positives / (predicted_positives + K.epsilon())


def f1_m(y_true, y_pred):
    precision, recall = precision_m(y_true, y_pred), recall_m(y_true, y_pred)
    return 2 * ((precision * recall) / (precision + recall + K.epsilon()))


def cosine_loss(y_true, y_pred):
    return -K.sum(K.l2_normalize(y_true, axis=-1) * K.l2_normalize(y_pred, axis=-1), axis=-1)


def test_f1_metric_with_round_is_reported_during_fit_and_evaluate():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((96, 4)).astype("float32")
    y = (x[:, :1] + 0.5 * x[:, 1:2] > 0).astype("float32")
    model = Sequential([Dense(8, input_dim=4, activation="relu"), Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy", f1_m, precision_m, recall_m])
    history = model.fit(x[:80], y[:80], validation_data=(x[80:], y[80:]), epochs=8, batch_size=16, verbose=0).history
    assert {"f1_m", "precision_m", "recall_m", "val_f1_m"} <= set(history)
    pred, truth = model.predict(x[80:], verbose=0).astype(np.float64), y[80:]
    tp = np.round(truth * pred).sum()
    precision, recall = tp / (np.round(pred).sum() + 1e-7), tp / (truth.sum() + 1e-7)
    expected = 2 * precision * recall / (precision + recall + 1e-7)
    assert history["val_f1_m"][-1] == pytest.approx(expected, rel=1e-5) and expected > 0.5
    logs = model.evaluate(x[80:], y[80:], batch_size=16, verbose=0, return_dict=True)
    assert logs["f1_m"] == pytest.approx(expected, rel=1e-5)
    assert logs["precision_m"] == pytest.approx(precision, rel=1e-5)


def test_l2_normalize_loss_trains_like_the_builtin_cosine_similarity():
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((64, 5)).astype("float32"), rng.standard_normal((64, 3)).astype("float32")
    results = []
    for loss in ["cosine_similarity", cosine_loss]:
        gpunet.utils.set_random_seed(9)
        model = Sequential([Dense(6, input_dim=5, activation="tanh"), Dense(3)])
        model.compile(optimizer=gpunet.optimizers.SGD(0.1), loss=loss)
        results.append((model, model.fit(x, y, epochs=3, batch_size=16, verbose=0).history["loss"]))
    (builtin, h1), (custom, h2) = results
    np.testing.assert_allclose(h2, h1, rtol=1e-6)
    assert h2[-1] < h2[0]
    for a, b in zip(builtin.get_weights(), custom.get_weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def shape_play(x):
    """A Lambda function over the new shape functions: (batch, 3) -> (batch, 4), differentiable."""
    wide = K.repeat_elements(K.tile(x, [1, 2]), 2, axis=1)  # (batch, 12)
    mixed = K.cumsum(K.reverse(wide, 1), axis=1) + K.gather(K.permute_dimensions(wide, (1, 0)), [0]).T
    return K.concatenate([K.l2_normalize(mixed[:, :3], axis=-1), K.logsumexp(mixed, axis=1, keepdims=True)])


def test_lambda_layer_with_the_new_functions_trains():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((48, 5)).astype("float32")
    y = np.tanh(x[:, :1] - x[:, 1:2]).astype("float32")
    model = Sequential([Dense(3, input_dim=5), Lambda(shape_play), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    losses = model.fit(x, y, epochs=20, batch_size=16, verbose=0).history["loss"]
    assert np.isfinite(losses).all() and losses[-1] < 0.8 * losses[0] and model.layers[2].input_shape == (None, 4)
