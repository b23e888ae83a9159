"""tf.keras 2's `Hashing` and `HashedCrossing` against tf.keras 2.21's: the bins of strings (unicode and bytes),
integers (large and negative ones too), with a salt (SipHash-2-4 against TensorFlow's keyed hash for every tail
length), a mask value, the output modes, crosses of strings and integers of each accepted shape; inside functional
models on integer inputs (trains, configs read both ways); the refusals."""
import json

import numpy as np
import pytest

import gpunet
from gpunet.backend import string_hash
from keras_support import tf_keras_or_skip

tfk = tf_keras_or_skip()
WORDS = [["hello", "world", ""], ["gpunet", "héllo", "日本語"]]
INTS = np.array([[1, 2, -5], [0, 123456789012, 2]])


@pytest.mark.parametrize("kwargs", [
    {}, {"salt": 7}, {"salt": [3, 2 ** 40]}, {"mask_value": "world"}, {"output_mode": "one_hot"},
    {"output_mode": "multi_hot", "salt": 11}, {"output_mode": "count", "mask_value": ""},
], ids=lambda kwargs: ",".join(f"{k}={v}" for k, v in kwargs.items()) or "default")
def test_strings_hash_to_tf_keras_bins(kwargs):
    words = [row[:1] for row in WORDS] if kwargs.get("output_mode") == "one_hot" else WORDS
    got = gpunet.layers.Hashing(13, **kwargs)(words)
    want = tfk.layers.Hashing(13, **kwargs)(words).numpy()
    assert np.asarray(got).dtype == want.dtype
    np.testing.assert_array_equal(np.asarray(got), want)


@pytest.mark.parametrize("kwargs", [{}, {"salt": 5}, {"mask_value": 2}])
def test_integers_hash_as_their_text_as_tf_keras(kwargs):
    got = gpunet.layers.Hashing(7, **kwargs)(INTS)
    np.testing.assert_array_equal(np.asarray(got), tfk.layers.Hashing(7, **kwargs)(INTS).numpy())
    encoded = [w.encode() for w in WORDS[1]]  # (bytes hash as their UTF-8 text does)
    np.testing.assert_array_equal(np.asarray(gpunet.layers.Hashing(7, **kwargs)([encoded])),
                                  np.asarray(gpunet.layers.Hashing(7, **kwargs)([WORDS[1]])))


def test_siphash_equals_tensorflow_keyed_hash_for_every_tail_length():
    import tensorflow as tf
    texts = ["x" * n + "é" for n in range(20)]
    want = tf.strings.to_hash_bucket_strong(texts, 2 ** 62, key=[-3, 12345]).numpy()  # (int64 -3: 2 ** 64 - 3)
    got = [string_hash.siphash24(2 ** 64 - 3, 12345, t.encode()) % 2 ** 62 for t in texts]
    assert got == want.tolist()


def _model(lib):
    inputs = lib.Input((3,), dtype="int64")
    x = lib.layers.Hashing(10, mask_value=0)(inputs)
    x = lib.layers.Flatten()(lib.layers.Embedding(10, 2)(x))
    return lib.Model(inputs, lib.layers.Dense(1)(x))


def test_inside_a_model_integers_hash_as_called_directly_and_configs_travel(tmp_path):
    model = _model(gpunet)
    model.compile("adam", "mse")
    x = np.array([[1, 2, 0], [4, 5, 6], [7, 0, 9]])
    bins = gpunet.Model(model.inputs, model.layers[1].output).predict(x, verbose=0)
    np.testing.assert_array_equal(bins, np.asarray(gpunet.layers.Hashing(10, mask_value=0)(x)))
    assert bins[0, 2] == 0 and bins.min() >= 0 and bins.max() < 10
    before = model.get_weights()[0].copy()
    model.fit(x, np.ones((3, 1)), epochs=2, verbose=0)
    assert not np.allclose(model.get_weights()[0], before)
    theirs = tfk.models.model_from_json(model.to_json())  # (gpunet's config, read by tf.keras)
    theirs.set_weights(model.get_weights())
    np.testing.assert_allclose(theirs.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5)
    config = json.loads(_model(tfk).to_json())  # (tf.keras's config, read here)
    hashing = [layer for layer in config["config"]["layers"] if layer["class_name"] == "Hashing"][0]["config"]
    assert gpunet.layers.Hashing.from_config(hashing).get_config() == {**hashing, "name": hashing["name"]}
    model.save(tmp_path / "m.h5")
    np.testing.assert_allclose(gpunet.models.load_model(tmp_path / "m.h5").predict(x, verbose=0),
                               model.predict(x, verbose=0))


