"""Keras's feature extraction: ``Model(model.input, model.get_layer(name).output)`` from a trained
Sequential or functional model, sharing its layers; ``layer.input``/``layer.output`` and their errors."""
import numpy as np
import pytest

import gpunet
from gpunet.layers import Dense, Input
from gpunet.models import Model, Sequential


def _trained_sequential():
    seq = Sequential([Input((4,)), Dense(6, activation="relu", name="h"), Dense(3, name="f"), Dense(1, name="o")])
    seq.compile(loss="mse", optimizer="adam")
    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    seq.fit(x, x[:, :1], epochs=2, verbose=0)
    return seq, x


def test_features_of_a_trained_sequential(tfk):
    seq, x = _trained_sequential()
    features = Model(seq.input, seq.get_layer("f").output)
    ref = tfk.Sequential([tfk.Input((4,)), tfk.layers.Dense(6, activation="relu", name="h"),
                          tfk.layers.Dense(3, name="f"), tfk.layers.Dense(1, name="o")])
    ref.set_weights(seq.get_weights())
    ref_features = tfk.Model(ref.input, ref.get_layer("f").output)
    np.testing.assert_allclose(features.predict(x, verbose=0), ref_features.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    assert [l.name for l in features.layers][1:] == ["h", "f"]
    assert features.get_layer("h") is seq.get_layer("h")  # the same layers: the same weights
    assert seq.output.shape == (None, 1) and seq.layers[0].input is seq.input


def test_extractor_shares_weights_with_the_model():
    seq, x = _trained_sequential()
    features = Model(seq.input, seq.get_layer("h").output)
    before = features.predict(x, verbose=0)
    seq.fit(x, x[:, :1], epochs=1, verbose=0)  # training the model moves the extractor's weights too
    w, b = seq.get_layer("h").get_weights()
    np.testing.assert_allclose(features.predict(x, verbose=0), np.maximum(x @ w + b, 0), rtol=1e-5, atol=1e-6)
    assert not np.allclose(before, features.predict(x, verbose=0))


def test_features_of_a_functional_model_and_shared_calls():
    a, b = Input((3,)), Input((3,))
    enc = Dense(2, name="enc")
    model = Model([a, b], gpunet.layers.subtract([enc(a), enc(b)]))
    with pytest.raises(AttributeError, match="called 2 times"):
        enc.output  # noqa: B018
    left = Model(a, enc.get_output_at(0))
    x = np.ones((2, 3), "float32")
    w, bias = enc.get_weights()
    np.testing.assert_allclose(left.predict(x, verbose=0), x @ w + bias, rtol=1e-6)
    assert enc.get_input_at(1) is b and model.get_layer("subtract").input[0] is enc.get_output_at(0)


def test_unconnected_layers_and_unknown_shapes_say_so():
    with pytest.raises(AttributeError, match="is not connected"):
        Dense(2).output  # noqa: B018
    seq = Sequential([Dense(2)])
    with pytest.raises(AttributeError, match="has no input tensor yet"):
        seq.input  # noqa: B018
    x = Input((3,))
    dense = Dense(1)
    dense(x)
    with pytest.raises(ValueError, match=r"has 1 call\(s\); received node_index=3"):
        dense.get_output_at(3)
    popped = Sequential([Input((3,)), Dense(2), Dense(1)])
    popped.pop()
    assert popped.output is popped.layers[-1].output and popped.output.shape == (None, 2)


def test_a_sequential_built_from_its_data_has_symbolic_tensors_too():
    """tf.keras 2 gives a Sequential without an Input its graph at the first batch; gpunet's config
    stays as it was (its layers only)."""
    model = Sequential([Dense(4, activation="relu", name="h"), Dense(1, name="o")])
    model.compile(loss="mse", optimizer="sgd")
    x = np.random.default_rng(1).normal(size=(12, 3)).astype("float32")
    model.fit(x, x[:, :1], verbose=0)
    features = Model(model.input, model.get_layer("h").output)
    w, b = model.get_layer("h").get_weights()
    np.testing.assert_allclose(features.predict(x, verbose=0), np.maximum(x @ w + b, 0), rtol=1e-5, atol=1e-6)
    assert [e["class_name"] for e in model.get_config()["layers"]] == ["Dense", "Dense"]
