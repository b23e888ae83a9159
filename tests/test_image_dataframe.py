"""Keras 2's ``ImageDataGenerator.flow_from_dataframe`` against tf.keras 2.21 on the same frame and files:
every class mode (class names, several labels per image, raw values, several outputs, input, none), sample
weights, a directory or paths, filename validation, class filtering, subsets, messages, warnings and refusals;
seeded augmented batches bit for bit; a model trains from it."""
import ast
import warnings

import numpy as np
import pytest

import gpunet
from gpunet.preprocessing import image

pd = pytest.importorskip("pandas")
pytest.importorskip("scipy", reason="ImageDataGenerator's transforms need SciPy (pip install scipy)")
pytest.importorskip("PIL", reason="the image file helpers need Pillow (pip install pillow)")

R = np.random.default_rng(17)


@pytest.fixture(scope="module")
def frame(tmp_path_factory):
    """Nine PNG files of several sizes in a folder, and a frame naming them (and a missing file, a text file)."""
    root = tmp_path_factory.mktemp("frame")
    names = []
    for i in range(9):
        names.append(f"img{i}.png" if i != 4 else f"sub/img{i}.png")
        (root / "sub").mkdir(exist_ok=True)
        image.save_img(root / names[-1], R.random((6 + i % 3, 8 - i % 2, 3)) * 255, scale=False)
    (root / "notes.txt").write_text("not an image")
    df = pd.DataFrame({
        "filename": names + ["missing.png", "notes.txt"],
        "label": ["cat", "dog", "cat", "bird", "dog", "cat", "bird", "dog", "cat", "cat", "dog"],
        "tags": [["a"], ["a", "b"], ["c"], ["b", "c"], ["a"], ["b"], ["a", "c"], ["c"], ["b"], ["a"], ["b"]],
        "size": np.arange(11, dtype="float64") * 1.5,
        "area": np.arange(11) % 4,
        "weight": np.linspace(0.5, 2.0, 11),
    })
    return str(root), df


CASES = {
    "categorical": dict(y_col="label"),
    "multi-label": dict(y_col="tags"),
    "binary with classes": dict(y_col="label", class_mode="binary", classes=["cat", "dog"]),
    "sparse weighted": dict(y_col="label", class_mode="sparse", weight_col="weight"),
    "raw": dict(y_col="size", class_mode="raw"),
    "raw columns": dict(y_col=["size", "area"], class_mode="raw"),
    "multi_output": dict(y_col=["size", "area"], class_mode="multi_output"),
    "input grayscale": dict(class_mode="input", color_mode="grayscale"),
    "none rgba": dict(class_mode=None, color_mode="rgba", interpolation="bilinear"),
    "categorical validation": dict(y_col="label", subset="validation"),
    "classes kept": dict(y_col="tags", classes=["c", "a"], subset="training"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_batches_equal_tf_keras(tfk, frame, capsys, name):
    root, df = frame
    settings = dict(rotation_range=25, horizontal_flip=True, rescale=1 / 255.0, validation_split=0.3)
    kwargs = dict(dict(directory=root, target_size=(7, 6), batch_size=4, seed=2), **CASES[name])
    with warnings.catch_warnings(record=True) as mine_warned:
        warnings.simplefilter("always")
        got = image.ImageDataGenerator(**settings).flow_from_dataframe(df, **kwargs)
    mine_says = capsys.readouterr().out
    with warnings.catch_warnings(record=True) as ref_warned:
        warnings.simplefilter("always")
        want = tfk.preprocessing.image.ImageDataGenerator(**settings).flow_from_dataframe(df, **kwargs)
    assert mine_says == capsys.readouterr().out and "validated image filenames" in mine_says
    assert [str(w.message) for w in mine_warned] == [str(w.message) for w in ref_warned
                                                     if "invalid image filename" in str(w.message)]
    assert got.filenames == want.filenames and got.filepaths == want.filepaths and len(got) == len(want)
    if kwargs.get("class_mode", "categorical") not in ("input", None, "raw", "multi_output"):
        assert got.class_indices == want.class_indices and got.classes == want.classes
    for index in range(len(got)):
        mine_batch, ref_batch = got[index], want[index]
        if not isinstance(mine_batch, tuple):
            mine_batch, ref_batch = (mine_batch,), (ref_batch,)
        assert len(mine_batch) == len(ref_batch)
        for a, b in zip(mine_batch, ref_batch):
            for x, y in zip(a, b) if isinstance(a, list) else [(a, b)]:
                assert np.asarray(x).dtype == np.asarray(y).dtype
                np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-5)


def test_paths_without_a_directory_and_unvalidated_names(tfk, frame, capsys):
    root, df = frame
    absolute = df.iloc[:9].assign(filename=[f"{root}/{name}" for name in df["filename"][:9]])
    for kwargs in (dict(), dict(validate_filenames=False)):
        kwargs.update(y_col="label", target_size=(5, 5), shuffle=False)
        got = image.ImageDataGenerator().flow_from_dataframe(absolute, **kwargs)
        mine_says = capsys.readouterr().out
        want = tfk.preprocessing.image.ImageDataGenerator().flow_from_dataframe(absolute, **kwargs)
        assert mine_says == capsys.readouterr().out
        assert got.filepaths == want.filepaths
        np.testing.assert_array_equal(got[0][0], want[0][0])


@pytest.mark.parametrize("kwargs, error", [
    (dict(y_col="label", class_mode="multi_output"), TypeError),
    (dict(y_col="tags", class_mode="binary"), TypeError),
    (dict(y_col="label", class_mode="binary"), ValueError),
    (dict(y_col="label", class_mode="binary", classes=["cat"]), ValueError),
    (dict(y_col="size"), TypeError),
    (dict(y_col="label", weight_col="label"), TypeError),
    (dict(y_col="label", class_mode="ordinal"), ValueError),
    (dict(x_col="size"), TypeError)], ids=lambda v: str(v))
def test_refusals_as_tf_keras(tfk, frame, kwargs, error):
    root, df = frame
    with pytest.raises(error) as ref:
        tfk.preprocessing.image.ImageDataGenerator().flow_from_dataframe(df, directory=root, **kwargs)
    with pytest.raises(error) as mine:
        image.ImageDataGenerator().flow_from_dataframe(df, directory=root, **kwargs)
    mine_text, ref_text = str(mine.value), str(ref.value)
    if "{" in ref_text:  # (a set of the allowed modes: its printed order follows string hashing)
        mine_text, mine_set = mine_text.split("{")
        ref_text, ref_set = ref_text.split("{")
        assert ast.literal_eval("{" + mine_set) == ast.literal_eval("{" + ref_set)
    assert mine_text == ref_text


def test_deprecated_arguments_warn_and_a_model_trains(frame):
    root, df = frame
    with pytest.warns(DeprecationWarning, match='`class_mode` "other" is deprecated'):
        flow = image.ImageDataGenerator(rescale=1 / 255.0).flow_from_dataframe(
            df, directory=root, y_col="size", class_mode="other", target_size=(6, 6), batch_size=3, seed=1,
            drop_duplicates=False)
    assert flow.class_mode == "raw" and len(flow) == 3
    L = gpunet.layers
    model = gpunet.Sequential([L.Conv2D(2, 3, activation="relu", input_shape=(6, 6, 3)), L.Flatten(), L.Dense(1)])
    model.compile("adam", "mse")
    history = model.fit(flow, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and np.isfinite(history.history["loss"]).all()
