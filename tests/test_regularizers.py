import math

import numpy as np
import pytest

from gpunet import backend as B
from gpunet import regularizers as R
from gpunet.layers import Dense
from gpunet.models import Sequential
from gpunet.optimizers import Adam
from gpunet.testing import check_gradient

F32_001 = 0.009999999776482582  # float32(0.01), what tf.keras 2 stores and writes


X = np.array([[1.0, -2.0], [3.0, -0.5]])


@pytest.mark.parametrize("reg, expected", [
    (R.L1(0.25), 0.25 * 6.5), (R.L2(0.25), 0.25 * 14.25), (R.L1L2(l1=0.25, l2=0.5), 0.25 * 6.5 + 0.5 * 14.25),
    (R.L1L2(), 0.0), (R.l1_l2(), 0.01 * 6.5 + 0.01 * 14.25),
])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_penalty_values_by_hand(ops, reg, expected, dtype):
    x = ops.asarray(X, dtype=dtype)
    out = reg(x)
    assert isinstance(out, ops.xp.ndarray) and out.shape == () and out.dtype == dtype
    assert float(out) == pytest.approx(expected, rel=1e-6)


def test_gradients_by_hand(ops):
    x = ops.asarray(X, dtype="float64")
    g = ops.to_host(R.L1L2(l1=0.25, l2=0.5).gradient(x))
    np.testing.assert_allclose(g, 0.25 * np.sign(X) + 2 * 0.5 * X)
    zero = ops.to_host(R.L1L2().gradient(x))
    assert zero.shape == X.shape and not zero.any()


@pytest.mark.parametrize("reg", [R.L1(0.3), R.L2(0.7), R.L1L2(0.2, 0.4), R.OrthogonalRegularizer(0.5),
                                 R.OrthogonalRegularizer(2.0, mode="columns")])
def test_gradients_by_finite_differences(ops, f64, reg):
    x0 = np.random.default_rng(0).uniform(0.2, 1.5, size=(4, 3)) * np.array([1, -1, 1])  # away from |x| = 0

    def forward(x):
        return ops.to_host(reg(ops.asarray(x)))

    def backward(dy):
        return dy * ops.to_host(reg.gradient(ops.asarray(backward.x)))

    backward.x = x0
    check_gradient(forward, backward, x0)


def test_orthogonal_regularizer_values(ops):
    same = ops.asarray([[1.0, 0.0], [2.0, 0.0]])  # rows parallel: the one pair's |cos| = 1
    assert float(R.OrthogonalRegularizer(0.5)(same)) == pytest.approx(0.5 * 0.5 * 2 / 1)
    assert float(R.OrthogonalRegularizer(0.5)(ops.asarray(np.eye(3)))) == 0.0
    # columns mode on [[1, 1], [0, 1]]: cos between columns = 1/sqrt(2)
    assert float(R.OrthogonalRegularizer(1.0, "columns")(ops.asarray([[1.0, 1.0], [0.0, 1.0]]))) == \
        pytest.approx(0.5 * 2 / math.sqrt(2), rel=1e-6)
    with pytest.raises(ValueError, match=r"needs a 2-D weight, received shape \(2, 2, 2\)"):
        R.OrthogonalRegularizer()(ops.zeros((2, 2, 2), "float32"))
    with pytest.raises(ValueError, match="mode must be 'rows' or 'columns', received 'diag'"):
        R.OrthogonalRegularizer(mode="diag")


@pytest.mark.parametrize("name, cls, config", [
    ("l1", R.L1, {"l1": F32_001}), ("L1", R.L1, {"l1": F32_001}), ("l2", R.L2, {"l2": F32_001}),
    ("L2", R.L2, {"l2": F32_001}), ("l1_l2", R.L1L2, {"l1": F32_001, "l2": F32_001}),
    ("L1L2", R.L1L2, {"l1": 0.0, "l2": 0.0}), ("orthogonal_regularizer", R.OrthogonalRegularizer,
                                                {"factor": F32_001, "mode": "rows"}),
    ("OrthogonalRegularizer", R.OrthogonalRegularizer, {"factor": F32_001, "mode": "rows"}),
])
def test_get_by_name(name, cls, config):
    reg = R.get(name)
    assert type(reg) is cls and reg.get_config() == config
    assert R.serialize(reg) == {"class_name": cls.__name__, "config": config}


def test_function_style_constructors_and_identifiers():
    assert type(R.l2(0.01)) is R.L2 and R.l2(0.01).get_config() == {"l2": F32_001}
    assert type(R.l1(0.5)) is R.L1 and R.l1(l=0.5).l1 == 0.5  # Keras 1's keyword
    assert R.l1_l2(l1=0.5).get_config() == {"l1": 0.5, "l2": F32_001}
    reg = R.L2()
    assert R.get(reg) is reg and R.get(None) is None and R.serialize(None) is None
    assert type(R.get(R.L1)) is R.L1


def test_serialize_as_tf_keras_2(f64):
    assert R.serialize(R.L2(0.01)) == {"class_name": "L2", "config": {"l2": 0.01}}  # floatx float64: exact
    B.set_floatx("float32")
    assert R.serialize(R.L2(0.01)) == {"class_name": "L2", "config": {"l2": F32_001}}
    assert R.serialize(R.L1L2(l2=0.01)) == {"class_name": "L1L2", "config": {"l1": 0.0, "l2": F32_001}}
    assert R.serialize(R.L1(0.5)) == {"class_name": "L1", "config": {"l1": 0.5}}


