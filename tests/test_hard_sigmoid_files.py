"""One name, two functions: "hard_sigmoid" is Keras 2's ``clip(0.2 x + 0.5, 0, 1)`` in tf.keras 2 and gpunet, and
``relu6(x + 3) / 6`` in Keras 3. Each file reads with its writer's function, and what gpunet writes never lets the
other Keras compute the other function silently: real Keras 3 (torch) and tf.keras 2.21 read and write the files."""
import json
import zipfile

import numpy as np
import pytest

import gpunet
from gpunet import activations, ops
from gpunet.models import load_model, model_from_json

from keras_support import keras_float64_on_numpy, keras_on_torch, matches_torch

RNG = np.random.default_rng(11)
X = (RNG.standard_normal((16, 4)) * 4).astype("float32")  # well past both functions' kinks (+-2.5, +-3)
SEQ = (RNG.standard_normal((3, 5, 2)) * 3).astype("float32")


def host(a):
    return np.asarray(gpunet.backend.get_backend().to_host(a))


def keras2_hard_sigmoid(x):
    return np.clip(0.2 * x + 0.5, 0, 1)


def keras3_hard_sigmoid(x):
    return np.clip(x + 3, 0, 6) / 6


def _dense(lib, activation="hard_sigmoid"):
    return lib.Sequential([lib.Input((4,)), lib.layers.Dense(3, activation=activation, kernel_initializer="ones")])


def _lstm(lib, recurrent_activation="hard_sigmoid"):
    return lib.Sequential([lib.Input((5, 2)), lib.layers.LSTM(3, recurrent_activation=recurrent_activation)])


