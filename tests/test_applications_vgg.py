"""``gpunet.applications``' VGG16 and VGG19 and ``imagenet_utils`` against tf.keras 2.21's: the same layers under the
same names, the same predictions from the same weights, a weights file tf.keras writes loading here as Keras's
pretrained files do, `preprocess_input` in its three modes (arrays changed in place, tensors), `decode_predictions`
from a local class index, and the refusals."""
import json

import numpy as np
import pytest

import gpunet
from gpunet.applications import imagenet_utils
from application_cases import assert_same_model, both
from keras_support import tf_keras_or_skip

tfk = tf_keras_or_skip()
RNG = np.random.default_rng(5)


@pytest.mark.parametrize("name", ["VGG16", "VGG19"])
def test_vgg_is_keras_layer_for_layer(name):
    top = dict(weights=None, input_shape=(32, 32, 3), classes=7, classifier_activation=None)
    x = RNG.uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    assert_same_model(*both(getattr(gpunet.applications, name), getattr(tfk.applications, name), **top), x)
    pooled = dict(include_top=False, weights=None, input_shape=(40, 36, 3), pooling="max")
    x = RNG.uniform(-1, 1, (2, 40, 36, 3)).astype("float32")
    assert_same_model(*both(getattr(gpunet.applications, name), getattr(tfk.applications, name), **pooled),
                      x)


def test_a_weights_file_keras_writes_loads_as_pretrained_weights_do(tmp_path):
    theirs = tfk.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    theirs.save_weights(tmp_path / "vgg16_notop.h5")  # (the form of Keras's published files)
    ours = gpunet.applications.VGG16(include_top=False, weights=str(tmp_path / "vgg16_notop.h5"),
                                     input_shape=(32, 32, 3))
    for got, want in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_array_equal(got, want)


def test_input_tensor_and_the_default_shapes():
    inp = gpunet.Input((48, 48, 3))
    model = gpunet.applications.VGG19(include_top=False, weights=None, input_tensor=inp)
    assert model.inputs[0] is inp and model.output_shape == (None, 1, 1, 512)
    assert gpunet.applications.vgg16.VGG16(include_top=False, weights=None).input_shape == (None, None, None, 3)
    assert imagenet_utils.obtain_input_shape(None, 224, 32, "channels_last", True) == (224, 224, 3)


@pytest.mark.parametrize("mode", ["caffe", "tf", "torch"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_preprocess_input_equals_keras(mode, data_format):
    images = RNG.uniform(0, 255, (2, 3, 5, 3) if data_format == "channels_first" else (2, 5, 4, 3))
    want = tfk.applications.imagenet_utils.preprocess_input(images.astype("float32"), data_format, mode)
    ours = images.astype("float32")
    got = imagenet_utils.preprocess_input(ours, data_format, mode)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert np.shares_memory(got, ours)  # (an array is changed in place, as Keras changes it)
    tensor = imagenet_utils.preprocess_input(gpunet.ops.convert_to_tensor(images.astype("float32")), data_format, mode)
    np.testing.assert_allclose(np.asarray(tensor), want, rtol=1e-5, atol=1e-5)
    one = imagenet_utils.preprocess_input(images[0].astype("float32"), data_format, mode)  # (one image, 3-D)
    np.testing.assert_allclose(one, want[0], rtol=1e-6)


def test_preprocess_input_takes_integer_images_and_symbolic_inputs():
    pixels = RNG.integers(0, 256, (1, 4, 4, 3), dtype=np.uint8)
    got = gpunet.applications.vgg16.preprocess_input(pixels)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, tfk.applications.vgg16.preprocess_input(pixels.copy()), rtol=1e-6)
    inp = gpunet.Input((4, 4, 3))
    model = gpunet.Model(inp, imagenet_utils.preprocess_input(inp, mode="torch"))
    np.testing.assert_allclose(model.predict(pixels.astype("float32"), verbose=0),
                               tfk.applications.imagenet_utils.preprocess_input(pixels.astype("float32"), mode="torch"),
                               rtol=1e-5, atol=1e-6)


def test_decode_predictions_reads_the_class_index(tmp_path, monkeypatch):
    index = {str(i): [f"n{i:08d}", f"class_{i}"] for i in range(1000)}
    monkeypatch.setattr(imagenet_utils, "_CLASS_INDEX", None)
    from gpunet.utils import data_utils
    path = tmp_path / "imagenet_class_index.json"
    path.write_text(json.dumps(index))
    monkeypatch.setattr(data_utils, "get_file", lambda fname, origin, **kw: str(path))
    preds = np.zeros((2, 1000), "float32")
    preds[0, [3, 999, 10]] = [0.5, 0.3, 0.2]
    preds[1, 42] = 1.0
    decoded = gpunet.applications.vgg16.decode_predictions(preds, top=2)
    assert decoded[0] == [("n00000003", "class_3", np.float32(0.5)), ("n00000999", "class_999", np.float32(0.3))]
    assert decoded[1][0][:2] == ("n00000042", "class_42") and len(decoded[1]) == 2


@pytest.mark.parametrize("call, message", [
    (lambda: gpunet.applications.VGG16(weights="nowhere.h5"), "The `weights` argument should be either `None`"),
    (lambda: gpunet.applications.VGG16(classes=10), "`classes` should be 1000"),
    (lambda: gpunet.applications.VGG16(weights=None, input_shape=(16, 16, 3)), "Input size must be at least 32x32"),
    (lambda: gpunet.applications.VGG16(weights=None, input_shape=(None, None, 3)),
     "If `include_top` is True, you should specify a static `input_shape`"),
    (lambda: gpunet.applications.VGG16(input_shape=(64, 64, 3)), "`input_shape` should be \\(224, 224, 3\\)"),
    (lambda: gpunet.applications.VGG16(classifier_activation="relu"), "Only `None` and `softmax` activations"),
    (lambda: gpunet.applications.VGG16(weights=None, input_tensor=np.zeros((1, 32, 32, 3))),
     "`input_tensor` must be a symbolic tensor"),
    (lambda: imagenet_utils.preprocess_input(np.zeros((1, 2, 2, 3)), mode="keras"), "Expected mode to be one of"),
    (lambda: imagenet_utils.decode_predictions(np.zeros((2, 10))), "Found array with shape: \\(2, 10\\)"),
])
def test_bad_arguments_are_refused_as_keras_refuses_them(call, message):
    with pytest.raises(ValueError, match=message):
        call()
