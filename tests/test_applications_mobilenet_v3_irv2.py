"""``gpunet.applications``' MobileNetV3Small, MobileNetV3Large (``mobilenet_v3``) and InceptionResNetV2
(``inception_resnet_v2``) against tf.keras 2.21's: the same layers under the same names in the same order (the hard
sigmoid's op layers and the residuals' `CustomScaleLayer` included), the same weight shapes, the same predictions
from the same weights (batch normalization's statistics included), minimalistic and other widths, channels_first,
Keras's weight files by name, address and hash (a file tf.keras writes loading in their place), `preprocess_input`
and the refusals in Keras's words. InceptionResNetV2 is compared with tf.keras's recorded structure (tf.keras takes
4 s to build it) and its three blocks by their predictions."""
import numpy as np
import pytest

import gpunet
from gpunet.applications import imagenet_utils
from gpunet.applications import inception_resnet_v2 as irv2
from gpunet.applications import mobilenet_v3
from gpunet.applications.inception_resnet_v2 import InceptionResNetV2
from gpunet.applications.mobilenet_v3 import MobileNetV3Large, MobileNetV3Small
from application_cases import assert_same_model, both, structure, with_trained_statistics
from keras_support import tf_keras_or_skip

tfk = tf_keras_or_skip()
from tf_keras.src.applications import inception_resnet_v2 as keras_irv2  # noqa: E402 (its blocks are not public)
from tf_keras.src.applications import mobilenet_v3 as keras_mobilenet_v3  # noqa: E402

RNG = np.random.default_rng(13)
THEIRS = {MobileNetV3Small: tfk.applications.MobileNetV3Small, MobileNetV3Large: tfk.applications.MobileNetV3Large,
          InceptionResNetV2: tfk.applications.InceptionResNetV2}


def _same(ours, theirs, x):
    """``ours`` is ``theirs`` layer for layer, and predicts as tf.keras does with tf.keras's weights."""
    assert_same_model(ours, with_trained_statistics(theirs, RNG), x, predict=False)
    # (tf.keras called eagerly: its `predict` traces a graph for a second and more)
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs(x, training=False).numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("constructor, activation", [(MobileNetV3Small, "softmax"), (MobileNetV3Large, None)])
def test_mobilenet_v3_with_its_classifier_is_keras_layer_for_layer(constructor, activation):
    ours, theirs = both(constructor, THEIRS[constructor], weights=None, input_shape=(32, 32, 3), classes=5,
                        classifier_activation=activation)
    _same(ours, theirs, RNG.uniform(0, 255, (2, 32, 32, 3)).astype("float32"))  # (pixels: it rescales them itself)
    assert ours.output_shape == (None, 5) and ours.layers[-1].name == "Predictions"
    assert ours.layers[1].name == "rescaling" and ours.get_layer("dropout").rate == 0.2
    for name in ("tf.__operators__.add", "tf.math.multiply_1"):  # (the hard sigmoid's ops: written as tf.keras's)
        assert ours.get_layer(name).get_config() == theirs.get_layer(name).get_config()


def test_minimalistic_narrower_pooled_on_a_non_square_input():
    kwargs = dict(weights=None, input_shape=(41, 36, 3), alpha=0.75, minimalistic=True, include_top=False,
                  pooling="max", include_preprocessing=False)  # (an odd side: correct_pad's other case)
    ours, theirs = both(MobileNetV3Small, THEIRS[MobileNetV3Small], **kwargs)
    _same(ours, theirs, RNG.uniform(-1, 1, (2, 41, 36, 3)).astype("float32"))
    assert ours.output_shape == (None, 432) and ours.layers[-1].name == "max_pool"
    assert not any("squeeze_excite" in layer.name or "tf." in layer.name for layer in ours.layers)


# tf.keras 2.21's `structure` of these models (weights=None), recorded: building each takes tf.keras 1 to 4 s
KERAS_STRUCTURES = {
    "InceptionResNetV2": (InceptionResNetV2, dict(input_shape=(75, 75, 3), classes=5),
                          (782, 898, 54344421, "b05be7e964f827db"), (None, 5)),
    "InceptionResNetV2 pooled": (InceptionResNetV2, dict(include_top=False, input_shape=(83, 75, 3), pooling="max"),
                                 (781, 896, 54336736, "fb4687895dfa6f91"), (None, 1536)),
    "MobileNetV3Large alpha 1.25": (MobileNetV3Large, dict(alpha=1.25, input_shape=(32, 32, 3), classes=5),
                                    (272, 266, 6693765, "c2a839c359a52cf8"), (None, 5)),  # (Conv_2 widened to 1600)
    "MobileNetV3Large minimalistic": (MobileNetV3Large, dict(minimalistic=True, input_shape=(32, 32, 3), classes=5,
                                                             dropout_rate=0), (145, 234, 2674093, "dad912139541d3e2"),
                                      (None, 5)),
    "MobileNetV3Small alpha 0.5": (MobileNetV3Small, dict(alpha=0.5, include_top=False, input_shape=(32, 32, 3),
                                                          include_preprocessing=False),
                                   (229, 206, 278784, "a5ad5ba08456a517"), (None, 1, 1, 288)),
}


