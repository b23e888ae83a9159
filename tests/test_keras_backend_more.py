"""The rest of Keras 2's backend functions (sin, cos, bias_add, repeat, batch_normalization, map_fn, foldl,
foldr, print_tensor, truncated_normal, type queries, variable updates, uids, name scopes) against tf.keras
2.21 on the same float32 inputs, and their gradients by central differences; the learning-phase functions
are in test_keras_backend_phase.py."""
import json

import numpy as np
import pytest

import gpunet
import gpunet.backend as K
from gpunet.autodiff import Tensor, gradients, vjp
from gpunet.layers import Dense
from gpunet.models import Sequential
from gpunet.testing import check_gradient

from graph_gradients import assert_trains_alike
from keras_support import tf_keras_or_skip

tf_keras = tf_keras_or_skip()
TK = tf_keras.backend
ADDED = ["cos", "sin", "dtype", "is_keras_tensor", "batch_get_value", "batch_set_value", "update", "update_add",
         "update_sub", "moving_average_update", "in_train_phase", "in_test_phase", "set_learning_phase",
         "learning_phase_scope", "bias_add", "truncated_normal", "random_normal_variable", "random_uniform_variable",
         "repeat", "get_uid", "reset_uids", "print_tensor", "batch_normalization", "is_sparse", "to_dense",
         "name_scope", "manual_variable_initialization", "foldl", "foldr", "map_fn", "binary_focal_crossentropy",
         "categorical_focal_crossentropy"]


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    yield
    K.clear_session()  # (a learning phase or uids a test set)
    TK.clear_session()


def _host(a):
    """Host values of a tensor, variable, backend array or TF tensor."""
    return np.asarray(a.numpy() if hasattr(a, "numpy") else a)


def _f32(*shape, low=-2.0, high=2.0, seed=0):
    return np.random.default_rng(seed + len(shape)).uniform(low, high, shape).astype("float32")


def test_the_functions_are_exported_and_gradients_is_not():
    assert [n for n in ADDED if not callable(getattr(K, n, None))] == [] and set(ADDED) <= set(K.__all__)
    assert not hasattr(K, "gradients")  # no symbolic gradients in gpunet (see the README's backend row)


