"""``gpunet.applications``' MobileNet and MobileNetV2 against tf.keras 2.21's: the same layers under the same names
and in the same order, the same predictions from the same (batch-normalization statistics included) weights, for
other widths and depth multipliers, non-square inputs and pooling; Keras's ImageNet weight files chosen by alpha and
input size (a file tf.keras writes standing in for the download) with Keras's warning; `preprocess_input`,
`correct_pad`, and the refusals in Keras's words."""
import numpy as np
import pytest

import gpunet
from gpunet.applications import imagenet_utils, mobilenet, mobilenet_v2
from gpunet.applications.mobilenet import MobileNet
from gpunet.applications.mobilenet_v2 import MobileNetV2
from application_cases import assert_same_model, both
from keras_support import tf_keras_or_skip

tfk = tf_keras_or_skip()
from tf_keras.src.applications import imagenet_utils as keras_imagenet_utils  # noqa: E402 (correct_pad is not public)
RNG = np.random.default_rng(11)
THEIRS = {MobileNet: tfk.applications.MobileNet, MobileNetV2: tfk.applications.MobileNetV2}


def _with_random_statistics(model):
    """``model`` with random batch-normalization parameters and moving statistics, so that predictions test them."""
    for layer in model.layers:
        if isinstance(layer, tfk.layers.BatchNormalization):
            size = layer.get_weights()[0].shape
            layer.set_weights([RNG.uniform(0.5, 1.5, size), RNG.uniform(-0.2, 0.2, size),
                               RNG.uniform(-0.2, 0.2, size), RNG.uniform(0.5, 1.5, size)])
    return model


def _same(constructor, shape, **kwargs):
    ours, theirs = both(constructor, THEIRS[constructor], weights=None, input_shape=shape, **kwargs)
    x = RNG.uniform(-1, 1, (2,) + shape).astype("float32")
    assert_same_model(ours, _with_random_statistics(theirs), x, predict=False)
    # (tf.keras called eagerly: its `predict` traces a graph for a second and more)
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs(x, training=False).numpy(), rtol=1e-4, atol=1e-5)
    return ours


@pytest.mark.parametrize("constructor", [MobileNet, MobileNetV2])
def test_the_classifier_is_keras_layer_for_layer(constructor):
    ours = _same(constructor, (32, 32, 3), classes=5)
    assert ours.output_shape == (None, 5) and ours.layers[-1].name == "predictions"


@pytest.mark.parametrize("constructor, kwargs, output_shape", [
    (MobileNet, dict(alpha=0.5, depth_multiplier=2, pooling="max"), (None, 512)),
    (MobileNetV2, dict(alpha=1.3, pooling="avg"), (None, 1664)),  # (1280 filters widened: alpha > 1)
])
def test_other_widths_pooled_on_a_non_square_input(constructor, kwargs, output_shape):
    ours = _same(constructor, (41, 36, 3), include_top=False, **kwargs)  # (an odd side: correct_pad's other case)
    assert ours.output_shape == output_shape


@pytest.mark.parametrize("constructor, kwargs, file_name", [
    (MobileNet, dict(alpha=0.75, include_top=False, input_shape=(128, 128, 3)),
     "mobilenet/mobilenet_7_5_128_tf_no_top.h5"),
    (MobileNetV2, dict(alpha=0.35, input_shape=(96, 96, 3)),
     "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96.h5"),
])
def test_imagenet_loads_keras_file_for_the_alpha_and_size(constructor, kwargs, file_name, tmp_path, monkeypatch):
    from gpunet.layers.naming import reset_names
    tfk.backend.clear_session()
    theirs = THEIRS[constructor](weights=None, **kwargs)
    theirs.save_weights(tmp_path / "keras.h5")  # (the form of Keras's published files)
    fetched = []
    from gpunet.utils import data_utils
    monkeypatch.setattr(data_utils, "get_file", lambda fname, origin, **kw: fetched.append((fname, origin, kw))
                        or str(tmp_path / "keras.h5"))
    reset_names()
    ours = constructor(weights="imagenet", **kwargs)
    origin = "https://storage.googleapis.com/tensorflow/keras-applications/" + file_name
    assert fetched == [(file_name.split("/")[1], origin, dict(cache_subdir="models", file_hash=None))]
    assert ours.name == theirs.name and [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    for got, want in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)


class _Fetched(Exception):
    pass


def _fetch(monkeypatch):
    from gpunet.utils import data_utils

    def get_file(fname, origin, **kwargs):
        raise _Fetched(fname)

    monkeypatch.setattr(data_utils, "get_file", get_file)


