"""tf.keras 2's image preprocessing layers: the projective transform's pixels equal TensorFlow's
(ImageProjectiveTransformV3) for every fill mode and interpolation; Resizing and CenterCrop equal tf.keras's
on every backend; the random layers are the identity in inference and, with their ranges pinned to one value,
give tf.keras's training outputs; configs as tf.keras's; an augmented CNN trains and saves both ways."""
import json

import numpy as np
import pytest

import gpunet
from gpunet import backend as B
from gpunet import layers
from gpunet.backend import image_sampling as S
from gpunet.layers.image_augmentation import transform

from keras_support import assert_files_travel

R = np.random.default_rng(91)
IMAGES = (R.random((3, 7, 9, 2)) * 200).astype("float32")
TRANSFORMS = {"rotation": S.rotation_transforms(np.array([0.3, -1.2, 2.5]), 7, 9),
              "zoom": S.zoom_transforms(np.array([1.3, 0.7, 1.0]), np.array([0.8, 1.5, 1.2]), 7, 9),
              "projective": S.translation_transforms(np.array([2.5, -3.2, 0.4]), np.array([-1.7, 4.1, 0.0]))
              + np.array([0, 0, 0, 0, 0, 0, 0.01, -0.02])}


@pytest.mark.parametrize("fill_mode", ["reflect", "wrap", "constant", "nearest"])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_projective_transforms_read_tensorflows_pixels(fill_mode, interpolation):
    import tensorflow as tf
    from gpunet import ops
    for name, transforms in TRANSFORMS.items():
        want = tf.raw_ops.ImageProjectiveTransformV3(
            images=IMAGES, transforms=transforms.astype("float32"), output_shape=[7, 9],
            interpolation=interpolation.upper(), fill_mode=fill_mode.upper(), fill_value=1.5).numpy()
        got = B.get_backend().to_host(transform(ops.convert_to_tensor(IMAGES), transforms, interpolation, fill_mode,
                                                1.5, ops).data)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-3, err_msg=name)


DETERMINISTIC = [("Resizing", dict(height=4, width=12)), ("Resizing", dict(height=10, width=5, interpolation="nearest")),
                 ("Resizing", dict(height=5, width=5, crop_to_aspect_ratio=True)),
                 ("CenterCrop", dict(height=5, width=4)), ("CenterCrop", dict(height=8, width=6))]


@pytest.mark.parametrize("cls, kwargs", DETERMINISTIC, ids=[f"{c}-{k}" for c, k in DETERMINISTIC])
def test_resizing_and_center_crop_equal_tf_keras(tfk, ops, cls, kwargs):
    want = getattr(tfk.layers, cls)(**kwargs)(IMAGES).numpy()
    with B.use_backend(ops):
        layer = getattr(layers, cls)(**kwargs)
        got = ops.to_host(layer(ops.asarray(IMAGES)))
        single = ops.to_host(layer(ops.asarray(IMAGES[0])))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(single, want[0], rtol=1e-5, atol=1e-3)
    assert layer.compute_output_shape((None, 7, 9, 2)) == want.shape[:0] + (None,) + want.shape[1:]


PINNED = [("RandomRotation", dict(factor=(0.1, 0.1), fill_mode="constant", fill_value=3.0)),
          ("RandomRotation", dict(factor=(-0.3, -0.3), interpolation="nearest")),
          ("RandomZoom", dict(height_factor=(0.3, 0.3), width_factor=(-0.2, -0.2), fill_mode="wrap")),
          ("RandomZoom", dict(height_factor=(-0.4, -0.4))),
          ("RandomTranslation", dict(height_factor=(0.2, 0.2), width_factor=(-0.3, -0.3), fill_mode="nearest")),
          ("RandomBrightness", dict(factor=(0.1, 0.1)))]


@pytest.mark.parametrize("cls, kwargs", PINNED, ids=[f"{c}-{k}" for c, k in PINNED])
def test_random_layers_with_a_pinned_range_give_tf_keras_training_outputs(tfk, cls, kwargs):
    ref = getattr(tfk.layers, cls)(**kwargs)
    layer = getattr(layers, cls)(**kwargs)
    host = B.get_backend().to_host
    np.testing.assert_allclose(host(layer(IMAGES, training=True)), ref(IMAGES, training=True).numpy(), rtol=1e-5,
                               atol=1e-3)
    np.testing.assert_array_equal(host(layer(IMAGES, training=False)), IMAGES)  # inference: the identity
    np.testing.assert_allclose(host(layer(IMAGES)), ref(IMAGES).numpy(), rtol=1e-5, atol=1e-3)  # (a direct call)
    config, ref_config = json.loads(json.dumps(layer.get_config())), json.loads(json.dumps(ref.get_config()))
    assert {k: v for k, v in config.items() if k != "name"} == {k: v for k, v in ref_config.items() if k != "name"}


