"""Real Keras 3 (torch backend, CPU) reads gpunet's files, and gpunet reads what Keras 3 writes now.

Needs ``pip install keras torch`` (CI installs both); skipped with the reason otherwise.
"""
import numpy as np
import pytest

from gpunet.layers import Activation, BatchNormalization, Dense, Dropout, Flatten, Reshape
from gpunet.models import Sequential, load_model
from keras_support import keras_on_torch

keras = keras_on_torch()

RNG = np.random.RandomState(8)
X = RNG.rand(48, 8).astype("float32")
Y = np.eye(3)[RNG.randint(0, 3, 48)].astype("float32")


def gpunet_model():
    model = Sequential([Dense(12, input_dim=8, activation="relu"), BatchNormalization(), Dropout(0.2),
                        Reshape((3, 4)), Flatten(), Activation("tanh"), Dense(3, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.fit(X, Y, epochs=3, batch_size=16, verbose=0)
    return model


def _close(a, b):
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)


@pytest.mark.parametrize("ext", [".h5", ".keras"])
def test_keras_loads_gpunet_model_files_with_optimizer_state(tmp_path, ext):
    model = gpunet_model()
    model.save(tmp_path / ("m" + ext))
    k = keras.models.load_model(str(tmp_path / ("m" + ext)))
    _close(np.asarray(k.predict(X, verbose=0)), model.predict(X, verbose=0))
    assert int(k.optimizer.iterations) == model.optimizer.iterations == 9
    if ext == ".h5":
        return  # Keras 3's legacy loader builds a Sequential's optimizer over no variables: no slots to fill
    # Keras 3 restored the moments too: its first "momentum" variable is gpunet's m of dense/kernel.
    first = [v for v in k.optimizer.variables if "momentum" in v.path][0]
    m = model.optimizer.get_state()["slots"]["m"][:96].reshape(8, 12)
    _close(np.asarray(first.numpy()), m)


@pytest.mark.parametrize("weights", ["w.weights.h5", "w.h5"])
def test_keras_loads_gpunet_json_and_weights(tmp_path, weights):
    model = gpunet_model()
    model.save_weights(tmp_path / weights)
    k = keras.models.model_from_json(model.to_json())
    k.load_weights(str(tmp_path / weights))
    _close(np.asarray(k.predict(X, verbose=0)), model.predict(X, verbose=0))


def keras_model():
    keras.utils.set_random_seed(3)
    k = keras.Sequential([keras.Input((8,)), keras.layers.Dense(12, activation="relu"),
                          keras.layers.BatchNormalization(), keras.layers.Dense(3, activation="softmax")])
    k.compile(loss="categorical_crossentropy", optimizer=keras.optimizers.Adam(0.01), metrics=["accuracy"])
    k.fit(X, Y, epochs=2, batch_size=16, verbose=0)
    return k


def test_gpunet_loads_what_keras_writes_now(tmp_path):
    k = keras_model()
    k.save(str(tmp_path / "k.keras"))
    k.save(str(tmp_path / "k.h5"))
    k.save_weights(str(tmp_path / "k.weights.h5"))
    expected = np.asarray(k.predict(X, verbose=0))
    for name in ("k.keras", "k.h5"):
        _close(load_model(tmp_path / name).predict(X, verbose=0), expected)
    arch = load_model(tmp_path / "k.h5", compile=False)
    fresh = Sequential.from_config(arch.get_config())
    assert fresh.load_weights(tmp_path / "k.weights.h5").complete
    _close(fresh.predict(X, verbose=0), expected)


def test_training_continues_from_keras_optimizer_state(tmp_path):
    k = keras_model()
    k.save(str(tmp_path / "k.h5"))
    g = load_model(tmp_path / "k.h5")
    assert g.optimizer.iterations == int(k.optimizer.iterations) == 6
    k.fit(X, Y, epochs=2, batch_size=48, shuffle=False, verbose=0)
    g.fit(X, Y, epochs=2, batch_size=48, shuffle=False, verbose=0)
    for a, b in zip(g.get_weights(), [np.asarray(v.numpy()) for v in k.weights]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


OPTIMIZERS = {
    "adam-amsgrad": lambda O: O.Adam(amsgrad=True), "sgd-momentum": lambda O: O.SGD(0.01, momentum=0.9),
    "rmsprop-centered": lambda O: O.RMSprop(momentum=0.5, centered=True), "adagrad": lambda O: O.Adagrad(),
    "adadelta": lambda O: O.Adadelta(), "adamax": lambda O: O.Adamax(), "nadam": lambda O: O.Nadam(),
    "adamw": lambda O: O.AdamW(),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_keras_resumes_every_optimizer_from_a_gpunet_archive(tmp_path, name):
    import gpunet
    model = Sequential([Dense(3, input_dim=8), Dense(3)])
    model.compile(loss="mse", optimizer=OPTIMIZERS[name](gpunet.optimizers))
    model.fit(X, Y, epochs=2, batch_size=16, verbose=0)
    model.save(tmp_path / "m.keras")
    k = keras.models.load_model(str(tmp_path / "m.keras"))
    assert int(k.optimizer.iterations) == model.optimizer.iterations == 6
    k.fit(X, Y, epochs=1, batch_size=48, shuffle=False, verbose=0)
    model.fit(X, Y, epochs=1, batch_size=48, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), k.weights):  # one more step from the same state, same result
        np.testing.assert_allclose(a, np.asarray(b.numpy()), rtol=1e-5, atol=1e-6)


# ---- nested models (a Sequential as a layer), both ways ----------------------------------------------
def gpunet_nested():
    inner = Sequential([Dense(6, input_dim=8, activation="relu", name="d1"), BatchNormalization(name="bn"),
                        Sequential([Dense(5, name="deep"), Activation("tanh", name="act")], name="deeper")],
                       name="inner")
    inner.layers[0].trainable = False
    model = Sequential([inner, Dense(3, activation="softmax", name="d2")], name="outer")
    model.compile(loss="mse", optimizer="adam")  # written "mean_squared_error": Keras 3 cannot rebuild "mse"
    model.fit(X, Y, epochs=2, batch_size=16, verbose=0)
    return model


@pytest.mark.parametrize("how", ["m.h5", "m.keras", "w.h5", "w.weights.h5"])
def test_keras_loads_gpunet_nested_models(tmp_path, how):
    model = gpunet_nested()
    if how.startswith("m"):
        model.save(tmp_path / how)
        k = keras.models.load_model(str(tmp_path / how))
        assert int(k.optimizer.iterations) == model.optimizer.iterations == 6
    else:
        model.save_weights(tmp_path / how)
        k = keras.models.model_from_json(model.to_json())
        k.load_weights(str(tmp_path / how))
    assert [type(l).__name__ for l in k.layers] == ["Sequential", "Dense"]
    assert k.layers[0].layers[0].trainable is False
    _close(np.asarray(k.predict(X, verbose=0)), model.predict(X, verbose=0))


def test_gpunet_loads_keras_nested_models(tmp_path):
    keras.utils.set_random_seed(5)
    inner = keras.Sequential([keras.layers.Dense(6, activation="relu", name="d1"),
                              keras.layers.BatchNormalization(name="bn")], name="inner")
    k = keras.Sequential([keras.Input((8,)), inner, keras.layers.Dense(3, name="d2")], name="outer")
    inner.layers[0].trainable = False
    k.compile(loss="mean_squared_error", optimizer="adam")
    k.fit(X, Y, epochs=2, batch_size=16, verbose=0)
    for name in ("k.keras", "k.h5", "k.weights.h5"):
        (k.save_weights if name.endswith(".weights.h5") else k.save)(str(tmp_path / name))
    expected = np.asarray(k.predict(X, verbose=0))
    for name in ("k.keras", "k.h5"):
        g = load_model(tmp_path / name)
        assert [l.name for l in g.layers] == ["inner", "d2"] and g.get_layer("inner").layers[0].trainable is False
        assert g.optimizer.iterations == 6
        _close(g.predict(X, verbose=0), expected)
    fresh = load_model(tmp_path / "k.h5", compile=False)
    fresh.set_weights([np.zeros_like(w) for w in fresh.get_weights()])
    assert fresh.load_weights(tmp_path / "k.weights.h5").complete
    _close(fresh.predict(X, verbose=0), expected)