def test_the_two_functions_and_their_names():
    np.testing.assert_allclose(host(activations.hard_sigmoid(X)), keras2_hard_sigmoid(X), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(host(activations.keras3_hard_sigmoid(X)), keras3_hard_sigmoid(X))
    np.testing.assert_array_equal(host(ops.hard_sigmoid(X)), keras3_hard_sigmoid(X))  # keras.ops's is Keras 3's
    assert gpunet.backend.hard_sigmoid is activations.hard_sigmoid  # Keras 2's backend function: Keras 2's
    assert activations.get(ops.hard_sigmoid).name == "keras3_hard_sigmoid"
    assert activations.get("keras2_hard_sigmoid").keras_name == "hard_sigmoid"
    assert not np.allclose(host(activations.hard_sigmoid(X)), host(ops.hard_sigmoid(X)))


def test_keras3_s_values_and_gradients_equal_keras_3():
    keras = keras_on_torch()
    x = np.concatenate([np.linspace(-4.05, 4.05, 28), [-2.9, 3.2]]).reshape(2, 15)  # (not on a kink: +-3)
    with keras_float64_on_numpy(keras):  # (torch's float64 backward multiplies by 1/6 rounded to float32: 3e-8)
        matches_torch(ops.hard_sigmoid, keras.ops.hard_sigmoid, [x], tol=1e-7)
        matches_torch(activations.keras3_hard_sigmoid, keras.activations.hard_sigmoid, [x], tol=1e-7)


@pytest.mark.parametrize("make, x", [(_dense, X), (_lstm, SEQ)], ids=["Dense", "LSTM recurrent"])
@pytest.mark.parametrize("fmt", ["keras", "h5", "json"])
def test_keras3_files_read_with_keras3_s_function(make, x, fmt, tmp_path):
    keras = keras_on_torch()
    theirs = make(keras)
    want = theirs.predict(x, verbose=0)
    if fmt == "json":
        mine = model_from_json(theirs.to_json())
        mine.set_weights(theirs.get_weights())
    else:
        theirs.save(tmp_path / f"k3.{fmt}")
        mine = load_model(tmp_path / f"k3.{fmt}")
    np.testing.assert_allclose(mine.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)
    layer = mine.layers[-1]
    spec = layer.activation if make is _dense else layer.cell.recurrent_activation
    assert spec.name == "keras3_hard_sigmoid"
    # gpunet's .keras gives it back to Keras 3 as its "hard_sigmoid"; its .h5 names it so tf.keras cannot mistake it
    mine.save(tmp_path / "again.keras")
    np.testing.assert_allclose(keras.models.load_model(tmp_path / "again.keras").predict(x, verbose=0), want,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(load_model(tmp_path / "again.keras").predict(x, verbose=0),
                                  mine.predict(x, verbose=0))
    assert "keras3_hard_sigmoid" in mine.to_json()
    np.testing.assert_array_equal(model_from_json(mine.to_json()).layers[-1].get_config().get(
        "activation" if make is _dense else "recurrent_activation"), "keras3_hard_sigmoid")


@pytest.mark.parametrize("make, x", [(_dense, X), (_lstm, SEQ)], ids=["Dense", "LSTM recurrent"])
def test_keras3_refuses_gpunet_s_keras2_function_by_name_and_takes_it_as_a_custom_object(make, x, tmp_path):
    keras = keras_on_torch()
    mine = make(gpunet)
    want = mine.predict(x, verbose=0)
    mine.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as zf:
        written = zf.read("config.json").decode()
        assert json.loads(zf.read("metadata.json"))["gpunet_activation_names"] == "keras3"
    assert '"hard_sigmoid"' not in written and "keras2_hard_sigmoid" in written
    with pytest.raises(Exception, match="keras2_hard_sigmoid"):
        keras.models.load_model(tmp_path / "m.keras")

    def keras2_function(v):
        return keras.ops.clip(0.2 * v + 0.5, 0.0, 1.0)
    theirs = keras.models.load_model(tmp_path / "m.keras", custom_objects={"keras2_hard_sigmoid": keras2_function})
    np.testing.assert_allclose(theirs.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)
    again = load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(again.predict(x, verbose=0), want)
    spec = again.layers[-1].activation if make is _dense else again.layers[-1].cell.recurrent_activation
    assert spec.name == "hard_sigmoid" and spec.keras_name == "hard_sigmoid"


def test_tf_keras_files_keep_keras2_s_function_both_ways(tfk, tmp_path):
    theirs = _lstm(tfk)
    want = theirs.predict(SEQ, verbose=0)
    for name in ("tf.h5", "tf.keras"):
        theirs.save(tmp_path / name)
        np.testing.assert_allclose(load_model(tmp_path / name).predict(SEQ, verbose=0), want, rtol=1e-5, atol=1e-6)
    mine = model_from_json(theirs.to_json())
    mine.set_weights(theirs.get_weights())
    mine.save(tmp_path / "m.h5")  # (Keras 2's own format: "hard_sigmoid" as tf.keras writes it)
    np.testing.assert_allclose(tfk.models.load_model(tmp_path / "m.h5").predict(SEQ, verbose=0), want,
                               rtol=1e-5, atol=1e-6)


def test_a_keras3_function_in_gpunet_s_h5_is_refused_by_tf_keras_by_name(tfk, tmp_path):
    mine = _dense(gpunet, activation=ops.hard_sigmoid)
    np.testing.assert_allclose(mine.predict(X, verbose=0), keras3_hard_sigmoid(X.sum(1, keepdims=True)).repeat(3, 1),
                               rtol=1e-6)
    mine.save(tmp_path / "m.h5")
    with pytest.raises(Exception, match="keras3_hard_sigmoid"):
        tfk.models.load_model(tmp_path / "m.h5")
    np.testing.assert_array_equal(load_model(tmp_path / "m.h5").predict(X, verbose=0), mine.predict(X, verbose=0))


def test_archives_gpunet_wrote_before_the_marker_keep_keras2_s_function(tmp_path):
    """A .keras gpunet wrote without `gpunet_activation_names` (before it existed) named Keras 2's function
    "hard_sigmoid": it still reads as that one."""
    mine = _dense(gpunet)
    want = mine.predict(X, verbose=0)
    mine.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    meta = json.loads(members["metadata.json"])
    del meta["gpunet_activation_names"]
    members["metadata.json"] = json.dumps(meta).encode()
    members["config.json"] = members["config.json"].decode().replace(
        '{"class_name": "function", "config": "keras2_hard_sigmoid", "registered_name": "keras2_hard_sigmoid"}',
        '"hard_sigmoid"').encode()
    assert b'"hard_sigmoid"' in members["config.json"]
    with zipfile.ZipFile(tmp_path / "old.keras", "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    np.testing.assert_array_equal(load_model(tmp_path / "old.keras").predict(X, verbose=0), want)


def test_layer_configs_read_on_their_own_follow_their_writer(tfk):
    keras = keras_on_torch()
    k3 = keras.layers.serialize(keras.layers.Dense(2, activation="hard_sigmoid"))
    assert gpunet.layers.deserialize(k3).activation.name == "keras3_hard_sigmoid"
    # (tf.keras 2.21's dict has Keras 3's keys, module and registered_name, and a dtype name)
    tf2 = tfk.layers.serialize(tfk.layers.Dense(2, activation="hard_sigmoid"))
    assert "registered_name" in tf2 and gpunet.layers.deserialize(tf2).activation.name == "hard_sigmoid"
    mine = gpunet.layers.serialize(gpunet.layers.Dense(2, activation="hard_sigmoid"))
    assert gpunet.layers.deserialize(mine).activation.name == "hard_sigmoid"
