import math
import warnings

import numpy as np
import pytest

from gpunet import activations
from gpunet import backend as B
from gpunet.activations import ActivationSpec
from gpunet.testing import check_gradient

SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
_erfc = np.vectorize(math.erfc)


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _relu(x, alpha=0.0, max_value=None, threshold=0.0):
    # Keras's documented piecewise form (valid for threshold >= 0)
    y = np.where(x > threshold, x, alpha * (x - threshold))
    return y if max_value is None else np.where(x >= max_value, max_value, y)


# (name, params, float64 reference, kinks to keep finite differences away from)
CASES = [
    ("linear", {}, lambda x: x, []),
    ("relu", {}, _relu, [0.0]),
    ("relu", {"alpha": 0.3}, lambda x: _relu(x, alpha=0.3), [0.0]),
    ("relu", {"max_value": 1.5}, lambda x: _relu(x, max_value=1.5), [0.0, 1.5]),
    ("relu", {"threshold": 0.5}, lambda x: _relu(x, threshold=0.5), [0.5]),
    ("relu", {"alpha": 0.1, "max_value": 2.0, "threshold": 0.5},
     lambda x: _relu(x, 0.1, 2.0, 0.5), [0.5, 2.0]),
    ("sigmoid", {}, lambda x: 1 / (1 + np.exp(-x)), []),
    ("hard_sigmoid", {}, lambda x: np.clip(0.2 * x + 0.5, 0, 1), [-2.5, 2.5]),
    ("tanh", {}, np.tanh, []),
    ("softmax", {}, _softmax, []),
    ("log_softmax", {}, lambda x: np.log(_softmax(x)), []),
    ("softplus", {}, lambda x: np.log(1 + np.exp(x)), []),
    ("softsign", {}, lambda x: x / (1 + np.abs(x)), []),
    ("elu", {}, lambda x: np.where(x > 0, x, np.exp(x) - 1), [0.0]),
    ("elu", {"alpha": 0.5}, lambda x: np.where(x > 0, x, 0.5 * (np.exp(x) - 1)), [0.0]),
    ("selu", {}, lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * (np.exp(x) - 1)), [0.0]),
    ("exponential", {}, np.exp, []),
    ("swish", {}, lambda x: x / (1 + np.exp(-x)), []),
    ("gelu", {}, lambda x: 0.5 * x * _erfc(-x / math.sqrt(2)), []),
    ("gelu", {"approximate": True},
     lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3))), []),
    ("leaky_relu", {}, lambda x: np.where(x > 0, x, 0.2 * x), [0.0]),
    ("leaky_relu", {"alpha": 0.01}, lambda x: np.where(x > 0, x, 0.01 * x), [0.0]),
    ("relu6", {}, lambda x: np.clip(x, 0, 6), [0.0, 6.0]),
    ("mish", {}, lambda x: x * np.tanh(np.log(1 + np.exp(x))), []),
    # Keras 3's (their formulas in Keras 3's docs; against Keras 3 itself in test_activations_keras3.py)
    ("keras3_hard_sigmoid", {}, lambda x: np.clip(x + 3, 0, 6) / 6, [-3.0, 3.0]),
    ("celu", {}, lambda x: np.where(x > 0, x, np.expm1(x)), [0.0]),
    ("celu", {"alpha": 0.5}, lambda x: np.where(x > 0, x, 0.5 * np.expm1(x / 0.5)), [0.0]),
    ("hard_silu", {}, lambda x: x * np.clip(x + 3, 0, 6) / 6, [-3.0, 3.0]),
    ("hard_tanh", {}, lambda x: np.clip(x, -1, 1), [-1.0, 1.0]),
    ("hard_shrink", {}, lambda x: np.where(np.abs(x) > 0.5, x, 0), [-0.5, 0.5]),
    ("soft_shrink", {"threshold": 1.0}, lambda x: np.sign(x) * np.maximum(np.abs(x) - 1, 0), [-1.0, 1.0]),
    ("tanh_shrink", {}, lambda x: x - np.tanh(x), []),
    ("log_sigmoid", {}, lambda x: -np.log1p(np.exp(-x)), []),
    ("sparse_plus", {}, lambda x: np.where(x <= -1, 0, np.where(x < 1, (x + 1) ** 2 / 4, x)), [-1.0, 1.0]),
    ("sparse_sigmoid", {}, lambda x: np.clip((x + 1) / 2, 0, 1), [-1.0, 1.0]),
    ("squareplus", {}, lambda x: (x + np.sqrt(x * x + 4)) / 2, []),
    ("squareplus", {"b": 1.0}, lambda x: (x + np.sqrt(x * x + 1)) / 2, []),
    ("threshold", {"threshold": 0.5, "default_value": -2.0}, lambda x: np.where(x > 0.5, x, -2.0), [0.5]),
]
IDS = [name + "".join(f"-{k}={v}" for k, v in params.items()) for name, params, _, _ in CASES]