def test_random_flips_and_rotations_vary_per_image_and_repeat_with_the_seed():
    x = np.stack([IMAGES[0]] * 16)
    host = B.get_backend().to_host
    flipped = host(layers.RandomFlip(seed=3)(x, training=True))
    kinds = set()
    for image in flipped:
        matches = [k for k, f in enumerate((image, image[::-1], image[:, ::-1], image[::-1, ::-1]))
                   if np.array_equal(f, IMAGES[0])]
        assert matches, "each output is one of the four flips of its input"
        kinds.add(matches[0])
    assert len(kinds) > 1
    again = host(layers.RandomFlip(seed=3)(x, training=True))
    np.testing.assert_array_equal(again, flipped)
    rotated = host(layers.RandomRotation(0.2, seed=1)(x, training=True))
    assert len({r.tobytes() for r in rotated}) == 16


def test_random_contrast_scales_each_image_about_its_channel_means_within_the_range(tfk):
    x = 100 + R.random((6, 5, 4, 3)).astype("float32") * 50  # (no clipping at 0 or 255 for factors in [0.5, 1.5])
    out = B.get_backend().to_host(layers.RandomContrast((0.5, 0.5), seed=2)(x, training=True))
    mean = x.mean(axis=(1, 2), keepdims=True)
    scale = (out - mean) / (x - mean)
    np.testing.assert_allclose(scale, scale[:, :1, :1, :1] * np.ones_like(scale), rtol=1e-3)
    assert ((scale > 0.5 - 1e-4) & (scale < 1.5 + 1e-4)).all() and len(np.unique(scale[:, 0, 0, 0].round(4))) == 6
    config = layers.RandomContrast(0.2).get_config()
    assert {k: v for k, v in config.items() if k != "name"} == {
        k: v for k, v in tfk.layers.RandomContrast(0.2).get_config().items() if k != "name"}


def test_random_crop_takes_one_window_in_training_and_resizes_as_tf_keras_otherwise(tfk):
    host = B.get_backend().to_host
    layer, ref = layers.RandomCrop(4, 6, seed=5), tfk.layers.RandomCrop(4, 6)
    np.testing.assert_allclose(host(layer(IMAGES, training=False)), ref(IMAGES, training=False).numpy(), rtol=1e-5,
                               atol=1e-3)  # inference
    small = IMAGES[:, :3]
    np.testing.assert_allclose(host(layer(small, training=True)), ref(small, training=True).numpy(), rtol=1e-5,
                               atol=1e-3)
    crop = host(layer(IMAGES, training=True))
    windows = [(t, l) for t in range(4) for l in range(4) if np.array_equal(IMAGES[:, t:t + 4, l:l + 6], crop)]
    assert len(windows) == 1, "one window of the input, the same for the whole batch"
    config = {k: v for k, v in layer.get_config().items() if k != "name"}
    assert config == {k: v for k, v in tfk.layers.RandomCrop(4, 6, seed=5).get_config().items() if k != "name"}


def _augmented(lib):
    L = lib.layers
    return lib.Sequential([L.RandomFlip("horizontal", input_shape=(7, 9, 2)), L.RandomRotation(0.05),
                           L.RandomZoom(0.1), L.Rescaling(1 / 255.0), L.Conv2D(4, 3, activation="relu"),
                           L.GlobalAveragePooling2D(), L.Dense(1, activation="sigmoid")])


def test_an_augmented_cnn_trains_and_its_files_travel(tfk, tmp_path):
    gpunet.utils.set_random_seed(2)
    x = (R.random((48, 7, 9, 2)) * 255).astype("float32")
    y = (x[..., 0].mean((1, 2)) > x[..., 1].mean((1, 2))).astype("float32")
    model = _augmented(gpunet)
    model.compile(gpunet.optimizers.Adam(0.02), "binary_crossentropy")
    history = model.fit(x, y, epochs=8, batch_size=16, verbose=0).history["loss"]
    assert history[-1] < history[0], history
    assert_files_travel(model, x[:4], tmp_path, tfk)


@pytest.mark.parametrize("make, error, message", [
    (lambda: layers.RandomRotation(0.1, fill_mode="mirror"), NotImplementedError, "Unknown `fill_mode` mirror"),
    (lambda: layers.RandomZoom(0.1, interpolation="bicubic"), NotImplementedError, "Unknown `interpolation`"),
    (lambda: layers.RandomZoom(1.5), ValueError, r"`height_factor` must have values between \[-1.0, 1.0\]"),
    (lambda: layers.RandomRotation((0.2, 0.1)), ValueError, "`factor` cannot have negative values"),
    (lambda: layers.RandomFlip("diagonal"), ValueError, "received an unknown mode argument diagonal"),
    (lambda: layers.RandomContrast(-0.1), ValueError, "Factor cannot have negative values"),
    (lambda: layers.Resizing(4, 4, interpolation="area"), NotImplementedError, r"interpolation='area'"),
    (lambda: layers.Resizing(0, 4), ValueError, "`height` must be an int >= 1"),
    (lambda: layers.RandomFlip(data_format="channels_first"), NotImplementedError,
     r"RandomFlip\(data_format='channels_first'\) is not implemented"),
    (lambda: layers.Resizing(4, 4, antialias=True), NotImplementedError, r"Resizing\(antialias=True\)"),
])
def test_refusals_name_what_was_expected(make, error, message):
    with pytest.raises(error, match=message):
        make()