@pytest.mark.parametrize("build, file_name", [
    (lambda: MobileNet(include_top=False), "mobilenet_1_0_224_tf_no_top.h5"),
    (lambda: MobileNetV2(alpha=0.5, include_top=False, input_shape=(96, 128, 3)),
     "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.5_224_no_top.h5"),
])
def test_other_inputs_load_the_weights_of_224_with_keras_warning(build, file_name, monkeypatch):
    _fetch(monkeypatch)
    with pytest.warns(UserWarning, match=r"Weights for input shape \(224, 224\) will be loaded as the default"):
        with pytest.raises(_Fetched, match=file_name):
            build()


def test_mobilenet_v2_takes_its_default_size_from_the_input_tensor(monkeypatch):
    _fetch(monkeypatch)
    inp = gpunet.Input((96, 96, 3))
    with pytest.raises(_Fetched, match="kernels_1.0_96.h5"):  # (no warning: 96 is a published size)
        MobileNetV2(input_tensor=inp)
    model = MobileNetV2(weights=None, input_tensor=inp, include_top=False, alpha=0.35)
    assert model.inputs[0] is inp and model.output_shape == (None, 3, 3, 1280)
    assert model.name == "mobilenetv2_0.35_None"  # (as Keras names it: the input's size is not in input_shape)


@pytest.mark.parametrize("module", [mobilenet, mobilenet_v2])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_preprocess_input_equals_keras(module, data_format):
    images = RNG.uniform(0, 255, (2, 3, 5, 4) if data_format == "channels_first" else (2, 5, 4, 3))
    want = getattr(tfk.applications, module.__name__.split(".")[-1]).preprocess_input(images.astype("float32"),
                                                                                      data_format)
    ours = images.astype("float32")
    got = module.preprocess_input(ours, data_format)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert np.shares_memory(got, ours)  # (changed in place, as Keras changes it)
    tensor = module.preprocess_input(gpunet.ops.convert_to_tensor(images.astype("float32")), data_format)
    np.testing.assert_allclose(np.asarray(tensor), want, rtol=1e-5, atol=1e-6)
    assert module.decode_predictions is imagenet_utils.decode_predictions


@pytest.mark.parametrize("shape", [(7, 8, 3), (8, 7, 3), (None, None, 3)])
@pytest.mark.parametrize("kernel_size", [3, (3, 5)])
def test_correct_pad_equals_keras(shape, kernel_size):
    want = keras_imagenet_utils.correct_pad(tfk.Input(shape), kernel_size)
    assert mobilenet_v2.correct_pad(gpunet.Input(shape), kernel_size) == want


def _refusal(call):
    with pytest.raises(ValueError) as caught:
        call()
    return str(caught.value)


@pytest.mark.parametrize("constructor, kwargs", [
    (MobileNet, dict(alpha=0.3)),
    (MobileNet, dict(depth_multiplier=2)),
    (MobileNet, dict(layer_names=True)),
    (MobileNetV2, dict(alpha=0.25)),
    (MobileNetV2, dict(layer_names=True)),
    (MobileNetV2, dict(include_top=False, input_shape=(64, 64, 3), input_tensor="input")),
])
def test_refusals_are_keras_word_for_word(constructor, kwargs):
    if kwargs.get("input_tensor") == "input":  # (a tensor narrower than input_shape)
        ours = _refusal(lambda: constructor(**dict(kwargs, input_tensor=gpunet.Input((64, 48, 3)))))
        assert ours == _refusal(lambda: THEIRS[constructor](**dict(kwargs, input_tensor=tfk.Input((64, 48, 3)))))
    else:
        assert _refusal(lambda: constructor(**kwargs)) == _refusal(lambda: THEIRS[constructor](**kwargs))


@pytest.mark.parametrize("constructor", [MobileNet, MobileNetV2])
@pytest.mark.parametrize("kwargs, message", [
    (dict(weights="nowhere.h5"), "The `weights` argument should be either `None`"),
    (dict(classes=10), "`classes` should be 1000"),
    (dict(weights=None, input_shape=(31, 64, 3)), "Input size must be at least 32x32"),
    (dict(input_shape=(160, 128, 3)), "`input_shape` should be \\(224, 224, 3\\)"),
    (dict(classifier_activation="relu"), "Only `None` and `softmax` activations"),
])
def test_argument_checks_refuse_as_keras_does(constructor, kwargs, message):
    # (tf.keras refuses a classifier's activation only once it has built the model: it is not timed here)
    for build in (constructor,) if "classifier_activation" in kwargs else (constructor, THEIRS[constructor]):
        with pytest.raises(ValueError, match=message):
            build(**kwargs)
