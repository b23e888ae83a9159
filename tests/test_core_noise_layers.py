"""Keras 2's remaining core and noise layers: ActivityRegularization, GaussianNoise, GaussianDropout,
AlphaDropout, SpatialDropout1D/2D/3D, RepeatVector and Permute (gpunet/layers/noise.py,
regularization.py, reshaping.py). Their values (the noise drawn from gpunet's generator or the
layer's seeded one, checked against the same draws in NumPy), training vs inference, gradients by
finite differences, output shapes, argument checks and tf.keras 2.21 / Keras 3 configs. Training,
saving and Keras interop: test_core_noise_training.py."""
import json
import warnings

import numpy as np
import pytest

import gpunet
from gpunet import backend as B
from gpunet.backend import random as R
from gpunet.layers import (ActivityRegularization, AlphaDropout, GaussianDropout, GaussianNoise, Permute,
                           RepeatVector, SpatialDropout1D, SpatialDropout2D, SpatialDropout3D)
from gpunet.models import model_from_json
from gpunet.testing import check_gradient

X3 = np.random.default_rng(0).standard_normal((5, 4, 6))
SELU_ALPHA_P = -1.6732632423543772848170429916717 * 1.0507009873554804934193349852946


def _draws(seed):
    return np.random.Generator(np.random.PCG64(seed))


# (layer with seed 5, input, what training should give from a generator seeded 5)
def _alpha_dropout(x, gen, rate=0.3, shape=None):
    keep = (gen.uniform(0.0, 1.0, size=shape or x.shape) >= rate).astype(x.dtype)
    a = ((1 - rate) * (1 + rate * SELU_ALPHA_P ** 2)) ** -0.5
    return a * (x * keep + SELU_ALPHA_P * (1 - keep)) + (-a * SELU_ALPHA_P * rate)


NOISE = {
    "gaussian_noise": (lambda: GaussianNoise(0.3, seed=5), X3,
                       lambda x, g: x + g.normal(0.0, 0.3, size=x.shape).astype(x.dtype)),
    "gaussian_dropout": (lambda: GaussianDropout(0.2, seed=5), X3,
                         lambda x, g: x * g.normal(1.0, 0.5, size=x.shape).astype(x.dtype)),
    "alpha_dropout": (lambda: AlphaDropout(0.3, seed=5), X3, _alpha_dropout),
    "alpha_dropout_shared": (lambda: AlphaDropout(0.3, noise_shape=(None, 1, 6), seed=5), X3,
                             lambda x, g: _alpha_dropout(x, g, shape=(5, 1, 6))),
    "spatial_1d": (lambda: SpatialDropout1D(0.5, seed=5), X3,
                   lambda x, g: x * ((g.random((5, 1, 6)) >= 0.5) * 2.0).astype(x.dtype)),
    "spatial_2d": (lambda: SpatialDropout2D(0.5, seed=5), X3.reshape(5, 2, 2, 6),
                   lambda x, g: x * ((g.random((5, 1, 1, 6)) >= 0.5) * 2.0).astype(x.dtype)),
    "spatial_2d_first": (lambda: SpatialDropout2D(0.5, data_format="channels_first", seed=5), X3.reshape(5, 2, 2, 6),
                         lambda x, g: x * ((g.random((5, 2, 1, 1)) >= 0.5) * 2.0).astype(x.dtype)),
    "spatial_3d": (lambda: SpatialDropout3D(0.5, seed=5), X3.reshape(5, 2, 2, 1, 6),
                   lambda x, g: x * ((g.random((5, 1, 1, 1, 6)) >= 0.5) * 2.0).astype(x.dtype)),
}


@pytest.mark.parametrize("case", sorted(NOISE))
def test_noise_while_training_from_the_generator_identity_in_inference(ops, case):
    make, x, want = NOISE[case]
    for dtype in ("float32", "float64"):
        B.set_floatx(dtype)
        layer, xd = make(), x.astype(dtype)
        assert np.array_equal(ops.to_host(layer(xd)), xd)  # inference (predict, evaluate): untouched
        y = ops.to_host(layer(xd, training=True))
        assert y.dtype == dtype and y.shape == xd.shape
        np.testing.assert_allclose(y, want(xd, _draws(5)), rtol=1e-6 if dtype == "float32" else 1e-14, atol=1e-7)
        again = ops.to_host(layer(xd, training=True))  # the generator moves on: new noise
        assert not np.array_equal(again, y)


