"""Keras's `Attention` and `AdditiveAttention` against tf.keras 2.21: outputs and weights for their arguments,
masks, causal masks and attention scores (a list of tensors called with more arguments: the call and its files),
the Keras documentation's query-value example trained side by side, gradients by central differences, files
both ways (.h5 tf.keras, .keras Keras 3)."""
import numpy as np
import pytest

import gpunet
from gpunet import backend as B
from gpunet import layers

from graph_gradients import assert_trains_alike, check_model_gradients
from keras_support import assert_files_travel

R = np.random.default_rng(23)
Q = R.random((4, 5, 6)).astype("float32")
V = R.random((4, 7, 6)).astype("float32")
KEY = R.random((4, 7, 6)).astype("float32")

KINDS = {"dot": ("Attention", {}), "scaled": ("Attention", {"use_scale": True}),
         "concat": ("Attention", {"use_scale": True, "score_mode": "concat"}),
         "additive": ("AdditiveAttention", {}), "additive unscaled": ("AdditiveAttention", {"use_scale": False})}


def _model(lib, kind, key=False, scores=False, causal=False):
    cls, kwargs = KINDS[kind]
    q, v = lib.Input((5, 6)), lib.Input((5 if causal else 7, 6))
    inputs = [q, v] + ([lib.Input((7, 6))] if key else [])
    extra = dict(return_attention_scores=True) if scores else {}
    if causal:
        extra["use_causal_mask"] = True
    out = getattr(lib.layers, cls)(**kwargs)(inputs, **extra)
    return lib.Model(inputs, out)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("key, scores, causal", [(False, False, False), (True, True, False), (False, True, True)])
def test_outputs_equal_tf_keras(tfk, kind, key, scores, causal):
    model, ref = _model(gpunet, kind, key, scores, causal), _model(tfk, kind, key, scores, causal)
    weights = [w * 1.5 for w in ref.get_weights()]  # (away from the ones a scale starts at)
    ref.set_weights(weights)
    model.set_weights(weights)
    x = [Q, Q if causal else V] + ([KEY] if key else [])
    got, want = model.predict(x, verbose=0), ref.predict(x, verbose=0)
    for a, b in zip(got if scores else [got], want if scores else [want]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    if causal:  # (no query attends to a later value)
        assert np.all(np.triu(got[1][0], 1) == 0)


def _documented(lib):
    """The query-value example of Keras's Attention documentation: a shared Embedding and Conv1D, attention, pooling."""
    L = lib.layers
    query_input, value_input = lib.Input(shape=(None,), dtype="int32"), lib.Input(shape=(None,), dtype="int32")
    token_embedding = L.Embedding(input_dim=50, output_dim=8, mask_zero=True)
    query_embeddings, value_embeddings = token_embedding(query_input), token_embedding(value_input)
    cnn_layer = L.Conv1D(filters=6, kernel_size=3, padding="same")
    query_seq_encoding, value_seq_encoding = cnn_layer(query_embeddings), cnn_layer(value_embeddings)
    query_value_attention_seq = L.Attention()([query_seq_encoding, value_seq_encoding])
    query_encoding = L.GlobalAveragePooling1D()(query_seq_encoding)
    query_value_attention = L.GlobalAveragePooling1D()(query_value_attention_seq)
    input_layer = L.Concatenate()([query_encoding, query_value_attention])
    model = lib.Model([query_input, value_input], L.Dense(1, activation="sigmoid")(input_layer))
    model.compile(optimizer=lib.optimizers.SGD(0.1), loss="binary_crossentropy")
    return model


def test_the_documented_example_trains_as_tf_keras(tfk):
    model, ref = _documented(gpunet), _documented(tfk)
    model.set_weights(ref.get_weights())
    queries, values = R.integers(1, 50, (32, 6)), R.integers(1, 50, (32, 9))
    values[::3, 6:] = 0  # (padded values: the mask hides them from the attention)
    y = R.integers(0, 2, (32, 1)).astype("float32")
    assert_trains_alike(model, ref, [queries, values], y, epochs=2)


def test_masks_the_inputs_carry_as_tf_keras(tfk):
    tokens = R.integers(1, 20, (6, 7))
    tokens[::2, 4:] = 0

    def make(lib):
        inp = lib.Input((7,))
        x = lib.layers.Embedding(20, 6, mask_zero=True)(inp)
        out, weights = lib.layers.AdditiveAttention()([x, x], return_attention_scores=True)
        return lib.Model(inp, [out, weights])
    model, ref = make(gpunet), make(tfk)
    model.set_weights(ref.get_weights())
    got, want = model.predict(tokens, verbose=0), ref.predict(tokens, verbose=0)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got[0][0, 4:], 0.0)  # (masked queries output zeros)


@pytest.mark.parametrize("kind", ["concat", "additive"])
def test_gradients_by_central_differences(ops, f64, kind):
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(5)
        q, v = gpunet.Input((3, 2)), gpunet.Input((4, 2))
        cls, kwargs = KINDS[kind]
        out = getattr(layers, cls)(**kwargs)([layers.Dense(2)(q), v])
        model = gpunet.Model([q, v], layers.Flatten()(out))
        model.compile("sgd", "mse")
        x = R.standard_normal((3, 14))
        check_model_gradients(model, ops, ops.asarray(x), R.standard_normal((3, 6)))


@pytest.mark.parametrize("kind", ["concat", "additive"])
def test_files_both_ways_with_tf_keras_and_keras_3(tfk, kind, tmp_path):
    model = _model(gpunet, kind, key=True, scores=True)
    model.compile("sgd", "mse")
    assert_files_travel(model, [Q, V, KEY], tmp_path, tfk)


def test_refusals_name_what_was_expected():
    with pytest.raises(ValueError, match="Invalid value for argument score_mode"):
        layers.Attention(score_mode="general")
    with pytest.raises(ValueError, match=r"a list of \[query, value\] or \[query, value, key\] tensors"):
        layers.Attention()(gpunet.Input((3, 2)))