X2, X3, X4 = _f32(4, 3), _f32(2, 3, 4), _f32(2, 3, 4, 5)
LABELS, PROBS = (X2 > 0).astype("float32"), _f32(4, 3, low=0.01, high=0.99, seed=5)
ONE_HOT = np.eye(3, dtype="float32")[[0, 2, 1, 1]]
V3, V4, V5, POS3, POS5 = _f32(3, seed=1), _f32(4, seed=2), _f32(5), _f32(3, low=0.5, seed=4), _f32(5, low=0.5)
VALUES = {  # name: (function of a backend module and arrays, the arrays)
    "sin": (lambda Kb, x: Kb.sin(x), [X3 * 10]),
    "cos": (lambda Kb, x: Kb.cos(x), [X3 * 10]),
    "bias_add 2-D": (lambda Kb, x, b: Kb.bias_add(x, b), [X2, V3]),
    "bias_add 4-D last": (lambda Kb, x, b: Kb.bias_add(x, b), [X4, V5]),
    "bias_add 3-D first": (lambda Kb, x, b: Kb.bias_add(x, b, data_format="channels_first"), [X3, V3]),
    "bias_add 4-D first": (lambda Kb, x, b: Kb.bias_add(x, b, data_format="channels_first"), [X4, V3]),
    "bias_add n-D last": (lambda Kb, x, b: Kb.bias_add(x, b), [X3, _f32(3, 4)]),
    "bias_add n-D first": (lambda Kb, x, b: Kb.bias_add(x, b, data_format="channels_first"), [X4, _f32(4, 5, 3)]),
    "repeat": (lambda Kb, x: Kb.repeat(x, 3), [X2]),
    "batch_normalization": (lambda Kb, *a: Kb.batch_normalization(*a, epsilon=1e-3), [X2, V3, POS3, V3 / 2, V3 * 3]),
    "batch_normalization plain": (lambda Kb, x, m, v: Kb.batch_normalization(x, m, v, None, None), [X2, V3, POS3]),
    "batch_normalization 3-D": (lambda Kb, x, m, v, b: Kb.batch_normalization(x, m, v, b, None),
                                [X3, V4.reshape(1, 1, 4), _f32(1, 1, 4, low=0.1), V4]),
    "batch_normalization 4-D last": (lambda Kb, *a: Kb.batch_normalization(*a, epsilon=1e-6), [X4, V5, POS5, V5, POS5]),
    "batch_normalization 4-D axis 1": (lambda Kb, *a: Kb.batch_normalization(*a, axis=1), [X4, V3, POS3, V3, POS3]),
    "map_fn": (lambda Kb, x: Kb.map_fn(lambda r: Kb.sum(r * r), x), [X2]),
    "map_fn several": (lambda Kb, x, y: Kb.map_fn(lambda t: (t[0] * t[1], Kb.max(t[0])), (x, y),
                                                  dtype=("float32", "float32"))[0], [X2, X2 + 1]),
    "foldl": (lambda Kb, x: Kb.foldl(lambda a, r: a * 0.5 + r, x), [X2]),
    "foldr": (lambda Kb, x: Kb.foldr(lambda a, r: a * 0.5 - r, x, initializer=np.ones(3, "float32")), [X2]),
    "foldl pairs": (lambda Kb, x, y: Kb.foldl(lambda a, t: a + t[0] * t[1], (x, y), initializer=np.zeros(3, "float32")),
                    [X2, X2 - 1]),
    "binary_focal_crossentropy": (lambda Kb, t, p: Kb.binary_focal_crossentropy(t, p), [LABELS, PROBS]),
    "binary_focal_crossentropy balanced": (lambda Kb, t, p: Kb.binary_focal_crossentropy(
        t, p, apply_class_balancing=True, alpha=0.3, gamma=1.5), [LABELS, PROBS]),
    "binary_focal_crossentropy logits": (lambda Kb, t, z: Kb.binary_focal_crossentropy(
        t, z, from_logits=True, gamma=3.0), [LABELS, X2 * 4]),
    "categorical_focal_crossentropy": (lambda Kb, t, p: Kb.categorical_focal_crossentropy(t, p), [ONE_HOT, PROBS]),
    "categorical_focal_crossentropy logits": (lambda Kb, t, z: Kb.categorical_focal_crossentropy(
        t, z, alpha=0.5, gamma=1.0, from_logits=True), [ONE_HOT, X2 * 3]),
}


@pytest.mark.parametrize("name", list(VALUES))
def test_values_dtypes_and_shapes_match_tf_keras(ops, name):
    fn, arrays = VALUES[name]
    mine = _host(fn(K, *arrays))
    theirs = fn(TK, *[TK.constant(a, dtype=a.dtype) for a in arrays]).numpy()
    assert mine.shape == theirs.shape and mine.dtype == theirs.dtype == np.float32
    np.testing.assert_allclose(mine, theirs, rtol=2e-6, atol=1e-6)


