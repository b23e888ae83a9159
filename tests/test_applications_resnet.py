"""``gpunet.applications``' ResNets (``resnet``: ResNet50, ResNet101, ResNet152; ``resnet_v2``: their V2s) against
tf.keras 2.21's: the same layers under the same names in the same order, the same weight shapes, the same
predictions from the same weights (batch normalization's statistics included), a weights file tf.keras writes
loading as Keras's pretrained files do, Keras's pretrained files asked for by name, address and hash,
`preprocess_input` ("caffe" for v1, "tf" for v2), and the refusals. The deeper models are compared with tf.keras's
recorded structure (building them in tf.keras is too slow for every run)."""
import numpy as np
import pytest

from gpunet.applications import resnet, resnet_v2
from application_cases import assert_same_model, both, requested_weights_file, structure, with_trained_statistics
from keras_support import tf_keras_or_skip

tfk = tf_keras_or_skip()
RNG = np.random.default_rng(11)


@pytest.mark.parametrize("ours, theirs, activation", [
    (resnet.ResNet50, tfk.applications.ResNet50, "softmax"),
    (resnet_v2.ResNet50V2, tfk.applications.ResNet50V2, None),
])
def test_resnet50_with_its_classifier_is_keras_layer_for_layer(ours, theirs, activation):
    model, keras_model = both(ours, theirs, weights=None, input_shape=(32, 32, 3), classes=5,
                              classifier_activation=activation)
    x = RNG.uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    assert_same_model(model, with_trained_statistics(keras_model, RNG), x)
    assert model.output_shape == (None, 5) and model.layers[-1].name == "predictions"


def test_a_weights_file_keras_writes_loads_into_the_pooled_model(tmp_path):
    # non-square with odd sides on the way down (48x36 -> 12x9 -> 6x5 -> 3x3 -> 2x2): the strided shortcuts and
    # the padded strided convolutions must round alike
    kwargs = dict(include_top=False, weights=None, input_shape=(48, 36, 3), pooling="avg")
    model, keras_model = both(resnet_v2.ResNet50V2, tfk.applications.ResNet50V2, **kwargs)
    x = RNG.uniform(-1, 1, (2, 48, 36, 3)).astype("float32")
    assert_same_model(model, with_trained_statistics(keras_model, RNG), x)
    assert model.output_shape == (None, 2048) and model.layers[-1].name == "avg_pool"
    keras_model.save_weights(tmp_path / "resnet50v2_notop.h5")  # (the form of Keras's published files)
    loaded = resnet_v2.ResNet50V2(**dict(kwargs, weights=str(tmp_path / "resnet50v2_notop.h5")))
    np.testing.assert_allclose(loaded.predict(x, verbose=0), keras_model.predict(x, verbose=0), rtol=1e-4, atol=1e-5)


# tf.keras 2.21's, include_top=False, input_shape=(32, 32, 3): `structure` of its models. Building these four takes
# tf.keras 15 to 20 s here, gpunet 2 s, so they are recorded (ResNet50's are compared live above, layer for layer).
KERAS_STRUCTURES = {
    "ResNet101": (345, 624, 42658176, "8fdaf3d0885208f7"),
    "ResNet152": (515, 930, 58370944, "ec6250fdea5a125c"),
    "ResNet101V2": (377, 542, 42626560, "de76d6c4f03f0daa"),
    "ResNet152V2": (564, 814, 58331648, "b28b3a064dd43deb"),
}


@pytest.mark.parametrize("name", sorted(KERAS_STRUCTURES))
def test_the_deeper_resnets_are_keras_layer_for_layer(name):
    from gpunet.layers.naming import reset_names
    reset_names()  # (v2's unnamed shortcut poolings are max_pooling2d, max_pooling2d_1, ... from fresh names)
    model = getattr(resnet_v2 if name.endswith("V2") else resnet, name)(include_top=False, weights=None,
                                                                       input_shape=(32, 32, 3))
    assert structure(model) == KERAS_STRUCTURES[name]
    assert model.output_shape == (None, 1, 1, 2048)


def test_input_tensor_max_pooling_and_the_default_shapes():
    import gpunet
    inp = gpunet.Input((64, 64, 3))
    model = resnet.ResNet50(include_top=False, weights=None, input_tensor=inp, pooling="max")
    assert model.inputs[0] is inp and model.output_shape == (None, 2048) and model.layers[-1].name == "max_pool"
    assert resnet_v2.ResNet50V2(include_top=False, weights=None).input_shape == (None, None, None, 3)


@pytest.mark.parametrize("ours, include_top, file_name", [
    (resnet.ResNet50, True, "resnet50_weights_tf_dim_ordering_tf_kernels.h5"),
    (resnet_v2.ResNet152V2, False, "resnet152v2_weights_tf_dim_ordering_tf_kernels_notop.h5"),
])
def test_imagenet_weights_are_keras_files(ours, include_top, file_name, monkeypatch):
    from tf_keras.src.applications import resnet as keras_resnet
    asked = requested_weights_file(monkeypatch, ours, include_top=include_top)
    model_name = file_name.split("_")[0]
    assert asked == dict(fname=file_name, origin=keras_resnet.BASE_WEIGHTS_PATH + file_name, cache_subdir="models",
                         file_hash=keras_resnet.WEIGHTS_HASHES[model_name][0 if include_top else 1])


@pytest.mark.parametrize("ours, theirs", [
    (resnet.preprocess_input, tfk.applications.resnet.preprocess_input),
    (resnet_v2.preprocess_input, tfk.applications.resnet_v2.preprocess_input),
])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_preprocess_input_equals_keras(ours, theirs, data_format):
    images = RNG.uniform(0, 255, (2, 3, 5, 4) if data_format == "channels_first" else (2, 5, 4, 3))
    want = theirs(images.astype("float32"), data_format=data_format)
    got = ours(images.astype("float32"), data_format=data_format)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert not np.allclose(got, images)


def test_decode_predictions_is_imagenet_utils():
    from gpunet.applications import imagenet_utils
    assert resnet.decode_predictions is imagenet_utils.decode_predictions
    assert resnet_v2.decode_predictions is imagenet_utils.decode_predictions


@pytest.mark.parametrize("call, error, message", [
    (lambda: resnet.ResNet50(classes=10), ValueError, "`classes` should be 1000"),
    (lambda: resnet_v2.ResNet101V2(classes=10), ValueError, "`classes` should be 1000"),
    (lambda: resnet.ResNet152(weights="nowhere.h5"), ValueError, "The `weights` argument should be either `None`"),
    (lambda: resnet_v2.ResNet50V2(weights=None, input_shape=(16, 16, 3)), ValueError,
     "Input size must be at least 32x32"),
    (lambda: resnet.ResNet50(input_shape=(64, 64, 3)), ValueError, "`input_shape` should be \\(224, 224, 3\\)"),
    (lambda: resnet.ResNet101(classifier_activation="relu"), ValueError, "Only `None` and `softmax` activations"),
    (lambda: resnet.ResNet50(weights=None, depth=18), ValueError, "Unknown argument\\(s\\): \\{'depth': 18\\}"),
    (lambda: resnet_v2.ResNet50V2(weights=None, depth=18), TypeError, "depth"),
])
def test_bad_arguments_are_refused_as_keras_refuses_them(call, error, message):
    with pytest.raises(error, match=message):
        call()