@pytest.mark.parametrize("make", [lambda: GaussianNoise(0.3), lambda: GaussianDropout(0.4), lambda: AlphaDropout(0.2),
                                  lambda: SpatialDropout1D(0.3)])
def test_unseeded_noise_follows_set_random_seed(ops, make):
    runs = []
    for _ in range(2):
        gpunet.utils.set_random_seed(42)
        runs.append(ops.to_host(make()(X3.astype("float32"), training=True)))
    assert np.array_equal(runs[0], runs[1])


def test_the_noise_has_keras_statistics(ops):
    x = np.random.default_rng(1).standard_normal((400, 500)).astype("float32")
    y = ops.to_host(AlphaDropout(0.2)(x, training=True)).astype("float64")
    assert abs(y.mean()) < 0.01 and abs(y.var() - 1) < 0.02  # self-normalizing: mean 0, variance 1 kept
    a = (0.8 * (1 + 0.2 * SELU_ALPHA_P ** 2)) ** -0.5
    dropped = np.isclose(y, a * SELU_ALPHA_P - a * SELU_ALPHA_P * 0.2, rtol=1e-6)  # SELU's saturation, mapped
    assert abs(dropped.mean() - 0.2) < 0.005
    ones = np.ones((400, 500), "float32")
    g = ops.to_host(GaussianDropout(0.2)(ones, training=True))
    assert abs(g.mean() - 1) < 0.005 and abs(g.std() - 0.5) < 0.005  # sqrt(rate / (1 - rate))
    n = ops.to_host(GaussianNoise(0.25)(ones, training=True)) - 1
    assert abs(n.mean()) < 0.005 and abs(n.std() - 0.25) < 0.003
    s = ops.to_host(SpatialDropout1D(0.25)(ones.reshape(200, 10, 100), training=True))
    kept = s.max(axis=1)
    assert np.array_equal(s, np.broadcast_to(kept[:, None, :], s.shape))  # whole channels, per sample
    assert set(np.unique(kept)) == {0.0, np.float32(1 / 0.75)} and abs((kept == 0).mean() - 0.25) < 0.01


@pytest.mark.parametrize("make", [lambda: GaussianDropout(1.0), lambda: AlphaDropout(1.0), lambda: AlphaDropout(0.0),
                                  lambda: GaussianDropout(0.0), lambda: GaussianNoise(0.0)])
def test_rates_outside_the_open_interval_are_no_noise_as_in_tf_keras(ops, make):
    x = X3.astype("float32")
    assert np.array_equal(ops.to_host(make()(x, training=True)), x)


RESHAPING = {
    "repeat": (lambda: RepeatVector(3), X3[:, 0], lambda x: np.stack([x] * 3, axis=1)),
    "repeat_0": (lambda: RepeatVector(0), X3[:, 0], lambda x: np.zeros((5, 0, 6))),
    "permute": (lambda: Permute((2, 1)), X3, lambda x: x.transpose(0, 2, 1)),
    "permute_3": (lambda: Permute((3, 1, 2)), X3.reshape(5, 2, 2, 6), lambda x: x.transpose(0, 3, 1, 2)),
    "activity": (lambda: ActivityRegularization(l1=0.1, l2=0.2), X3, lambda x: x),
}


@pytest.mark.parametrize("case", sorted(RESHAPING))
def test_values_and_output_shapes(ops, case):
    make, x, want = RESHAPING[case]
    layer = make()
    for training in (False, True):
        y = ops.to_host(layer(x.astype("float32"), training=training))
        np.testing.assert_array_equal(y, want(x.astype("float32")))
    assert layer.output_shape == (None,) + y.shape[1:]
    assert layer.compute_output_shape((7,) + x.shape[1:]) == (7,) + y.shape[1:]


