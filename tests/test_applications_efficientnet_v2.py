"""``gpunet.applications.efficientnet_v2`` (EfficientNetV2B0 to B3, S, M, L) against tf.keras 2.21's: the same layers
under the same names in the same order, with the same settings (dropout rates, batch normalization, strides), the
same weight shapes, the same predictions from the same weights (batch normalization's statistics included) with and
without the built-in preprocessing, a weights file tf.keras writes loading as Keras's pretrained files do (asked for
by name, address and hash), the preprocessing each variant builds in, channels_first, `preprocess_input` (a
pass-through) and the refusals. B1 to L are compared with tf.keras's recorded structure (building them all in
tf.keras takes half a minute)."""
import numpy as np
import pytest

import gpunet
from gpunet.applications import efficientnet_v2, imagenet_utils
from application_cases import assert_same_model, both, requested_weights_file, structure
from keras_support import tf_keras_or_skip

tfk = tf_keras_or_skip()
from tf_keras.src.applications import efficientnet_v2 as keras_efficientnet_v2  # noqa: E402 (its hashes)
RNG = np.random.default_rng(11)
# the layer settings a prediction or a training step depends on, where a layer has them
SETTINGS = ("rate", "noise_shape", "momentum", "epsilon", "axis", "strides", "padding", "kernel_size", "use_bias",
            "activation", "scale", "offset", "mean", "variance", "target_shape")


def seeded_both(ours, theirs, seed, **kwargs):
    """`both` from weights drawn from ``seed`` (tf.keras's, which gpunet's take), tf.keras's batch normalizations'
    scale, offset, mean and variance set away from their initial values (so a prediction depends on each of them),
    and a random generator of that seed for the inputs: the same numbers whatever ran before."""
    tfk.utils.set_random_seed(seed)
    model, keras_model = both(ours, theirs, **kwargs)
    rng = np.random.default_rng(seed)
    for layer in keras_model.layers:
        if isinstance(layer, tfk.layers.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.uniform(-0.2, 0.2, beta.shape),
                               rng.uniform(-0.2, 0.2, mean.shape), rng.uniform(0.5, 1.5, variance.shape)])
    return model, keras_model, rng


def _plain(value):
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return round(value, 6) if isinstance(value, float) else value


def assert_same_settings(ours, theirs):
    """Each layer's `SETTINGS` are tf.keras's."""
    for mine, keras_layer in zip(ours.layers, theirs.layers, strict=True):
        got, want = mine.get_config(), keras_layer.get_config()
        for key in SETTINGS:
            if key in want:
                # (a built tf.keras BatchNormalization lists its axis: [3] for 3)
                mine_, keras_ = _plain(got[key]), _plain(want[key])
                assert mine_ == keras_ or (key == "axis" and [mine_] == keras_), (mine.name, key)


def _same(ours, theirs, x):
    """``ours`` is ``theirs`` layer for layer, setting for setting, prediction for prediction on ``x``;
    tf.keras's predictions."""
    assert_same_model(ours, theirs, x, predict=False)
    assert_same_settings(ours, theirs)
    # (tf.keras called eagerly: its `predict` traces a graph for seconds)
    want = theirs(x, training=False).numpy()
    # random weights through 30 blocks can blow activations up to hundreds (depending on the draws), and both
    # compute in float32: a difference of rounding is relative to the largest value
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(ours.predict(x, verbose=0), want, rtol=1e-4, atol=1e-5 * scale)
    return want


@pytest.mark.filterwarnings("ignore:The `keras.initializers.serialize")  # (tf.keras's own, for its Dense's config)
def test_b0_with_its_classifier_is_keras_layer_for_layer():
    model, keras_model, rng = seeded_both(efficientnet_v2.EfficientNetV2B0, tfk.applications.EfficientNetV2B0, 0,
                                          weights=None, input_shape=(32, 32, 3), classes=5, classifier_activation=None)
    x = rng.uniform(0, 255, (2, 32, 32, 3)).astype("float32")  # (pixels: the model rescales and standardizes them)
    want = _same(model, keras_model, x)
    assert model.output_shape == (None, 5) and model.layers[-1].name == "predictions"
    assert [layer.name for layer in model.layers[1:4]] == ["rescaling", "normalization", "stem_conv"]
    assert not np.allclose(want[0], want[1])