def _points(kinks, shape=(4, 7), seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-4, 8, size=shape)
    for k in kinks:  # finite differences must not straddle a kink
        near = np.abs(x - k) < 1e-2
        x[near] += 3e-2
    return x


@pytest.mark.parametrize("name,params,ref,kinks", CASES, ids=IDS)
def test_forward_matches_reference_in_float64_and_float32(ops, name, params, ref, kinks):
    x = _points(kinks)
    y = ops.to_host(ops.activation_forward(name, ops.asarray(x), params))
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, ref(x), rtol=1e-12, atol=1e-14)
    x32 = x.astype(np.float32)
    y32 = ops.to_host(ops.activation_forward(name, ops.asarray(x32), params))
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, ref(x32.astype(np.float64)), rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("name,params,ref,kinks", CASES, ids=IDS)
def test_backward_matches_finite_differences(ops, name, params, ref, kinks):
    state = {}
    # Callers pass x=None to output-only activations (Dense keeps no pre-activation then).
    keep_x = not ops.output_suffices(name)

    def forward(x):
        state["x"] = ops.asarray(x)
        state["y"] = ops.activation_forward(name, state["x"], params)
        return ops.to_host(state["y"])

    def backward(dy):
        x = state["x"] if keep_x else None
        return ops.to_host(ops.activation_backward(name, ops.asarray(dy), x, state["y"], params))

    check_gradient(forward, backward, _points(kinks, seed=1))


