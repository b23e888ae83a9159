import numpy as np
import pytest

from gpunet import constraints as C
from gpunet.layers import Dense
from gpunet.models import Sequential

EPS = 1e-7  # Keras's backend.epsilon()

W = np.array([[3.0, 0.5, 0.0], [4.0, -0.5, 0.0]])  # column norms 5, sqrt(0.5), 0


def _apply(ops, c, w, dtype="float64"):
    out = c(ops.asarray(w, dtype=dtype))
    assert isinstance(out, ops.xp.ndarray) and out.dtype == dtype and out.shape == np.shape(w)
    return ops.to_host(out)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_max_norm_by_hand(ops, dtype):
    out = _apply(ops, C.MaxNorm(max_value=2), W, dtype)
    n1 = np.sqrt(0.5)
    expected = np.array([[3 * 2 / (5 + EPS), 0.5 * n1 / (n1 + EPS), 0], [4 * 2 / (5 + EPS), -0.5 * n1 / (n1 + EPS), 0]])
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    rows = _apply(ops, C.MaxNorm(max_value=1.0, axis=1), W)
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), [1.0, 1.0], rtol=1e-6)
    whole = _apply(ops, C.MaxNorm(max_value=1.0, axis=[0, 1]), W)
    np.testing.assert_allclose(whole, W / (np.linalg.norm(W) + EPS), rtol=1e-12)


def test_non_neg(ops):
    np.testing.assert_array_equal(_apply(ops, C.NonNeg(), [[-1.0, 0.0, 2.5], [0.1, -3.0, 1.0]]),
                                  [[0.0, 0.0, 2.5], [0.1, 0.0, 1.0]])


def test_unit_norm_by_hand(ops):
    out = _apply(ops, C.UnitNorm(), W)
    np.testing.assert_allclose(out, W / (EPS + np.linalg.norm(W, axis=0, keepdims=True)), rtol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(out[:, :2], axis=0), [1.0, 1.0], rtol=1e-6)
    np.testing.assert_array_equal(out[:, 2], [0.0, 0.0])  # epsilon keeps a zero column finite


def test_min_max_norm_by_hand(ops):
    w = np.array([[0.3, 1.5, 0.0], [0.4, 0.0, 4.0]])  # column norms 0.5, 1.5, 4
    strict = _apply(ops, C.MinMaxNorm(min_value=1.0, max_value=2.0), w)
    np.testing.assert_allclose(np.linalg.norm(strict, axis=0), [1.0, 1.5, 2.0], rtol=1e-6)
    half = _apply(ops, C.MinMaxNorm(min_value=1.0, max_value=2.0, rate=0.5), w)
    desired = 0.5 * np.array([1.0, 1.5, 2.0]) + 0.5 * np.array([0.5, 1.5, 4.0])
    np.testing.assert_allclose(half, w * desired / (EPS + np.array([0.5, 1.5, 4.0])), rtol=1e-12)
    default = _apply(ops, C.MinMaxNorm(), w)  # Keras defaults: [0, 1]
    np.testing.assert_allclose(np.linalg.norm(default, axis=0), [0.5, 1.0, 1.0], rtol=1e-6)


def test_radial_constraint_follows_tf_keras(ops):
    def kernel(size):
        return np.arange(size * size * 2 * 3, dtype=np.float64).reshape(size, size, 2, 3)

    k3 = kernel(3)
    out = _apply(ops, C.RadialConstraint(), k3)
    ring = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]])
    src = np.where(ring == 0, k3[0, 0, 1, 2], k3[1, 1, 1, 2])
    np.testing.assert_array_equal(out[:, :, 1, 2], src)
    k4 = kernel(4)
    out = _apply(ops, C.RadialConstraint(), k4)
    inner = np.zeros((4, 4), bool)
    inner[1:3, 1:3] = True
    np.testing.assert_array_equal(out[:, :, 0, 1], np.where(inner, k4[1, 1, 0, 1], k4[3, 3, 0, 1]))
    out5 = _apply(ops, C.RadialConstraint(), kernel(5))[:, :, 0, 0]
    np.testing.assert_array_equal(out5[2, 2], kernel(5)[1, 1, 0, 0])
    np.testing.assert_array_equal(out5[1, 1:4], kernel(5)[2, 2, 0, 0])
    np.testing.assert_array_equal(out5[0], kernel(5)[3, 3, 0, 0])
    with pytest.raises(ValueError, match=r"square kernel .* received shape \(3, 3\)"):
        C.RadialConstraint()(ops.zeros((3, 3), "float32"))