@pytest.fixture(scope="module")
def pooled_b1(tmp_path_factory):
    """tf.keras's B1 without its top or preprocessing on a non-square input, max-pooled, trained statistics set,
    its arguments, and its weights saved as Keras saves its published files."""
    kwargs = dict(include_top=False, weights=None, input_shape=(45, 34, 3), pooling="max",
                  include_preprocessing=False)
    model, keras_model, rng = seeded_both(efficientnet_v2.EfficientNetV2B1, tfk.applications.EfficientNetV2B1, 0,
                                          **kwargs)
    path = tmp_path_factory.mktemp("efficientnet_v2") / "efficientnetv2-b1_notop.h5"
    keras_model.save_weights(path)
    return model, keras_model, kwargs, str(path), rng


def test_b1_pooled_on_a_non_square_input_without_preprocessing(pooled_b1):
    # odd sides on the way down (45x34 -> 23x17 -> 12x9 -> 6x5 -> 3x3 -> 2x2): "same" strided convolutions pad
    # more after than before, as TensorFlow does
    model, keras_model, _, _, rng = pooled_b1
    x = rng.uniform(-1, 1, (2, 45, 34, 3)).astype("float32")
    _same(model, keras_model, x)
    assert model.output_shape == (None, 1280) and model.layers[-1].name == "max_pool"
    assert model.layers[1].name == "stem_conv"


def test_imagenet_weights_are_keras_file(pooled_b1, monkeypatch):
    from gpunet.layers.naming import reset_names
    from gpunet.utils import data_utils
    _, keras_model, kwargs, path, _ = pooled_b1
    fetched = []
    monkeypatch.setattr(data_utils, "get_file", lambda fname, origin, **kw: fetched.append((fname, origin, kw))
                        or path)
    reset_names()
    model = efficientnet_v2.EfficientNetV2B1(**dict(kwargs, weights="imagenet"))
    file_name = "efficientnetv2-b1_notop.h5"
    assert fetched == [(file_name, keras_efficientnet_v2.BASE_WEIGHTS_PATH + file_name,
                        dict(cache_subdir="models", file_hash=keras_efficientnet_v2.WEIGHTS_HASHES["b1"][1]))]
    for got, want in zip(model.get_weights(), keras_model.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)


def test_imagenet_asks_for_the_classifier_file_by_name_address_and_hash(monkeypatch):
    asked = requested_weights_file(monkeypatch, efficientnet_v2.EfficientNetV2S)  # (its hash is Keras's "-s")
    file_name = "efficientnetv2-s.h5"
    assert asked == dict(fname=file_name, origin=keras_efficientnet_v2.BASE_WEIGHTS_PATH + file_name,
                         cache_subdir="models", file_hash=keras_efficientnet_v2.WEIGHTS_HASHES["-s"][0])


# tf.keras 2.21's, include_top=False, weights=None, input_shape=(32, 32, 3): `structure` of its models (B0's is
# compared live above); tf.keras takes 2 to 10 s to build each of these
KERAS_STRUCTURES = {
    "EfficientNetV2B1": (334, 441, 6931124, "02e67999683ec739"),
    "EfficientNetV2B2": (349, 460, 8769374, "ec8591cac37f6b01"),
    "EfficientNetV2B3": (409, 536, 12930622, "d0e346013f8c2324"),
    "EfficientNetV2S": (513, 670, 20331360, "669aa8f75f903a93"),
    "EfficientNetV2M": (740, 961, 53150388, "ee1fcd879d4696c3"),
    "EfficientNetV2L": (1028, 1329, 117746848, "464d300c439cbffe"),
}
WIDTHS = {"EfficientNetV2B2": 1408, "EfficientNetV2B3": 1536}


@pytest.mark.parametrize("name", sorted(KERAS_STRUCTURES))
def test_the_other_variants_are_keras_layer_for_layer(name):
    from gpunet.layers.naming import reset_names
    reset_names()  # (the preprocessing layers are auto-named: "rescaling", "normalization")
    model = getattr(efficientnet_v2, name)(include_top=False, weights=None, input_shape=(32, 32, 3))
    assert structure(model) == KERAS_STRUCTURES[name]
    assert model.output_shape == (None, 1, 1, WIDTHS.get(name, 1280))