@pytest.mark.parametrize("name", sorted(KERAS_STRUCTURES))
def test_other_variants_are_keras_layer_for_layer(name):
    constructor, kwargs, want, output_shape = KERAS_STRUCTURES[name]
    model = constructor(weights=None, **kwargs)  # (from fresh names: the autouse fixture resets them)
    assert structure(model) == want and model.output_shape == output_shape


def _blocks(lib, block):
    """An Inception-ResNet block of each type, the last one linear with its residual unscaled, as ``block``
    (gpunet's or tf.keras's ``inception_resnet_block``) builds them on a small input."""
    inputs = lib.Input((7, 6, 24))
    x = block(inputs, scale=0.17, block_type="block35", block_idx=1)
    x = block(x, scale=0.1, block_type="block17", block_idx=3)
    x = block(x, scale=1.0, block_type="block8", block_idx=10, activation=None)
    return lib.Model(inputs, x)


def test_inception_resnet_blocks_predict_as_keras(monkeypatch):
    monkeypatch.setattr(keras_irv2, "layers", keras_mobilenet_v3.layers)  # (tf.keras sets it in its constructor)
    ours, theirs = both(lambda: _blocks(gpunet, irv2.inception_resnet_block),
                        lambda: _blocks(tfk, keras_irv2.inception_resnet_block))
    _same(ours, theirs, RNG.uniform(-1, 1, (2, 7, 6, 24)).astype("float32"))
    scales = [layer for layer in ours.layers if isinstance(layer, irv2.CustomScaleLayer)]
    assert [(layer.name, layer.scale) for layer in scales] == [("custom_scale_layer", 0.17),
                                                               ("custom_scale_layer_1", 0.1),
                                                               ("custom_scale_layer_2", 1.0)]
    assert scales[0].get_config() == theirs.get_layer("custom_scale_layer").get_config()
    assert gpunet.utils.get_registered_name(irv2.CustomScaleLayer) == "Custom>CustomScaleLayer"
    restored = gpunet.models.model_from_json(ours.to_json())
    restored.set_weights(ours.get_weights())
    x = RNG.uniform(-1, 1, (2, 7, 6, 24)).astype("float32")
    np.testing.assert_allclose(restored.predict(x, verbose=0), ours.predict(x, verbose=0), rtol=1e-6)


def test_channels_first_predicts_as_channels_last():
    x = RNG.uniform(0, 255, (2, 40, 32, 3)).astype("float32")
    last = MobileNetV3Small(include_top=False, weights=None, input_shape=(40, 32, 3))
    gpunet.backend.set_image_data_format("channels_first")
    try:
        first = MobileNetV3Small(include_top=False, weights=None, input_shape=(3, 40, 32))
    finally:
        gpunet.backend.set_image_data_format("channels_last")
    assert first.output_shape == (None, 576, 2, 1)
    first.set_weights(last.get_weights())
    np.testing.assert_allclose(first.predict(x.transpose(0, 3, 1, 2), verbose=0),
                               last.predict(x, verbose=0).transpose(0, 3, 1, 2), rtol=1e-4, atol=1e-5)


def test_imagenet_loads_keras_file_with_keras_warning(tmp_path, monkeypatch):
    from gpunet.utils import data_utils
    tfk.backend.clear_session()
    theirs = with_trained_statistics(tfk.applications.MobileNetV3Small(weights=None, include_top=False), RNG)
    theirs.save_weights(tmp_path / "keras.h5")  # (the form of Keras's published files)
    fetched = []
    monkeypatch.setattr(data_utils, "get_file", lambda fname, origin, **kw: fetched.append((fname, origin, kw))
                        or str(tmp_path / "keras.h5"))
    with pytest.warns(UserWarning, match=r"Weights for input shape \(224, 224\) will be loaded as the default"):
        ours = MobileNetV3Small(include_top=False)  # (any input size: the warning)
    file_name = "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5"
    assert fetched == [(file_name, keras_mobilenet_v3.BASE_WEIGHT_PATH + file_name,
                        dict(cache_subdir="models", file_hash="d3e8ec802a04aa4fc771ee12a9a9b836"))]
    assert ours.name == theirs.name == "MobilenetV3small"
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    for got, want in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)


class _Fetched(Exception):
    pass


