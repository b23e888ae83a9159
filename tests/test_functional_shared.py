"""Shared layers in functional models (one layer called on several tensors: one set of weights):
training against tf.keras 2.21, gradients, configs and files both ways."""
import json

import numpy as np
import pytest

import gpunet
from gpunet.models import load_model, model_from_json

from keras_support import keras_on_torch
from graph_gradients import assert_trains_alike, check_model_gradients


def _siamese(lib):
    """Keras's functional guide's shared-layer shape: one encoder for two inputs, then a head; the
    encoder is also applied twice in a row to the first input (a call whose input is its own output)."""
    L = lib.layers
    a, b = lib.Input((6,), name="left"), lib.Input((6,), name="right")
    enc = L.Dense(6, activation="tanh", name="enc")
    ea, eb = enc(a), enc(b)
    twice = enc(ea)
    diff = L.subtract([ea, eb], name="diff")
    out = L.Dense(1, activation="sigmoid", name="out")(L.concatenate([diff, twice], name="cat"))
    return lib.Model([a, b], out)


def _data(n=96, seed=1):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(n, 6)).astype("float32"), rng.normal(size=(n, 6)).astype("float32")
    return a, b, ((a - b).sum(1) > 0).astype("float32")


def test_trains_as_tf_keras(tfk):
    a, b, y = _data()
    model, ref = _siamese(gpunet), _siamese(tfk)
    assert [l.name for l in model.layers] == [l.name for l in ref.layers]
    assert len(model.weights) == len(ref.weights) == 4  # the encoder's kernel and bias once
    model.set_weights(ref.get_weights())
    for m, lib in ((model, gpunet), (ref, tfk)):
        m.compile(optimizer=lib.optimizers.SGD(0.1, momentum=0.9), loss="binary_crossentropy", metrics=["accuracy"])
    assert_trains_alike(model, ref, [a, b], y)
    lines = []
    model.summary(print_fn=lines.append)
    at = next(i for i, line in enumerate(lines) if line.startswith("enc (Dense)"))
    assert [lines[at].split()[-1]] + [lines[at + k].split()[0] for k in (1, 2)] == ["left[0][0]", "right[0][0]",
                                                                                   "enc[0][0]"]


def test_gradients_sum_over_the_calls(f64, ops):
    model = _siamese(gpunet)
    model.compile(loss="mse", optimizer="sgd")
    rng = np.random.default_rng(2)
    x, g = ops.asarray(rng.normal(size=(5, 12))), rng.normal(size=(5, 1))
    check_model_gradients(model, ops, x, g)


def test_config_names_each_call(tfk):
    model = _siamese(gpunet)
    inner = json.loads(model.to_json())["config"]
    enc = next(e for e in inner["layers"] if e["name"] == "enc")
    assert enc["inbound_nodes"] == [[["left", 0, 0, {}]], [["right", 0, 0, {}]], [["enc", 0, 0, {}]]]
    cat = next(e for e in inner["layers"] if e["name"] == "cat")
    assert cat["inbound_nodes"] == [[["diff", 0, 0, {}], ["enc", 2, 0, {}]]]
    ref = _siamese(tfk)
    theirs = json.loads(ref.to_json())["config"]
    assert [e["inbound_nodes"] for e in theirs["layers"]] == [e["inbound_nodes"] for e in inner["layers"]]
    clone = model_from_json(ref.to_json())
    clone.set_weights(ref.get_weights())
    a, b, _ = _data(20)
    np.testing.assert_allclose(clone.predict([a, b], verbose=0), ref.predict([a, b], verbose=0), rtol=1e-5,
                               atol=1e-6)
    again = gpunet.models.clone_model(model)
    assert json.loads(again.to_json())["config"] == inner


