"""Keras 3's moving average of the weights (``use_ema``, ``ema_momentum``, ``ema_overwrite_frequency``) and
its ``SwapEMAWeights`` callback: training, validation and final weights against Keras 3 on torch, the
average by hand, every training path alike, the average saved and read both ways, refusals."""
import numpy as np
import pytest

import gpunet
from cuda_emulator import emulator  # noqa: F401 (fixture)
from gpunet import backend as B
from gpunet.models import load_model

from keras_support import keras_on_torch
from plan_cases import fit_on_every_path

RNG = np.random.default_rng(6)
X = RNG.standard_normal((64, 5)).astype("float32")
Y = (X[:, :1] > 0).astype("float32")


def _net(lib):
    return lib.Sequential([lib.Input((5,)), lib.layers.Dense(4, activation="tanh"),
                           lib.layers.Dense(1, activation="sigmoid")])


@pytest.mark.parametrize("make, swap", [
    (lambda lib: lib.optimizers.Adam(0.05, use_ema=True, ema_momentum=0.9), None),
    (lambda lib: lib.optimizers.SGD(0.1, momentum=0.5, use_ema=True, ema_momentum=0.8, ema_overwrite_frequency=3),
     None),
    (lambda lib: lib.optimizers.RMSprop(0.01, use_ema=True), False),
    (lambda lib: lib.optimizers.Adam(0.05, use_ema=True, ema_momentum=0.9), True),
], ids=["adam", "sgd-overwrite", "rmsprop-swap-validation", "adam-swap-on-epoch"])
def test_training_and_validation_equal_keras_3(make, swap):
    keras = keras_on_torch()
    ref, model = _net(keras), _net(gpunet)
    model.set_weights(ref.get_weights())
    runs = []
    for m, lib in ((ref, keras), (model, gpunet)):
        m.compile(make(lib), "binary_crossentropy")
        callbacks = [] if swap is None else [lib.callbacks.SwapEMAWeights(swap_on_epoch=swap)]
        runs.append(m.fit(X, Y, epochs=3, batch_size=16, shuffle=False, verbose=0, callbacks=callbacks,
                          validation_data=(X[:20], Y[:20])).history)
    for key in runs[0]:
        np.testing.assert_allclose(runs[1][key], runs[0][key], rtol=1e-5, atol=1e-6, err_msg=key)
    for got, want in zip(model.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-6)