STABLE = [c for c in CASES if c[0] != "exponential"]  # exp(1000) is inf by definition


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,params,ref,kinks", STABLE, ids=[i for i, c in zip(IDS, CASES) if c in STABLE])
def test_large_inputs_stay_finite_without_warnings(ops, name, params, ref, kinks, dtype):
    x = ops.asarray(np.array([[-1000.0, -100.0, -30.0, 0.0, 30.0, 100.0, 1000.0]]), dtype=dtype)
    dy = ops.asarray(np.ones((1, 7)), dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = ops.activation_forward(name, x, params)
        dx = ops.activation_backward(name, dy, x, y, params)
    assert ops.isfinite_all(y) and ops.isfinite_all(dx)
    assert y.dtype == x.dtype and dx.dtype == x.dtype


def test_gradients_at_moderately_large_inputs(ops):
    x = np.array([[-40.0, -25.0, -12.0, 12.0, 25.0, 40.0]])
    for name, params in [("sigmoid", {}), ("softplus", {}), ("tanh", {}), ("swish", {}), ("gelu", {}),
                         ("mish", {}), ("elu", {}), ("selu", {}), ("softmax", {}), ("log_softmax", {})]:
        state = {}

        def forward(v):
            state["x"] = ops.asarray(v)
            state["y"] = ops.activation_forward(name, state["x"], params)
            return ops.to_host(state["y"])

        def backward(dy):
            return ops.to_host(ops.activation_backward(name, ops.asarray(dy), state["x"], state["y"], params))

        check_gradient(forward, backward, x)


def test_saturated_values_keep_their_limits(ops):
    x = ops.asarray(np.array([-1000.0, -50.0, 50.0, 1000.0]))
    np.testing.assert_array_equal(ops.to_host(ops.sigmoid(x))[[0, 3]], [0.0, 1.0])
    np.testing.assert_allclose(ops.to_host(ops.sigmoid(x))[1], math.exp(-50), rtol=1e-12)
    np.testing.assert_allclose(ops.to_host(ops.softplus(x)), [0.0, math.exp(-50), 50.0, 1000.0], rtol=1e-12)
    np.testing.assert_allclose(ops.to_host(ops.gelu(x)), [0.0, 0.0, 50.0, 1000.0], atol=1e-300)
    s = ops.to_host(ops.softmax(ops.asarray(np.array([[1000.0, 0.0, -1000.0]]))))
    np.testing.assert_allclose(s, [[1.0, 0.0, 0.0]])


def test_gelu_tails_are_accurate_in_every_erfc_interval(ops):
    # x / sqrt(2) spans Cody's three intervals: below 0.46875, up to 4, beyond 4
    x = np.concatenate([np.linspace(-12, 12, 97), [-0.3, 0.3, -6.5, 6.5, -9.0]])
    y = ops.to_host(ops.gelu(ops.asarray(x)))
    np.testing.assert_allclose(y, 0.5 * x * _erfc(-x / math.sqrt(2)), rtol=1e-13, atol=0)


def test_keras_documented_values(ops):
    foo = [-10.0, -5.0, 0.0, 5.0, 10.0]
    host = ops.to_host
    with B.use_backend(ops):
        np.testing.assert_allclose(host(activations.relu(foo)), [0, 0, 0, 5, 10])
        np.testing.assert_allclose(host(activations.relu(foo, alpha=0.5)), [-5, -2.5, 0, 5, 10])
        np.testing.assert_allclose(host(activations.relu(foo, max_value=5.0)), [0, 0, 0, 5, 5])
        np.testing.assert_allclose(host(activations.relu(foo, threshold=5.0)), [0, 0, 0, 0, 10])
        # Keras 2's hard_sigmoid (Keras 3 changed it to relu6(x + 3) / 6)
        np.testing.assert_allclose(host(activations.hard_sigmoid([-3.0, -1.0, 0.0, 1.0, 3.0])),
                                   [0, 0.3, 0.5, 0.7, 1.0], rtol=1e-6)
        np.testing.assert_allclose(host(activations.gelu([1.0])), [0.8413447460685429], rtol=1e-6)
        np.testing.assert_allclose(host(activations.gelu([1.0], approximate=True)), [0.8411919906082768],
                                   rtol=1e-6)
        np.testing.assert_allclose(host(activations.leaky_relu([-1.0, 2.0])), [-0.2, 2.0], rtol=1e-6)
        np.testing.assert_allclose(host(activations.leaky_relu([-1.0], negative_slope=0.1)), [-0.1], rtol=1e-6)
        np.testing.assert_allclose(host(activations.selu([1.0, -1.0])),
                                   [SELU_SCALE, SELU_SCALE * SELU_ALPHA * (math.exp(-1) - 1)], rtol=1e-6)
        np.testing.assert_allclose(host(activations.silu([1.0])), host(activations.swish([1.0])))
        assert host(activations.softmax([[1, 2, 3]])).dtype == np.float32  # integers compute in floatx


def test_relu_with_negative_threshold_follows_keras_clip_order(ops):
    # Keras: x * (x > t), then the [0, max_value] clip, then - alpha * relu(t - x)
    x = ops.asarray(np.array([-2.0, -0.5, 0.5, 3.0]))
    y = ops.to_host(ops.relu(x, alpha=0.5, max_value=2.0, threshold=-1.0))
    np.testing.assert_allclose(y, [-0.5, 0.0, 0.5, 2.0])


def test_get_resolves_names_aliases_and_forms():
    assert activations.get(None) == ActivationSpec("linear")
    assert activations.get("relu").name == "relu" and activations.get("relu").params == {}
    silu = activations.get("silu")
    assert silu.name == "swish" and activations.serialize(silu) == "silu"
    assert activations.serialize(activations.get("swish")) == "swish"
    assert activations.get(activations.relu) == ActivationSpec("relu")
    assert activations.get(activations.silu).name == "swish"
    spec = ActivationSpec("elu", {"alpha": 0.5})
    assert activations.get(spec) is spec
    keras3 = {"module": "keras.activations", "class_name": "function", "config": "tanh", "registered_name": "function"}
    assert activations.get(keras3).name == "tanh"
    assert activations.get({"class_name": "softmax"}).name == "softmax"
    for name in ("linear", "relu", "sigmoid", "hard_sigmoid", "tanh", "softmax", "softplus", "softsign", "elu",
                 "selu", "exponential", "swish", "silu", "gelu", "leaky_relu", "relu6", "mish", "log_softmax"):
        assert activations.serialize(activations.get(name)) == name


def test_unknown_activation_names_it_and_lists_valid_names():
    with pytest.raises(ValueError, match=r"Unknown activation 'relu7'\. Valid names: \[.*'gelu'.*'relu6'"):
        activations.get("relu7")
    with pytest.raises(TypeError, match="Could not interpret activation"):
        activations.get(b"relu")
    with pytest.raises(TypeError, match="Could not interpret activation"):
        activations.get(3)
    with pytest.raises(ValueError, match="Unknown activation 'nope'"):
        B.get_backend().activation_forward("nope", np.zeros(2), {})


def test_output_suffices_only_where_backward_uses_the_output(ops):
    expected = {"linear", "sigmoid", "hard_sigmoid", "keras3_hard_sigmoid", "tanh", "softmax", "log_softmax",
                "exponential", "softplus", "selu", "relu6"}
    names = {c[0] for c in CASES}
    assert {n for n in names if ops.output_suffices(n)} == expected


def test_a_layers_activation_has_a_functions_name():
    """Keras code prints ``layer.activation.__name__`` (a function there): the activation's name here."""
    from gpunet.layers import Dense
    assert Dense(2, activation="relu").activation.__name__ == "relu"
    assert Dense(2).activation.__name__ == "linear"
    assert Dense(2, activation="silu").activation.__name__ == "silu"


@pytest.mark.parametrize("name,params,ref,kinks", CASES, ids=IDS)
def test_a_scalar_input_gives_a_0d_result(name, params, ref, kinks):
    """Keras's activations take a Python or NumPy scalar too (NumPy's ufuncs hand a 0-d array
    back as a scalar, which in-place kernels refused): activations.sigmoid(np.float64(0.5))."""
    got = ActivationSpec(name, params)(np.float64(0.5))
    assert np.shape(got) == ()
    np.testing.assert_allclose(B.get_backend().to_host(got), ref(np.array([0.5]))[0], rtol=1e-12)
    assert float(activations.sigmoid(0.0)) == 0.5
