"""IntegerLookup (gpunet/layers/integer_lookup.py, lookup_vocabulary.py) against live tf_keras 2: every
output mode and option on awkward tokens (OOV, mask, negative, several OOV indices, inverse), adapt's
vocabulary and idf weights, the vocabulary methods, configs, and the errors tf.keras raises."""
import numpy as np
import pytest

from gpunet import layers
from keras_support import tf_keras_or_skip
from test_preprocessing_layers import host, plain, run, same

tfk = tf_keras_or_skip()

VOCAB = [12, 36, 1138, 42]
TOKENS = np.array([[12, 1138, 42, -1], [42, 1000, 36, 0], [-7, 12, 12, 5]])  # OOV, mask 0, negatives


@pytest.mark.parametrize("kwargs, x", [
    ({}, TOKENS),
    ({}, TOKENS[0]),  # 1-D
    ({}, TOKENS.reshape(3, 2, 2)),  # 3-D
    ({}, TOKENS[:1]),  # a batch of 1
    ({}, np.array(1138)),
    ({}, TOKENS.astype("float32")),  # whole-number floats (a model's inputs)
    ({"mask_token": 0}, TOKENS),
    ({"num_oov_indices": 3}, TOKENS),  # floormod of negatives too
    ({"num_oov_indices": 2, "mask_token": 0}, TOKENS),
    ({"num_oov_indices": 0}, TOKENS[:2, :1]),
    ({"oov_token": 7, "mask_token": -1}, TOKENS),
    ({"dtype": "int32"}, TOKENS),
    ({"output_mode": "one_hot"}, TOKENS[:, 1]),
    ({"output_mode": "one_hot", "mask_token": 0}, TOKENS[:, 3:]),
    ({"output_mode": "multi_hot"}, TOKENS),
    ({"output_mode": "multi_hot", "mask_token": 0}, TOKENS),  # the mask token counts nowhere
    ({"output_mode": "multi_hot"}, TOKENS[0]),
    ({"output_mode": "count", "num_oov_indices": 2}, TOKENS),
    ({"output_mode": "count", "max_tokens": 9, "pad_to_max_tokens": True}, TOKENS),
    ({"output_mode": "count", "dtype": "float64"}, TOKENS),
    ({"output_mode": "tf_idf", "idf_weights": [0.5, 1.0, 2.0, 0.25]}, TOKENS),
    ({"output_mode": "tf_idf", "idf_weights": [0.5, 1.0, 2.0, 0.25], "max_tokens": 8, "pad_to_max_tokens": True},
     TOKENS),
    ({"invert": True}, np.array([[0, 1, 2, 3, 4, 5, -1]])),
    ({"invert": True, "mask_token": 0}, np.array([[0, 1, 2, 3, 4, 5, 6]])),
    ({"invert": True, "oov_token": 99}, np.array([[0, 1, 4], [7, 2, 2]])),
])
def test_lookups_are_tf_keras(ops, kwargs, x):
    got = run(ops, layers.IntegerLookup(vocabulary=VOCAB, **kwargs), x)
    want = tfk.layers.IntegerLookup(vocabulary=VOCAB, **kwargs)(x)
    if kwargs.get("output_mode") == "tf_idf":
        np.testing.assert_allclose(got, want, rtol=1e-6)
        assert got.dtype == want.dtype.as_numpy_dtype
    else:
        same(got, want)


def test_the_vocabulary_may_start_with_the_special_tokens():
    for kwargs in ({}, {"mask_token": 0, "num_oov_indices": 2}, {"output_mode": "multi_hot", "mask_token": 0}):
        plain_layer = layers.IntegerLookup(vocabulary=VOCAB, **kwargs)
        special = layers.IntegerLookup(vocabulary=plain_layer.get_vocabulary(), **kwargs)
        ref = tfk.layers.IntegerLookup(vocabulary=VOCAB, **kwargs)
        assert special.get_vocabulary() == plain_layer.get_vocabulary() == plain(ref.get_vocabulary())
        assert special.vocabulary_size() == ref.vocabulary_size()
        assert plain_layer.get_vocabulary(include_special_tokens=False) == VOCAB
        same(special(TOKENS), plain_layer(TOKENS))