def test_the_average_by_hand_and_the_weights_at_the_end_of_fit(f64):
    model = _net(gpunet)
    model.compile(gpunet.optimizers.SGD(0.2, use_ema=True, ema_momentum=0.7), "mse")
    start = model.get_weights()
    seen, average = [], None
    for lo in range(0, 64, 16):  # the same steps one by one, the average kept here
        model.train_on_batch(X[lo:lo + 16], Y[lo:lo + 16])
        now = model.get_weights()
        average = now if average is None else [0.7 * a + 0.3 * w for a, w in zip(average, now)]
        seen.append(now)
    model.set_weights(start)
    model.compile(gpunet.optimizers.SGD(0.2, use_ema=True, ema_momentum=0.7), "mse")
    model.fit(X, Y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    for got, want in zip(model.get_weights(), average):  # fit ends with the weights' average
        np.testing.assert_allclose(got, want, rtol=1e-10)
    assert not np.allclose(model.get_weights()[0], seen[-1][0])


def test_every_training_path_trains_alike(emulator):
    finals = fit_on_every_path(emulator, _net, lambda: gpunet.optimizers.Adam(0.05, use_ema=True, ema_overwrite_frequency=5), X, Y)
    for loss, weights in finals[1:]:
        np.testing.assert_allclose(loss, finals[0][0], rtol=1e-5)
        for got, want in zip(weights, finals[0][1]):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_the_average_travels_in_files_both_ways(tmp_path):
    model = _net(gpunet)
    model.compile(gpunet.optimizers.Adam(0.05, use_ema=True, ema_momentum=0.95), "binary_crossentropy")
    model.fit(X, Y, epochs=2, batch_size=16, verbose=0)
    average = B.get_backend().to_host(model.optimizer.slots()["average"])
    for name in ("m.h5", "m.keras"):
        model.save(tmp_path / name)
        back = load_model(tmp_path / name)
        assert back.optimizer.get_config() == model.optimizer.get_config()
        np.testing.assert_array_equal(B.get_backend().to_host(back.optimizer.slots()["average"]), average)
    keras = keras_on_torch()
    ref = keras.models.load_model(tmp_path / "m.keras")
    theirs = [v.numpy() for v in ref.optimizer.variables if v.path.endswith("_average")]
    np.testing.assert_array_equal(np.concatenate([a.ravel() for a in theirs]), average)
    ref.save(tmp_path / "k3.keras")
    again = load_model(tmp_path / "k3.keras")
    assert again.optimizer.use_ema and again.optimizer.ema_momentum == 0.95
    np.testing.assert_array_equal(B.get_backend().to_host(again.optimizer.slots()["average"]), average)


def test_predict_and_evaluate_under_swap_use_the_average_and_give_the_weights_back():
    model = _net(gpunet)
    model.compile(gpunet.optimizers.Adam(0.05, use_ema=True, ema_momentum=0.5), "mse")
    swap = gpunet.callbacks.SwapEMAWeights()
    assert model.predict(X[:3], verbose=0, callbacks=[swap]).shape == (3, 1)  # (no step yet: nothing swapped)
    model.fit(X, Y, epochs=1, batch_size=16, verbose=0)
    model.train_on_batch(X[:16], Y[:16])  # (the weights move off their average again)
    weights = model.get_weights()
    swapped = model.predict(X, verbose=0, callbacks=[swap])
    assert [np.array_equal(a, b) for a, b in zip(model.get_weights(), weights)] == [True] * 4
    assert not np.allclose(swapped, model.predict(X, verbose=0))
    average = B.get_backend().to_host(model.optimizer.slots()["average"])
    model_params = np.concatenate([w.ravel() for w in weights])
    assert not np.allclose(average, model_params)


@pytest.mark.parametrize("make, error, message", [
    (lambda: gpunet.optimizers.Adam(use_ema=True, ema_momentum=1.5), ValueError, "ema_momentum"),
    (lambda: gpunet.optimizers.Adam(use_ema=True, ema_overwrite_frequency=-2), ValueError,
     "`ema_overwrite_frequency` must be an integer >= 1 or None. Received: ema_overwrite_frequency=-2"),
])
def test_bad_settings_are_refused_by_name(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_swapping_without_a_moving_average_is_refused():
    model = _net(gpunet)
    model.compile("adam", "mse")
    with pytest.raises(ValueError, match="SwapEMAWeights must be used when `use_ema=True` is set on the optimizer"):
        model.fit(X, Y, epochs=1, verbose=0, callbacks=[gpunet.callbacks.SwapEMAWeights()])


class _Momentum(gpunet.optimizers.Optimizer):  # (an optimizer of one's own: no Keras slot table for its class)
    @property
    def _slot_kinds(self):
        return ("velocity",)

    def _update(self, params, grads, lr, t):
        velocity = self._slots["velocity"]
        velocity *= 0.9
        velocity += grads
        params -= lr * velocity


def test_an_optimizer_of_ones_own_keeps_its_average_once_in_files(tmp_path):
    from gpunet.saving.optimizer_layouts import slot_order
    optimizer = _Momentum(0.05, use_ema=True)
    assert slot_order(optimizer) == [("average",), ("velocity",)]
    model = _net(gpunet)
    model.compile(optimizer, "mse")
    model.fit(X, Y, epochs=1, batch_size=16, verbose=0)
    slots = {k: B.get_backend().to_host(v).copy() for k, v in optimizer.slots().items()}
    model.save(tmp_path / "own.keras")
    back = load_model(tmp_path / "own.keras", custom_objects={"_Momentum": _Momentum})
    for name, values in slots.items():
        np.testing.assert_array_equal(B.get_backend().to_host(back.optimizer.slots()[name]), values)
