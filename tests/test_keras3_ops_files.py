"""Ops on symbolic tensors in Keras 3's .keras files (saving/keras3_ops.py): models Keras 3 builds and saves with
``keras.ops`` calls, operators and slices read by gpunet with Keras 3's predictions; gpunet's op layers written
back for Keras 3 (and as tf.keras 2's TFOpLambda for tf.keras); Keras 3's masked text models (its
``not_equal`` mask handed to a recurrent layer as ``mask=``) read, trained and saved again."""
import numpy as np
import pytest

import gpunet
from gpunet import layers, ops

from keras_support import keras_on_torch

R = np.random.default_rng(5)
X = [R.random((6, 4)).astype("float32") + 0.1, R.random((6, 4)).astype("float32") + 0.1]
TOKENS = R.integers(1, 20, (10, 8))
TOKENS[::2, 5:] = 0


def _ops_model(keras):
    """Keras 3's ops as its users write them on symbolic tensors, each an output."""
    kops = keras.ops
    i, j = keras.Input((4,)), keras.Input((4,))
    outs = [i + j, i * 2.0, 3.0 - i, i / j, -i, i[:, 1:3], i[:, 0], kops.mean(i, axis=-1, keepdims=True),
            kops.sum(i, axis=1), kops.max(i, axis=1), kops.min(i, axis=-1, keepdims=True), kops.reshape(i, (-1, 2, 2)),
            kops.cast(i > 0.5, "float32"), kops.concatenate([i, j], axis=-1), kops.stack([i, j], axis=1),
            kops.expand_dims(i, 1), kops.squeeze(kops.expand_dims(i, 1), axis=1),
            kops.matmul(kops.expand_dims(i, 1), kops.transpose(kops.expand_dims(j, 1), (0, 2, 1))),
            kops.exp(i), kops.log(i), kops.sqrt(i), kops.square(i), kops.abs(i - 0.5), kops.power(i, 2), kops.tanh(i),
            kops.softmax(i), kops.sigmoid(i), kops.relu(i - 0.5), kops.clip(i, 0.2, 0.6), kops.maximum(i, j),
            kops.minimum(i, j), kops.where(i > 0.5, i, j), kops.any(kops.not_equal(i, 0.3), axis=-1),
            kops.all(kops.logical_and(i > 0.2, j > 0.2), axis=-1), kops.cast(kops.logical_or(i < 0.3, j < 0.3), "float32")]
    return keras.Model([i, j], outs)


def _close(got, want):
    assert len(got) == len(want)
    for k, (a, b) in enumerate(zip(got, want)):
        a, b = np.asarray(a, "float64"), np.asarray(b, "float64")
        assert a.shape == b.shape, (k, a.shape, b.shape)
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=f"output {k}")


def test_keras_3_ops_read_and_written_back(tfk, tmp_path):
    keras = keras_on_torch()
    ref = _ops_model(keras)
    ref.save(tmp_path / "k3.keras")
    want = ref.predict(X, verbose=0)
    model = gpunet.models.load_model(tmp_path / "k3.keras")
    _close(model.predict(X, verbose=0), want)
    model.save(tmp_path / "g.keras")
    _close(keras.models.load_model(tmp_path / "g.keras").predict(X, verbose=0), want)
    _close(gpunet.models.load_model(tmp_path / "g.keras").predict(X, verbose=0), want)
    model.save(tmp_path / "g.h5")  # (tf.keras 2's TFOpLambda layers)
    _close(tfk.models.load_model(tmp_path / "g.h5").predict(X, verbose=0), want)


def _text(keras, kind):
    L = keras.layers
    inp = keras.Input((8,))
    emb = L.Embedding(20, 4, mask_zero=True)(inp)
    if kind == "lstm":
        x = L.LSTM(3)(emb)
    elif kind == "gru sequences":
        x = L.GlobalAveragePooling1D()(L.GRU(3, return_sequences=True)(emb))
    else:
        out, fh, _, bh, _ = L.Bidirectional(L.LSTM(3, return_state=True))(emb)
        x = L.Concatenate()([out, fh, bh])
    model = keras.Model(inp, L.Dense(1, activation="sigmoid")(x))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    return model


