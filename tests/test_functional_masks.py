"""Masks in functional models (Embedding(mask_zero=True), Masking) by tf.keras 2.21's rules:
through Dense, merged by merge layers, taken by GlobalAveragePooling1D; trained against tf.keras."""
import numpy as np
import pytest

import gpunet
from graph_gradients import assert_trains_alike


def _texts(lib, merge):
    """Two padded index sequences, embedded with masks, pooled over their unpadded steps."""
    L = lib.layers
    a, b = lib.Input((7,), name="a"), lib.Input((7,), name="b")
    emb = L.Embedding(20, 4, mask_zero=True, name="emb")
    ea = L.Dense(4, activation="tanh", name="dense_a")(emb(a))  # the mask passes Dense
    eb = L.Embedding(20, 4, mask_zero=True, name="emb_b")(b)
    merged = (L.add if merge == "add" else L.concatenate)([ea, eb], name="merge")
    pooled = L.GlobalAveragePooling1D(name="pool")(merged)
    return lib.Model([a, b], L.Dense(1, activation="sigmoid", name="out")(pooled))


def _data(n=64):
    rng = np.random.default_rng(2)
    a, b = rng.integers(1, 20, size=(n, 7)), rng.integers(1, 20, size=(n, 7))
    for row in range(n):  # padding at the end, of varying length
        a[row, rng.integers(2, 7):] = 0
        b[row, rng.integers(1, 7):] = 0
    return a.astype("float32"), b.astype("float32"), (a.sum(1) > b.sum(1)).astype("float32")


@pytest.mark.parametrize("merge", ["add", "concatenate"])
def test_masked_sequences_train_as_in_tf_keras(tfk, merge):
    a, b, y = _data()
    model, ref = _texts(gpunet, merge), _texts(tfk, merge)
    model.set_weights(ref.get_weights())
    for m, lib in ((model, gpunet), (ref, tfk)):
        m.compile(optimizer=lib.optimizers.SGD(0.2), loss="binary_crossentropy")
    np.testing.assert_allclose(model.predict([a, b], verbose=0), ref.predict([a, b], verbose=0), rtol=1e-5, atol=1e-6)
    h, r = assert_trains_alike(model, ref, [a, b], y, epochs=2, history_atol=0, weight_atol=1e-6)
    assert list(r.history) == ["loss"]


def test_a_mask_reaching_the_output_weighs_the_loss():
    """(as tf.keras 2's: the mean over the unpadded steps; tests/test_masked_outputs.py compares with tf.keras)"""
    x = gpunet.Input((5,))
    model = gpunet.Model(x, gpunet.layers.Dense(1)(gpunet.layers.Embedding(10, 3, mask_zero=True)(x)))
    model.compile(loss="mse", optimizer="sgd")
    ids = np.array([[1, 2, 0, 0, 0]], "float32")
    out = model.predict(ids, verbose=0)
    assert out.shape == (1, 5, 1)
    loss = model.fit(ids, np.zeros((1, 5, 1)), verbose=0).history["loss"][0]
    np.testing.assert_allclose(loss, (out[0, :2, 0] ** 2).mean(), rtol=1e-5)


def test_a_lambda_over_masked_tensors_is_refused():
    a, b = gpunet.Input((4,)), gpunet.Input((4,))
    emb = gpunet.layers.Embedding(10, 2, mask_zero=True)
    out = gpunet.layers.Lambda(lambda t: t[0] + t[1])([emb(a), emb(b)])
    model = gpunet.Model([a, b], gpunet.layers.GlobalAveragePooling1D()(out))
    with pytest.raises(NotImplementedError, match="hands masks on through merge layers only"):
        model.predict([np.ones((2, 4)), np.ones((2, 4))], verbose=0)
