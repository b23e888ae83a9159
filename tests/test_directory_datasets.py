"""Keras's ``image_dataset_from_directory`` and ``text_dataset_from_directory`` against tf.keras 2.21 on the same
files: file order (shuffled with the seed), labels in every mode, subsets, messages, errors, and pixels (bit for
bit but for JPEG's DCT); the dataset methods the tutorials use; fit/evaluate/predict on such datasets train as
tf.keras does on its own."""
import os
import warnings

import numpy as np
import pytest

import gpunet
from gpunet.utils import image_dataset_from_directory, text_dataset_from_directory

pytest.importorskip("PIL")
from PIL import Image  # noqa: E402

R = np.random.default_rng(7)


def _image(path, array, **kwargs):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(array).save(path, **kwargs)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Two classes of images of several sizes, formats and modes, a subfolder, a text file and a hidden folder."""
    root = str(tmp_path_factory.mktemp("images"))
    for c, name in enumerate(["roses", "daisy"]):
        for i in range(6):
            rgb = R.integers(0, 256, (17 + 3 * i, 23 + 2 * c, 3), dtype=np.uint8)
            _image(f"{root}/{name}/p{i}.png", rgb)
            _image(f"{root}/{name}/j{i}.jpg", rgb, quality=90)
        _image(f"{root}/{name}/deep/gray.png", R.integers(0, 256, (19, 13), dtype=np.uint8))
        _image(f"{root}/{name}/deep/rgba.png", R.integers(0, 256, (14, 21, 4), dtype=np.uint8))
        _image(f"{root}/{name}/b.bmp", R.integers(0, 256, (11, 9, 3), dtype=np.uint8))
        _image(f"{root}/{name}/g.gif", R.integers(0, 256, (12, 15, 3), dtype=np.uint8))
        with open(f"{root}/{name}/notes.txt", "w") as f:
            f.write("not an image")
    _image(f"{root}/.cache/hidden.png", R.integers(0, 256, (5, 5, 3), dtype=np.uint8))
    return root


@pytest.fixture(scope="module")
def pngs(tmp_path_factory):
    """Two classes of PNG images (whose pixels tf.keras and gpunet read alike)."""
    root = str(tmp_path_factory.mktemp("pngs"))
    for c, name in enumerate(["cat", "dog"]):
        for i in range(10):
            _image(f"{root}/{name}/{i}.png", R.integers(0, 256, (14 + i % 3, 13, 3), dtype=np.uint8) // (1 + c))
    return root


@pytest.fixture(scope="module")
def texts(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("texts"))
    for name in ["neg", "pos", "unsup"]:
        os.makedirs(f"{root}/{name}/more")
        for i in range(7):
            sub = "more/" if i % 3 == 0 else ""
            with open(f"{root}/{name}/{sub}t{i}.txt", "w", encoding="utf-8") as f:
                f.write(f"{name} review {i} é " * (i + 1))
    return root


def _elements(ds, batched=True):
    """Each element of a dataset as a tuple of NumPy values, in order (a batch's rows where ``batched``)."""
    out = []
    for batch in ds:
        parts = tuple(p.numpy() for p in (batch if isinstance(batch, tuple) else (batch,)))
        out.extend(zip(*parts) if batched else [parts])
    return out


def _both(tfk, fn, *args, **kwargs):
    return fn(*args, **kwargs), getattr(tfk.utils, fn.__name__)(*args, **kwargs)


@pytest.mark.parametrize("kwargs", [
    dict(seed=5), dict(shuffle=False, label_mode="categorical"),
    dict(seed=11, validation_split=0.25, subset="training"),
    dict(seed=11, validation_split=0.25, subset="validation", label_mode="binary"),
    dict(shuffle=False, class_names=["roses", "daisy"]), dict(shuffle=False, label_mode=None),
    dict(seed=3, batch_size=None), dict(shuffle=False, follow_links=True)],
    ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items()))