ADAPT = np.array([[3, 3, 5, 7], [7, 7, -1, 0], [9, 9, 9, 0], [1, 2, 4, 6]])


@pytest.mark.parametrize("kwargs", [{}, {"max_tokens": 4}, {"mask_token": 0}, {"num_oov_indices": 2, "oov_token": 9},
                                    {"output_mode": "count"}, {"output_mode": "multi_hot", "max_tokens": 6,
                                                               "pad_to_max_tokens": True}, {"num_oov_indices": 0}])
def test_adapt_learns_tf_keras_vocabulary(ops, kwargs):
    """By count, ties by token from high to low; the mask and OOV tokens left out; at most max_tokens."""
    ours, ref = layers.IntegerLookup(**kwargs), tfk.layers.IntegerLookup(**kwargs)
    ours.adapt(ADAPT)
    ref.adapt(ADAPT)
    assert ours.get_vocabulary() == plain(ref.get_vocabulary())
    assert ours.vocabulary_size() == ref.vocabulary_size()
    x = ADAPT if kwargs.get("num_oov_indices") != 0 else ADAPT[:, :1]
    same(run(ops, ours, x), ref(x))
    ours_config, ref_config = plain(ours.get_config()), plain(ref.get_config())
    assert ref_config.pop("vocabulary") is None and ours_config.pop("vocabulary") == ours.get_vocabulary()
    assert ours_config == ref_config | {"name": ours.name}


def test_adapt_in_batches_from_generators_counts_every_batch():
    data = np.random.default_rng(2).integers(0, 30, size=(200, 3))
    whole, batched = layers.IntegerLookup(max_tokens=12), layers.IntegerLookup(max_tokens=12)
    whole.adapt(data)
    batched.adapt(data[i:i + 17] for i in range(0, 200, 17))
    ref = tfk.layers.IntegerLookup(max_tokens=12)
    ref.adapt(data, batch_size=17)
    assert whole.get_vocabulary() == batched.get_vocabulary() == plain(ref.get_vocabulary())


def test_tf_idf_weights_from_adapt_are_tf_keras():
    """tf.keras's adapt counts documents with tf.map_fn over rows, which fails unless every row has as
    many distinct tokens: compared on such data (gpunet counts any rows)."""
    data = np.array([[3, 3, 5], [7, 5, 5], [1, 2, 2], [5, 1, 1]])
    for kwargs in ({}, {"max_tokens": 5}, {"max_tokens": 9, "pad_to_max_tokens": True}):
        ours = layers.IntegerLookup(output_mode="tf_idf", **kwargs)
        ref = tfk.layers.IntegerLookup(output_mode="tf_idf", **kwargs)
        ours.adapt(data)
        ref.adapt(data)
        assert ours.get_vocabulary() == plain(ref.get_vocabulary())
        np.testing.assert_allclose(ours.idf_weights.numpy(), ref.idf_weights.numpy(), rtol=1e-6)
        np.testing.assert_allclose(host(ours(data)), ref(data), rtol=1e-6)
    ragged = layers.IntegerLookup(output_mode="tf_idf")
    ragged.adapt(np.array([[1, 1, 1], [1, 2, 3]]))  # 1 in both documents, 2 and 3 in one
    np.testing.assert_allclose(ragged.idf_weights.numpy()[1:], np.log(1 + 2 / np.array([3, 2, 2])), rtol=1e-6)


def test_set_vocabulary_replaces_the_vocabulary_and_keeps_the_size_in_vector_modes():
    layer = layers.IntegerLookup(vocabulary=[1, 2])
    layer.set_vocabulary([5, 6, 7])
    assert layer.get_vocabulary() == [-1, 5, 6, 7] and layer.vocabulary_size() == 4
    same(layer(np.array([[5, 1]])), np.array([[1, 0]]))
    counting = layers.IntegerLookup(output_mode="count")
    counting.set_vocabulary([1, 2])
    message = "the vocabulary size cannot be changed after the layer is called. Old vocab size is 3, new vocab size is 4"
    with pytest.raises(RuntimeError, match=message):
        counting.set_vocabulary([1, 2, 3])
    ref = tfk.layers.IntegerLookup(output_mode="count")
    ref.set_vocabulary([1, 2])
    with pytest.raises(RuntimeError, match=message):
        ref.set_vocabulary([1, 2, 3])