GRADIENT_CASES = {**{k: (v[0], v[1]) for k, v in NOISE.items()},
                  **{k: (v[0], v[1]) for k, v in RESHAPING.items() if k != "repeat_0"}}


@pytest.mark.parametrize("case", sorted(GRADIENT_CASES))
def test_gradients_by_finite_differences(ops, case):
    B.set_floatx("float64")
    make, x = GRADIENT_CASES[case]
    layer = make()
    seed = getattr(layer, "seed", None)

    def forward(v):  # the same noise at every call: the layer's generator restarted from its seed
        if seed is not None:
            layer._generator = R.make_generator(seed)
        return ops.to_host(layer.forward(ops.asarray(v), training=True))
    layer.build((None,) + x.shape[1:])
    check_gradient(forward, lambda dy: ops.to_host(layer.backward(ops.asarray(dy))), x.copy(), rtol=1e-6)


def test_arguments_are_checked_as_keras_checks_them():
    for bad in (lambda: GaussianDropout(1.5), lambda: AlphaDropout(-0.1), lambda: GaussianNoise(-1),
                lambda: SpatialDropout1D(1.0), lambda: SpatialDropout2D(0.1, data_format="nhwc"),
                lambda: Permute((1, 1)), lambda: Permute((0, 1)), lambda: Permute((1, 3)),
                lambda: RepeatVector(-1), lambda: ActivityRegularization(l1=float("nan"))):
        with pytest.raises(ValueError):
            bad()
    for bad in (lambda: RepeatVector(2.0), lambda: RepeatVector(True)):
        with pytest.raises(TypeError, match="integer value for `n`"):
            bad()
    for layer, shape in ((SpatialDropout1D(0.2), (None, 6)), (SpatialDropout2D(0.2), (None, 4, 6)),
                         (RepeatVector(2), (None, 4, 6)), (Permute((2, 1)), (None, 3, 4, 5))):
        with pytest.raises(ValueError, match="expected ndim"):
            layer.build(shape)


# ---- configs -----------------------------------------------------------------------------------
# What tf.keras 2.21 (tf_keras) writes for these layers, recorded from it; SpatialDropout1D: Keras
# 3's keys (the layer's docstring says why).
TF_KERAS_CONFIGS = [
    (lambda: ActivityRegularization(l1=0.01, l2=0.02), {"l1": 0.01, "l2": 0.02}),
    (lambda: GaussianNoise(0.1), {"stddev": 0.1, "seed": None}),
    (lambda: GaussianDropout(0.2), {"rate": 0.2, "seed": None}),
    (lambda: AlphaDropout(0.3), {"rate": 0.3, "seed": None}),
    (lambda: Permute((2, 1)), {"dims": [2, 1]}),
    (lambda: RepeatVector(3), {"n": 3}),
]


@pytest.mark.parametrize("make, keys", TF_KERAS_CONFIGS)
def test_configs_are_tf_keras_and_round_trip(make, keys):
    layer = make()
    config = layer.get_config()
    assert config == {"name": layer.name, "trainable": True, "dtype": "float32", **keys}
    again = type(layer).from_config(json.loads(json.dumps(config)))
    assert again.get_config() == config


def test_names_seeds_and_spatial_configs():
    names = [c().name for c in (lambda: ActivityRegularization(), lambda: GaussianNoise(0.1),
                                lambda: GaussianDropout(0.1), lambda: AlphaDropout(0.1), lambda: SpatialDropout1D(0.1),
                                lambda: SpatialDropout2D(0.1), lambda: SpatialDropout3D(0.1),
                                lambda: RepeatVector(2), lambda: Permute((1,)))]
    assert names == ["activity_regularization", "gaussian_noise", "gaussian_dropout", "alpha_dropout",
                     "spatial_dropout1d", "spatial_dropout2d", "spatial_dropout3d", "repeat_vector", "permute"]
    assert AlphaDropout(0.1, noise_shape=(None, 1, 4), seed=3).get_config()["noise_shape"] == [None, 1, 4]
    assert SpatialDropout1D(0.2, seed=4).get_config() == {"rate": 0.2, "seed": 4, "name": "spatial_dropout1d_1",
                                                         "dtype": "float32"}
    assert SpatialDropout2D(0.2, name="s").get_config() == {"rate": 0.2, "seed": None, "name": "s",
                                                            "dtype": "float32", "data_format": "channels_last"}
    assert ActivityRegularization().activity_regularizer.get_config() == {"l1": 0.0, "l2": 0.0}