def test_files_labels_and_images_equal_tf_keras(tfk, images, kwargs):
    mine, ref = _both(tfk, image_dataset_from_directory, images, image_size=(10, 12), **{"batch_size": 4, **kwargs})
    assert mine.file_paths == ref.file_paths and mine.class_names == ref.class_names
    assert len(mine) == len(ref) and int(mine.cardinality().numpy()) == int(ref.cardinality().numpy())
    batched = kwargs.get("batch_size", 4) is not None
    got, want = _elements(mine, batched), _elements(ref, batched)
    assert len(got) == len(want) == len(mine.file_paths)
    if kwargs.get("shuffle", True):  # (the per-epoch buffer shuffle draws TensorFlow's numbers: pair them up)
        flat = lambda row: np.concatenate([np.ravel(a).astype(np.float64) for a in row])  # noqa: E731
        distance = np.array([[np.abs(flat(g) - flat(w)).max() for w in want] for g in got])
        pairs = distance.argmin(axis=1)
        assert sorted(pairs) == list(range(len(want)))
        want = [want[i] for i in pairs]
    for g, w in zip(got, want):
        for a, b in zip(g, w):
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_allclose(a, b, atol=6.0)  # (JPEG: TensorFlow's fast DCT; the rest exactly, below)


@pytest.mark.parametrize("color_mode", ["rgb", "grayscale", "rgba"])
@pytest.mark.parametrize("interpolation, crop", [("bilinear", False), ("nearest", False), ("bilinear", True)])
def test_pixels_bit_for_bit(tfk, images, color_mode, interpolation, crop):
    """PNG, BMP and GIF images equal tf.keras's exactly; JPEG equals TensorFlow's accurate integer DCT exactly
    (tf.keras's default, the fast DCT, is within a few levels: the test above). Where TensorFlow refuses a
    conversion (a BMP as grayscale, a GIF or JPEG as RGBA), gpunet converts as for PNG."""
    import tensorflow as tf
    from tf_keras.src.utils.image_dataset import load_image
    mine = image_dataset_from_directory(images, image_size=(9, 14), color_mode=color_mode, shuffle=False,
                                        interpolation=interpolation, crop_to_aspect_ratio=crop, batch_size=None,
                                        label_mode=None)
    channels = {"rgb": 3, "grayscale": 1, "rgba": 4}[color_mode]
    for path, got in zip(mine.file_paths, mine):
        assert got.shape == (9, 14, channels), path
        if path.endswith((".bmp", ".gif") if channels == 1 else (".gif", ".jpg") if channels == 4 else ()):
            continue
        if path.endswith(".jpg"):
            pixels = tf.io.decode_jpeg(tf.io.read_file(path), channels=channels, dct_method="INTEGER_ACCURATE")
            if crop:
                want = tfk.preprocessing.image.smart_resize(pixels, (9, 14), interpolation=interpolation).numpy()
            else:
                want = tf.image.resize(pixels, (9, 14), method=interpolation).numpy()
        else:
            want = load_image(tf.constant(path), (9, 14), channels, interpolation, crop).numpy()
        assert got.dtype == want.dtype, path
        np.testing.assert_array_equal(got.numpy(), want, err_msg=path)


def test_subset_both_messages_and_attributes(tfk, images, capsys):
    train, val = image_dataset_from_directory(images, validation_split=0.3, subset="both", seed=9, image_size=(8, 8))
    mine = capsys.readouterr().out
    ref_train, ref_val = tfk.utils.image_dataset_from_directory(images, validation_split=0.3, subset="both", seed=9,
                                                                image_size=(8, 8))
    assert mine == capsys.readouterr().out == ("Found 32 files belonging to 2 classes.\n"
                                               "Using 23 files for training.\nUsing 9 files for validation.\n")
    assert train.file_paths == ref_train.file_paths and val.file_paths == ref_val.file_paths
    assert not set(train.file_paths) & set(val.file_paths)
    assert [y.numpy().tolist() for _, y in val] == [y.numpy().tolist() for _, y in ref_val]  # (not reshuffled)