R = np.random.default_rng(8)
G2, G3, G4 = R.uniform(-2, 2, (4, 3)), R.uniform(-2, 2, (2, 3, 4)), R.uniform(-2, 2, (2, 3, 4, 2))
P3 = R.uniform(0.5, 2.0, 3)
GRADIENTS = {  # name: (function of tensors, float64 arrays): each input's gradient is checked
    "sin": (K.sin, [G3 * 3]),
    "cos": (K.cos, [G3 * 3]),
    "bias_add last": (K.bias_add, [G3, R.uniform(-1, 1, 4)]),
    "bias_add first n-D": (lambda x, b: K.bias_add(x, b, data_format="channels_first"),
                           [G4, R.uniform(-1, 1, (4, 2, 3))]),
    "repeat": (lambda x: K.repeat(x, 3) * np.arange(9.0).reshape(1, 3, 3), [G2]),
    "batch_normalization": (K.batch_normalization, [G2, R.uniform(-1, 1, 3), P3, R.uniform(-1, 1, 3), P3 - 1]),
    "batch_normalization 4-D axis 1": (lambda *a: K.batch_normalization(*a, axis=1, epsilon=0.1),
                                       [G4, R.uniform(-1, 1, 3), P3, R.uniform(-1, 1, 3), P3 + 1]),
    "map_fn": (lambda x: K.map_fn(lambda r: K.cos(r) * K.sum(r), x), [G2]),
    "foldl pairs": (lambda x, y: K.foldl(lambda a, t: a * t[1] + t[0], (x, y), initializer=K.ones_like(x[0])),
                    [G2, G2 + 0.5]),
    "foldr": (lambda x: K.foldr(lambda a, r: K.sin(a) * r, x), [G2]),
    "binary_focal_crossentropy": (lambda p: K.binary_focal_crossentropy(LABELS.astype("float64"), p, gamma=2.5),
                                  [R.uniform(0.05, 0.95, (4, 3))]),
    "binary_focal_crossentropy logits": (lambda z: K.binary_focal_crossentropy(
        LABELS.astype("float64"), z, apply_class_balancing=True, from_logits=True), [G2]),
    "categorical_focal_crossentropy": (lambda p: K.categorical_focal_crossentropy(ONE_HOT.astype("float64"), p),
                                       [R.uniform(0.05, 0.95, (4, 3))]),
    "categorical_focal_crossentropy logits": (lambda z: K.categorical_focal_crossentropy(
        ONE_HOT.astype("float64"), z, from_logits=True), [G2]),
}


@pytest.mark.parametrize("name", list(GRADIENTS))
def test_gradients_against_finite_differences_in_float64(ops, name):
    fn, arrays = GRADIENTS[name]
    for i in range(len(arrays)):
        state = {}

        def forward(a, i=i):
            parts = [ops.asarray(a if j == i else b) for j, b in enumerate(arrays)]
            out, state["backward"] = vjp(fn, *parts)
            return ops.to_host(out)
        check_gradient(forward, lambda dy, i=i: ops.to_host(state["backward"](ops.asarray(dy))[i]), arrays[i],
                       rtol=1e-6)


def test_print_tensor_prints_as_tf_print_and_passes_x_and_its_gradient_on(ops, capfd):
    cases = [(np.array([[1.0, 2.0], [3.0, 4.0]], "float32"), "msg", 3), (np.arange(10), "", 3),
             (np.arange(64).reshape(8, 8), "m", 3), (np.arange(128).reshape(2, 8, 8).astype("float32") / 7, "x", 2),
             (np.array([np.nan, np.inf, -0.0, 1 / 3, 123456789.0, 2.5e-7], "float32"), "f", -1),
             (np.array([0.1, 1 / 3]), "d", None), (np.array(3.5, "float32"), "s", 3), (np.array([True, False]), 7, 3)]
    for a, message, summarize in cases:
        assert K.print_tensor(a, message=message, summarize=summarize) is a
        mine = capfd.readouterr().out
        TK.print_tensor(TK.constant(a, dtype=a.dtype), message=message, summarize=summarize)
        assert mine == capfd.readouterr().out
    t = Tensor(ops.asarray(np.array([1.0, 2.0])), requires_grad=True)
    (g,) = gradients(K.sum(K.print_tensor(t) * 3.0), [t])
    np.testing.assert_array_equal(ops.to_host(g), [3.0, 3.0])
    assert capfd.readouterr().out == " [1 2]\n"
    inputs = gpunet.Input((2,))
    model = gpunet.Model(inputs, K.print_tensor(inputs * 2, message="seen"))
    assert capfd.readouterr().out == ""  # building the model printed nothing
    model.predict(np.ones((3, 2), "float32"), verbose=0)
    assert "seen [[2 2]\n [2 2]\n [2 2]]\n" in capfd.readouterr().out


