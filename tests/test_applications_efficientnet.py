"""``gpunet.applications.efficientnet`` (EfficientNetB0 to B7) against tf.keras 2.21's: the same layers under the
same names in the same order, the same weight shapes, the same predictions from the same weights (batch
normalization's statistics and the Normalization layer's included), with the classifier and pooled on a non-square
input, Keras's ImageNet variant (its extra division by the deviations' square roots) loading a weights file tf.keras
writes, Keras's files asked for by name, address and
hash, the stochastic-depth dropout, channels_first, `preprocess_input` (a pass-through) and the refusals. B1 to B7
are compared with tf.keras's recorded structure (building them in tf.keras is too slow for every run)."""
import numpy as np
import pytest

import gpunet
from gpunet.applications import efficientnet, imagenet_utils
from application_cases import (assert_same_model, assert_same_predictions, both,
                               requested_weights_file, structure, with_trained_statistics)
from keras_support import tf_keras_or_skip

tfk = tf_keras_or_skip()
from tf_keras.src.applications import efficientnet as keras_efficientnet  # noqa: E402 (its hashes are not public)
RNG = np.random.default_rng(11)
# ImageNet's statistics as Keras's published files hold them: the deviations (not their squares) as the variance
IMAGENET_MEAN, IMAGENET_STDDEV = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def pixels(shape):
    return RNG.uniform(0, 255, (2,) + shape).astype("float32")


def test_b0_with_its_classifier_is_keras_layer_for_layer():
    model, keras_model = both(efficientnet.EfficientNetB0, tfk.applications.EfficientNetB0, weights=None,
                              input_shape=(32, 32, 3), classes=5, classifier_activation=None)
    assert_same_model(model, with_trained_statistics(keras_model, RNG), None, predict=False)
    want = assert_same_predictions(model, keras_model, pixels((32, 32, 3)))
    assert want.std() > 0.1  # (logits that depend on the input)
    names = [layer.name for layer in model.layers]
    assert model.output_shape == (None, 5) and names[-3:] == ["avg_pool", "top_dropout", "predictions"]
    # the stochastic depth: per-sample dropout before each residual addition, its rate growing block by block
    drops = [(layer.name, layer.rate, layer.noise_shape) for layer in model.layers if layer.name.endswith("_drop")]
    assert drops == [(layer.name, layer.rate, layer.noise_shape) for layer in keras_model.layers if
                     layer.name.endswith("_drop")]
    assert len(drops) == 9 and drops[0][1] == pytest.approx(0.2 * 2 / 16) and drops[0][2] == (None, 1, 1, 1)
    assert "block7a_project_bn" in names and "block7a_drop" not in names  # (B0's last block: no skip, no drop)
    drop = model.get_layer("block6d_drop")
    per_sample = drop(np.ones((64, 2, 2, 3), "float32"), training=True).numpy().reshape(64, -1)
    assert np.all(per_sample == per_sample[:, :1])  # (each sample kept or dropped whole)
    np.testing.assert_allclose(np.unique(per_sample), [0.0, 1 / (1 - drop.rate)], rtol=1e-6)


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory):
    """A weights file tf.keras writes for EfficientNetB0 without its top, with ImageNet's statistics in its
    Normalization layer (what Keras's published files hold) and trained batch-normalization statistics."""
    tfk.backend.clear_session()
    keras_model = tfk.applications.EfficientNetB0(include_top=False, weights=None, input_shape=(32, 32, 3))
    path = tmp_path_factory.mktemp("keras") / "efficientnetb0_notop.h5"
    with_trained_statistics(keras_model, RNG, IMAGENET_STDDEV).save_weights(path)  # (the form of Keras's files)
    return str(path)