@pytest.mark.parametrize("ext", ["h5", "keras"])
def test_files_both_ways_and_resume(tmp_path, tfk, ext):
    keras3 = keras_on_torch()
    a, b, y = _data()
    model = _siamese(gpunet)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit([a, b], y, epochs=2, verbose=0)
    path = str(tmp_path / f"m.{ext}")
    model.save(path)
    ref = (tfk if ext == "h5" else keras3).models.load_model(path)
    np.testing.assert_allclose(ref.predict([a, b], verbose=0), model.predict([a, b], verbose=0), rtol=1e-5, atol=1e-6)
    back = load_model(path)
    back.fit([a, b], y, epochs=1, batch_size=32, shuffle=False, verbose=0)
    model.fit([a, b], y, epochs=1, batch_size=32, shuffle=False, verbose=0)
    for got, want in zip(back.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(got, want)
    ref.save(str(tmp_path / f"theirs.{ext}"))
    theirs = load_model(str(tmp_path / f"theirs.{ext}"))
    np.testing.assert_allclose(theirs.predict([a, b], verbose=0), ref.predict([a, b], verbose=0), rtol=1e-5,
                               atol=1e-6)


def test_a_layer_applied_twice_in_a_row_trains_on_numpys_graph_step_as_on_the_layer_path():
    """The shared Dense's weight gradients summed over its two calls (backend/graph_plan.py), as the
    layer path sums them."""
    from gpunet import backend as B
    from gpunet.backend.graph_plan import GraphPlan
    data = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")

    def trained(planned):
        gpunet.utils.set_random_seed(3)
        x = gpunet.Input((4,))
        d = gpunet.layers.Dense(4, activation="relu")
        model = gpunet.Model(x, gpunet.layers.Dense(1)(d(d(x))))
        model.compile(loss="mse", optimizer="sgd")
        if not planned:
            model._build_plan = lambda: None
        model.fit(data, data[:, :1], epochs=3, batch_size=4, verbose=0)
        return model, d
    with B.use_backend("numpy"):  # (the GPU's graph step leaves shared layers to the layer path)
        (model, d), (ref, _) = trained(True), trained(False)
    assert isinstance(model._plan, GraphPlan) and ref._plan is False and len(model.weights) == 4
    for got, want in zip(model.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    w, bias = d.get_weights()
    expected = np.maximum(np.maximum(data @ w + bias, 0) @ w + bias, 0) @ model.layers[-1].get_weights()[0]
    np.testing.assert_allclose(model.predict(data, verbose=0), expected + model.layers[-1].get_weights()[1],
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["functional", "sequential"])
def test_a_nested_model_called_twice(tfk, kind):
    """Keras's mnist_siamese shape: one base network applied to two inputs, then a distance."""
    def build(lib):
        L = lib.layers
        if kind == "functional":
            i = lib.Input((6,))
            base = lib.Model(i, L.Dense(4, activation="relu", name="b2")(L.Dense(5, activation="tanh", name="b1")(i)),
                             name="base")
        else:
            base = lib.Sequential([L.Dense(5, activation="tanh", name="b1"), L.Dense(4, activation="relu", name="b2")],
                                  name="base")
        a, b = lib.Input((6,), name="left"), lib.Input((6,), name="right")
        diff = L.subtract([base(a), base(b)], name="diff")
        return lib.Model([a, b], L.Dense(1, activation="sigmoid", name="out")(diff))
    a, b, y = _data()
    model, ref = build(gpunet), build(tfk)
    model.set_weights(ref.get_weights())
    for m, lib in ((model, gpunet), (ref, tfk)):
        m.compile(optimizer=lib.optimizers.SGD(0.1, momentum=0.9), loss="binary_crossentropy")
    h, r = assert_trains_alike(model, ref, [a, b], y, history_atol=0)
    assert list(r.history) == ["loss"]
    again = model_from_json(ref.to_json())
    again.set_weights(ref.get_weights())
    np.testing.assert_allclose(again.predict([a, b], verbose=0), ref.predict([a, b], verbose=0), rtol=1e-5, atol=1e-6)
    assert json.loads(model.to_json())["config"]["layers"][3]["inbound_nodes"] == \
        json.loads(ref.to_json())["config"]["layers"][3]["inbound_nodes"]


def test_gradients_through_a_nested_model_called_twice(f64, ops):
    i = gpunet.Input((6,))
    base = gpunet.Model(i, gpunet.layers.Dense(4, activation="tanh")(i), name="base")
    a, b = gpunet.Input((6,)), gpunet.Input((6,))
    model = gpunet.Model([a, b], gpunet.layers.Dense(1)(gpunet.layers.multiply([base(a), base(b)])))
    model.compile(loss="mse", optimizer="sgd")
    rng = np.random.default_rng(9)
    check_model_gradients(model, ops, ops.asarray(rng.normal(size=(4, 12))), rng.normal(size=(4, 1)))