def test_type_queries_match_tf_keras():
    mine_in, their_in = gpunet.Input((3,)), tf_keras.Input((3,))
    pairs = [(mine_in, their_in), (Dense(2)(mine_in), tf_keras.layers.Dense(2)(their_in)),
             (K.variable([1, 2]), TK.variable([1, 2])), (K.variable([1], dtype="float64"), TK.variable([1], "float64")),
             (K.constant([1], dtype="int32"), TK.constant([1], dtype="int32"))]
    for mine, theirs in pairs:
        assert (K.is_keras_tensor(mine), K.dtype(mine)) == (TK.is_keras_tensor(theirs), TK.dtype(theirs))
        assert K.is_sparse(mine) is TK.is_sparse(theirs) is False and K.to_dense(mine) is mine
    assert K.dtype(Sequential([Dense(2, input_dim=3)]).weights[0]) == "float32"
    for bad in (np.ones(2), 1.0):
        with pytest.raises(ValueError) as mine:
            K.is_keras_tensor(bad)
        with pytest.raises(ValueError) as theirs:
            TK.is_keras_tensor(bad)
        assert str(mine.value) == str(theirs.value)
    with pytest.raises(TypeError, match="K.dtype expects a tensor or variable, received float"):
        K.dtype(2.0)


def test_variable_updates_match_tf_keras_in_place(ops):
    start = np.array([[1.0, -2.0], [0.5, 3.0]], "float32")
    mine, theirs, ints, their_ints = K.variable(start), TK.variable(start), K.variable([0, 0], "int32"), \
        TK.variable([0, 0], "int32")
    stored = mine.value
    steps = [("update", [[2, 1], [0, -1]]), ("update_add", [[0.1, 0.2], [0.3, 0.4]]), ("update_sub", [[1, 1], [1, 1]])]
    for name, value in steps:
        value = np.asarray(value, "float32")
        assert getattr(K, name)(mine, value) is mine
        getattr(TK, name)(theirs, value)
        np.testing.assert_array_equal(K.get_value(mine), theirs.numpy())
    assert K.update_add(mine, K.constant(np.ones((2, 2)))) is mine
    TK.update_add(theirs, np.ones((2, 2), "float32"))
    assert K.moving_average_update(mine, start, 0.9) is mine
    TK.moving_average_update(theirs, start, 0.9)
    np.testing.assert_array_equal(K.get_value(mine), theirs.numpy())
    assert mine.value is stored  # updated in place
    K.batch_set_value([(mine, start * 2), (ints, [1.7, -2.2])])
    TK.batch_set_value([(theirs, start * 2), (their_ints, [1.7, -2.2])])
    for a, b in zip(K.batch_get_value([mine, ints, K.constant(3.0)]), TK.batch_get_value([theirs, their_ints])):
        assert type(a) is np.ndarray and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError, match="K.batch_set_value expects a variable"):
        K.batch_set_value([(mine, start), (np.ones(2), np.zeros(2))])
    np.testing.assert_array_equal(K.get_value(mine), start * 2)  # nothing was set
    with pytest.raises(TypeError, match="K.update expects a variable"):
        K.update(np.ones(2), np.zeros(2))


def test_layer_weights_and_hyperparameters_update_through_the_backend(ops):
    x = _f32(5, 3)
    model = Sequential([Dense(2, input_dim=3)])
    model.compile(optimizer=gpunet.optimizers.SGD(0.1), loss="mse")
    kernel, bias = model.weights
    K.batch_set_value([(kernel, np.eye(3, 2)), (bias, [1.0, 2.0])])
    K.update_add(kernel, np.ones((3, 2), "float32"))
    K.moving_average_update(bias, np.zeros(2, "float32"), 0.75)
    np.testing.assert_allclose(model.predict(x, verbose=0), x @ (np.eye(3, 2) + 1) + [0.75, 1.5], rtol=1e-6)
    K.update_sub(model.optimizer.learning_rate, 0.05)
    assert K.batch_get_value([model.optimizer.learning_rate])[0] == pytest.approx(0.05)


