"""Keras 3's ``gradient_accumulation_steps``: training against Keras 3 on torch (with a schedule, clipping, weight
decay, a moving average), every training path alike, a resume in the middle of an accumulation exact through
both file formats, the accumulators read and written as Keras 3 keeps them, refusals."""
import numpy as np
import pytest

import gpunet
from cuda_emulator import emulator  # noqa: F401 (fixture)
from gpunet import backend as B
from gpunet.models import load_model

from keras_support import keras_on_torch
from plan_cases import fit_on_every_path

RNG = np.random.default_rng(8)
X = RNG.standard_normal((64, 5)).astype("float32")
Y = (X[:, :1] + X[:, 1:2] > 0).astype("float32")


def _net(lib):
    return lib.Sequential([lib.Input((5,)), lib.layers.Dense(4, activation="tanh"),
                           lib.layers.Dense(1, activation="sigmoid")])


def _schedule(lib):
    return lib.optimizers.schedules.ExponentialDecay(0.2, decay_steps=2, decay_rate=0.5)


@pytest.mark.parametrize("make", [
    lambda lib: lib.optimizers.Adam(0.05, gradient_accumulation_steps=3),
    lambda lib: lib.optimizers.SGD(_schedule(lib), momentum=0.5, clipnorm=0.1, gradient_accumulation_steps=2),
    lambda lib: lib.optimizers.AdamW(0.05, weight_decay=0.1, gradient_accumulation_steps=3),
    lambda lib: lib.optimizers.Adam(0.05, use_ema=True, ema_momentum=0.8, ema_overwrite_frequency=2,
                                    gradient_accumulation_steps=3),
], ids=["adam", "sgd-schedule-clipnorm", "adamw-decay", "adam-ema"])
def test_training_equals_keras_3(make):
    keras = keras_on_torch()
    ref, model = _net(keras), _net(gpunet)
    model.set_weights(ref.get_weights())
    runs = []
    for m, lib in ((ref, keras), (model, gpunet)):
        m.compile(make(lib), "binary_crossentropy")  # (4 steps an epoch: accumulations cross the epochs)
        runs.append(m.fit(X, Y, epochs=3, batch_size=16, shuffle=False, verbose=0).history["loss"])
    np.testing.assert_allclose(runs[1], runs[0], rtol=1e-5, atol=1e-6)
    for got, want in zip(model.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-6)
    steps = model.optimizer.gradient_accumulation_steps
    assert model.optimizer.iterations == int(ref.optimizer.iterations) == 12 // steps
    assert model.optimizer._iteration_count == int(ref.optimizer._iterations) == 12


def test_an_update_is_the_mean_of_the_accumulated_gradients(f64):
    model = _net(gpunet)
    model.compile(gpunet.optimizers.SGD(0.3, gradient_accumulation_steps=2), "mse")
    start = model.get_weights()
    model.train_on_batch(X[:16], Y[:16])
    assert [np.array_equal(a, b) for a, b in zip(model.get_weights(), start)] == [True] * 4  # (accumulated only)
    model.train_on_batch(X[16:32], Y[16:32])
    one_step = _net(gpunet)
    one_step.set_weights(start)
    one_step.compile(gpunet.optimizers.SGD(0.3), "mse")
    one_step.train_on_batch(X[:32], Y[:32])  # (mse: the mean over both batches' rows is their gradients' mean)
    for got, want in zip(model.get_weights(), one_step.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    assert model.optimizer.iterations == 1 and not np.any(model.optimizer.slots()["gradient_accumulator"])


def test_every_training_path_trains_alike(emulator):
    finals = fit_on_every_path(emulator, _net, lambda: gpunet.optimizers.Adam(0.05, gradient_accumulation_steps=3), X, Y)
    for loss, weights in finals[1:]:
        np.testing.assert_allclose(loss, finals[0][0], rtol=1e-5)
        for got, want in zip(weights, finals[0][1]):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def _steps(model, first, count):
    for k in range(first, first + count):
        lo = (k % 4) * 16
        model.train_on_batch(X[lo:lo + 16], Y[lo:lo + 16])


@pytest.mark.parametrize("name", ["m.keras", "m.h5"])
def test_a_resume_in_the_middle_of_an_accumulation_is_exact(tmp_path, name):
    def fresh():
        gpunet.utils.set_random_seed(2)
        model = _net(gpunet)
        model.compile(gpunet.optimizers.Adam(0.05, gradient_accumulation_steps=3), "binary_crossentropy")
        return model
    whole = fresh()
    _steps(whole, 0, 9)
    model = fresh()
    _steps(model, 0, 5)  # (one update, two steps accumulated)
    model.save(tmp_path / name)
    back = load_model(tmp_path / name)
    assert back.optimizer.get_config() == model.optimizer.get_config()
    assert (back.optimizer.iterations, back.optimizer._iteration_count) == (1, 5)
    _steps(back, 5, 4)
    for got, want in zip(back.get_weights(), whole.get_weights()):
        np.testing.assert_array_equal(got, want)


def test_the_accumulators_travel_to_and_from_keras_3(tmp_path):
    keras = keras_on_torch()
    ours, theirs = _net(gpunet), _net(keras)
    ours.set_weights(theirs.get_weights())
    ours.compile(gpunet.optimizers.Adam(0.05, gradient_accumulation_steps=3), "binary_crossentropy")
    theirs.compile(keras.optimizers.Adam(0.05, gradient_accumulation_steps=3), "binary_crossentropy")
    for model in (ours, theirs):
        _steps(model, 0, 5)
    accumulated = B.get_backend().to_host(ours.optimizer.slots()["gradient_accumulator"])
    assert np.any(accumulated)
    ours.save(tmp_path / "ours.keras")
    theirs.save(tmp_path / "theirs.keras")
    read_by_keras = keras.models.load_model(tmp_path / "ours.keras")
    assert int(read_by_keras.optimizer._iterations) == 5
    kept = [v.numpy().ravel() for v in read_by_keras.optimizer.variables if v.path.endswith("_gradient_accumulator")]
    np.testing.assert_array_equal(np.concatenate(kept), accumulated)
    read_by_us = load_model(tmp_path / "theirs.keras")
    assert read_by_us.optimizer._iteration_count == 5
    np.testing.assert_allclose(B.get_backend().to_host(read_by_us.optimizer.slots()["gradient_accumulator"]),
                               accumulated, rtol=1e-5, atol=1e-7)
    for model in (read_by_keras, read_by_us, theirs):
        _steps(model, 5, 4)
    for got, a, b in zip(read_by_us.get_weights(), read_by_keras.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(got, b, rtol=1e-5, atol=2e-6)
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=2e-6)


@pytest.mark.parametrize("steps", [1, -3, 2.5, True])
def test_bad_settings_are_refused_as_keras_3_refuses_them(steps):
    with pytest.raises(ValueError, match=rf"`gradient_accumulation_steps` must be an integer >= 2. Received: "
                                         rf"gradient_accumulation_steps={steps!r}"):
        gpunet.optimizers.Adam(gradient_accumulation_steps=steps)


def test_config_holds_the_setting_only_when_set():
    assert "gradient_accumulation_steps" not in gpunet.optimizers.Adam().get_config()
    config = gpunet.optimizers.SGD(gradient_accumulation_steps=4).get_config()
    assert config["gradient_accumulation_steps"] == 4
    assert gpunet.optimizers.SGD.from_config(config).gradient_accumulation_steps == 4