def _preprocessed(model, x):
    """What ``model``'s preprocessing layers (those before "stem_conv") make of ``x``."""
    stem = model.get_layer("stem_conv")
    return gpunet.models.Model(model.inputs, stem.input).predict(x, verbose=0)


@pytest.mark.parametrize("constructor, channels, standardized", [
    (efficientnet_v2.EfficientNetV2B0, 3, True),
    (efficientnet_v2.EfficientNetV2B0, 1, False),  # (ImageNet's means are for 3 channels: Keras's V2 scaling then)
    (efficientnet_v2.EfficientNetV2S, 3, False),
])
def test_the_preprocessing_is_keras_choice(constructor, channels, standardized):
    model = constructor(include_top=False, weights=None, input_shape=(32, 32, channels))
    x = RNG.uniform(0, 255, (2, 32, 32, channels)).astype("float32")
    if standardized:
        want = (x / 255 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    else:
        want = x / 128 - 1
    np.testing.assert_allclose(_preprocessed(model, x), want, rtol=1e-5, atol=1e-5)


def test_channels_first_predicts_as_channels_last():
    x = RNG.uniform(0, 255, (2, 32, 40, 3)).astype("float32")
    last = efficientnet_v2.EfficientNetV2B0(include_top=False, weights=None, input_shape=(32, 40, 3))
    gpunet.backend.set_image_data_format("channels_first")
    try:
        first = efficientnet_v2.EfficientNetV2B0(include_top=False, weights=None, input_shape=(3, 32, 40))
    finally:
        gpunet.backend.set_image_data_format("channels_last")
    assert first.output_shape == (None, 1280, 1, 2)
    first.set_weights(last.get_weights())
    np.testing.assert_allclose(first.predict(x.transpose(0, 3, 1, 2), verbose=0),
                               last.predict(x, verbose=0).transpose(0, 3, 1, 2), rtol=1e-4, atol=1e-5)


def test_input_tensor_and_the_default_shapes():
    inp = gpunet.Input((64, 48, 3))
    model = efficientnet_v2.EfficientNetV2B2(include_top=False, weights=None, input_tensor=inp, pooling="avg")
    assert model.inputs[0] is inp and model.output_shape == (None, 1408) and model.layers[-1].name == "avg_pool"
    assert model.name == "efficientnetv2-b2"
    model = efficientnet_v2.EfficientNetV2B0(weights=None)
    assert model.input_shape == (None, 224, 224, 3) and model.output_shape == (None, 1000)
    assert model.get_layer("top_dropout").rate == 0.2


@pytest.mark.parametrize("data_format", [None, "channels_first", "channels_last"])
def test_preprocess_input_passes_its_input_through_as_keras(data_format):
    images = RNG.uniform(0, 255, (2, 5, 4, 3)).astype("float32")
    got = efficientnet_v2.preprocess_input(images, data_format=data_format)
    assert got is images
    np.testing.assert_array_equal(got, tfk.applications.efficientnet_v2.preprocess_input(images.copy(), data_format))
    assert efficientnet_v2.decode_predictions is imagenet_utils.decode_predictions


@pytest.mark.parametrize("call, error, message", [
    (lambda: efficientnet_v2.EfficientNetV2B0(classes=10), ValueError, "`classes` should be 1000"),
    (lambda: efficientnet_v2.EfficientNetV2S(weights="nowhere.h5"), ValueError,
     "The `weights` argument should be either `None`"),
    (lambda: efficientnet_v2.EfficientNetV2B0(weights=None, input_shape=(31, 64, 3)), ValueError,
     "Input size must be at least 32x32"),
    (lambda: efficientnet_v2.EfficientNetV2B1(input_shape=(224, 224, 3)), ValueError,
     "`input_shape` should be \\(240, 240, 3\\)"),
    (lambda: efficientnet_v2.EfficientNetV2M(classifier_activation="relu"), ValueError,
     "Only `None` and `softmax` activations"),
    (lambda: efficientnet_v2.EfficientNetV2B0(weights=None, alpha=1.0), TypeError, "alpha"),
])
def test_bad_arguments_are_refused_as_keras_refuses_them(call, error, message):
    with pytest.raises(error, match=message):
        call()
