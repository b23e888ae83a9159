"""Functional models in files: JSON/YAML, .h5 and .keras both ways with tf.keras 2.21 and Keras 3,
weights files, and training resumed from a file."""
import json

import numpy as np
import pytest

import gpunet
from gpunet.models import load_model, model_from_json, model_from_yaml

from keras_support import keras_on_torch
from test_functional import _pima, _skip_graph


@pytest.fixture(scope="module")
def keras3():
    return keras_on_torch()


def _trained(lib, epochs=1):
    x, y = _pima()
    model = _skip_graph(lib)
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    return model, x, y


def test_json_and_yaml_round_trip():
    model, x, _ = _trained(gpunet)
    config = json.loads(model.to_json())
    assert config["class_name"] == "Functional"
    inner = config["config"]
    assert inner["input_layers"] == [[model.layers[0].name, 0, 0]] and inner["output_layers"] == [["out", 0, 0]]
    assert next(e for e in inner["layers"] if e["name"] == "s")["inbound_nodes"] == [[["a", 0, 0, {}], ["b", 0, 0, {}]]]
    for clone in (model_from_json(model.to_json()), model_from_yaml(model.to_yaml())):
        assert [l.name for l in clone.layers] == [l.name for l in model.layers]
        assert json.loads(clone.to_json())["config"] == inner
        clone.set_weights(model.get_weights())
        np.testing.assert_array_equal(clone.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("kind", ["functional", "sequential"])
def test_gpunet_h5_loads_in_tf_keras_and_back(tmp_path, tfk, kind):
    """gpunet -> tf.keras (load, train, save) -> gpunet: tf.keras 2.21 then names its rebuilt legacy
    Adam's slots without the optimizer's name ("a/kernel/m:0"); they are still found, so both go on alike."""
    if kind == "functional":
        model, x, y = _trained(gpunet)
    else:
        x, y = _pima()
        model = gpunet.Sequential([gpunet.layers.Dense(6, activation="relu", input_shape=(8,), name="a"),
                                   gpunet.layers.Dense(1, activation="sigmoid", name="out")])
        model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
        model.fit(x, y, epochs=1, verbose=0)
    path = str(tmp_path / "m.h5")
    model.save(path)
    ref = tfk.models.load_model(path)
    assert [l.name for l in ref.layers] == [l.name for l in model.layers]
    np.testing.assert_allclose(ref.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    ref.fit(x, y, epochs=1, verbose=0)  # compiled from gpunet's training config, Adam's slots restored
    ref.save(str(tmp_path / "back.h5"))
    back = load_model(str(tmp_path / "back.h5"))
    assert back.optimizer.iterations == int(ref.optimizer.iterations.numpy())
    np.testing.assert_allclose(back.evaluate(x, y, verbose=0), ref.evaluate(x, y, verbose=0), rtol=1e-4)
    back.fit(x, y, epochs=1, batch_size=32, shuffle=False, verbose=0)
    ref.fit(x, y, epochs=1, batch_size=32, shuffle=False, verbose=0)
    for got, want in zip(back.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_tf_keras_json_builds_the_same_graph(tfk):
    ref = _skip_graph(tfk)
    model = model_from_json(ref.to_json())
    assert [l.name for l in model.layers][1:] == [l.name for l in ref.layers][1:]
    model.set_weights(ref.get_weights())
    x = _pima()[0][:40]
    np.testing.assert_allclose(model.predict(x, verbose=0), ref.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_keras3_files_both_ways(tmp_path, keras3):
    ref, x, y = _trained(keras3)
    ref.save(str(tmp_path / "k.keras"))
    ref.save_weights(str(tmp_path / "k.weights.h5"))
    model = load_model(str(tmp_path / "k.keras"))
    np.testing.assert_allclose(model.predict(x, verbose=0), ref.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    assert model.optimizer is not None and model.get_layer("m").axis == -1
    fresh = model_from_json(ref.to_json())
    fresh.load_weights(str(tmp_path / "k.weights.h5"))
    np.testing.assert_allclose(fresh.predict(x, verbose=0), ref.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    model.save(str(tmp_path / "g.keras"))
    again = keras3.models.load_model(str(tmp_path / "g.keras"))
    assert type(again).__name__ == "Functional"
    assert [l.name for l in again.layers] == [l.name for l in model.layers]
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_weights_files_and_by_name(tmp_path):
    model, x, _ = _trained(gpunet)
    model.save_weights(str(tmp_path / "w.h5"))
    other = _skip_graph(gpunet)
    other.load_weights(str(tmp_path / "w.h5"))
    np.testing.assert_array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))
    inp = gpunet.Input((8,))
    partial = gpunet.Model(inp, gpunet.layers.Dense(6, activation="relu", name="a")(inp))
    partial.load_weights(str(tmp_path / "w.h5"), by_name=True)
    np.testing.assert_array_equal(partial.get_layer("a").get_weights()[0], model.get_layer("a").get_weights()[0])


@pytest.mark.parametrize("ext", ["h5", "keras"])
def test_training_resumes_exactly(tmp_path, ext):
    x, y = _pima()
    gpunet.utils.set_random_seed(5)
    whole = _skip_graph(gpunet)
    start = whole.get_weights()
    whole.compile(loss="binary_crossentropy", optimizer="adam")
    whole.fit(x, y, epochs=4, batch_size=16, verbose=0)
    gpunet.utils.set_random_seed(5)
    first = _skip_graph(gpunet)
    first.set_weights(start)
    first.compile(loss="binary_crossentropy", optimizer="adam")
    first.fit(x, y, epochs=2, batch_size=16, verbose=0)
    first.save(str(tmp_path / f"half.{ext}"))
    resumed = load_model(str(tmp_path / f"half.{ext}"))
    resumed.fit(x, y, epochs=4, initial_epoch=2, batch_size=16, verbose=0)
    for got, want in zip(resumed.get_weights(), whole.get_weights()):
        np.testing.assert_array_equal(got, want)