def test_labels_given_as_a_list(tfk, images):
    files = sorted(image_dataset_from_directory(images, shuffle=False, label_mode=None).file_paths)
    labels = [i % 3 for i in range(len(files))]
    given = list(labels)
    for mode in ("int", "categorical"):
        mine, ref = _both(tfk, image_dataset_from_directory, images, labels=given, label_mode=mode, shuffle=False,
                          image_size=(6, 6))
        assert mine.class_names == ref.class_names == [0, 1, 2] and mine.file_paths == ref.file_paths
        np.testing.assert_array_equal(np.concatenate([y.numpy() for _, y in mine]),
                                      np.concatenate([y.numpy() for _, y in ref]))
    shuffled = image_dataset_from_directory(images, labels=given, shuffle=True, seed=4, image_size=(6, 6))
    assert given == labels  # (Keras shuffles the caller's list in place; gpunet leaves it as it was)
    assert shuffled.file_paths == tfk.utils.image_dataset_from_directory(
        images, labels=list(labels), shuffle=True, seed=4, image_size=(6, 6)).file_paths


@pytest.mark.parametrize("kwargs", [
    dict(validation_split=0.2, subset="training"), dict(validation_split=1.5, subset="training", seed=1),
    dict(subset="training"), dict(validation_split=0.2, subset="train", seed=1), dict(label_mode="sparse"),
    dict(labels="folders"), dict(labels=[0, 1], class_names=["a"]), dict(labels=[0, 1]),
    dict(class_names=["roses", "tulips"]), dict(color_mode="rgbx"), dict(bad_argument=1),
    dict(labels=[0, 1, 2] * 8, label_mode="binary")], ids=lambda k: ",".join(map(str, k)))
def test_refusals_as_tf_keras(tfk, images, kwargs):
    with pytest.raises((ValueError, TypeError)) as ref:
        tfk.utils.image_dataset_from_directory(images, **kwargs)
    with pytest.raises(type(ref.value)) as mine:
        image_dataset_from_directory(images, **kwargs)
    assert str(mine.value) == str(ref.value)


def test_refusals_of_what_gpunet_lacks(images, tmp_path):
    with pytest.raises(NotImplementedError, match=r"interpolation='bicubic'\) is not implemented"):
        image_dataset_from_directory(images, interpolation="bicubic")
    with pytest.raises(ValueError, match="does not exist or is not a directory"):
        image_dataset_from_directory(str(tmp_path / "missing"))
    os.makedirs(tmp_path / "empty" / "a")
    with pytest.raises(ValueError, match=r"No images found in directory .*Allowed formats: \('.bmp'"):
        image_dataset_from_directory(str(tmp_path / "empty"))
    with pytest.raises(ValueError, match="`image_size` must be a tuple of two positive ints"):
        image_dataset_from_directory(images, image_size=180)


@pytest.mark.parametrize("kwargs", [dict(shuffle=False), dict(seed=8, max_length=12),
                                    dict(seed=2, validation_split=0.4, subset="validation", label_mode="categorical"),
                                    dict(shuffle=False, labels=None, batch_size=None)],
                         ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items()))
def test_text_datasets_equal_tf_keras(tfk, texts, kwargs):
    mine, ref = _both(tfk, text_dataset_from_directory, texts, **{"batch_size": 5, **kwargs})
    assert mine.class_names == ref.class_names == (["neg", "pos", "unsup"] if "labels" not in kwargs else [""])
    batched = kwargs.get("batch_size", 5) is not None
    got, want = _elements(mine, batched), _elements(ref, batched)
    if kwargs.get("shuffle", True):
        got, want = sorted(got, key=repr), sorted(want, key=repr)
    assert repr(got) == repr(want)
    assert isinstance(got[0][0], bytes) and len(mine) == len(ref)