@pytest.mark.parametrize("kind", ["lstm", "gru sequences", "bidirectional states"])
def test_keras_3_masked_text_models_load_train_and_go_back(kind, tmp_path):
    """Keras 3 writes the Embedding's mask as a not_equal op handed to the next layer as ``mask=``."""
    keras = keras_on_torch()
    ref = _text(keras, kind)
    ref.save(tmp_path / "k3.keras")
    import json
    import zipfile
    entries = json.loads(zipfile.ZipFile(tmp_path / "k3.keras").read("config.json"))["config"]["layers"]
    assert "NotEqual" in [e["class_name"] for e in entries]  # (what this test is about)
    model = gpunet.models.load_model(tmp_path / "k3.keras")
    want = np.asarray(ref.predict(TOKENS, verbose=0))
    np.testing.assert_allclose(model.predict(TOKENS, verbose=0), want, rtol=1e-5, atol=1e-6)
    model.fit(TOKENS, (TOKENS[:, :1] > 9).astype("float32"), epochs=1, verbose=0)
    trained = model.predict(TOKENS, verbose=0)
    model.save(tmp_path / "g.keras")
    np.testing.assert_allclose(np.asarray(keras.models.load_model(tmp_path / "g.keras").predict(TOKENS, verbose=0)),
                               trained, rtol=1e-5, atol=1e-6)


def test_an_explicit_mask_argument_equals_the_one_an_embedding_hands_on():
    inp = gpunet.Input((8,))
    embedding, lstm = layers.Embedding(20, 4), layers.LSTM(3, return_sequences=True)
    explicit = gpunet.Model(inp, lstm(embedding(inp), mask=ops.not_equal(inp, 0)))
    inp2 = gpunet.Input((8,))
    implicit = gpunet.Model(inp2, layers.LSTM(3, return_sequences=True)(layers.Embedding(20, 4, mask_zero=True)(inp2)))
    implicit.set_weights(explicit.get_weights())
    np.testing.assert_allclose(explicit.predict(TOKENS, verbose=0), implicit.predict(TOKENS, verbose=0), rtol=1e-6)


def test_refusals_name_the_op(tmp_path):
    keras = keras_on_torch()
    i = keras.Input((4,))
    keras.Model(i, keras.ops.cumsum(i, axis=1)).save(tmp_path / "cumsum.keras")
    with pytest.raises(gpunet.saving.errors.UnknownObjectError, match="Keras 3's op 'Cumsum', which gpunet does not"):
        gpunet.models.load_model(tmp_path / "cumsum.keras")
    j = gpunet.Input((4,))
    model = gpunet.Model(j, ops.erf(layers.Dense(2)(j)))
    with pytest.raises(NotImplementedError, match="cannot write to a Keras 3 config"):
        model.save(tmp_path / "erf.keras")
    assert not (tmp_path / "erf.keras").exists()


def test_keras_3_s_recorded_training_gives_way_to_the_model_s_as_in_keras_3(tmp_path):
    """Keras 3 records training=False on every call as it builds a model, and runs each call with the model's
    training when that is set: its Dropout drops in fit. gpunet's own archives keep a training= a call was given
    (tests/test_keras_guide_transfer.py)."""
    keras = keras_on_torch()
    i = keras.Input((4,))
    keras.Model(i, keras.layers.Dropout(0.5)(keras.layers.Dense(64)(i))).save(tmp_path / "k3.keras")
    model = gpunet.models.load_model(tmp_path / "k3.keras")
    assert [n.training for n in model._nodes if n.layer.name.startswith("dropout")] == [None]
    out = gpunet.backend.get_backend().to_host(model(X[0], training=True))
    assert 0.3 < (out == 0).mean() < 0.7
    np.testing.assert_array_equal(model.predict(X[0], verbose=0), model.predict(X[0], verbose=0))
