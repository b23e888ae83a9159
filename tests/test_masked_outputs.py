"""Models whose output keeps a sequence's steps, against tf.keras 2.21: a label per step for the sparse losses
(``(batch, steps)``), and an output carrying the mask of an ``Embedding(mask_zero=True)`` or ``Masking``, which
weighs the loss (``sum(loss * mask) / sum(mask)`` per batch) and the metrics by it (models/output_masks.py):
History, weights and evaluate equal tf.keras's, sample weights too."""
import numpy as np
import pytest

import gpunet

from graph_gradients import assert_trains_alike

R = np.random.default_rng(43)
TOKENS = R.integers(1, 9, (16, 5))
TOKENS[::3, 3:] = 0
TOKENS[5, 1:] = 0
Y_DENSE = R.random((16, 5, 2)).astype("float32")
Y_SPARSE = R.integers(0, 2, (16, 5))


def _tagger(lib, loss, functional):
    """A sequence tagger over padded token ids: an output per step, masked."""
    L = lib.layers
    head = L.Dense(2, activation="softmax" if loss.startswith("sparse") else None)
    if functional:
        inp = lib.Input((5,))
        model = lib.Model(inp, head(L.LSTM(3, return_sequences=True)(L.Embedding(9, 3, mask_zero=True)(inp))))
    else:
        model = lib.Sequential([lib.Input((5,)), L.Embedding(9, 3, mask_zero=True), L.GRU(3, return_sequences=True),
                                head])
    model.compile(optimizer=lib.optimizers.SGD(0.1), loss=loss,
                  metrics=["accuracy"] if loss.startswith("sparse") else ["mae"])
    return model


@pytest.mark.parametrize("functional", [False, True], ids=["sequential", "functional"])
@pytest.mark.parametrize("loss", ["mse", "sparse_categorical_crossentropy"])
def test_a_masked_output_weighs_loss_and_metrics_as_tf_keras(tfk, loss, functional):
    model, ref = _tagger(gpunet, loss, functional), _tagger(tfk, loss, functional)
    model.set_weights(ref.get_weights())
    y = Y_SPARSE if loss.startswith("sparse") else Y_DENSE
    assert_trains_alike(model, ref, TOKENS, y, epochs=2)
    got, want = model.evaluate(TOKENS, y, batch_size=4, verbose=0), ref.evaluate(TOKENS, y, batch_size=4, verbose=0)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    # (what tf.keras computes for a batch: the mean over its unpadded steps, not over all of them)
    out, mask = model.predict(TOKENS, verbose=0), TOKENS != 0
    per_step = ((out - y) ** 2).mean(-1) if loss == "mse" else -np.log(np.take_along_axis(out, y[..., None], -1)[..., 0])
    whole = model.evaluate(TOKENS, y, batch_size=16, verbose=0)[0]
    np.testing.assert_allclose(whole, (per_step * mask).sum() / mask.sum(), rtol=1e-5)


