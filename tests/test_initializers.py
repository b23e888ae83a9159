import math
import sys

import numpy as np
import pytest

import gpunet
from gpunet import backend as B
from gpunet import initializers as I
from gpunet.initializers import _compute_fans
from gpunet.layers import Dense

TRUNC_STD = 0.87962566103423978  # std of a standard normal truncated to [-2, 2]


def _host(ops, shape, init, dtype=None):
    out = init(shape, dtype=dtype)
    assert isinstance(out, ops.xp.ndarray), f"{type(init).__name__} returned {type(out)}, not a backend array"
    assert tuple(out.shape) == tuple(shape)
    return ops.to_host(out)


NAMES = {
    "zeros": I.Zeros, "zero": I.Zeros, "Zeros": I.Zeros, "ones": I.Ones, "one": I.Ones, "Ones": I.Ones,
    "constant": I.Constant, "Constant": I.Constant, "uniform": I.RandomUniform,
    "random_uniform": I.RandomUniform, "RandomUniform": I.RandomUniform, "normal": I.RandomNormal,
    "random_normal": I.RandomNormal, "RandomNormal": I.RandomNormal, "truncated_normal": I.TruncatedNormal,
    "TruncatedNormal": I.TruncatedNormal, "variance_scaling": I.VarianceScaling,
    "VarianceScaling": I.VarianceScaling, "glorot_uniform": I.GlorotUniform, "GlorotUniform": I.GlorotUniform,
    "glorot_normal": I.GlorotNormal, "GlorotNormal": I.GlorotNormal, "he_uniform": I.HeUniform,
    "HeUniform": I.HeUniform, "he_normal": I.HeNormal, "HeNormal": I.HeNormal, "lecun_uniform": I.LecunUniform,
    "LecunUniform": I.LecunUniform, "lecun_normal": I.LecunNormal, "LecunNormal": I.LecunNormal,
    "orthogonal": I.Orthogonal, "Orthogonal": I.Orthogonal, "identity": I.Identity, "Identity": I.Identity,
}


@pytest.mark.parametrize("name", sorted(NAMES))
def test_get_every_name(ops, name):
    init = I.get(name)
    assert type(init) is NAMES[name]
    out = init((4, 4))
    assert isinstance(out, ops.xp.ndarray) and out.dtype == np.float32 and out.shape == (4, 4)
    assert getattr(I, name) is NAMES[name]  # Keras's module attributes, e.g. initializers.he_normal


def test_get_other_identifiers():
    init = I.RandomNormal()
    assert I.get(init) is init
    assert I.get(None) is None
    assert type(I.get(I.HeUniform)) is I.HeUniform

    def custom(shape, dtype=None):
        return B.get_backend().full(shape, 7.0, dtype or "float32")

    assert I.get(custom) is custom
    assert I.serialize(custom) == "custom"
    with pytest.raises(ValueError, match="Could not interpret initializer identifier 5"):
        I.get(5)


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="Unknown initializer 'glorot_unifrom'") as err:
        I.get("glorot_unifrom")
    assert "'glorot_uniform'" in str(err.value) and "'he_normal'" in str(err.value)
    with pytest.raises(ValueError, match="Unknown initializer 'Nope'"):
        I.get({"class_name": "Nope", "config": {}})
    with pytest.raises(ValueError, match="'class_name' string"):
        I.get({"config": {}})


@pytest.mark.parametrize("init, expected", [
    (I.Zeros(), {"class_name": "Zeros", "config": {}}),
    (I.Ones(), {"class_name": "Ones", "config": {}}),
    (I.Constant(), {"class_name": "Constant", "config": {"value": 0}}),
    (I.RandomUniform(), {"class_name": "RandomUniform", "config": {"minval": -0.05, "maxval": 0.05, "seed": None}}),
    (I.RandomNormal(), {"class_name": "RandomNormal", "config": {"mean": 0.0, "stddev": 0.05, "seed": None}}),
    (I.TruncatedNormal(), {"class_name": "TruncatedNormal", "config": {"mean": 0.0, "stddev": 0.05, "seed": None}}),
    (I.VarianceScaling(), {"class_name": "VarianceScaling", "config": {
        "scale": 1.0, "mode": "fan_in", "distribution": "truncated_normal", "seed": None}}),
    (I.GlorotUniform(), {"class_name": "GlorotUniform", "config": {"seed": None}}),
    (I.GlorotNormal(seed=2), {"class_name": "GlorotNormal", "config": {"seed": 2}}),
    (I.HeUniform(), {"class_name": "HeUniform", "config": {"seed": None}}),
    (I.HeNormal(), {"class_name": "HeNormal", "config": {"seed": None}}),
    (I.LecunUniform(), {"class_name": "LecunUniform", "config": {"seed": None}}),
    (I.LecunNormal(), {"class_name": "LecunNormal", "config": {"seed": None}}),
    (I.Orthogonal(), {"class_name": "Orthogonal", "config": {"gain": 1.0, "seed": None}}),
    (I.Identity(), {"class_name": "Identity", "config": {"gain": 1.0}}),
])
def test_serialize_as_tf_keras_2(init, expected):
    assert I.serialize(init) == expected
    back = I.get(expected)
    assert type(back) is type(init) and back.get_config() == init.get_config()