def test_truncated_normal_and_random_variables_as_tf_keras(ops):
    gpunet.utils.set_random_seed(5)
    mine = _host(K.truncated_normal((20000,), 1.0, 2.0))
    theirs = TK.truncated_normal((20000,), 1.0, 2.0, seed=3).numpy()
    assert mine.dtype == theirs.dtype == np.float32 and mine.shape == theirs.shape
    assert mine.min() >= -3.0 and mine.max() <= 5.0 and theirs.min() >= -3.0 and theirs.max() <= 5.0
    assert abs(mine.mean() - theirs.mean()) < 0.06 and abs(mine.std() - theirs.std()) < 0.05
    assert K.truncated_normal((3,), dtype="float64").dtype == np.float64
    np.testing.assert_array_equal(_host(K.truncated_normal((4,), seed=2)), _host(K.truncated_normal((4,), seed=2)))
    normal, their_normal = K.random_normal_variable((200, 50), 0.5, 2.0, name="rv"), \
        TK.random_normal_variable((200, 50), 0.5, 2.0, seed=1).numpy()
    values = K.get_value(normal)
    assert normal.name == "rv" and values.dtype == their_normal.dtype and values.shape == their_normal.shape
    assert abs(values.mean() - their_normal.mean()) < 0.1 and abs(values.std() - their_normal.std()) < 0.1
    uniform = K.random_uniform_variable((2000,), -1.0, 3.0, dtype="float64", seed=7)
    u = K.get_value(K.update_add(uniform, 1.0))  # a variable: updates in place
    assert u.dtype == np.float64 and u.min() >= 0.0 and u.max() < 4.0 and abs(u.mean() - 2.0) < 0.1
    assert K.manual_variable_initialization(True) is None and K.get_value(K.variable(2.0)) == 2.0
    K.manual_variable_initialization(False)


def test_uids_and_name_scopes_follow_tf_keras():
    def uids(Kb, dense):
        Kb.clear_session()
        out = [Kb.get_uid("dense"), Kb.get_uid("dense"), Kb.get_uid(), Kb.get_uid(""), dense(2).name,
               Kb.get_uid("dense")]
        Kb.reset_uids()
        out += [Kb.get_uid("dense"), dense(2).name, dense(2).name, Kb.get_uid("y")]
        Kb.clear_session()
        return out + [Kb.get_uid("y"), dense(1).name]

    def scopes(Kb):
        with Kb.name_scope("outer") as a:
            with Kb.name_scope("inner") as b:
                pass
            with Kb.name_scope("top/") as c:
                pass
        with pytest.raises(ValueError) as error:
            Kb.name_scope(3).__enter__()
        return a, b, c, str(error.value)
    assert uids(K, Dense) == uids(TK, tf_keras.layers.Dense)
    assert scopes(K) == scopes(TK)


MEAN6, VAR6, BETA6, GAMMA6 = _f32(6, seed=5), _f32(6, low=0.5, seed=6), _f32(6, seed=7), _f32(6, seed=8)


def _wave_for(Kb):
    def wave(x):
        h = Kb.bias_add(Kb.cos(x) + Kb.sin(2 * x), V3)
        return Kb.batch_normalization(Kb.batch_flatten(Kb.repeat(h, 2)), MEAN6, VAR6, BETA6, GAMMA6)
    return wave


def _lambda_model(lib):
    return lib.models.Sequential([lib.layers.Dense(3, input_shape=(4,)), lib.layers.Lambda(_wave_for(lib.backend)),
                                  lib.layers.Dense(1)])


def _symbolic_model(lib):
    inputs = lib.Input((4,))
    out = lib.layers.Dense(1)(_wave_for(lib.backend)(lib.layers.Dense(3)(inputs)))
    return lib.Model(inputs, out)