def test_sample_weights_with_a_mask_as_tf_keras(tfk):
    def make(lib):
        inp = lib.Input((5, 3))
        out = lib.layers.TimeDistributed(lib.layers.Dense(4, activation="softmax"))(
            lib.layers.GRU(6, return_sequences=True)(lib.layers.Masking(0.0)(inp)))
        model = lib.Model(inp, out)
        model.compile(optimizer=lib.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        return model
    x = R.random((16, 5, 3)).astype("float32")
    x[::3, 3:] = 0.0
    y = R.integers(0, 4, (16, 5))
    model, ref = make(gpunet), make(tfk)
    model.set_weights(ref.get_weights())
    sw = R.random(16).astype("float32")
    h = model.fit(x, y, sample_weight=sw, epochs=2, batch_size=4, shuffle=False, verbose=0).history
    r = ref.fit(x, y, sample_weight=sw, epochs=2, batch_size=4, shuffle=False, verbose=0).history
    for key in r:
        np.testing.assert_allclose(h[key], r[key], rtol=1e-4, err_msg=key)
    for a, b in zip(model.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_a_label_per_step_without_a_mask_as_tf_keras(tfk):
    """Sparse labels of shape (batch, steps) for a Dense over a sequence (no mask: every step counts)."""
    def make(lib):
        model = lib.Sequential([lib.Input((5, 3)), lib.layers.Dense(6, activation="relu"),
                                lib.layers.Dense(4, activation="softmax")])
        model.compile(optimizer=lib.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        return model
    x, y = R.random((16, 5, 3)).astype("float32"), R.integers(0, 4, (16, 5))
    model, ref = make(gpunet), make(tfk)
    model.set_weights(ref.get_weights())
    start = model.get_weights()
    assert_trains_alike(model, ref, x, y, epochs=2)
    # ((batch, steps, 1) labels train the same; tf.keras 2.21's accuracy refuses them)
    np.testing.assert_array_equal(_fit_from(make, start, x, y[..., None]), _fit_from(make, start, x, y))


def _fit_from(make, weights, x, y):
    model = make(gpunet)
    model.set_weights(weights)
    return model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0).history["loss"]


def test_a_batch_of_padding_alone_has_loss_zero_not_nan():
    """(tf.keras divides 0 by 0 there.)"""
    model = _tagger(gpunet, "mse", True)
    padded = np.zeros((4, 5), "int64")
    assert model.evaluate(padded, Y_DENSE[:4], verbose=0)[0] == 0.0


def _two_heads(lib, sparse=False):
    """Two masked outputs per step (a tag and a value) and one pooled, unmasked: each output's loss and metrics
    weighed by its own mask."""
    L = lib.layers
    inp = lib.Input((5,))
    seq = L.GRU(4, return_sequences=True)(L.Embedding(9, 3, mask_zero=True)(inp))
    tags, values = L.Dense(3, activation="softmax", name="tags")(seq), L.Dense(2, name="values")(seq)
    pooled = L.Dense(1, name="pooled")(L.GlobalAveragePooling1D()(seq))
    model = lib.Model(inp, [tags, values, pooled])
    tag_loss = "sparse_categorical_crossentropy" if sparse else "categorical_crossentropy"
    model.compile(optimizer=lib.optimizers.SGD(0.1), loss=[tag_loss, "mse", "mse"],
                  loss_weights=[1.0, 0.5, 2.0], metrics=[["accuracy"], ["mae"], ["mae"]])
    return model


@pytest.mark.parametrize("weighted, sparse", [(False, False), (True, False), (True, True)],
                         ids=["plain", "sample weights", "sample weights, a sparse label per step"])
def test_several_masked_outputs_weigh_each_by_its_mask_as_tf_keras(tfk, weighted, sparse):
    model, ref = _two_heads(gpunet, sparse), _two_heads(tfk, sparse)
    model.set_weights(ref.get_weights())
    tags = R.integers(0, 3, (16, 5))
    y = [tags if sparse else np.eye(3, dtype="float32")[tags], Y_DENSE, R.random((16, 1)).astype("float32")]
    sw = R.random(16).astype("float32") if weighted else None
    h = model.fit(TOKENS, y, sample_weight=sw, epochs=2, batch_size=4, shuffle=False, verbose=0).history
    r = ref.fit(TOKENS, y, sample_weight=sw, epochs=2, batch_size=4, shuffle=False, verbose=0).history
    assert set(r) <= set(h), (sorted(h), sorted(r))
    for key in r:
        np.testing.assert_allclose(h[key], r[key], rtol=1e-4, atol=1e-6, err_msg=key)
    for a, b in zip(model.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(model.evaluate(TOKENS, y, batch_size=8, verbose=0),
                               ref.evaluate(TOKENS, y, batch_size=8, verbose=0), rtol=1e-5, atol=1e-6)


def test_refusals_name_what_was_expected():
    tagger = _tagger(gpunet, "sparse_categorical_crossentropy", False)
    with pytest.raises(ValueError, match=r"expects integer class labels of shape \(16, 5\) in y, received \(16, 4\)"):
        tagger.fit(TOKENS, Y_SPARSE[:, :4], verbose=0)