@pytest.mark.parametrize("init", [
    I.Constant(2.5), I.RandomUniform(-1.0, 3.0, seed=4), I.RandomNormal(1.0, 2.0, seed=5),
    I.TruncatedNormal(0.5, 0.1), I.VarianceScaling(2.0, "fan_avg", "uniform", seed=1), I.Orthogonal(1.5, seed=9),
    I.Identity(0.5), I.HeNormal(seed=11),
])
def test_config_round_trip(init):
    cfg = init.get_config()
    again = type(init).from_config(cfg)
    assert again.get_config() == cfg
    assert I.deserialize(I.serialize(init)).get_config() == cfg


def test_keras3_and_legacy_config_dicts():
    k3 = {"module": "not_a_real_module_gpunet_test", "class_name": "GlorotUniform", "config": {"seed": 3},
          "registered_name": None}
    init = I.get(k3)
    assert type(init) is I.GlorotUniform and init.seed == 3
    assert "not_a_real_module_gpunet_test" not in sys.modules
    assert type(I.get({"class_name": "OrthogonalInitializer", "config": {"gain": 2.0, "seed": None}})) is I.Orthogonal
    legacy = I.get({"class_name": "VarianceScaling", "config": {"scale": 2.0, "mode": "fan_in",
                                                                 "distribution": "normal", "seed": None,
                                                                 "dtype": "float32"}})
    assert legacy.distribution == "truncated_normal" and legacy.scale == 2.0
    assert type(I.get({"class_name": "GlorotUniformV2", "config": {}})) is I.GlorotUniform
    with pytest.raises(TypeError, match=r"RandomUniform config has unexpected key\(s\) \['bogus'\]"):
        I.get({"class_name": "RandomUniform", "config": {"bogus": 1}})


def test_custom_objects():
    class MyInit(I.Initializer):
        def __call__(self, shape, dtype=None):
            return B.get_backend().ones(shape, dtype or "float32")

    assert type(I.deserialize({"class_name": "MyInit", "config": {}}, custom_objects={"MyInit": MyInit})) is MyInit


@pytest.mark.parametrize("shape, fans", [
    ((), (1, 1)), ((7,), (7, 7)), ((3, 5), (3, 5)), ((3, 3, 16, 32), (144, 288)), ((2, 3, 4, 5, 6), (120, 144)),
])
def test_compute_fans_as_keras(shape, fans):
    assert _compute_fans(shape) == fans


def _fan(shape, mode):
    fan_in, fan_out = _compute_fans(shape)
    return {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]


UNIFORM_CASES = [(I.GlorotUniform(), 1.0, "fan_avg"), (I.HeUniform(), 2.0, "fan_in"),
                 (I.LecunUniform(), 1.0, "fan_in")]
