"""A functional model made from a dict of inputs (``Model({"age": a, "fare": f}, out)``, the structured-data
tutorials' form): its inputs in tf.nest's order (sorted keys), data keyed by the dict's keys, ``model.input`` the
dict, configs and files with a dict of ``input_layers`` both ways with tf.keras 2.21 and Keras 3 (they could not be
read before)."""
import json

import numpy as np
import pytest

import gpunet
from gpunet.models import load_model, model_from_json

from keras_support import keras_on_torch, tf_keras_or_skip

KEYS = ("zeta_key", "alpha_key")  # (insertion order; the inputs' order is the sorted keys: alpha_key, zeta_key)


def build(lib, names=("zeta", "alpha")):
    inputs = {KEYS[0]: lib.Input((1,), name=names[0]), KEYS[1]: lib.Input((2,), name=names[1])}
    h = lib.layers.concatenate([inputs[KEYS[0]], inputs[KEYS[1]]], name="join")
    out = lib.layers.Dense(1, activation="sigmoid", name="out")(lib.layers.Dense(4, activation="tanh", name="h")(h))
    return lib.Model(inputs, out, name="dict_model")


def data(n=48):
    rng = np.random.default_rng(2)
    x = {KEYS[0]: rng.normal(size=(n, 1)).astype("float32"), KEYS[1]: rng.normal(size=(n, 2)).astype("float32")}
    return x, (x[KEYS[0]][:, 0] + x[KEYS[1]][:, 1] > 0).astype("float32")


def test_the_inputs_are_in_sorted_key_order_and_data_goes_by_key():
    model = build(gpunet)
    assert model.input_names == ["alpha", "zeta"] and [t.name for t in model.inputs] == ["alpha", "zeta"]
    assert list(model.input) == ["zeta_key", "alpha_key"] and model.input["zeta_key"] is model.inputs[1]
    x, _ = data(6)
    by_key = model.predict(x, verbose=0)
    np.testing.assert_array_equal(model.predict([x["alpha_key"], x["zeta_key"]], verbose=0), by_key)
    np.testing.assert_array_equal(model(x).numpy(), by_key)
    with pytest.raises(ValueError, match=r"no entry for \['zeta_key'\]; its inputs are \['alpha_key', 'zeta_key'\]"):
        model.predict({"alpha_key": x["alpha_key"]}, verbose=0)


def test_fit_and_predict_equal_tf_keras_on_the_same_weights():
    tf_keras = tf_keras_or_skip()
    x, y = data()
    mine, theirs = build(gpunet), build(tf_keras)
    assert mine.input_names == theirs.input_names
    theirs.set_weights(mine.get_weights())
    histories = []
    for model, lib in ((mine, gpunet), (theirs, tf_keras)):
        model.compile(optimizer=lib.optimizers.SGD(0.3), loss="binary_crossentropy", metrics=["accuracy"])
        histories.append(model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0).history)
    np.testing.assert_allclose(histories[0]["loss"], histories[1]["loss"], rtol=1e-5)
    np.testing.assert_allclose(mine.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-7)


def test_the_config_keeps_the_dict_in_its_order():
    model = build(gpunet)
    config = json.loads(model.to_json())["config"]
    assert config["input_layers"] == {"zeta_key": ["zeta", 0, 0], "alpha_key": ["alpha", 0, 0]}
    again = model_from_json(model.to_json())
    again.set_weights(model.get_weights())
    x, _ = data(5)
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
    assert list(again.input) == ["zeta_key", "alpha_key"]
    clone = gpunet.models.clone_model(model)
    assert list(clone.input) == ["zeta_key", "alpha_key"] and clone.input_names == ["alpha", "zeta"]


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_files_go_both_ways_with_tf_keras_and_keras3(tmp_path, suffix):
    peer = tf_keras_or_skip() if suffix == ".h5" else keras_on_torch()
    x, _ = data(7)
    theirs = build(peer)
    theirs.save(tmp_path / f"theirs{suffix}")
    mine = load_model(tmp_path / f"theirs{suffix}")
    np.testing.assert_allclose(mine.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-6)
    assert mine.input_names == ["alpha", "zeta"] and list(mine.input) == ["zeta_key", "alpha_key"]
    mine.save(tmp_path / f"mine{suffix}")
    back = peer.models.load_model(tmp_path / f"mine{suffix}")
    np.testing.assert_allclose(back.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-6)


def test_a_dict_input_model_nests_in_graphs_and_calls():
    x, y = data()
    inner = build(gpunet)
    a, z = gpunet.Input((2,), name="a"), gpunet.Input((1,), name="z")
    outer = gpunet.Model([a, z], inner({"alpha_key": a, "zeta_key": z}))
    np.testing.assert_allclose(outer.predict([x["alpha_key"], x["zeta_key"]], verbose=0),
                               inner.predict(x, verbose=0), rtol=1e-6)

    class Wrapper(gpunet.Model):
        def __init__(self):
            super().__init__()
            self.inner = inner

        def call(self, inputs):
            return self.inner({"alpha_key": inputs[:, :2], "zeta_key": inputs[:, 2:]})

    wrapped = Wrapper()
    packed = np.concatenate([x["alpha_key"], x["zeta_key"]], axis=1)
    np.testing.assert_allclose(wrapped.predict(packed, verbose=0), inner.predict(x, verbose=0), rtol=1e-6)
    wrapped.compile(optimizer="adam", loss="binary_crossentropy")
    losses = wrapped.fit(packed, y, epochs=4, verbose=0).history["loss"]
    assert losses[-1] < losses[0]  # (the inner model's weights train through the call)


def test_a_dict_with_keys_that_are_not_strings_is_refused():
    with pytest.raises(TypeError, match=r"Model inputs given as a dict need string keys and at least one tensor, "
                                        r"received keys \[1\]"):
        gpunet.Model({1: gpunet.Input((2,))}, gpunet.layers.Dense(1)(gpunet.Input((2,))))
