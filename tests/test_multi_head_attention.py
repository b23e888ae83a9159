"""`MultiHeadAttention` against tf.keras 2.21: outputs and attention scores for its arguments (value_dim,
output_shape, use_bias, key, attention_mask, use_causal_mask, attention_axes over images), training side by
side, gradients by central differences, files both ways (.h5 tf.keras, .keras Keras 3), and the Keras example
"Text classification with Transformer" (its TransformerBlock and TokenAndPositionEmbedding layers)."""
import numpy as np
import pytest

import gpunet
from gpunet import backend as B
from gpunet import layers

from graph_gradients import assert_trains_alike, check_model_gradients
from keras_support import assert_files_travel

R = np.random.default_rng(17)
Q = R.random((4, 5, 8)).astype("float32")
V = R.random((4, 6, 8)).astype("float32")
K_ = R.random((4, 6, 8)).astype("float32")
MASK = R.random((4, 5, 6)) > 0.3


def _attention(lib, kind):
    """A functional model around one MultiHeadAttention call of ``kind``, and its inputs."""
    q, v = lib.Input((5, 8)), lib.Input((6, 8))
    if kind == "image axes":
        img = lib.Input((3, 4, 6))
        out = lib.layers.MultiHeadAttention(2, 3, attention_axes=(1, 2))(img, img)
        return lib.Model(img, out), [R.random((2, 3, 4, 6)).astype("float32")]
    args = {"plain": {}, "dims": dict(value_dim=4, output_shape=7), "no bias": dict(use_bias=False)}.get(kind, {})
    mha = lib.layers.MultiHeadAttention(num_heads=2, key_dim=3, **args)
    if kind == "key and mask":
        k, m = lib.Input((6, 8)), lib.Input((5, 6))
        out, scores = mha(q, v, key=k, attention_mask=m, return_attention_scores=True)
        return lib.Model([q, v, k, m], [out, scores]), [Q, V, K_, MASK.astype("float32")]
    if kind == "causal":
        return lib.Model(q, mha(q, q, use_causal_mask=True)), [Q]
    return lib.Model([q, v], mha(q, v)), [Q, V]


