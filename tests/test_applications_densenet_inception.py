"""``gpunet.applications``' DenseNet121/169/201, InceptionV3 and Xception against tf.keras 2.21's: the same layers
under the same names in the same order, the same weight shapes, the same predictions from the same weights at the
smallest input each takes, the pooled head without the top, each module's `preprocess_input`, and Keras's
refusals."""
import numpy as np
import pytest

from gpunet.applications import densenet, imagenet_utils, inception_v3, xception
from application_cases import assert_same_model, both, structure
from keras_support import tf_keras_or_skip

tfk = tf_keras_or_skip()
RNG = np.random.default_rng(11)


def assert_same_predictions(model, keras_model, x):
    """`assert_same_model`, with tf.keras's predictions computed eagerly: its ``predict`` first traces a graph of
    the whole model, which took longer than the rest of a test."""
    assert_same_model(model, keras_model, x, predict=False)
    np.testing.assert_allclose(model.predict(x, verbose=0), keras_model(x, training=False).numpy(), rtol=1e-4,
                               atol=1e-5)


@pytest.mark.parametrize("ours, theirs, side", [
    (densenet.DenseNet121, tfk.applications.densenet.DenseNet121, 32),
    (inception_v3.InceptionV3, tfk.applications.inception_v3.InceptionV3, 75),
    (xception.Xception, tfk.applications.xception.Xception, 71),
], ids=["DenseNet121", "InceptionV3", "Xception"])
def test_classifier_at_the_smallest_input_is_keras_layer_for_layer(ours, theirs, side):
    model, keras_model = both(ours, theirs, weights=None, input_shape=(side, side, 3), classes=5)
    assert model.output_shape == (None, 5) and len(model.layers) == len(keras_model.layers)
    assert_same_predictions(model, keras_model, RNG.uniform(-1, 1, (2, side, side, 3)).astype("float32"))


def test_without_the_top_pooling_is_keras_and_predicts_as_keras():
    model, keras_model = both(xception.Xception, tfk.applications.xception.Xception, include_top=False,
                              weights=None, input_shape=(80, 71, 3), pooling="max")
    assert model.output_shape == (None, 2048) and model.layers[-1].name == "global_max_pooling2d"
    assert_same_predictions(model, keras_model, RNG.uniform(-1, 1, (2, 80, 71, 3)).astype("float32"))


# tf.keras 2.21's `structure` of the deeper DenseNets (DenseNet121's is compared live above, layer for layer):
# building them takes tf.keras 4 to 6 s each here, gpunet 0.3 s
KERAS_STRUCTURES = {"DenseNet169": (596, 844, 12642880, "5e78bade96e0c582"),
                    "DenseNet201": (709, 1006, 18327747, "c446740a95af2099")}


@pytest.mark.parametrize("name, top", [("DenseNet169", dict(include_top=False, pooling="avg")),
                                       ("DenseNet201", dict(input_shape=(32, 32, 3), classes=3))])
def test_deeper_densenets_are_keras_structure(name, top):
    from gpunet.layers.naming import reset_names
    reset_names()
    model = getattr(densenet, name)(weights=None, **top)
    assert structure(model) == KERAS_STRUCTURES[name]
    # (DenseNet names its pooling layer itself, unlike the others; without the top any input size is taken)
    assert model.name == name.lower() and model.layers[-1].name == ("avg_pool" if "pooling" in top else "predictions")
    channels = {"DenseNet169": 1664, "DenseNet201": 1920}[name]
    assert model.get_layer("conv5_block32_concat").output_shape[-1] == channels


@pytest.mark.parametrize("module, keras_module", [
    (densenet, tfk.applications.densenet), (inception_v3, tfk.applications.inception_v3),
    (xception, tfk.applications.xception)], ids=["densenet", "inception_v3", "xception"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_preprocess_input_is_keras_mode(module, keras_module, data_format):
    images = RNG.uniform(0, 255, (2, 3, 4, 5) if data_format == "channels_first" else (2, 4, 5, 3)).astype("float32")
    want = keras_module.preprocess_input(images.copy(), data_format=data_format)
    np.testing.assert_allclose(module.preprocess_input(images.copy(), data_format=data_format), want, rtol=1e-6)
    assert module.decode_predictions is imagenet_utils.decode_predictions


@pytest.mark.parametrize("call, keras_call", [
    (lambda: inception_v3.InceptionV3(weights=None, input_shape=(74, 74, 3)),
     lambda: tfk.applications.InceptionV3(weights=None, input_shape=(74, 74, 3))),
    (lambda: xception.Xception(weights=None, include_top=False, input_shape=(70, 90, 3)),
     lambda: tfk.applications.Xception(weights=None, include_top=False, input_shape=(70, 90, 3))),
    (lambda: densenet.DenseNet121(weights=None, input_shape=(64, 31, 3)),
     lambda: tfk.applications.DenseNet121(weights=None, input_shape=(64, 31, 3))),
    (lambda: xception.Xception(input_shape=(150, 150, 3)),
     lambda: tfk.applications.Xception(input_shape=(150, 150, 3))),
    (lambda: inception_v3.InceptionV3(weights=None, input_shape=(None, None, 3)),
     lambda: tfk.applications.InceptionV3(weights=None, input_shape=(None, None, 3))),
], ids=["inception_small", "xception_small", "densenet_small", "imagenet_shape", "static_shape"])
def test_a_bad_input_shape_is_refused_in_keras_words(call, keras_call):
    with pytest.raises(ValueError) as keras_error:
        keras_call()
    with pytest.raises(ValueError) as error:
        call()
    assert str(error.value) == str(keras_error.value)


@pytest.mark.parametrize("call, message", [
    (lambda: densenet.DenseNet201(weights="nowhere.h5"), "The `weights` argument should be either `None`"),
    (lambda: inception_v3.InceptionV3(classes=10), "with `include_top` as true, `classes` should be 1000"),
    (lambda: xception.Xception(classifier_activation="relu"), "Only `None` and `softmax` activations are allowed"),
])
def test_bad_weights_and_classes_are_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()