NAMES = {"MaxNorm": C.MaxNorm, "max_norm": C.MaxNorm, "maxnorm": C.MaxNorm, "NonNeg": C.NonNeg,
         "non_neg": C.NonNeg, "nonneg": C.NonNeg, "UnitNorm": C.UnitNorm, "unit_norm": C.UnitNorm,
         "unitnorm": C.UnitNorm, "MinMaxNorm": C.MinMaxNorm, "min_max_norm": C.MinMaxNorm,
         "RadialConstraint": C.RadialConstraint, "radial_constraint": C.RadialConstraint}


@pytest.mark.parametrize("name", sorted(NAMES))
def test_get_every_name(name):
    assert type(C.get(name)) is NAMES[name]
    assert getattr(C, name) is NAMES[name]


@pytest.mark.parametrize("c, expected", [
    (C.MaxNorm(), {"class_name": "MaxNorm", "config": {"max_value": 2, "axis": 0}}),
    (C.NonNeg(), {"class_name": "NonNeg", "config": {}}),
    (C.UnitNorm(), {"class_name": "UnitNorm", "config": {"axis": 0}}),
    (C.MinMaxNorm(), {"class_name": "MinMaxNorm", "config": {"min_value": 0.0, "max_value": 1.0, "rate": 1.0,
                                                             "axis": 0}}),
    (C.MaxNorm(3.0, axis=[0, 1, 2]), {"class_name": "MaxNorm", "config": {"max_value": 3.0, "axis": [0, 1, 2]}}),
    (C.RadialConstraint(), {"class_name": "RadialConstraint", "config": {}}),
])
def test_serialize_round_trip(c, expected):
    assert C.serialize(c) == expected
    back = C.get(expected)
    assert type(back) is type(c) and back.get_config() == c.get_config()


def test_other_identifiers_and_errors():
    assert C.get(None) is None and C.serialize(None) is None
    c = C.UnitNorm(axis=1)
    assert C.get(c) is c
    assert type(C.get(C.NonNeg)) is C.NonNeg

    def clip_one(w):
        return w.clip(-1, 1)

    assert C.get(clip_one) is clip_one and C.serialize(clip_one) == "clip_one"
    k3 = C.get({"module": "keras.constraints", "class_name": "MaxNorm", "config": {"max_value": 3, "axis": 0},
                "registered_name": None})
    assert type(k3) is C.MaxNorm and k3.max_value == 3
    with pytest.raises(ValueError, match="Unknown constraint 'max_nrom'. Valid names: .*'max_norm'"):
        C.get("max_nrom")
    with pytest.raises(ValueError, match="Could not interpret constraint identifier 3"):
        C.get(3)
    with pytest.raises(TypeError, match=r"MaxNorm config has unexpected key\(s\) \['min_value'\]"):
        C.get({"class_name": "MaxNorm", "config": {"min_value": 1}})


def test_dense_non_neg_after_fit(ops):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x.sum(axis=1, keepdims=True) < 0).astype("float32")  # wants negative weights
    layer = Dense(1, input_dim=4, activation="sigmoid", kernel_constraint="non_neg", bias_constraint=C.MaxNorm(0.1))
    model = Sequential([layer])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(x, y, epochs=5, batch_size=16, verbose=0)
    kernel = layer.kernel.numpy()
    assert kernel.min() >= 0.0
    assert (kernel == 0).any()  # the constraint was active, not merely satisfied
    assert abs(layer.bias.numpy()).max() <= 0.1 + 1e-6
    assert layer.get_config()["kernel_constraint"] == {"class_name": "NonNeg", "config": {}}
