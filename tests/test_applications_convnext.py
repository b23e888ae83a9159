"""``gpunet.applications.convnext`` (ConvNeXtTiny to ConvNeXtXLarge) against tf.keras 2.21's: the same layers under
the same names in the same order (the stem and downsampling blocks nested Sequential models, the residual additions
``tf.__operators__.add`` op layers), the same weight shapes, the same predictions from the same weights (the layer
normalizations' and layer scales' included), with the classifier and pooled on a non-square input from a weights file
tf.keras writes, Keras's files asked for by name, address and hash, the generic `ConvNeXt` with stochastic depth and
without layer scale (its configs read from tf.keras), `preprocess_input` (a pass-through) and the refusals. Small to
XLarge are compared with tf.keras's recorded structure."""
import numpy as np
import pytest

import gpunet
from gpunet.applications import convnext, imagenet_utils
from gpunet.layers.naming import reset_names
from application_cases import assert_same_model, assert_same_predictions, both, requested_weights_file, structure
from keras_support import tf_keras_or_skip

tfk = tf_keras_or_skip()
from tf_keras.src.applications import convnext as keras_convnext  # noqa: E402 (its hashes and ConvNeXt are not public)
RNG = np.random.default_rng(5)


def with_trained_parameters(model):
    """``model`` (tf.keras's) with its layer normalizations' gamma and beta (in the nested Sequentials too) and its
    layer scales' gamma drawn away from their initial values, so a prediction depends on each of them.
    (`application_cases.with_trained_statistics` does not apply: no batch normalization here, and the prestem
    Normalization's statistics are constants, not weights.)"""
    for layer in model.layers:
        for inner in layer.layers if isinstance(layer, tfk.Sequential) else [layer]:
            if isinstance(inner, (tfk.layers.LayerNormalization, keras_convnext.LayerScale)):
                shapes = [w.shape for w in inner.get_weights()]
                inner.set_weights([RNG.uniform(0.5, 1.5, shapes[0])] + [RNG.uniform(-0.2, 0.2, s) for s in shapes[1:]])
    return model


def pixels(shape):
    return RNG.uniform(0, 255, (2,) + shape).astype("float32")


def test_tiny_with_its_classifier_is_keras_layer_for_layer():
    model, keras_model = both(convnext.ConvNeXtTiny, tfk.applications.ConvNeXtTiny, weights=None,
                              input_shape=(32, 32, 3), classes=5, classifier_activation=None)
    gamma = model.get_layer("convnext_tiny_stage_3_block_2_layer_scale").get_weights()[0]
    np.testing.assert_array_equal(gamma, np.full(768, 1e-6, "float32"))  # (its initial value, Keras's)
    assert_same_model(model, with_trained_parameters(keras_model), None, predict=False)
    want = assert_same_predictions(model, keras_model, pixels((32, 32, 3)))
    assert want.std() > 0.1  # (logits that depend on the input)
    names = [layer.name for layer in model.layers]
    assert names[:4] == ["input_1", "convnext_tiny_prestem_normalization", "convnext_tiny_stem",
                         "convnext_tiny_stage_0_block_0_depthwise_conv"]
    assert names[-4:] == ["tf.__operators__.add_17", "convnext_tiny_head_gap", "convnext_tiny_head_layernorm",
                          "convnext_tiny_head_dense"]
    stem = model.get_layer("convnext_tiny_stem")
    assert isinstance(stem, gpunet.models.Sequential)
    assert [layer.name for layer in stem.layers] == ["convnext_tiny_stem_conv", "convnext_tiny_stem_layernorm"]
    assert model.get_layer("convnext_tiny_stage_0_block_0_depthwise_conv").get_config()["groups"] == 96
    scale = model.get_layer("convnext_tiny_stage_0_block_0_layer_scale")
    assert [w.name.split("/")[-1].split(":")[0] for w in scale.weights] == ["gamma"]
    assert scale.get_config() == keras_model.get_layer(scale.name).get_config()


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory):
    """``(tf.keras's ConvNeXtTiny without its top, max-pooled on 45x37 inputs, the weights file it writes)``, its
    layer normalizations and layer scales off their initial values."""
    tfk.backend.clear_session()
    keras_model = tfk.applications.ConvNeXtTiny(include_top=False, weights=None, input_shape=(45, 37, 3),
                                                pooling="max")
    path = tmp_path_factory.mktemp("keras") / "convnext_tiny_notop.h5"
    with_trained_parameters(keras_model).save_weights(path)  # (the form of Keras's files)
    return keras_model, str(path)