def test_b0_imagenet_pooled_on_a_non_square_input_is_keras_layer_for_layer(keras_file, monkeypatch):
    # odd sides on the way down (45x37 -> 23x19 -> 12x10 -> 6x5 -> 3x3 -> 2x2): the padded strided depthwise
    # convolutions must round alike
    from gpunet.utils import data_utils
    fetched = []
    monkeypatch.setattr(data_utils, "get_file", lambda fname, origin, **kw: fetched.append((fname, origin, kw))
                        or keras_file)
    monkeypatch.setattr(keras_efficientnet.data_utils, "get_file", lambda *args, **kw: keras_file)
    model, keras_model = both(efficientnet.EfficientNetB0, tfk.applications.EfficientNetB0, include_top=False,
                              weights="imagenet", input_shape=(45, 37, 3), pooling="max")
    assert fetched == [("efficientnetb0_notop.h5", keras_efficientnet.BASE_WEIGHTS_PATH + "efficientnetb0_notop.h5",
                        dict(cache_subdir="models", file_hash=keras_efficientnet.WEIGHTS_HASHES["b0"][1]))]
    assert [layer.name for layer in model.layers][:4] == ["input_1", "rescaling", "normalization", "tf.math.multiply"]
    for got, want in zip(model.get_weights(), keras_model.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    assert_same_model(model, keras_model, None, predict=False)
    x = pixels((45, 37, 3))
    assert_same_predictions(model, keras_model, x)
    assert model.output_shape == (None, 1280) and model.layers[-1].name == "max_pool"
    # the published statistics divide by the deviations' square roots; with the layer after them, by the deviations
    standardized = gpunet.models.Model(model.inputs, model.get_layer("tf.math.multiply").output).predict(x, verbose=0)
    mean = np.array(keras_model.get_layer("normalization").get_weights()[0])
    np.testing.assert_allclose(standardized, (x / 255 - mean) / IMAGENET_STDDEV, rtol=1e-5, atol=1e-5)


def test_channels_first_predicts_as_channels_last(keras_file, monkeypatch):
    from gpunet.utils import data_utils
    monkeypatch.setattr(data_utils, "get_file", lambda *args, **kw: keras_file)
    x = pixels((32, 40, 3))
    last = efficientnet.EfficientNetB0(include_top=False, input_shape=(32, 40, 3))
    gpunet.backend.set_image_data_format("channels_first")
    try:
        first = efficientnet.EfficientNetB0(include_top=False, input_shape=(3, 32, 40))
    finally:
        gpunet.backend.set_image_data_format("channels_last")
    assert first.output_shape == (None, 1280, 1, 2)
    np.testing.assert_allclose(first.predict(x.transpose(0, 3, 1, 2), verbose=0),
                               last.predict(x, verbose=0).transpose(0, 3, 1, 2), rtol=1e-4, atol=1e-5)


# tf.keras 2.21's, weights=None, input_shape=(32, 32, 3), classes=10: `structure` of its models. Building these
# takes tf.keras 30 s here, gpunet 6 s, so they are recorded (B0's are compared live above, layer for layer).
KERAS_STRUCTURES = {
    "EfficientNetB1": (342, 442, 6588049, "8953b7d840a5c127"),
    "EfficientNetB2": (342, 442, 7782659, "99f17e25aea382e1"),
    "EfficientNetB3": (387, 499, 10798905, "c9bab6b7da106ecf"),
    "EfficientNetB4": (477, 613, 17691753, "76690342d8c0f21e"),
    "EfficientNetB5": (579, 741, 28534017, "cca0dfe355dd5f25"),
    "EfficientNetB6": (669, 855, 40983193, "cf39eead7d29b54a"),
    "EfficientNetB7": (816, 1040, 64123297, "a3c6362ed148c18d"),
}


@pytest.mark.parametrize("name", sorted(KERAS_STRUCTURES))
def test_the_wider_and_deeper_variants_are_keras_layer_for_layer(name):
    from gpunet.layers.naming import reset_names
    reset_names()  # (the preprocessing layers are rescaling and normalization from fresh names)
    model = getattr(efficientnet, name)(weights=None, input_shape=(32, 32, 3), classes=10)
    assert structure(model) == KERAS_STRUCTURES[name]
    assert model.output_shape == (None, 10)
    assert model.get_layer("top_dropout").rate == {"1": 0.2, "2": 0.3, "3": 0.3, "4": 0.4, "5": 0.4, "6": 0.5,
                                                   "7": 0.5}[name[-1]]


@pytest.mark.parametrize("constructor, include_top, file_name", [
    (efficientnet.EfficientNetB0, True, "efficientnetb0.h5"),
    (efficientnet.EfficientNetB3, False, "efficientnetb3_notop.h5"),
])
def test_imagenet_weights_are_keras_files(constructor, include_top, file_name, monkeypatch):
    asked = requested_weights_file(monkeypatch, constructor, include_top=include_top)
    hashes = keras_efficientnet.WEIGHTS_HASHES[file_name[len("efficientnet"):][:2]]
    assert asked == dict(fname=file_name, origin=keras_efficientnet.BASE_WEIGHTS_PATH + file_name,
                         cache_subdir="models", file_hash=hashes[0 if include_top else 1])


def test_input_tensor_and_the_default_shapes():
    inp = gpunet.Input((64, 48, 3))
    model = efficientnet.EfficientNetB2(include_top=False, weights=None, input_tensor=inp, pooling="avg")
    assert model.inputs[0] is inp and model.output_shape == (None, 1408) and model.layers[-1].name == "avg_pool"
    assert model.name == "efficientnetb2"
    model = efficientnet.EfficientNetB0(weights=None)
    assert model.input_shape == (None, 224, 224, 3) and model.output_shape == (None, 1000)
    assert efficientnet.EfficientNetB0(include_top=False, weights=None).input_shape == (None, None, None, 3)


def test_keras_other_keyword_arguments_change_the_architecture():
    model = efficientnet.EfficientNetB0(include_top=False, weights=None, input_shape=(32, 32, 3), activation="relu",
                                        drop_connect_rate=0.0, depth_divisor=16)
    names = [layer.name for layer in model.layers]
    assert not [name for name in names if name.endswith("_drop")] and "block2b_add" in names
    assert model.get_layer("stem_activation").get_config()["activation"] == "relu"
    assert model.get_layer("block2a_expand_conv").filters == 16 * 6  # (16 filters: a multiple of 16)
    blocks = [dict(args, repeats=1) for args in efficientnet.DEFAULT_BLOCKS_ARGS[:2]]
    model = efficientnet.EfficientNetB0(include_top=False, weights=None, input_shape=(32, 32, 3), blocks_args=blocks)
    assert [layer.name for layer in model.layers if layer.name.endswith("_project_bn")] == [
        "block1a_project_bn", "block2a_project_bn"]
    assert efficientnet.DEFAULT_BLOCKS_ARGS[0]["repeats"] == 1  # (the defaults are not changed)


@pytest.mark.parametrize("data_format", [None, "channels_first", "channels_last"])
def test_preprocess_input_passes_its_input_through_as_keras(data_format):
    images = pixels((5, 4, 3))
    got = efficientnet.preprocess_input(images, data_format=data_format)
    assert got is images
    np.testing.assert_array_equal(got, tfk.applications.efficientnet.preprocess_input(images.copy(), data_format))
    assert efficientnet.decode_predictions is imagenet_utils.decode_predictions


@pytest.mark.parametrize("call, error, message", [
    (lambda: efficientnet.EfficientNetB0(classes=10), ValueError, "`classes` should be 1000"),
    (lambda: efficientnet.EfficientNetB1(weights="nowhere.h5"), ValueError,
     "The `weights` argument should be either `None`"),
    (lambda: efficientnet.EfficientNetB0(weights=None, input_shape=(16, 16, 3)), ValueError,
     "Input size must be at least 32x32"),
    (lambda: efficientnet.EfficientNetB1(input_shape=(224, 224, 3)), ValueError,
     "`input_shape` should be \\(240, 240, 3\\)"),
    (lambda: efficientnet.EfficientNetB2(classifier_activation="relu"), ValueError,
     "Only `None` and `softmax` activations"),
    (lambda: efficientnet.EfficientNetB0(weights=None, depth=18), TypeError, "depth"),
    (lambda: efficientnet.EfficientNetB0(weights=None, dropout_rate=0.5), TypeError, "dropout_rate"),
])
def test_bad_arguments_are_refused_as_keras_refuses_them(call, error, message):
    with pytest.raises(error, match=message):
        call()