# A model with these layers as tf.keras 2.21 writes it (its SpatialDropout1D with trainable and noise_shape).
KERAS2_JSON = """{"class_name": "Sequential", "config": {"name": "sequential", "layers": [
 {"class_name": "InputLayer", "config": {"batch_input_shape": [null, 4, 6], "dtype": "float32", "sparse": false,
  "ragged": false, "name": "input_1"}},
 {"class_name": "ActivityRegularization", "config": {"name": "activity_regularization", "trainable": true,
  "dtype": "float32", "l1": 0.01, "l2": 0.02}},
 {"class_name": "GaussianNoise", "config": {"name": "gaussian_noise", "trainable": true, "dtype": "float32",
  "stddev": 0.1, "seed": null}},
 {"class_name": "GaussianDropout", "config": {"name": "gaussian_dropout", "trainable": true, "dtype": "float32",
  "rate": 0.2, "seed": null}},
 {"class_name": "AlphaDropout", "config": {"name": "alpha_dropout", "trainable": true, "dtype": "float32",
  "rate": 0.3, "seed": 3}},
 {"class_name": "SpatialDropout1D", "config": {"name": "spatial_dropout1d", "trainable": true, "dtype": "float32",
  "rate": 0.25, "noise_shape": null, "seed": null}},
 {"class_name": "Permute", "config": {"name": "permute", "trainable": true, "dtype": "float32", "dims": [2, 1]}},
 {"class_name": "Reshape", "config": {"name": "reshape", "trainable": true, "dtype": "float32",
  "target_shape": [24]}},
 {"class_name": "RepeatVector", "config": {"name": "repeat_vector", "trainable": true, "dtype": "float32",
  "n": 3}}]}, "keras_version": "2.15.0", "backend": "tensorflow"}"""


def test_tf_keras_json_loads_with_the_output_shapes_it_computes():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every key is known
        model = model_from_json(KERAS2_JSON)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["ActivityRegularization", "GaussianNoise", "GaussianDropout", "AlphaDropout",
                     "SpatialDropout1D", "Permute", "Reshape", "RepeatVector"]
    shapes = [layer.output_shape for layer in model.layers]  # as tf.keras reported them
    assert shapes == [(None, 4, 6)] * 5 + [(None, 6, 4), (None, 24), (None, 3, 24)]
    assert model.layers[3].seed == 3 and model.layers[0].activity_regularizer.l2 == pytest.approx(0.02)
    assert model.layers[4].get_config()["rate"] == 0.25
    out = model.predict(X3.reshape(5, 4, 6).astype("float32"), verbose=0)
    np.testing.assert_array_equal(out, np.repeat(X3.astype("float32").transpose(0, 2, 1).reshape(5, 1, 24), 3, 1))


def test_keras_2_module_paths():
    """``keras.layers.noise`` and ``keras.layers.core`` (where Keras 2.0-2.3 defined RepeatVector,
    Permute, ActivityRegularization and SpatialDropout1D; tf.keras 2.21 still re-exports them)."""
    from gpunet import layers
    from gpunet.layers.core import ActivityRegularization as A, Permute as P, RepeatVector as RV, SpatialDropout1D as S
    from gpunet.layers.noise import AlphaDropout as AD, GaussianDropout as GD, GaussianNoise as GN
    assert (A, P, RV, S, AD, GD, GN) == (ActivityRegularization, Permute, RepeatVector, SpatialDropout1D,
                                         AlphaDropout, GaussianDropout, GaussianNoise)
    assert {"ActivityRegularization", "GaussianNoise", "GaussianDropout", "AlphaDropout", "SpatialDropout1D",
            "SpatialDropout2D", "SpatialDropout3D", "RepeatVector", "Permute"} <= set(layers.__all__)
