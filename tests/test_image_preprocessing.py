"""Keras 2's ``keras.preprocessing.image``: ImageDataGenerator's seeded batches equal tf.keras 2.21's bit for bit
(every transform, fill mode, standardization, ZCA, subsets, channels_first, the endless iterator), the image
file helpers read and write as tf.keras's do, a CNN trains from ``flow`` through fit and fit_generator, and
bad arguments are refused by name."""
import numpy as np
import pytest

import gpunet
from gpunet.preprocessing import image

pytest.importorskip("scipy", reason="ImageDataGenerator's transforms need SciPy (pip install scipy)")
pytest.importorskip("PIL", reason="the image file helpers need Pillow (pip install pillow)")

R = np.random.default_rng(81)
X = (R.random((10, 9, 8, 3)) * 255).astype("float32")
Y = np.arange(10) % 2

SETTINGS = {
    "geometry": dict(rotation_range=30, width_shift_range=0.2, height_shift_range=2, shear_range=15,
                     zoom_range=0.3, fill_mode="reflect"),
    "flips and shifts": dict(horizontal_flip=True, vertical_flip=True, width_shift_range=[-2, 1, 3],
                             channel_shift_range=20.0, fill_mode="constant", cval=7.0),
    "wrap and nearest order 0": dict(rotation_range=45, zoom_range=(0.8, 1.5), fill_mode="wrap",
                                     interpolation_order=0),
    "brightness": dict(brightness_range=(0.5, 1.5), rescale=1 / 255.0),
    "featurewise": dict(featurewise_center=True, featurewise_std_normalization=True, rotation_range=10),
    "samplewise and rescale": dict(samplewise_center=True, samplewise_std_normalization=True, rescale=0.5),
    "zca": dict(zca_whitening=True),
    "channels_first": dict(data_format="channels_first", rotation_range=20, height_shift_range=0.1),
}


@pytest.mark.parametrize("name", list(SETTINGS))
def test_seeded_batches_equal_tf_keras(tfk, name):
    kwargs = SETTINGS[name]
    x = np.moveaxis(X, -1, 1) if kwargs.get("data_format") == "channels_first" else X
    mine, ref = image.ImageDataGenerator(**kwargs), tfk.preprocessing.image.ImageDataGenerator(**kwargs)
    if name in ("featurewise", "zca"):
        mine.fit(x, augment=name == "featurewise", seed=3)
        ref.fit(x, augment=name == "featurewise", seed=3)
    got_flow, want_flow = mine.flow(x, Y, batch_size=4, seed=11), ref.flow(x, Y, batch_size=4, seed=11)
    for index in (0, 2, 1):
        (gx, gy), (wx, wy) = got_flow[index], want_flow[index]
        np.testing.assert_allclose(gx, wx, rtol=1e-5, atol=1e-4)
        np.testing.assert_array_equal(gy, wy)
    for _ in range(4):  # the endless iterator: across an epoch's end
        (gx, gy), (wx, wy) = next(got_flow), next(want_flow)
        np.testing.assert_allclose(gx, wx, rtol=1e-5, atol=1e-4)
        np.testing.assert_array_equal(gy, wy)


def test_subsets_sample_weights_and_extra_inputs_as_tf_keras(tfk):
    kwargs = dict(validation_split=0.3, rotation_range=5)
    mine, ref = image.ImageDataGenerator(**kwargs), tfk.preprocessing.image.ImageDataGenerator(**kwargs)
    extra = np.arange(10.0)
    for subset in ("training", "validation"):
        got = mine.flow((X, extra), Y, batch_size=3, seed=2, subset=subset, shuffle=False)
        want = ref.flow((X, extra), Y, batch_size=3, seed=2, subset=subset, shuffle=False)
        assert len(got) == len(want)
        (gx, gy), (wx, wy) = got[0], want[0]
        for a, b in zip(gx, wx):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)
        np.testing.assert_array_equal(gy, wy)
    weighted = mine.flow(X, Y, sample_weight=np.linspace(0, 1, 10), batch_size=5, shuffle=False)[1]
    np.testing.assert_allclose(weighted[2], np.linspace(0, 1, 10)[5:])


def test_file_helpers_read_and_write_as_tf_keras(tfk, tmp_path):
    pixels = (R.random((12, 10, 3)) * 255).astype("float32")
    image.save_img(tmp_path / "a.png", pixels, scale=False)
    for kwargs in (dict(), dict(color_mode="grayscale"), dict(target_size=(6, 7), interpolation="bilinear"),
                   dict(target_size=(5, 5), keep_aspect_ratio=True), dict(color_mode="rgba")):
        got = image.img_to_array(image.load_img(tmp_path / "a.png", **kwargs))
        want = tfk.utils.img_to_array(tfk.utils.load_img(tmp_path / "a.png", **kwargs))
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(image.img_to_array(image.load_img(tmp_path / "a.png")), pixels.astype("uint8"))
    for array in (pixels, pixels[:, :, :1] * 300, pixels[:, :, :1]):
        got, want = image.array_to_img(array), tfk.utils.array_to_img(array)
        assert got.mode == want.mode and np.array_equal(np.asarray(got), np.asarray(want))
    assert gpunet.utils.load_img is image.load_img
    np.testing.assert_array_equal(image.img_to_array(image.array_to_img(pixels), data_format="channels_first"),
                                  tfk.utils.img_to_array(tfk.utils.array_to_img(pixels), data_format="channels_first"))


