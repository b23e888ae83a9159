"""Functional models used as layers (transfer learning's ``base = Model(...)``, ``x = base(inputs)``),
in Sequential and functional models: training against tf.keras 2.21, freezing, files both ways."""
import numpy as np
import pytest

import gpunet
from gpunet.models import load_model, model_from_json

from keras_support import keras_on_torch
from graph_gradients import assert_trains_alike, check_model_gradients


def _base(lib):
    L = lib.layers
    x = lib.Input((8,), name="base_in")
    h = L.Dense(6, activation="relu", name="h")(x)
    return lib.Model(x, L.add([h, L.Dense(6, activation="tanh", name="k")(h)], name="res"), name="base")


def _outer(lib, kind):
    base = _base(lib)
    if kind == "sequential":
        return lib.Sequential([base, lib.layers.Dense(1, activation="sigmoid", name="head")], name="outer")
    x = lib.Input((8,), name="outer_in")
    return lib.Model(x, lib.layers.Dense(1, activation="sigmoid", name="head")(base(x)), name="outer")


def _data(n=96):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(n, 8)).astype("float32")
    return x, (x[:, :4].sum(1) > 0).astype("float32")


@pytest.mark.parametrize("kind", ["sequential", "functional"])
def test_trains_as_tf_keras_and_freezes(tfk, kind):
    x, y = _data()
    model, ref = _outer(gpunet, kind), _outer(tfk, kind)
    assert [l.name for l in model.layers] == [l.name for l in ref.layers]
    model.set_weights(ref.get_weights())
    for m, lib in ((model, gpunet), (ref, tfk)):
        m.get_layer("base").get_layer("h").trainable = False
        m.compile(optimizer=lib.optimizers.SGD(0.1, momentum=0.9), loss="binary_crossentropy", metrics=["accuracy"])
    frozen = model.get_layer("base").get_layer("h").get_weights()
    assert_trains_alike(model, ref, x, y)
    for a, b in zip(frozen, model.get_layer("base").get_layer("h").get_weights()):
        np.testing.assert_array_equal(a, b)


def test_gradient_through_the_nested_graph(f64, ops):
    model = _outer(gpunet, "functional")
    model.compile(loss="mse", optimizer="sgd")
    rng = np.random.default_rng(6)
    x, g = ops.asarray(rng.normal(size=(4, 8))), rng.normal(size=(4, 1))
    check_model_gradients(model, ops, x, g, count=30)


@pytest.mark.parametrize("kind", ["sequential", "functional"])
@pytest.mark.parametrize("ext", ["h5", "keras"])
def test_files_both_ways(tmp_path, tfk, kind, ext):
    keras3 = keras_on_torch()
    x, y = _data()
    model = _outer(gpunet, kind)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(x, y, epochs=2, verbose=0)
    again = model_from_json(model.to_json())
    again.set_weights(model.get_weights())
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
    path = str(tmp_path / f"g.{ext}")
    model.save(path)
    ref = (tfk if ext == "h5" else keras3).models.load_model(path)
    np.testing.assert_allclose(ref.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    back = load_model(path)
    back.fit(x, y, epochs=1, batch_size=32, shuffle=False, verbose=0)
    model.fit(x, y, epochs=1, batch_size=32, shuffle=False, verbose=0)
    for a, b in zip(back.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    ref.save(str(tmp_path / f"theirs.{ext}"))
    theirs = load_model(str(tmp_path / f"theirs.{ext}"))
    np.testing.assert_allclose(theirs.predict(x, verbose=0), ref.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_what_does_not_nest_says_so():
    """A model of several inputs nests in functional models (test_functional_nested_multi_io.py), not in a
    Sequential, which hands each layer one tensor."""
    a, b = gpunet.Input((3,)), gpunet.Input((3,))
    two = gpunet.Model([a, b], gpunet.layers.add([a, b]))
    with pytest.raises(ValueError, match="Cannot add the functional model 'model' to a Sequential model: it has "
                                         "several inputs or outputs. Call it on tensors in a functional model"):
        gpunet.Sequential([two])
