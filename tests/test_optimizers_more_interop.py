"""Lion, Adafactor, Ftrl (and Keras 3's Lamb) state between gpunet and live tf.keras 2.21 / Keras 3 (torch backend),
both ways:
the file one of them saved in the middle of training, loaded by the other, trains on as the saver does.

What each side can read: gpunet reads all of tf.keras's and Keras 3's files (Keras 3 cannot write an .h5 with
Adafactor: its placeholder variables share a name). Keras 3 resumes gpunet's .keras archives, and restores the
iteration count from gpunet's .h5 (its legacy loader builds no slots for a Sequential model). tf.keras restores
gpunet's Ftrl .h5 as its legacy Ftrl; it cannot load gpunet's Lion or Adafactor .h5 (it would rebuild them as
legacy optimizers, which do not exist), as for AdamW.
"""
import numpy as np
import pytest

import gpunet
from gpunet.layers import Dense
from gpunet.models import Sequential, load_model
from keras_support import keras_on_torch, tf_keras_or_skip

tf_keras = tf_keras_or_skip()
keras = keras_on_torch()

RNG = np.random.RandomState(5)
X = RNG.rand(48, 5).astype("float32")
Y = RNG.rand(48, 2).astype("float32")
KWARGS = {"Lion": dict(learning_rate=0.01, beta_1=0.8),
          "Adafactor": dict(learning_rate=0.02, clip_threshold=0.5),
          "Ftrl": dict(learning_rate=0.05, l1_regularization_strength=0.001, beta=0.1),
          "Lamb": dict(learning_rate=0.01, beta_1=0.85)}
NAMES = sorted(set(KWARGS) - {"Lamb"})  # (tf.keras 2 has no Lamb)
K3_NAMES = sorted(KWARGS)


def gpunet_trained(name):
    gpunet.utils.set_random_seed(2)
    model = Sequential([Dense(4, input_dim=5, activation="tanh"), Dense(2)])
    model.compile(loss="mean_squared_error", optimizer=getattr(gpunet.optimizers, name)(**KWARGS[name]))
    model.fit(X, Y, epochs=2, batch_size=16, verbose=0)
    return model


def one_more_step(gpunet_model, other, other_weights):
    """Both take one full-batch step from the state they hold; their weights must agree."""
    other.fit(X, Y, epochs=1, batch_size=48, shuffle=False, verbose=0)
    gpunet_model.fit(X, Y, epochs=1, batch_size=48, shuffle=False, verbose=0)
    theirs = other_weights(other)
    assert len(theirs) == len(gpunet_model.get_weights())
    for a, b in zip(gpunet_model.get_weights(), theirs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("ext", [".h5", ".keras"])
@pytest.mark.parametrize("name", NAMES)
def test_gpunet_resumes_what_tf_keras_saved(tmp_path, name, ext):
    tf_keras.utils.set_random_seed(5)
    t = tf_keras.Sequential([tf_keras.layers.Dense(4, activation="tanh", input_shape=(5,)), tf_keras.layers.Dense(2)])
    t.compile(loss="mean_squared_error", optimizer=getattr(tf_keras.optimizers, name)(**KWARGS[name]))
    t.fit(X, Y, epochs=2, batch_size=16, verbose=0)
    t.save(str(tmp_path / ("t" + ext)))
    g = load_model(tmp_path / ("t" + ext))
    assert type(g.optimizer).__name__ == name and g.optimizer.iterations == int(t.optimizer.iterations) == 6
    state = g.optimizer.get_state()["slots"]
    if name == "Adafactor":  # every slot tf.keras has, as it has it
        theirs = {"r": t.optimizer._r, "c": t.optimizer._c, "v": t.optimizer._v}
        for slot, variables in theirs.items():
            held = [np.asarray(v.numpy()).ravel() for v in variables if len(v.shape) > 0]
            np.testing.assert_array_equal(state[slot], np.concatenate(held))
    one_more_step(g, t, lambda m: m.get_weights())


@pytest.mark.parametrize("ext", [".keras", ".h5"])
@pytest.mark.parametrize("name", K3_NAMES)
def test_gpunet_resumes_what_keras_3_saved(tmp_path, name, ext):
    keras.utils.set_random_seed(5)
    k = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(2)])
    k.compile(loss="mean_squared_error", optimizer=getattr(keras.optimizers, name)(**KWARGS[name]))
    k.fit(X, Y, epochs=2, batch_size=16, verbose=0)
    if name == "Adafactor" and ext == ".h5":
        with pytest.raises(ValueError, match="name already exists"):  # Keras 3's own limitation
            k.save(str(tmp_path / ("k" + ext)))
        return
    k.save(str(tmp_path / ("k" + ext)))
    g = load_model(tmp_path / ("k" + ext))
    assert g.optimizer.iterations == int(k.optimizer.iterations) == 6
    one_more_step(g, k, lambda m: [np.asarray(v.numpy()) for v in m.weights])


@pytest.mark.parametrize("name", K3_NAMES)
def test_keras_3_resumes_gpunet_archives_and_reads_h5_iterations(tmp_path, name):
    model = gpunet_trained(name)
    model.save(tmp_path / "m.keras")
    model.save(tmp_path / "m.h5")
    if name != "Lamb":  # (Keras 3's .h5 loader knows the optimizers of tf.keras 2 only)
        assert int(keras.models.load_model(str(tmp_path / "m.h5")).optimizer.iterations) == 6
    k = keras.models.load_model(str(tmp_path / "m.keras"))
    assert type(k.optimizer).__name__ == name and int(k.optimizer.iterations) == 6
    # Keras 3 holds gpunet's slots: Adafactor's first r, c, v are dense/kernel's
    first = [np.asarray(v.numpy()) for v in k.optimizer.variables[2:5]]
    slots = model.optimizer.get_state()["slots"]
    if name == "Adafactor":
        for got, slot, n in zip(first, ("r", "c", "v"), (5, 4, 20)):
            np.testing.assert_array_equal(got.ravel(), slots[slot][:n])
    one_more_step(model, k, lambda m: [np.asarray(v.numpy()) for v in m.weights])


def test_tf_keras_resumes_gpunet_ftrl_h5_as_its_legacy_ftrl(tmp_path):
    model = gpunet_trained("Ftrl")
    model.save(tmp_path / "m.h5")
    t = tf_keras.models.load_model(str(tmp_path / "m.h5"))
    assert type(t.optimizer).__module__.endswith("legacy.ftrl") and int(t.optimizer.iterations.numpy()) == 6
    one_more_step(model, t, lambda m: m.get_weights())


@pytest.mark.parametrize("name", ["Lion", "Adafactor"])
def test_tf_keras_cannot_load_gpunet_lion_or_adafactor_h5(tmp_path, name):
    gpunet_trained(name).save(tmp_path / "m.h5")
    with pytest.raises(ValueError, match=f"Unknown optimizer: '{name}'"):
        tf_keras.models.load_model(str(tmp_path / "m.h5"))
    assert load_model(tmp_path / "m.h5").optimizer.iterations == 6  # (gpunet and Keras 3 read it)