@pytest.mark.parametrize("make", [_lambda_model, _symbolic_model])
def test_models_with_the_functions_predict_and_train_as_tf_keras(ops, make):
    x = _f32(48, 4)
    y = np.sin(x[:, :1] - x[:, 1:2]).astype("float32")
    model, ref = make(gpunet), make(tf_keras)
    model.set_weights(ref.get_weights())
    np.testing.assert_allclose(model.predict(x, verbose=0), ref.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
    for m, lib in ((model, gpunet), (ref, tf_keras)):
        m.compile(optimizer=lib.optimizers.SGD(0.05), loss="mse")
    history, _ = assert_trains_alike(model, ref, x, y)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_a_lambda_of_the_functions_saves_and_loads(ops, tmp_path):
    x = _f32(16, 4)
    model = _lambda_model(gpunet)
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, x[:, :1], epochs=2, batch_size=8, verbose=0)
    for name in ("m.h5", "m.keras"):
        model.save(tmp_path / name)
        loaded = gpunet.models.load_model(tmp_path / name, custom_objects={"wave": _wave_for(K)})
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    theirs = tf_keras.models.load_model(str(tmp_path / "m.h5"), custom_objects={"wave": _wave_for(TK)})
    np.testing.assert_allclose(theirs.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    with pytest.raises(NotImplementedError, match=r"op bias_add applied to symbolic tensors.*Wrap the op in a Lambda"):
        _symbolic_model(gpunet).save(tmp_path / "op.h5")


@pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file")  # (tf_keras's advice)
def test_sin_and_cos_on_symbolic_tensors_save_as_tf_keras_ops(tmp_path):
    """tf.keras 2 writes K.sin/K.cos of symbolic tensors as TFOpLambda layers of math.sin/math.cos: gpunet
    writes and reads them so, both ways."""
    x = _f32(8, 3)

    def wave(lib):
        inputs = lib.Input((3,))
        h = lib.layers.Dense(4)(inputs)
        return lib.Model(inputs, lib.layers.Dense(1)(lib.backend.cos(h) + lib.backend.sin(h)))

    ours, theirs = wave(gpunet), wave(tf_keras)
    ours.set_weights(theirs.get_weights())
    ours.save(tmp_path / "ours.h5")
    theirs.save(tmp_path / "theirs.h5")
    functions = [layer["config"]["function"] for layer in json.loads(ours.to_json())["config"]["layers"]
                 if layer["class_name"] == "TFOpLambda"]
    assert functions == ["math.cos", "math.sin", "__operators__.add"]
    for model in (gpunet.models.load_model(tmp_path / "theirs.h5"),
                  tf_keras.models.load_model(str(tmp_path / "ours.h5"))):
        np.testing.assert_allclose(model.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-6, atol=1e-6)


def test_bad_input_is_named(ops):
    cases = [
        (lambda: K.bias_add(X2, V3, data_format="nhwc"), "Unknown data_format: nhwc"),
        (lambda: K.bias_add(X2, np.ones((1, 1, 3))), "Unexpected bias dimensions 3, expect to be 1 or 1 dimensions"),
        (lambda: K.bias_add(X2, np.ones(4)), r"bias has 4 values, x's channels axis \(axis 1 for 'channels_last'\)"),
        (lambda: K.bias_add(np.ones(3), np.ones(3)), "needs x of at least 2 dimensions"),
        (lambda: K.repeat(np.ones(3), 2), r"K.repeat repeats a 2-D tensor \(samples, dim\), received shape \(3,\)"),
        (lambda: K.batch_normalization(X4, V4, V4, None, None, axis=2), "normalizes axis 1 or 3.*received axis=2"),
        (lambda: K.map_fn(K.sum, (np.ones((2, 1)), np.ones((3, 1)))), "need the same size on axis 0"),
        (lambda: K.foldl(K.add, np.zeros((0, 2))), "no elements and no initializer"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()
