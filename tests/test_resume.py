"""Resuming training: save + load_model + fit equals training straight through, bit for bit on
the CPU; optimizer state, iterations and learning rate survive; slots are matched by path."""
import h5py
import numpy as np
import pytest

import gpunet
from gpunet.layers import BatchNormalization, Dense, Dropout, Activation
from gpunet.models import Sequential, load_model
from gpunet.saving import h5_store
from gpunet.saving.errors import SavingError
from gpunet.saving.model_io import load_optimizer_state
from resume_check import straight_and_resumed

RNG = np.random.RandomState(1)
X = RNG.rand(90, 6).astype("float32")
Y = (X[:, :3].sum(1) > X[:, 3:].sum(1)).astype("float32")


def build(optimizer="adam"):
    model = Sequential([Dense(16, input_dim=6, activation="relu"), BatchNormalization(), Dropout(0.3),
                        Dropout(0.2, seed=11), Dense(1, activation="sigmoid")])
    model.compile(loss="binary_crossentropy", optimizer=optimizer, metrics=["accuracy"])
    return model


@pytest.mark.parametrize("ext", [".h5", ".keras"])
@pytest.mark.parametrize("optimizer", ["adam", "sgd-nesterov", "rmsprop-centered", "nadam"])
def test_save_load_fit_is_bit_identical_to_training_straight_through(tmp_path, ext, optimizer):
    def make():
        opt = {"adam": "adam", "nadam": "nadam",
               "sgd-nesterov": gpunet.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
               "rmsprop-centered": gpunet.optimizers.RMSprop(0.01, momentum=0.5, centered=True)}[optimizer]
        return build(opt)

    # shuffle and Dropout on; whatever was seeded since the save, the file's generator state wins
    straight, _, resumed, history = straight_and_resumed(make, X, Y, tmp_path / ("ckpt" + ext), epochs=5, split=2,
                                                         batch_size=16, seed=5)
    assert history.epoch == [2, 3, 4]  # epoch numbering continues
    assert resumed.optimizer.iterations == straight.optimizer.iterations == 30
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        assert np.array_equal(a, b)
    for name, slot in straight.optimizer.get_state()["slots"].items():
        assert np.array_equal(slot, resumed.optimizer.get_state()["slots"][name])


def test_never_trained_compiled_model_saves_loads_and_trains(tmp_path):
    model = build()
    model.save(tmp_path / "fresh.h5")
    loaded = load_model(tmp_path / "fresh.h5")
    assert loaded.optimizer.iterations == 0
    assert all(not s.any() for s in loaded.optimizer.get_state()["slots"].values())
    loaded.fit(X, Y, epochs=1, batch_size=30, verbose=0)
    assert loaded.optimizer.iterations == 3


def test_compiled_unbuilt_model_keeps_its_optimizer_config(tmp_path):
    model = Sequential([Dense(3), Dense(1)])
    model.compile(loss="mse", optimizer=gpunet.optimizers.Adam(learning_rate=0.02))
    model.save(tmp_path / "m.h5")
    loaded = load_model(tmp_path / "m.h5")
    assert not loaded.built and float(loaded.optimizer.learning_rate) == 0.02


@pytest.mark.parametrize("ext", [".h5", ".keras"])
def test_learning_rate_and_iterations_after_manual_changes(tmp_path, ext):
    model = build()
    model.fit(X, Y, epochs=1, batch_size=30, verbose=0)
    model.optimizer.learning_rate = 0.0123456789  # a manual change, as a scheduler would make
    model.save(tmp_path / ("m" + ext))
    loaded = load_model(tmp_path / ("m" + ext))
    assert float(loaded.optimizer.learning_rate) == 0.0123456789
    assert loaded.optimizer.iterations == model.optimizer.iterations == 3


def test_slots_follow_parameter_paths_when_the_model_changes(tmp_path):
    model = Sequential([Dense(4, input_dim=3, name="a"), Dense(4, name="b"), Dense(1, name="c")])
    model.compile(loss="mse", optimizer="adam")
    model.fit(X[:, :3], Y, epochs=1, batch_size=10, verbose=0)
    model.save(tmp_path / "m.h5")
    saved = {w.path: w for w in model.trainable_weights}
    slots = model.optimizer.get_state()["slots"]
    offsets = {path: (off, shape) for path, off, shape in model._layout}

    # Rebuilt with an extra parameter-free layer and another freeze pattern: positions all shift.
    other = Sequential([Dense(4, input_dim=3, name="a"), Activation("relu", name="extra"), Dense(4, name="b"),
                        Dense(1, name="c")])
    other.layers[0].trainable = False
    other.compile(loss="mse", optimizer="adam")
    other.build((None, 3))
    restored = load_optimizer_state(other, tmp_path / "m.h5")
    assert restored == ["b/bias", "b/kernel", "c/bias", "c/kernel"]
    new_slots = other.optimizer.get_state()["slots"]
    for path, off, shape in other._layout:
        src_off, _ = offsets[path]
        n = int(np.prod(shape))
        for name in ("m", "v"):
            assert np.array_equal(new_slots[name][off:off + n], slots[name][src_off:src_off + n]), (path, name)
    assert other.optimizer.iterations == model.optimizer.iterations
    assert set(saved) - {p for p, _, _ in other._layout} == {"a/kernel", "a/bias"}


def test_a_failed_optimizer_restore_is_an_error(tmp_path):
    model = build()
    model.fit(X, Y, epochs=1, batch_size=30, verbose=0)
    model.save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "r+") as f:  # amsgrad needs a "vhat" slot the file does not have
        text = h5_store.text(f.attrs["training_config"])
        f.attrs["training_config"] = text.replace('"amsgrad": false', '"amsgrad": true')
        del f.attrs["gpunet_attr_crc"]
    with pytest.raises(SavingError, match="optimizer state"):
        load_model(tmp_path / "m.h5")
    assert load_model(tmp_path / "m.h5", compile=False).optimizer is None


def test_load_model_restores_the_random_generator_last(tmp_path):
    from gpunet.backend import random as R
    gpunet.utils.set_random_seed(3)
    model = build()
    model.fit(X, Y, epochs=1, batch_size=30, verbose=0)
    expected = R.get_state()
    model.save(tmp_path / "m.h5")
    gpunet.utils.set_random_seed(77)
    load_model(tmp_path / "m.h5")
    assert R.get_state() == expected
