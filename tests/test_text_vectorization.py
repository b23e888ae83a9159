"""tf.keras 2's TextVectorization and StringLookup against tf.keras 2.21: vocabularies learned by adapt (order,
ties, limits, n-grams, special tokens), outputs in every mode (standardization of non-ASCII text, splitting,
padding and cutting, tf-idf), given vocabularies and files, invert, configs both ways; Keras's "text
classification from scratch" flow (text_dataset_from_directory, adapt on the texts, map, fit) trains as tf.keras;
refusals, inside a model among them."""
import json
import os

import numpy as np
import pytest

import gpunet
from gpunet import layers

TEXTS = ["The cat sat on the mat.", "The DOG ate my homework!", "Ünïcode ÀB cat, cat's", "  spaces\tand\nlines  ",
         "", "the cat... the END", "a-b c_d e'f (g) [h] {i}"]


def _both(tfk, cls, kwargs, adapt, call):
    ref, mine = getattr(tfk.layers, cls)(**kwargs), getattr(layers, cls)(**kwargs)
    if adapt is not None:
        ref.adapt(adapt)
        mine.adapt(adapt)
    assert [str(t) for t in mine.get_vocabulary()] == [str(t) for t in ref.get_vocabulary()]
    assert mine.vocabulary_size() == ref.vocabulary_size()
    got, want = mine(call), ref(call).numpy()
    assert got.dtype == want.dtype and got.shape == want.shape
    if want.dtype == object:
        assert [as_str(t) for t in got.numpy().reshape(-1)] == [as_str(t) for t in want.reshape(-1)]
    else:
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-6, atol=1e-6)
    return mine, ref


def as_str(token):
    return token.decode() if isinstance(token, bytes) else str(token)


VECTORIZE = [dict(max_tokens=12, output_sequence_length=6), dict(), dict(ngrams=2, output_mode="count"),
             dict(output_mode="multi_hot", max_tokens=8, pad_to_max_tokens=True), dict(output_mode="tf_idf"),
             dict(split="character", standardize="lower", output_sequence_length=30),
             dict(ngrams=(1, 3), standardize=None), dict(standardize="strip_punctuation", output_mode="binary"),
             dict(split=None, max_tokens=5)]


@pytest.mark.parametrize("kwargs", VECTORIZE, ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items()) or "defaults")
def test_text_vectorization_equals_tf_keras(tfk, kwargs):
    _both(tfk, "TextVectorization", kwargs, TEXTS, TEXTS)
    _both(tfk, "TextVectorization", kwargs, np.asarray(TEXTS), np.asarray([[t] for t in TEXTS[:3]]))  # ((batch, 1))


LOOKUP = [(dict(), ["a", "b", "b", "c", "c", "c", "d", "e"], [["a", "z"], ["c", "b"]]),
          (dict(mask_token="", output_mode="one_hot"), ["a", "b", "b", "c"], ["a", "z", "", "c"]),
          (dict(mask_token="[MASK]", max_tokens=4), [["x", "y"], ["y", "[MASK]"], ["z", "w"]], [["y", "[MASK]", "q"]]),
          (dict(vocabulary=["x", "y"], output_mode="multi_hot"), None, [["x", "q"], ["y", "y"]]),
          (dict(vocabulary=["[UNK]", "x", "y"], output_mode="count"), None, [["x", "q", "x"], ["y", "y", "y"]]),
          (dict(vocabulary=["x", "y"], output_mode="tf_idf", idf_weights=[0.5, 2.0]), None, [["x", "q"], ["y", "y"]]),
          (dict(output_mode="tf_idf"), ["a", "b", "b", "c", "b"], [["a", "b", "b"]]),
          (dict(num_oov_indices=0, vocabulary=["p", "q"]), None, [["q", "p"]]),
          # several OOV indices: an unknown string to the one its FarmHash fingerprint picks, as tf's
          (dict(num_oov_indices=3, mask_token=""), ["a", "b", "b"], [["a", "zz", "", "qq"], ["x", "b", "yyy", "é"]]),
          (dict(num_oov_indices=2, vocabulary=["x"], output_mode="count"), None, [["x", "q", "w", "x"]])]


@pytest.mark.parametrize("kwargs, adapt, call", LOOKUP, ids=[str(i) for i in range(len(LOOKUP))])
def test_string_lookup_equals_tf_keras(tfk, kwargs, adapt, call):
    mine, ref = _both(tfk, "StringLookup", kwargs, adapt, np.asarray(call))
    if kwargs.get("output_mode", "int") == "int":
        back_mine = layers.StringLookup(vocabulary=mine.get_vocabulary(include_special_tokens=False), invert=True,
                                        mask_token=kwargs.get("mask_token"))
        back_ref = tfk.layers.StringLookup(vocabulary=ref.get_vocabulary(include_special_tokens=False), invert=True,
                                           mask_token=kwargs.get("mask_token"))
        indices = ref(np.asarray(call)).numpy()
        assert [as_str(t) for t in back_mine(indices).numpy().reshape(-1)] == \
            [as_str(t) for t in back_ref(indices).numpy().reshape(-1)]