@pytest.mark.parametrize("kind", ["plain", "dims", "no bias", "key and mask", "causal", "image axes"])
def test_outputs_equal_tf_keras(tfk, kind):
    (model, x), (ref, _) = _attention(gpunet, kind), _attention(tfk, kind)
    assert [w.shape for w in model.get_weights()] == [tuple(w.shape) for w in ref.get_weights()]
    model.set_weights(ref.get_weights())
    got, want = model.predict(x, verbose=0), ref.predict(x, verbose=0)
    for a, b in zip(got if isinstance(got, list) else [got], want if isinstance(want, list) else [want]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    if kind == "key and mask":  # (the scores: (batch, heads, targets, sources), masked sources at zero)
        assert got[1].shape == (4, 2, 5, 6)
        np.testing.assert_allclose(got[1].sum(axis=-1), 1.0, rtol=1e-5)


def _encoder(lib):
    """Self-attention, a residual and a normalization, pooled: the core of a Transformer encoder."""
    L = lib.layers
    inp = lib.Input((5, 8))
    x = L.LayerNormalization()(inp + L.MultiHeadAttention(num_heads=2, key_dim=4, dropout=0.0)(inp, inp))
    model = lib.Model(inp, L.Dense(1)(L.GlobalAveragePooling1D()(x)))
    # (SGD: the key's bias gets no gradient but rounding, which Adam would blow up to full steps)
    model.compile(optimizer=lib.optimizers.SGD(0.1), loss="mse")
    return model


def test_trains_as_tf_keras_and_files_travel(tfk, tmp_path):
    model, ref = _encoder(gpunet), _encoder(tfk)
    model.set_weights(ref.get_weights())
    y = R.random((4, 1)).astype("float32")
    assert_trains_alike(model, ref, Q, y, epochs=3)
    assert_files_travel(model, Q, tmp_path, tfk)


def test_gradients_by_central_differences(ops, f64):
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(3)
        inp, mask = gpunet.Input((4, 3)), gpunet.Input((4, 4))
        out = layers.MultiHeadAttention(2, 2, value_dim=3)(inp, inp, attention_mask=mask)
        model = gpunet.Model([inp, mask], layers.Flatten()(out))
        model.compile("sgd", "mse")
        x = np.concatenate([R.standard_normal((3, 12)), (R.random((3, 16)) > 0.3).astype("float64")], axis=1)
        check_model_gradients(model, ops, ops.asarray(x), R.standard_normal((3, 12)))


def _text_classifier(lib, tf=None):
    """The Keras example "Text classification with Transformer" (keras.io), written against ``lib``."""
    L = lib.layers
    arange = (lambda n: tf.range(start=0, limit=n, delta=1)) if tf is not None else lib.ops.arange
    length = (lambda x: tf.shape(x)[-1]) if tf is not None else (lambda x: lib.ops.shape(x)[-1])

    class TransformerBlock(L.Layer):
        def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1):
            super().__init__()
            self.att = L.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
            self.ffn = lib.Sequential([L.Dense(ff_dim, activation="relu"), L.Dense(embed_dim)])
            self.layernorm1 = L.LayerNormalization(epsilon=1e-6)
            self.layernorm2 = L.LayerNormalization(epsilon=1e-6)
            self.dropout1 = L.Dropout(rate)
            self.dropout2 = L.Dropout(rate)

        def call(self, inputs, training=False):
            attn_output = self.att(inputs, inputs)
            attn_output = self.dropout1(attn_output, training=training)
            out1 = self.layernorm1(inputs + attn_output)
            ffn_output = self.ffn(out1)
            ffn_output = self.dropout2(ffn_output, training=training)
            return self.layernorm2(out1 + ffn_output)

    class TokenAndPositionEmbedding(L.Layer):
        def __init__(self, maxlen, vocab_size, embed_dim):
            super().__init__()
            self.token_emb = L.Embedding(input_dim=vocab_size, output_dim=embed_dim)
            self.pos_emb = L.Embedding(input_dim=maxlen, output_dim=embed_dim)

        def call(self, x):
            positions = self.pos_emb(arange(length(x)))
            return self.token_emb(x) + positions

    maxlen, vocab_size, embed_dim = 12, 50, 8
    inputs = L.Input(shape=(maxlen,))
    x = TokenAndPositionEmbedding(maxlen, vocab_size, embed_dim)(inputs)
    x = TransformerBlock(embed_dim, 2, 16, rate=0.0)(x)
    x = L.GlobalAveragePooling1D()(x)
    outputs = L.Dense(2, activation="softmax")(L.Dense(6, activation="relu")(x))
    model = lib.Model(inputs=inputs, outputs=outputs)
    model.compile(optimizer=lib.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_the_keras_transformer_text_example_trains_as_tf_keras(tfk):
    import tensorflow as tf
    model, ref = _text_classifier(gpunet), _text_classifier(tfk, tf)
    assert [w.shape for w in model.get_weights()] == [tuple(w.shape) for w in ref.get_weights()]
    model.set_weights(ref.get_weights())
    tokens = R.integers(0, 50, (32, 12))
    labels = R.integers(0, 2, (32,))
    assert_trains_alike(model, ref, tokens, labels, epochs=2)


@pytest.mark.parametrize("make, error, message", [
    (lambda: layers.MultiHeadAttention(0, 4), ValueError, "`num_heads`: expected a positive integer, received 0"),
    (lambda: layers.MultiHeadAttention(2, 4, dropout=2.0), ValueError, r"`dropout`: expected a float in \[0, 1\]"),
    (lambda: layers.MultiHeadAttention(2, 4, use_gate=True), NotImplementedError, r"use_gate=...\) is not implemented"),
])
def test_refusals_name_what_was_expected(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_the_masks_the_inputs_carry_as_tf_keras(tfk):
    """An Embedding(mask_zero=True) before self-attention: padded queries and keys masked, as Keras combines."""
    tokens = R.integers(1, 20, (6, 7))
    tokens[::2, 4:] = 0

    def make(lib):
        inp = lib.Input((7,))
        x = lib.layers.Embedding(20, 8, mask_zero=True)(inp)
        out, scores = lib.layers.MultiHeadAttention(2, 4)(x, x, return_attention_scores=True)
        return lib.Model(inp, [out, scores])
    model, ref = make(gpunet), make(tfk)
    model.set_weights(ref.get_weights())
    got, want = model.predict(tokens, verbose=0), ref.predict(tokens, verbose=0)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got[1][0, :, :4, 4:], 0.0)  # (real tokens attend to no padding)