NORMAL_CASES = [(I.GlorotNormal(), 1.0, "fan_avg"), (I.HeNormal(), 2.0, "fan_in"), (I.LecunNormal(), 1.0, "fan_in")]
SHAPES = [(300, 500), (3, 3, 64, 96), (100000,)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("init, scale, mode", UNIFORM_CASES)
def test_uniform_variants_exact_limits(ops, init, scale, mode, shape):
    limit = math.sqrt(3.0 * scale / _fan(shape, mode))
    x = _host(ops, shape, init).astype(np.float64)
    assert np.abs(x).max() <= limit * (1 + 1e-6)
    assert np.abs(x).max() > 0.999 * limit
    assert abs(x.mean()) < 0.01 * limit
    assert x.std() == pytest.approx(limit / math.sqrt(3), rel=0.01)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("init, scale, mode", NORMAL_CASES)
def test_truncated_normal_variants_statistics(ops, init, scale, mode, shape):
    target = math.sqrt(scale / _fan(shape, mode))  # Keras corrects the truncation: the final std is this
    x = _host(ops, shape, init).astype(np.float64)
    assert x.std() == pytest.approx(target, rel=0.015)
    assert np.abs(x).max() <= 2 * target / TRUNC_STD * (1 + 1e-6)
    assert abs(x.mean()) < 0.01 * target


@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg"])
@pytest.mark.parametrize("distribution", ["uniform", "truncated_normal", "untruncated_normal"])
def test_variance_scaling_modes(ops, mode, distribution):
    shape = (200, 800)
    x = _host(ops, shape, I.VarianceScaling(3.0, mode, distribution)).astype(np.float64)
    std = math.sqrt(3.0 / _fan(shape, mode))
    assert x.std() == pytest.approx(std, rel=0.015)
    if distribution == "uniform":
        assert np.abs(x).max() <= std * math.sqrt(3) * (1 + 1e-6)
    elif distribution == "truncated_normal":
        assert np.abs(x).max() <= 2 * std / TRUNC_STD * (1 + 1e-6)
    else:  # untruncated: about 4.6% beyond two standard deviations
        assert 0.04 < np.mean(np.abs(x) > 2 * std) < 0.052


def test_variance_scaling_rejects_bad_arguments():
    with pytest.raises(ValueError, match="`scale` must be a positive float, received scale=0"):
        I.VarianceScaling(scale=0)
    with pytest.raises(ValueError, match=r"`mode` must be one of \['fan_in', 'fan_out', 'fan_avg'\], "
                                         r"received 'fan_sum'"):
        I.VarianceScaling(mode="fan_sum")
    with pytest.raises(ValueError, match="`distribution` must be one of .*received 'gamma'"):
        I.VarianceScaling(distribution="gamma")
    assert I.VarianceScaling(distribution="Uniform").distribution == "uniform"


def test_random_distributions_with_arguments(ops):
    shape = (400, 500)
    u = _host(ops, shape, I.RandomUniform(-1.0, 3.0)).astype(np.float64)
    assert u.min() >= -1.0 and u.max() < 3.0 and u.min() < -0.99 and u.max() > 2.99
    assert u.mean() == pytest.approx(1.0, abs=0.01)
    d = _host(ops, (300,), I.RandomUniform()).astype(np.float64)
    assert np.abs(d).max() <= 0.05  # Keras default ±0.05
    n = _host(ops, shape, I.RandomNormal(mean=1.0, stddev=2.0)).astype(np.float64)
    assert n.mean() == pytest.approx(1.0, abs=0.02) and n.std() == pytest.approx(2.0, rel=0.01)
    assert np.abs(n - 1.0).max() > 4.0  # not truncated
    t = _host(ops, shape, I.TruncatedNormal(mean=1.0, stddev=2.0)).astype(np.float64)
    assert t.min() >= -3.0 and t.max() <= 5.0
    assert t.mean() == pytest.approx(1.0, abs=0.02) and t.std() == pytest.approx(2.0 * TRUNC_STD, rel=0.01)
    dn = _host(ops, shape, I.get("normal")).astype(np.float64)
    assert dn.std() == pytest.approx(0.05, rel=0.01)


@pytest.mark.parametrize("shape", [(50, 20), (20, 50), (3, 3, 4, 8), (16, 16)])
def test_orthogonal(ops, shape):
    w = _host(ops, shape, I.Orthogonal(gain=2.0)).astype(np.float64)
    m = w.reshape(-1, shape[-1])
    gram = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
    np.testing.assert_allclose(gram, 4.0 * np.eye(gram.shape[0]), atol=1e-5)


def test_orthogonal_and_identity_reject_bad_shapes():
    with pytest.raises(ValueError, match=r"at least two dimensions, received shape=\(5,\)"):
        I.Orthogonal()((5,))
    with pytest.raises(ValueError, match=r"only initialize 2-D matrices, received shape=\(2, 2, 2\)"):
        I.Identity()((2, 2, 2))


def test_identity(ops):
    np.testing.assert_array_equal(_host(ops, (3, 3), I.Identity(gain=2.0)), 2.0 * np.eye(3))
    np.testing.assert_array_equal(_host(ops, (2, 4), I.get("identity")), np.eye(2, 4))


def test_constant(ops):
    np.testing.assert_array_equal(_host(ops, (2, 3), I.Constant(1.5)), np.full((2, 3), 1.5))
    np.testing.assert_array_equal(_host(ops, (2, 2), I.Constant([1, 2, 3, 4])), [[1, 2], [3, 4]])
    np.testing.assert_array_equal(_host(ops, (3,), I.get("constant")), np.zeros(3))
    k3 = {"class_name": "Constant", "config": {"value": {"class_name": "__numpy__",
                                                          "config": {"value": [1.0, 2.0], "dtype": "float32"}}}}
    np.testing.assert_array_equal(_host(ops, (2,), I.get(k3)), [1.0, 2.0])
    with pytest.raises(ValueError, match=r"value has shape \(3,\), which cannot fill shape \(2, 2\)"):
        I.Constant([1, 2, 3])((2, 2))


def test_zeros_ones(ops):
    np.testing.assert_array_equal(_host(ops, (2, 3), I.Zeros()), np.zeros((2, 3)))
    np.testing.assert_array_equal(_host(ops, (4,), I.Ones()), np.ones(4))
    assert I.Zeros()((2,), dtype="int32").dtype == np.int32


@pytest.mark.parametrize("cls", [I.RandomUniform, I.RandomNormal, I.TruncatedNormal, I.VarianceScaling,
                                 I.GlorotUniform, I.GlorotNormal, I.HeUniform, I.HeNormal, I.LecunUniform,
                                 I.LecunNormal, I.Orthogonal])
def test_seeded_initializers_repeat(ops, cls):
    a = _host(ops, (6, 5), cls(seed=3))
    init = cls(seed=3)
    b, c = _host(ops, (6, 5), init), _host(ops, (6, 5), init)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(b, c)
    assert not np.array_equal(a, _host(ops, (6, 5), cls(seed=4)))
    # A seeded draw leaves the global generator alone.
    gpunet.utils.set_random_seed(1)
    first = _host(ops, (3,), I.RandomUniform())
    gpunet.utils.set_random_seed(1)
    cls(seed=3)((6, 5))
    np.testing.assert_array_equal(first, _host(ops, (3,), I.RandomUniform()))


@pytest.mark.parametrize("name", ["glorot_uniform", "he_normal", "orthogonal", "random_normal"])
def test_unseeded_follow_set_random_seed(ops, name):
    init = I.get(name)
    gpunet.utils.set_random_seed(42)
    a = _host(ops, (8, 4), init)
    b = _host(ops, (8, 4), init)
    assert not np.array_equal(a, b)
    gpunet.utils.set_random_seed(42)
    np.testing.assert_array_equal(a, _host(ops, (8, 4), init))
    np.testing.assert_array_equal(b, _host(ops, (8, 4), init))


def test_float64_and_dtype_checks(ops):
    for init in (I.GlorotUniform(), I.HeNormal(), I.Orthogonal(), I.Identity(), I.RandomNormal(), I.Zeros()):
        assert init((4, 3), dtype="float64").dtype == np.float64
    B.set_floatx("float64")
    assert I.LecunNormal()((4, 3)).dtype == np.float64
    B.set_floatx("float32")
    with pytest.raises(ValueError, match="Expected a floating point dtype .* received 'int32'"):
        I.GlorotUniform()((2, 2), dtype="int32")


def test_bad_shape_and_seed(ops):
    with pytest.raises(ValueError, match=r"shape must be a tuple of non-negative ints, received \(2, -1\)"):
        I.GlorotUniform()((2, -1))
    with pytest.raises(ValueError, match="received 5"):
        I.Zeros()(5)
    with pytest.raises(TypeError, match="seed must be an int or None, received str"):
        I.RandomUniform(seed="3")
    seed = I.RandomUniform(seed=np.int64(3)).get_config()["seed"]
    assert seed == 3 and type(seed) is int  # JSON-serializable
    np.testing.assert_array_equal(_host(ops, (3,), I.HeUniform(seed=-5)), _host(ops, (3,), I.HeUniform(seed=-5)))


def test_dense_uses_initializers(ops):
    layer = Dense(3, kernel_initializer=I.Identity(gain=3.0), bias_initializer=I.Constant(0.5))
    layer.build((None, 3))
    np.testing.assert_array_equal(layer.kernel.numpy(), 3.0 * np.eye(3))
    np.testing.assert_array_equal(layer.bias.numpy(), np.full(3, 0.5))
    cfg = layer.get_config()
    assert cfg["kernel_initializer"] == {"class_name": "Identity", "config": {"gain": 3.0}}
    with pytest.raises(ValueError, match="Unknown initializer 'glorot'"):
        Dense(2, kernel_initializer="glorot")