def test_vocabulary_files_and_set_vocabulary(tfk, tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("hello\nworld\nfoo\n", encoding="utf-8")
    _both(tfk, "StringLookup", dict(vocabulary=str(path)), None, np.asarray([["world", "bar"]]))
    _both(tfk, "TextVectorization", dict(vocabulary=str(path)), None, ["Hello world, foo!"])
    layer = layers.TextVectorization()
    layer.set_vocabulary(["", "[UNK]", "b", "a"])
    np.testing.assert_array_equal(layer(["a b c"]).numpy(), [[3, 2, 1]])


def test_configs_travel_both_ways(tfk):
    mine = layers.TextVectorization(max_tokens=10, ngrams=2, output_sequence_length=5)
    mine.adapt(TEXTS)
    config = json.loads(json.dumps(mine.get_config()))
    again = layers.TextVectorization.from_config(config)
    theirs = tfk.layers.TextVectorization.from_config(config)
    for other in (again(TEXTS).numpy(), theirs(TEXTS).numpy()):
        np.testing.assert_array_equal(other, mine(TEXTS).numpy())
    ref_config = tfk.layers.TextVectorization(max_tokens=10, ngrams=2, output_sequence_length=5).get_config()
    assert set(ref_config) - set(config) <= {"batch_input_shape", "dtype", "vocabulary_size"}


def test_text_classification_from_scratch_trains_as_tf_keras(tfk, tmp_path):
    """Keras's example in small: text_dataset_from_directory, a TextVectorization adapted on the texts, the
    dataset mapped to indices, Embedding + pooling + Dense trained on it; the same history as tf.keras's."""
    rng = np.random.default_rng(3)
    words = ["good", "great", "fine", "bad", "awful", "poor", "movie", "plot", "the", "a", "actor"]
    for label in ("neg", "pos"):
        os.makedirs(tmp_path / label)
        for i in range(12):
            picks = rng.choice(words, 6 + i % 5)
            bias = ["great", "good"] if label == "pos" else ["awful", "bad"]
            (tmp_path / label / f"{i}.txt").write_text(" ".join(list(picks) + bias).title() + ".", encoding="utf-8")
    results = []
    for K in (gpunet, tfk):
        raw = K.utils.text_dataset_from_directory(str(tmp_path), batch_size=6, shuffle=False)
        vectorize = K.layers.TextVectorization(max_tokens=20, output_sequence_length=12)
        vectorize.adapt(raw.map(lambda x, y: x))
        train = raw.map(lambda x, y: (vectorize(x), y))
        L = K.layers
        model = K.Sequential([L.Embedding(20, 4, input_length=12), L.GlobalAveragePooling1D(),
                              L.Dense(1, activation="sigmoid")])
        model.build((None, 12))
        results.append((K, model, train, vectorize))
    (_, mine, mine_ds, mine_vec), (_, ref, ref_ds, ref_vec) = results
    assert mine_vec.get_vocabulary() == [str(t) for t in ref_vec.get_vocabulary()]
    mine.set_weights(ref.get_weights())
    mine.compile(loss="binary_crossentropy", optimizer=gpunet.optimizers.Adam(0.05), metrics=["accuracy"])
    ref.compile(loss="binary_crossentropy", optimizer=tfk.optimizers.Adam(0.05), metrics=["accuracy"])
    got = mine.fit(mine_ds, epochs=3, verbose=0).history
    want = ref.fit(ref_ds, epochs=3, verbose=0).history
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-4, atol=1e-5, err_msg=key)


@pytest.mark.parametrize("make, error, message", [
    (lambda: layers.TextVectorization()(gpunet.Input((1,))), NotImplementedError, "cannot be part of a gpunet model"),
    (lambda: layers.StringLookup()(gpunet.Input((3,))), NotImplementedError, "tensors hold numbers, not strings"),
    (lambda: layers.TextVectorization(ragged=True), NotImplementedError, r"ragged=True\) is not implemented"),
    (lambda: layers.TextVectorization(standardize="upper"), ValueError, "`standardize` must be one of"),
    (lambda: layers.TextVectorization(output_mode="multi_hot", output_sequence_length=4), ValueError,
     "`output_sequence_length` must not be set"),
    (lambda: layers.StringLookup(vocabulary=["a", "a"]), ValueError, "at least one repeated term"),
    (lambda: layers.StringLookup(vocabulary=["a"], num_oov_indices=0)(np.asarray(["b"])), ValueError,
     "'b' is not in the vocabulary"),
    (lambda: layers.TextVectorization(vocabulary=["a"]).adapt(["a"]), ValueError, "Cannot adapt TextVectorization"),
])
def test_refusals_name_what_was_expected(make, error, message):
    with pytest.raises(error, match=message):
        make()