@pytest.mark.parametrize("build, file_name, origin, file_hash", [
    (lambda: MobileNetV3Large(minimalistic=True, input_shape=(224, 224, 3)),
     "weights_mobilenet_v3_large_minimalistic_224_1.0_float.h5", keras_mobilenet_v3.BASE_WEIGHT_PATH,
     keras_mobilenet_v3.WEIGHTS_HASHES["large_minimalistic_224_1.0_float"][0]),
    (lambda: MobileNetV3Small(alpha=0.75, input_shape=(224, 224, 3)), "weights_mobilenet_v3_small_224_0.75_float.h5",
     keras_mobilenet_v3.BASE_WEIGHT_PATH, keras_mobilenet_v3.WEIGHTS_HASHES["small_224_0.75_float"][0]),
    (lambda: InceptionResNetV2(), "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels.h5",
     keras_irv2.BASE_WEIGHT_URL, "e693bd0210a403b3192acc6073ad2e96"),
    (lambda: InceptionResNetV2(include_top=False, input_shape=(75, 90, 3)),
     "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels_notop.h5", keras_irv2.BASE_WEIGHT_URL,
     "d19885ff4a710c122648d3b5c3b684e4"),
])
def test_imagenet_weights_are_keras_files(build, file_name, origin, file_hash, monkeypatch):
    from gpunet.utils import data_utils
    asked = []

    def get_file(fname, origin, **kwargs):
        asked.append((fname, origin, kwargs))
        raise _Fetched  # (the model is built; nothing is downloaded)
    monkeypatch.setattr(data_utils, "get_file", get_file)
    with pytest.raises(_Fetched):
        build()
    assert asked == [(file_name, origin + file_name, dict(cache_subdir="models", file_hash=file_hash))]


def test_input_tensor_and_the_default_shapes():
    inp = gpunet.Input((64, 48, 3))
    model = MobileNetV3Large(include_top=False, weights=None, input_tensor=inp, pooling="avg")
    assert model.inputs[0] is inp and model.output_shape == (None, 960) and model.layers[-1].name == "avg_pool"
    assert MobileNetV3Small(weights=None).input_shape == (None, None, None, 3)  # (any size, the top included)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_preprocess_input_equals_keras(data_format):
    images = RNG.uniform(0, 255, (2, 3, 5, 4) if data_format == "channels_first" else (2, 5, 4, 3)).astype("float32")
    want = tfk.applications.inception_resnet_v2.preprocess_input(images.copy(), data_format=data_format)
    np.testing.assert_allclose(irv2.preprocess_input(images.copy(), data_format=data_format), want, rtol=1e-6)
    assert want.min() >= -1 and want.max() <= 1 and not np.allclose(want, images)
    # MobileNetV3 scales its inputs itself: its preprocess_input hands them back, as Keras's does
    assert mobilenet_v3.preprocess_input(images, data_format=data_format) is images
    assert tfk.applications.mobilenet_v3.preprocess_input(images, data_format=data_format) is images
    assert mobilenet_v3.decode_predictions is irv2.decode_predictions is imagenet_utils.decode_predictions


def _refusal(call):
    with pytest.raises(ValueError) as caught:
        call()
    return str(caught.value)


@pytest.mark.parametrize("constructor, kwargs", [
    (MobileNetV3Small, dict(alpha=0.5)),
    (MobileNetV3Large, dict(minimalistic=True, alpha=0.75)),
    (MobileNetV3Small, dict(weights="nowhere.h5")),
    (MobileNetV3Large, dict(classes=10)),
    (MobileNetV3Small, dict(weights=None, input_shape=(31, 64, 3))),
    (MobileNetV3Large, dict(weights=None, input_shape=(64, 64, 3), input_tensor="input")),
])
def test_mobilenet_v3_refusals_are_keras_word_for_word(constructor, kwargs):
    if kwargs.get("input_tensor") == "input":  # (a tensor narrower than input_shape)
        ours = _refusal(lambda: constructor(**dict(kwargs, input_tensor=gpunet.Input((64, 48, 3)))))
        assert ours == _refusal(lambda: THEIRS[constructor](**dict(kwargs, input_tensor=tfk.Input((64, 48, 3)))))
    else:
        assert _refusal(lambda: constructor(**kwargs)) == _refusal(lambda: THEIRS[constructor](**kwargs))


@pytest.mark.parametrize("call, error, message", [
    (lambda: InceptionResNetV2(classes=10), ValueError, "`classes` should be 1000"),
    (lambda: InceptionResNetV2(weights="nowhere.h5"), ValueError, "The `weights` argument should be either `None`"),
    (lambda: InceptionResNetV2(weights=None, input_shape=(74, 80, 3)), ValueError,
     "Input size must be at least 75x75"),
    (lambda: InceptionResNetV2(input_shape=(150, 150, 3)), ValueError, "`input_shape` should be \\(299, 299, 3\\)"),
    (lambda: InceptionResNetV2(classifier_activation="relu"), ValueError, "Only `None` and `softmax` activations"),
    (lambda: InceptionResNetV2(weights=None, depth=18), ValueError, "Unknown argument\\(s\\): \\{'depth': 18\\}"),
    (lambda: irv2.inception_resnet_block(gpunet.Input((8, 8, 4)), 0.1, "block9", 1), ValueError,
     'Expects "block35", "block17" or "block8", but got: block9'),
    (lambda: MobileNetV3Small(classifier_activation="relu", input_shape=(224, 224, 3)), ValueError,
     "Only `None` and `softmax` activations"),
    (lambda: MobileNetV3Small(weights=None, depth=18), TypeError, "depth"),
])
def test_bad_arguments_are_refused_as_keras_refuses_them(call, error, message):
    with pytest.raises(error, match=message):
        call()