def test_dataset_methods_as_tf_data(tfk, texts):
    import tensorflow as tf
    mine, ref = _both(tfk, text_dataset_from_directory, texts, shuffle=False, batch_size=4)
    for fn in (lambda d: d.take(2), lambda d: d.skip(3), lambda d: d.take(-1).skip(-1), lambda d: d.unbatch(),
               lambda d: d.unbatch().batch(3, drop_remainder=True), lambda d: d.map(lambda x, y: y * 2),
               lambda d: d.unbatch().skip(5).take(4), lambda d: d.prefetch(tf.data.AUTOTUNE).cache()):
        spec = fn(ref).element_spec
        batched = (spec[0] if isinstance(spec, tuple) else spec).shape.rank == 1
        assert repr(_elements(fn(mine), batched)) == repr(_elements(fn(ref), batched))
        assert int(fn(mine).cardinality().numpy()) == int(fn(ref).cardinality().numpy())
    assert [len(x) for x in mine.as_numpy_iterator()] == [len(x) for x in ref.as_numpy_iterator()]
    with pytest.raises(TypeError, match="The dataset length is unknown."):
        len(mine.unbatch())


def test_shuffle_cache_and_map_passes():
    from gpunet.utils.dataset import from_elements
    base = from_elements(lambda i: np.float32(i), list(range(20)))
    seeded = base.shuffle(5, seed=1)
    first, second = [float(x) for x in seeded], [float(x) for x in seeded]
    assert sorted(first) == sorted(second) == list(range(20)) and first != second  # (a new order each pass)
    assert first == [float(x) for x in base.shuffle(5, seed=1)]  # (the seed repeats the orders)
    fixed = base.shuffle(20, seed=1, reshuffle_each_iteration=False)
    assert [float(x) for x in fixed] == [float(x) for x in fixed] != list(range(20))
    gpunet.utils.set_random_seed(3)
    unseeded = [float(x) for x in base.shuffle(4)]
    gpunet.utils.set_random_seed(3)
    assert unseeded == [float(x) for x in base.shuffle(4)]
    draws = iter(range(1000))
    noisy = base.map(lambda x: x + next(draws))
    assert [float(x) for x in noisy] != [float(x) for x in noisy]  # (a map runs at each pass ...)
    cached = noisy.cache()
    assert [float(x) for x in cached] == [float(x) for x in cached]  # (... unless a cache comes after it)
    partial = base.map(lambda x: x + next(draws)).cache()
    head = [float(x) for x in partial.take(3)]  # (an unfinished pass does not fill the cache)
    assert [float(x) for x in partial.take(3)] != head