@pytest.mark.parametrize("shape", [(3,), (3, 1)])
@pytest.mark.parametrize("output_mode", ["int", "one_hot"])
def test_crosses_hash_to_tf_keras_bins(shape, output_mode):
    import tensorflow as tf
    words = np.array(["x", "héllo", "y"]).reshape(shape)
    ints = np.array([3, -7, 12345678901]).reshape(shape)
    more = np.array(["a", "b", "c"]).reshape(shape)
    got = gpunet.layers.HashedCrossing(17, output_mode=output_mode)((words, ints, more))
    want = tfk.layers.HashedCrossing(17, output_mode=output_mode)(
        (tf.constant(words), tf.constant(ints, tf.int64), tf.constant(more))).numpy()
    np.testing.assert_array_equal(np.asarray(got), want)
    assert np.asarray(got).dtype == want.dtype


def _crossed_model(lib):
    first, second = lib.Input((1,), dtype="int64"), lib.Input((1,), dtype="int64")
    crossed = lib.layers.HashedCrossing(20)([first, second])
    x = lib.layers.Flatten()(lib.layers.Embedding(20, 2)(crossed))
    return lib.Model([first, second], lib.layers.Dense(1)(x))


def test_a_cross_inside_a_model_equals_the_direct_one_and_travels_to_tf_keras():
    model = _crossed_model(gpunet)
    model.compile("adam", "mse")
    x = [np.array([[1], [2], [3]]), np.array([[4], [5], [-6]])]
    bins = gpunet.Model(model.inputs, model.layers[2].output).predict(x, verbose=0)
    np.testing.assert_array_equal(bins, np.asarray(gpunet.layers.HashedCrossing(20)(x)))
    model.fit(x, np.ones((3, 1)), epochs=2, verbose=0)
    theirs = tfk.models.model_from_json(model.to_json())
    theirs.set_weights(model.get_weights())
    np.testing.assert_allclose(theirs.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5)
    config = _crossed_model(tfk).layers[2].get_config()
    assert gpunet.layers.HashedCrossing.from_config(config).get_config() == config


@pytest.mark.parametrize("call, message", [
    (lambda: gpunet.layers.HashedCrossing(4)(np.array([1, 2])), "should be called on a list or tuple of inputs"),
    (lambda: gpunet.layers.HashedCrossing(4)([np.array([1, 2])]), "should be called on at least two inputs"),
    (lambda: gpunet.layers.HashedCrossing(4)([np.ones((2, 2), "int64")] * 2), r"should have shape `\[\]`"),
    (lambda: gpunet.layers.HashedCrossing(4, output_mode="count"), "Unkown value for `output_mode`"),
    (lambda: gpunet.layers.Hashing(0), "The `num_bins` for `Hashing` cannot be `None` or non-positive values"),
    (lambda: gpunet.layers.Hashing(4, salt="x"), "can only be a tuple of size 2 integers, or a single integer"),
    (lambda: gpunet.layers.Hashing(4, output_mode="int", sparse=True), "`sparse` may only be true if"),
    (lambda: gpunet.layers.Hashing(4, output_mode="onehot"), "Unkown value for `output_mode`"),
    (lambda: gpunet.layers.Hashing(4, output_mode="count", sparse=True), "gpunet has no sparse tensors"),
    (lambda: gpunet.layers.Hashing(4)(np.array([0.5])), "Hashing takes strings or integers, received the float 0.5"),
])
def test_bad_arguments_are_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()