def test_a_vocabulary_file_holds_one_token_per_line(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("12\n36\n1138\n42\n")
    ours, ref = layers.IntegerLookup(vocabulary=str(path)), tfk.layers.IntegerLookup(vocabulary=str(path))
    same(ours(TOKENS), ref(TOKENS))
    assert ours.get_config()["vocabulary"] == str(path)
    with pytest.raises(ValueError, match="Vocabulary file .*missing.txt does not exist"):
        layers.IntegerLookup(vocabulary=str(tmp_path / "missing.txt"))


@pytest.mark.parametrize("kwargs, message", [
    ({"max_tokens": 1}, "If `max_tokens` is set for `IntegerLookup`, it must be greater than 1. Received: max_tokens=1"),
    ({"num_oov_indices": -1}, "must >= 0. Received num_oov_indices=-1"),
    ({"pad_to_max_tokens": True}, "If pad_to_max_tokens is True, must set `max_tokens`"),
    ({"output_mode": "idf"}, r"Unkown value for `output_mode` argument of layer IntegerLookup.*Received: idf"),
    ({"invert": True, "output_mode": "count"}, "`output_mode` must be `'int'` when `invert` is true"),
    ({"sparse": True}, "`sparse` may only be true if `output_mode` is `'one_hot'`, `'multi_hot'`, `'count'` or"),
    ({"idf_weights": [1.0], "vocabulary": [1]}, "`idf_weights` should only be set if `output_mode` is `'tf_idf'`"),
    ({"vocabulary_dtype": "float32"}, "`vocabulary_dtype` must be an integer dtype. Received: float32"),
    ({"vocabulary": [1, 2, 1]}, r"repeated term. Please uniquify your dataset. The repeated terms are \["),
    ({"vocabulary": [1, 0], "mask_token": 0}, "Found reserved mask token at unexpected location in `vocabulary`"),
    ({"vocabulary": [1, -1], "invert": True}, "Found reserved OOV token at unexpected location in `vocabulary`"),
    ({"vocabulary": [1, 2, 3], "max_tokens": 3}, "Passed vocab size is 4, max vocab size is 3"),
    ({"vocabulary": []}, "Cannot set an empty vocabulary"),
    ({"vocabulary": [1, 2], "output_mode": "tf_idf"}, "`idf_weights` must be set if output_mode is TF_IDF"),
    ({"vocabulary": [1, 2], "output_mode": "tf_idf", "idf_weights": [1.0]},
     "`idf_weights` must be the same length as vocabulary"),  # (tf.keras swaps the two lengths it names)
])
def test_bad_arguments_are_refused_as_tf_keras_refuses_them(kwargs, message):
    with pytest.raises(ValueError, match=message):
        layers.IntegerLookup(**kwargs)
    with pytest.raises(ValueError, match=message):
        tfk.layers.IntegerLookup(**kwargs)


def test_bad_inputs_and_states_are_clear_errors():
    with pytest.raises(ValueError, match="`sparse=True` asks for a tf.SparseTensor output, and gpunet has no sparse"):
        layers.IntegerLookup(output_mode="count", sparse=True)
    with pytest.raises(ValueError, match=r"len\(idf_weights\) is 1, len\(vocabulary\) is 2"):
        layers.IntegerLookup(vocabulary=[1, 2], output_mode="tf_idf", idf_weights=[1.0])
    with pytest.raises(ValueError, match=r"found OOV values \[1000\], consider setting `num_oov_indices=1`"):
        layers.IntegerLookup(vocabulary=VOCAB, num_oov_indices=0)(np.array([[12, 1000]]))
    with pytest.raises(ValueError, match=r"expects integer tokens, received 1.5 at position \(0, 1\) \(tf.keras would"):
        layers.IntegerLookup(vocabulary=VOCAB)(np.array([[12.0, 1.5]]))
    with pytest.raises(ValueError, match=r"received 16777216.0 at position \(0,\).*float32 holds integers exactly only"):
        layers.IntegerLookup(vocabulary=VOCAB)(np.array([2 ** 24 + 1], "float32"))
    same(layers.IntegerLookup(vocabulary=[2 ** 40])(np.array([2 ** 40, 5])), np.array([1, 0]))  # int64: exact
    with pytest.raises(RuntimeError, match="you must set the layer's vocabulary before calling it"):
        layers.IntegerLookup(output_mode="multi_hot")(TOKENS)
    with pytest.raises(ValueError, match="Cannot adapt IntegerLookup layer after setting a static vocabulary"):
        layers.IntegerLookup(vocabulary=VOCAB).adapt(TOKENS)
    with pytest.raises(ValueError, match="IntegerLookup: only Keras 3's oov_method='floormod'"):
        layers.IntegerLookup(oov_method="farmhash")
    saved = layers.IntegerLookup.from_config({"vocabulary": None, "vocabulary_size": 5})  # Keras 3's assets case
    with pytest.raises(ValueError, match="saved with a vocabulary of 5 entries that its config does not hold"):
        saved(TOKENS)


@pytest.mark.parametrize("kwargs", [
    {"vocabulary": VOCAB},
    {"vocabulary": np.array(VOCAB), "mask_token": 0, "num_oov_indices": 2, "oov_token": -5},
    {"vocabulary": VOCAB, "output_mode": "multi_hot", "max_tokens": 10, "pad_to_max_tokens": True},
    {"vocabulary": VOCAB, "output_mode": "tf_idf", "idf_weights": [0.5, 1.0, 2.0, 0.25]},
    {"vocabulary": VOCAB, "invert": True},
    {"max_tokens": 100, "output_mode": "count"},
    {"dtype": "int32"},
])
def test_configs_are_tf_keras_and_round_trip(kwargs):
    ours, ref = layers.IntegerLookup(name="p", **kwargs), tfk.layers.IntegerLookup(name="p", **kwargs)
    config = ours.get_config()
    assert plain(config) == plain(ref.get_config())
    again = layers.IntegerLookup.from_config(config)
    assert plain(again.get_config()) == plain(config)
    from_tf = layers.IntegerLookup.from_config(plain(ref.get_config()))
    assert plain(from_tf.get_config()) == plain(config)
    if ours.vocabulary_size() > 1 or kwargs.get("pad_to_max_tokens"):
        x = np.array([[0, 1, 12, 42]])
        np.testing.assert_allclose(host(again(x)), host(ours(x)))


def test_an_adapted_vocabulary_travels_in_the_config():
    """gpunet's one deviation from tf.keras's config (see integer_lookup.py): the learned vocabulary
    (and idf weights) are written, so from_config gives a layer that looks up the same; tf.keras
    reads that config as a fixed vocabulary."""
    for kwargs in ({}, {"mask_token": 0, "num_oov_indices": 2}, {"output_mode": "tf_idf"},
                   {"output_mode": "tf_idf", "oov_token": None, "max_tokens": 12, "pad_to_max_tokens": True}):
        layer = layers.IntegerLookup(**kwargs)
        layer.adapt(np.array([[3, 3, 5], [7, 5, 5], [1, 2, 4]]))
        config = plain(layer.get_config())
        again = layers.IntegerLookup.from_config(config)
        ref = tfk.layers.IntegerLookup.from_config(config)
        x = np.array([[3, 5, 0, 7], [8, 1, 1, 2]])
        np.testing.assert_allclose(host(again(x)), host(layer(x)), rtol=1e-6)
        np.testing.assert_allclose(ref(x), host(layer(x)), rtol=1e-6)
        assert again.get_vocabulary() == layer.get_vocabulary() == plain(ref.get_vocabulary())
