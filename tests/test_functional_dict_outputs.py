"""A functional model made from a dict of outputs (``Model(x, {"score": s, "class": c})``): its outputs in tf.nest's
order (sorted keys), compile's losses, metrics and loss weights and fit's targets and sample weights keyed by the
dict's keys, History named by the output layers (tf.keras 2's), predict and ``model(x)`` giving the dict back in
its order, files with keyed ``output_layers`` both ways with tf.keras 2.21 and Keras 3 (refused before)."""
import numpy as np
import pytest

import gpunet
from gpunet.models import load_model

from keras_support import keras_on_torch, tf_keras_or_skip


def build(lib):
    i = lib.Input((3,), name="in")
    h = lib.layers.Dense(4, activation="tanh", name="h")(i)
    outputs = {"score": lib.layers.Dense(1, name="zz_score")(h),
               "klass": lib.layers.Dense(2, activation="softmax", name="aa_klass")(h)}
    return lib.Model(i, outputs, name="two_heads")


def data(n=40):
    rng = np.random.default_rng(6)
    x = rng.normal(size=(n, 3)).astype("float32")
    y = {"score": x[:, :1] * 2.0, "klass": np.eye(2, dtype="float32")[(x[:, 1] > 0).astype(int)]}
    return x, y


def compile_keyed(model, lib):
    model.compile(optimizer=lib.optimizers.SGD(0.1), loss={"score": "mse", "klass": "categorical_crossentropy"},
                  metrics={"klass": ["accuracy"]}, loss_weights={"score": 0.5, "klass": 1.0})


def test_outputs_in_sorted_key_order_and_predict_gives_the_dict_back():
    model = build(gpunet)
    assert model.output_names == ["aa_klass", "zz_score"] and list(model.output) == ["score", "klass"]
    x, y = data(5)
    got = model.predict(x, verbose=0)
    assert list(got) == ["score", "klass"] and got["score"].shape == (5, 1) and got["klass"].shape == (5, 2)
    called = model(x)
    np.testing.assert_array_equal(called["klass"].numpy(), got["klass"])
    compile_keyed(model, gpunet)
    history = model.fit(x, y, epochs=1, verbose=0).history
    assert sorted(history) == ["aa_klass_accuracy", "aa_klass_loss", "loss", "zz_score_loss"]


def test_training_equals_tf_keras_on_the_same_weights():
    tf_keras = tf_keras_or_skip()
    x, y = data()
    mine, theirs = build(gpunet), build(tf_keras)
    theirs.set_weights(mine.get_weights())
    histories = []
    weights = {"score": np.linspace(0.5, 1.5, len(x)), "klass": np.ones(len(x))}
    for model, lib in ((mine, gpunet), (theirs, tf_keras)):
        compile_keyed(model, lib)
        histories.append(model.fit(x, y, sample_weight=weights, batch_size=8, epochs=3, shuffle=False,
                                   verbose=0).history)
    assert sorted(histories[0]) == sorted(histories[1])
    for key in histories[1]:
        np.testing.assert_allclose(histories[0][key], histories[1][key], rtol=1e-5, atol=1e-7)
    got, want = mine.predict(x, verbose=0), theirs.predict(x, verbose=0)
    assert list(got) == list(want)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_files_go_both_ways_with_tf_keras_and_keras3(tmp_path, suffix):
    peer = tf_keras_or_skip() if suffix == ".h5" else keras_on_torch()
    x, y = data(8)
    theirs = build(peer)
    compile_keyed(theirs, peer)
    theirs.fit(x, y, epochs=1, verbose=0)
    theirs.save(tmp_path / f"theirs{suffix}")
    mine = load_model(tmp_path / f"theirs{suffix}")
    got, want = mine.predict(x, verbose=0), theirs.predict(x, verbose=0)
    for key in want:  # (a GPU's float32 sums round apart from the CPU's)
        np.testing.assert_allclose(got[key], want[key], rtol=1e-5, atol=1e-7)
    mine.fit(x, y, epochs=1, verbose=0)  # (compiled from the file's keyed losses and metrics)
    mine.save(tmp_path / f"mine{suffix}")
    back = peer.models.load_model(tmp_path / f"mine{suffix}")
    got, want = back.predict(x, verbose=0), mine.predict(x, verbose=0)
    for key in want:  # (a GPU's float32 sums round apart from the CPU's)
        np.testing.assert_allclose(got[key], want[key], rtol=1e-5, atol=1e-7)


def test_one_output_in_a_dict_and_a_nested_call():
    i = gpunet.Input((3,), name="in")
    single = gpunet.Model(i, {"only": gpunet.layers.Dense(1, name="d")(i)})
    x, y = data(6)
    got = single.predict(x, verbose=0)
    assert list(got) == ["only"] and got["only"].shape == (6, 1)
    single.compile(optimizer="sgd", loss={"only": "mse"})
    single.fit(x, {"only": y["score"]}, epochs=1, verbose=0)
    j = gpunet.Input((3,), name="outer_in")
    heads = build(gpunet)(j)
    assert sorted(heads) == ["klass", "score"]
    outer = gpunet.Model(j, gpunet.layers.concatenate([heads["score"], heads["klass"]]))
    np.testing.assert_allclose(outer.predict(x, verbose=0)[:, :1], outer.layers[1].predict(x, verbose=0)["score"],
                               rtol=1e-6)