def _image_folders(root):
    """Two classes of small PNG files of different sizes, one in a subfolder, and a file that is no image."""
    for c, name in enumerate(("cats", "dogs")):
        (root / name / "more").mkdir(parents=True)
        for i in range(5):
            size = (6 + i, 9 - i)
            where = root / name / ("more" if i == 4 else "") / f"{name}{i}.png"
            image.save_img(where, R.random(size + (3,)) * 255 + 20 * c, scale=False)
        (root / name / "notes.txt").write_text("not an image")


@pytest.mark.parametrize("kwargs", [dict(), dict(class_mode="binary", color_mode="grayscale", subset="validation"),
                                    dict(class_mode="sparse", target_size=(5, 6), keep_aspect_ratio=True,
                                         interpolation="bilinear", subset="training"),
                                    dict(class_mode="input", color_mode="rgba"), dict(class_mode=None,
                                                                                      classes=["dogs"])],
                         ids=["categorical", "binary-grayscale-validation", "sparse-training", "input-rgba", "none"])
def test_flow_from_directory_equals_tf_keras(tfk, tmp_path, capsys, kwargs):
    _image_folders(tmp_path)
    settings = dict(rotation_range=20, horizontal_flip=True, rescale=1 / 255.0, validation_split=0.4)
    kwargs = dict(dict(target_size=(8, 7), batch_size=3, seed=4), **kwargs)
    got = image.ImageDataGenerator(**settings).flow_from_directory(str(tmp_path), **kwargs)
    mine_says = capsys.readouterr().out
    want = tfk.preprocessing.image.ImageDataGenerator(**settings).flow_from_directory(str(tmp_path), **kwargs)
    assert mine_says == capsys.readouterr().out and "images belonging to" in mine_says
    assert got.filenames == want.filenames and got.class_indices == want.class_indices and len(got) == len(want)
    np.testing.assert_array_equal(got.classes, want.classes)
    for index in range(len(got)):
        for a, b in zip(got[index] if kwargs.get("class_mode", 0) is not None else [got[index]],
                        want[index] if kwargs.get("class_mode", 0) is not None else [want[index]]):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def _cnn():
    L = gpunet.layers
    return gpunet.Sequential([L.Conv2D(4, 3, activation="relu", input_shape=(9, 8, 3)), L.MaxPooling2D(),
                              L.Flatten(), L.Dense(1, activation="sigmoid")])


def test_a_cnn_trains_from_flow_with_fit_and_fit_generator():
    gpunet.utils.set_random_seed(5)
    x = R.random((64, 9, 8, 3)).astype("float32")
    y = (x[:, :4].mean((1, 2, 3)) > x[:, 5:].mean((1, 2, 3))).astype("float32")
    datagen = image.ImageDataGenerator(horizontal_flip=True, width_shift_range=1)
    model = _cnn()
    model.compile(gpunet.optimizers.Adam(0.01), "binary_crossentropy", metrics=["accuracy"])
    history = model.fit(datagen.flow(x, y, batch_size=16, seed=1), epochs=6, verbose=0).history
    assert len(history["loss"]) == 6 and history["loss"][-1] < history["loss"][0], history
    more = model.fit_generator(datagen.flow(x, y, batch_size=16), steps_per_epoch=4, epochs=2, verbose=0,
                               validation_data=image.ImageDataGenerator().flow(x, y, batch_size=16))
    assert len(more.history["loss"]) == 2 and len(more.history["val_loss"]) == 2
    plain = image.ImageDataGenerator(rescale=0.5)
    np.testing.assert_allclose(model.predict(plain.flow(x, batch_size=16, shuffle=False), verbose=0),
                               model.predict(x * 0.5, verbose=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.evaluate(plain.flow(x, y, batch_size=16, shuffle=False), verbose=0),
                               model.evaluate(x * 0.5, y, batch_size=16, verbose=0), rtol=1e-5)


@pytest.mark.parametrize("make, error, message", [
    (lambda: image.ImageDataGenerator(data_format="nhwc"), ValueError, "`data_format` should be"),
    (lambda: image.ImageDataGenerator(zoom_range=(1, 2, 3)), ValueError, "`zoom_range` should be a float"),
    (lambda: image.ImageDataGenerator(validation_split=1.5), ValueError, "`validation_split` must be strictly"),
    (lambda: image.ImageDataGenerator(brightness_range=0.2), ValueError, "`brightness_range should be tuple"),
    (lambda: image.ImageDataGenerator(fill_mode="mirror"), ValueError, "`fill_mode` must be 'constant'"),
    (lambda: image.ImageDataGenerator().flow(X[0], Y[:9]), ValueError, "should have rank 4"),
    (lambda: image.ImageDataGenerator().flow(X, Y[:3]), ValueError, "should have the same length"),
    (lambda: image.ImageDataGenerator().fit(X[0]), ValueError, "Input to `.fit\\(\\)` should have rank 4"),
    (lambda: image.ImageDataGenerator(validation_split=0.5).flow(X, np.sort(Y), subset="validation"), ValueError,
     "different number of classes"),
    (lambda: image.array_to_img(np.zeros((2, 2, 2))), ValueError, "Unsupported channel number: 2"),
    (lambda: image.load_img(3), TypeError, "path should be path-like"),
    (lambda: image.ImageDataGenerator().flow_from_directory(".", class_mode="multi"), ValueError,
     "Invalid class_mode: multi"),
    (lambda: image.ImageDataGenerator().flow_from_directory(".", color_mode="cmyk"), ValueError,
     "Invalid color mode: 'cmyk'"),
])
def test_refusals_name_what_was_expected(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_an_unfitted_featurewise_generator_warns_as_keras():
    with pytest.warns(UserWarning, match="hasn't been fit on any training data"):
        image.ImageDataGenerator(featurewise_center=True).standardize(X[0].copy())