def test_config_dicts_keras2_and_keras3():
    legacy = R.get({"class_name": "L1L2", "config": {"l1": 0.0, "l2": F32_001}})  # Keras 2.0-2.3 wrote this
    assert type(legacy) is R.L1L2 and legacy.get_config() == {"l1": 0.0, "l2": F32_001}
    k3 = R.get({"module": "keras.regularizers", "class_name": "L2", "config": {"l2": 0.02},
                "registered_name": None})
    assert type(k3) is R.L2 and k3.l2 == pytest.approx(0.02)
    for reg in (R.L1(0.3), R.L2(0.2), R.L1L2(0.1, 0.4), R.OrthogonalRegularizer(0.3, "columns")):
        back = R.deserialize(R.serialize(reg))
        assert type(back) is type(reg) and back.get_config() == reg.get_config()


def test_errors_name_what_was_expected():
    with pytest.raises(ValueError, match="Unknown regularizer 'l3'. Valid names: .*'l1_l2'.*'l2'"):
        R.get("l3")
    with pytest.raises(ValueError, match="Could not interpret regularizer identifier 0.5"):
        R.get(0.5)
    with pytest.raises(ValueError, match="l2='big' is not a valid regularization penalty: expected an int or float"):
        R.L2("big")
    with pytest.raises(ValueError, match="l1=nan is not a valid regularization penalty: it must be finite"):
        R.L1(float("nan"))
    with pytest.raises(TypeError, match=r"L2 got unexpected keyword argument\(s\) \['l1'\]"):
        R.L2(l1=0.1)
    with pytest.raises(TypeError, match=r"L1L2 config has unexpected key\(s\) \['l3'\]"):
        R.get({"class_name": "L1L2", "config": {"l3": 1.0}})
    with pytest.raises(TypeError, match=r"has no gradient\(x\) method"):
        R.get(lambda x: 0.0)

    class NoGradient(R.Regularizer):
        def __call__(self, x):
            return B.get_backend().sum(x)

    with pytest.raises(NotImplementedError, match=r"NoGradient must implement gradient\(x\)"):
        NoGradient().gradient(np.ones(2))


def _bce(p, y, eps=1e-7):
    p = np.clip(p, eps, 1 - eps)
    return float(np.mean(-(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps))))


def test_penalty_in_evaluate_and_fit(ops):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(16, 3)).astype("float32")
    y = (rng.random((16, 2)) > 0.5).astype("float32")
    model = Sequential([Dense(2, input_dim=3, activation="sigmoid", kernel_regularizer="l2",
                              bias_regularizer=R.L1(0.1))])
    model.compile(optimizer=Adam(learning_rate=0.01), loss="binary_crossentropy")
    kernel = rng.normal(size=(3, 2)).astype("float32")
    bias = np.array([0.3, -0.2], dtype="float32")
    model.set_weights([kernel, bias])
    k64, b64 = kernel.astype(np.float64), bias.astype(np.float64)
    data = _bce(1 / (1 + np.exp(-(x.astype(np.float64) @ k64 + b64))), y)
    penalty = F32_001 * np.sum(k64 ** 2) + np.float32(0.1) * np.sum(np.abs(b64))
    assert model.evaluate(x, y, verbose=0) == pytest.approx(data + penalty, rel=1e-5)
    history = model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    assert history.history["loss"][0] == pytest.approx(data + penalty, rel=1e-5)


def test_penalty_gradient_drives_training(ops):
    # With all-zero inputs the data gradient of the kernel is zero: only the L2 penalty moves it.
    model = Sequential([Dense(2, input_dim=3, activation="sigmoid", kernel_regularizer=R.L2(0.5))])
    lr, beta_2, eps = 0.1, 0.999, 1.0
    model.compile(optimizer=Adam(learning_rate=lr, epsilon=eps), loss="binary_crossentropy")
    kernel = np.array([[1.0, -2.0], [0.5, 3.0], [-1.5, 0.25]], dtype="float32")
    model.set_weights([kernel, np.zeros(2, "float32")])
    model.fit(np.zeros((4, 3), "float32"), np.ones((4, 2), "float32"), batch_size=4, epochs=1, verbose=0)
    g = 2 * 0.5 * kernel.astype(np.float64)
    # Keras's first Adam step: lr * sqrt(1 - beta_2) * g / (sqrt(1 - beta_2) * |g| + epsilon)
    step = lr * math.sqrt(1 - beta_2) * g / (math.sqrt(1 - beta_2) * np.abs(g) + eps)
    np.testing.assert_allclose(model.layers[0].kernel.numpy(), kernel - step, rtol=1e-5)


def test_layer_attributes_are_the_objects_the_weights_use():
    """As in Keras, ``Dense(kernel_regularizer='l2').kernel_regularizer`` is an L2 object, the
    one the kernel's penalty uses: changing its factor changes the penalty; likewise constraints."""
    from gpunet import constraints
    layer = Dense(2, input_dim=3, kernel_regularizer="l2", bias_regularizer=R.L1(0.5), kernel_constraint="max_norm")
    assert isinstance(layer.kernel_regularizer, R.L2) and layer.kernel_regularizer.l2 == pytest.approx(0.01)
    assert isinstance(layer.kernel_constraint, constraints.MaxNorm) and layer.bias_constraint is None
    model = Sequential([layer])
    assert layer.kernel.regularizer is layer.kernel_regularizer and layer.bias.regularizer is layer.bias_regularizer
    assert layer.kernel.constraint is layer.kernel_constraint
    model.set_weights([np.ones((3, 2), "float32"), np.zeros(2, "float32")])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.zeros((4, 3), "float32"), np.zeros((4, 2), "float32")
    before = model.evaluate(x, y, verbose=0)
    layer.kernel_regularizer.l2 = 0.5
    assert before == pytest.approx(0.01 * 6, rel=1e-5) and model.evaluate(x, y, verbose=0) == pytest.approx(3.0)