def test_tiny_pooled_on_a_non_square_input_loads_a_keras_weights_file(keras_file):
    # 45x37 -> 11x9 (the 4x4 stem) -> 5x4 -> 2x2 -> 1x1: the strided valid convolutions must round alike
    keras_model, path = keras_file
    reset_names()  # (the head's pooling and layer normalization are auto-named, from fresh names in tf.keras too)
    model = convnext.ConvNeXtTiny(include_top=False, weights=path, input_shape=(45, 37, 3), pooling="max")
    for got, want in zip(model.get_weights(), keras_model.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    assert_same_model(model, keras_model, None, predict=False)
    assert_same_predictions(model, keras_model, pixels((45, 37, 3)))
    assert model.output_shape == (None, 768)
    assert [layer.name for layer in model.layers][-2:] == ["global_max_pooling2d", "layer_normalization"]


# tf.keras 2.21's, weights=None, input_shape=(32, 32, 3), classes=10: `structure` of its models, recorded (building
# them in tf.keras takes 3 to 6 s each)
KERAS_STRUCTURES = {
    "ConvNeXtSmall": (297, 344, 49462378, "fe3bb7843c79ee01"),
    "ConvNeXtBase": (297, 344, 87576714, "a6cce9a9aa607459"),
    "ConvNeXtLarge": (297, 344, 196245706, "8ba308d66ccc717a"),
    "ConvNeXtXLarge": (297, 344, 348168458, "4f37fa220cbab74d"),
}


@pytest.mark.parametrize("name", sorted(KERAS_STRUCTURES))
def test_the_larger_variants_are_keras_layer_for_layer(name):
    from gpunet.layers.base import skip_initializers
    reset_names()
    with skip_initializers():  # (zeros: only the structure is compared, and drawing XLarge's 348M values takes 5 s)
        model = getattr(convnext, name)(weights=None, input_shape=(32, 32, 3), classes=10)
    assert structure(model) == KERAS_STRUCTURES[name]
    assert model.output_shape == (None, 10) and model.name == "convnext_" + name[len("ConvNeXt"):].lower()


def test_convnext_with_stochastic_depth_and_no_layer_scale_is_keras_layer_for_layer():
    kwargs = dict(depths=[1, 1, 3, 1], projection_dims=[8, 16, 24, 32], drop_path_rate=0.3,
                  layer_scale_init_value=None, model_name="small_one", include_preprocessing=False,
                  input_shape=(32, 32, 3), classes=3)
    model, keras_model = both(convnext.ConvNeXt, keras_convnext.ConvNeXt, **kwargs)
    assert_same_model(model, with_trained_parameters(keras_model), None, predict=False)
    assert_same_predictions(model, keras_model, pixels((32, 32, 3)) / 255)
    names = [layer.name for layer in model.layers]
    assert names[:2] == ["input_1", "small_one_stem"] and not [n for n in names if n.endswith("_layer_scale")]
    drops = [(layer.name, layer.drop_path_rate) for layer in model.layers if
             isinstance(layer, convnext.StochasticDepth)]
    assert drops == [(layer.name, layer.drop_path_rate) for layer in keras_model.layers if
                     isinstance(layer, keras_convnext.StochasticDepth)]
    assert len(drops) == 5 and drops[0] == ("small_one_stage_1_block_0_stochastic_depth", pytest.approx(0.06))
    assert "small_one_stage_0_block_0_identity" in names  # (the first block's rate is 0: no stochastic depth)
    per_sample = model.get_layer(drops[-1][0])(np.ones((64, 2, 2, 3), "float32"), training=True).numpy()
    per_sample = per_sample.reshape(64, -1)
    assert np.all(per_sample == per_sample[:, :1])  # (each sample's branch kept or dropped whole)
    np.testing.assert_allclose(np.unique(per_sample), [0.0, 1 / 0.7], rtol=1e-6)
    # tf.keras's config (its LayerScale and StochasticDepth unregistered, named by their module) loads here
    kwargs.update(layer_scale_init_value=0.5, model_name="other", include_top=False, pooling="avg")
    tfk.backend.clear_session()
    keras_model = with_trained_parameters(keras_convnext.ConvNeXt(**kwargs))
    loaded = gpunet.models.model_from_json(keras_model.to_json())
    assert isinstance(loaded.get_layer("other_stage_0_block_0_layer_scale"), convnext.LayerScale)
    loaded.set_weights(keras_model.get_weights())
    assert_same_predictions(loaded, keras_model, pixels((32, 32, 3)))


def test_the_layer_scale_and_stochastic_depth_train():
    model = convnext.ConvNeXt([1, 1, 1, 2], [4, 8, 8, 8], drop_path_rate=0.5, layer_scale_init_value=0.1,
                              include_preprocessing=False, input_shape=(32, 32, 3), classes=2)
    model.compile(optimizer="sgd", loss="mse")
    gamma = model.get_layer("convnext_stage_3_block_1_layer_scale")
    before = gamma.get_weights()[0].copy()
    np.testing.assert_array_equal(before, np.full(8, 0.1, "float32"))
    model.fit(pixels((32, 32, 3)) / 255, np.eye(2, dtype="float32"), epochs=2, verbose=0)
    assert np.all(np.isfinite(gamma.get_weights()[0])) and not np.array_equal(gamma.get_weights()[0], before)


@pytest.mark.parametrize("constructor, include_top, file_name", [
    (convnext.ConvNeXtTiny, True, "convnext_tiny.h5"),
    (convnext.ConvNeXtSmall, False, "convnext_small_notop.h5"),
])
def test_imagenet_weights_are_keras_files(constructor, include_top, file_name, monkeypatch):
    asked = requested_weights_file(monkeypatch, constructor, include_top=include_top)
    hashes = keras_convnext.WEIGHTS_HASHES[file_name.split(".")[0].replace("_notop", "")]
    assert asked == dict(fname=file_name, origin=keras_convnext.BASE_WEIGHTS_PATH + file_name,
                         cache_subdir="models", file_hash=hashes[0 if include_top else 1])


def test_input_tensor_and_the_default_shapes():
    from gpunet.layers.base import skip_initializers
    inp = gpunet.Input((64, 48, 3))
    model = convnext.ConvNeXtTiny(include_top=False, weights=None, input_tensor=inp, pooling="avg")
    assert model.inputs[0] is inp and model.output_shape == (None, 768) and model.name == "convnext_tiny"
    with skip_initializers():  # (shapes only)
        model = convnext.ConvNeXtTiny(include_top=False, weights=None)
        # (Keras's preprocessing is for 3 channels: a gray input goes in as it is)
        gray = convnext.ConvNeXtTiny(include_top=False, weights=None, input_shape=(32, 32, 1))
    assert model.input_shape == (None, None, None, 3) and model.output_shape == (None, None, None, 768)
    assert gray.layers[1].name == "convnext_tiny_stem"


@pytest.mark.parametrize("data_format", [None, "channels_first", "channels_last"])
def test_preprocess_input_passes_its_input_through_as_keras(data_format):
    images = pixels((5, 4, 3))
    got = convnext.preprocess_input(images, data_format=data_format)
    assert got is images
    np.testing.assert_array_equal(got, tfk.applications.convnext.preprocess_input(images.copy(), data_format))
    assert convnext.decode_predictions is imagenet_utils.decode_predictions


@pytest.mark.parametrize("call, error, message", [
    (lambda: convnext.ConvNeXtTiny(classes=10), ValueError, "`classes` should be 1000"),
    (lambda: convnext.ConvNeXtBase(weights="nowhere.h5"), ValueError, "The `weights` argument should be either"),
    (lambda: convnext.ConvNeXtTiny(weights=None, input_shape=(16, 16, 3)), ValueError,
     "Input size must be at least 32x32"),
    (lambda: convnext.ConvNeXtSmall(input_shape=(240, 240, 3)), ValueError, "`input_shape` should be"),
    (lambda: convnext.ConvNeXtLarge(classifier_activation="relu"), ValueError, "Only `None` and `softmax`"),
    (lambda: convnext.ConvNeXtTiny(model_name="mine"), ValueError, "model_name='mine'"),
    (lambda: convnext.ConvNeXtTiny(weights=None, drop_path_rate=0.1), TypeError, "drop_path_rate"),
])
def test_bad_arguments_are_refused_as_keras_refuses_them(call, error, message):
    with pytest.raises(error, match=message):
        call()