def test_fit_evaluate_predict_on_directory_datasets_as_tf_keras(tfk, pngs):
    """The image classification tutorial's flow: datasets from the directory, Rescaling in the model, fit with
    validation, evaluate, predict; with the same weights the history equals tf.keras's (the datasets read in
    their own order: fit's shuffle leaves them as they are)."""
    def build(K):
        L = K.layers
        model = K.Sequential([L.Rescaling(1.0 / 255, input_shape=(12, 12, 3)), L.Conv2D(4, 3, activation="relu"),
                              L.MaxPooling2D(), L.Flatten(), L.Dense(2)])
        model.compile(optimizer=K.optimizers.Adam(0.01),
                      loss=K.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        return model
    ours, theirs = build(gpunet), build(tfk)
    ours.set_weights(theirs.get_weights())
    results = []
    for K, model in ((gpunet.utils, ours), (tfk.utils, theirs)):
        train, val = K.image_dataset_from_directory(pngs, validation_split=0.25, subset="both", seed=2,
                                                    image_size=(12, 12), batch_size=5, shuffle=False)
        train = train.cache().prefetch(buffer_size=2)
        history = model.fit(train, validation_data=val, epochs=3, verbose=0)
        results.append((history.history, model.evaluate(val, verbose=0), model.predict(val, verbose=0)))
    (h, e, p), (h_ref, e_ref, p_ref) = results
    assert sorted(h) == sorted(h_ref) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    for key in h:
        np.testing.assert_allclose(h[key], h_ref[key], rtol=2e-4, atol=1e-5, err_msg=key)
    np.testing.assert_allclose(e, e_ref, rtol=2e-4, atol=1e-5)
    np.testing.assert_allclose(p, p_ref, rtol=2e-4, atol=1e-4)


def test_adapt_and_shuffled_fit_on_a_mapped_dataset(images):
    """A Normalization adapted on ``ds.map(lambda x, y: x)``; fit on a shuffled dataset through a map."""
    ds = image_dataset_from_directory(images, image_size=(8, 8), seed=1, batch_size=6, color_mode="grayscale")
    norm = gpunet.layers.Normalization()
    norm.adapt(ds.map(lambda x, y: x))
    every = np.concatenate([x.numpy() for x, _ in ds]).astype(np.float64)
    np.testing.assert_allclose(np.ravel(gpunet.backend.get_backend().to_host(norm.mean)), every.mean(), rtol=1e-5)
    model = gpunet.Sequential([gpunet.Input((8, 8, 1)), norm, gpunet.layers.Flatten(), gpunet.layers.Dense(1)])
    model.compile("sgd", "mse")
    history = model.fit(ds.map(lambda x, y: (x, gpunet.ops.cast(y, "float32"))), epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and np.isfinite(history.history["loss"]).all()


def test_the_training_set_is_reshuffled_each_epoch_and_the_validation_set_not(pngs):
    train, val = image_dataset_from_directory(pngs, validation_split=0.5, subset="both", seed=3, image_size=(4, 4),
                                              batch_size=2)
    passes = [[float(x.numpy().sum()) for batch, _ in train for x in batch] for _ in range(2)]
    assert sorted(passes[0]) == sorted(passes[1]) and passes[0] != passes[1]
    assert [y.numpy().tolist() for _, y in val] == [y.numpy().tolist() for _, y in val]


@pytest.mark.parametrize("kwargs", [dict(epochs=3), dict(epochs=3, steps_per_epoch=2, repeat=True),
                                    dict(epochs=2, steps_per_epoch=7, repeat=True), dict(epochs=3, steps_per_epoch=2)],
                         ids=["a pass an epoch", "repeat, fewer steps", "repeat, more steps", "steps below its length"])
def test_repeat_and_steps_per_epoch_as_tf_keras(tfk, kwargs):
    """A new pass each epoch, unless steps_per_epoch is not the dataset's length: then one pass runs on across the
    epochs (tf.keras's DataHandler), until a finite dataset runs out."""
    import tensorflow as tf
    from gpunet.utils.dataset import from_elements
    x = np.arange(10, dtype="float32")[:, None]
    kwargs = dict(kwargs)
    repeat = kwargs.pop("repeat", False)
    mine = from_elements(lambda i: (x[i], 2 * x[i]), list(range(10))).batch(2)
    ref = tf.data.Dataset.from_tensor_slices((x, 2 * x)).batch(2)
    histories = []
    for lib, ds in ((gpunet, mine.repeat() if repeat else mine), (tfk, ref.repeat() if repeat else ref)):
        model = lib.Sequential([lib.Input((1,)), lib.layers.Dense(1, kernel_initializer="ones", use_bias=False)])
        model.compile(lib.optimizers.SGD(0.01), "mse")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (the finite dataset's last epoch runs out of data, in both)
            histories.append(model.fit(ds, verbose=0, **kwargs).history["loss"])
    np.testing.assert_allclose(histories[0], histories[1], rtol=1e-5)
    assert len(mine.repeat(3)) == 15 and int(mine.repeat().cardinality().numpy()) == -1
    endless = gpunet.Sequential([gpunet.Input((1,)), gpunet.layers.Dense(1)])
    endless.compile("sgd", "mse")
    with pytest.raises(ValueError, match="infinitely repeating dataset, please specify a `steps_per_epoch`"):
        endless.fit(mine.repeat(), verbose=0)
