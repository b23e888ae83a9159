"""save/load_model and save/load_weights: round trips through every save path, LoadReport,
shape-mismatch handling, unbuilt models, compile restoration and the accepted targets."""
import io
import logging
import os
import pathlib

import h5py
import numpy as np
import pytest

import gpunet
from gpunet.layers import Activation, BatchNormalization, Dense, Dropout, Flatten, InputLayer, Reshape
from gpunet.models import Sequential, load_model, model_from_json, model_from_yaml, save_model
from gpunet.saving import h5_store
from gpunet.saving.errors import CorruptModelFileError, UnknownObjectError
from gpunet.saving.model_io import LoadReport

RNG = np.random.RandomState(0)
X = RNG.rand(40, 12).astype("float32")
Y = np.eye(3)[RNG.randint(0, 3, 40)].astype("float32")


def every_layer_model(explicit_input=True):
    """One of each built-in layer (InputLayer, Dense, Activation, Dropout, Flatten, Reshape, BN)."""
    layers = [InputLayer(input_shape=(12,))] if explicit_input else []
    layers += [Dense(8, activation="tanh", **({} if explicit_input else {"input_dim": 12})),
               BatchNormalization(), Dropout(0.3), Reshape((2, 4)), Flatten(), Activation("relu"),
               Dense(3, activation="softmax")]
    return Sequential(layers)


def trained(model=None, optimizer="adam"):
    model = model or every_layer_model()
    model.compile(loss="categorical_crossentropy", optimizer=optimizer, metrics=["accuracy"])
    model.fit(X, Y, epochs=2, batch_size=8, verbose=0)
    return model


def _json_weights(model, tmp_path):
    text = model.to_json()
    model.save_weights(tmp_path / "w.h5")
    fresh = model_from_json(text)
    fresh.load_weights(tmp_path / "w.h5")
    return fresh


def _yaml_weights(model, tmp_path):
    text = model.to_yaml()
    model.save_weights(tmp_path / "w.weights.h5")
    fresh = model_from_yaml(text)
    fresh.load_weights(tmp_path / "w.weights.h5")
    return fresh


SAVE_PATHS = {
    "save-h5": lambda m, tmp: (m.save(tmp / "m.h5"), load_model(tmp / "m.h5"))[1],
    "save-keras": lambda m, tmp: (m.save(tmp / "m.keras"), load_model(tmp / "m.keras"))[1],
    "weights-h5": lambda m, tmp: (m.save_weights(tmp / "w.h5"), _fresh_loaded(m, tmp / "w.h5"))[1],
    "weights-keras3": lambda m, tmp: (m.save_weights(tmp / "w.weights.h5"), _fresh_loaded(m, tmp / "w.weights.h5"))[1],
    "json+weights": _json_weights,
    "yaml+weights": _yaml_weights,
}


def _fresh_loaded(model, path):
    fresh = Sequential.from_config(model.get_config())
    fresh.load_weights(path)
    return fresh


@pytest.mark.parametrize("explicit_input", [True, False], ids=["input-layer", "input-dim"])
@pytest.mark.parametrize("how", sorted(SAVE_PATHS))
def test_every_layer_round_trips_with_equal_predictions(tmp_path, how, explicit_input):
    model = trained(every_layer_model(explicit_input))
    before = model.predict(X, verbose=0)
    loaded = SAVE_PATHS[how](model, tmp_path)
    assert [type(l).__name__ for l in loaded.layers] == [type(l).__name__ for l in model.layers]
    assert [l.name for l in loaded.layers] == [l.name for l in model.layers]
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        assert a.dtype == b.dtype and np.array_equal(a, b)  # BN moving statistics included
    assert np.array_equal(before, loaded.predict(X, verbose=0))


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("ext", [".h5", ".keras"])
def test_weight_dtypes_are_kept(tmp_path, dtype, ext):
    model = Sequential([Dense(4, input_dim=3, dtype=dtype), Dense(2, dtype=dtype)])
    model.save(tmp_path / ("m" + ext))
    loaded = load_model(tmp_path / ("m" + ext))
    assert [w.dtype for w in loaded.get_weights()] == [np.dtype(dtype)] * 4
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), loaded.get_weights()))


def test_load_model_restores_compile_state_and_optimizer(tmp_path):
    model = trained(optimizer=gpunet.optimizers.RMSprop(learning_rate=0.01, momentum=0.5))
    model.save(tmp_path / "m.h5")
    loaded = load_model(tmp_path / "m.h5")
    assert type(loaded.optimizer).__name__ == "RMSprop"
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded.metrics_names == model.metrics_names
    assert loaded.optimizer.iterations == model.optimizer.iterations == 10
    for name, slot in model.optimizer.get_state()["slots"].items():
        assert np.array_equal(slot, loaded.optimizer.get_state()["slots"][name])
    assert np.allclose(loaded.evaluate(X, Y, verbose=0), model.evaluate(X, Y, verbose=0), rtol=0, atol=0)


def test_include_optimizer_false_gives_an_uncompiled_model(tmp_path):
    trained().save(tmp_path / "m.h5", include_optimizer=False)
    with h5py.File(tmp_path / "m.h5", "r") as f:
        assert "training_config" not in f.attrs and "optimizer_weights" not in f
    loaded = load_model(tmp_path / "m.h5")
    assert loaded.optimizer is None
    with pytest.raises(RuntimeError, match="compile"):
        loaded.evaluate(X, Y, verbose=0)


def _with_unknown_loss(path):
    with h5py.File(path, "r+") as f:
        text = h5_store.text(f.attrs["training_config"])
        f.attrs["training_config"] = text.replace('"categorical_crossentropy"', '"my_focal_loss"')
        del f.attrs["gpunet_attr_crc"]  # a deliberate edit, not damage


def test_unresolvable_loss_names_it_and_suggests_the_ways_out(tmp_path):
    model = trained()
    model.save(tmp_path / "m.h5")
    _with_unknown_loss(tmp_path / "m.h5")
    with pytest.raises(UnknownObjectError) as err:
        load_model(tmp_path / "m.h5")
    assert "my_focal_loss" in str(err.value) and "compile=False" in str(err.value)
    assert "custom_objects" in str(err.value)
    loaded = load_model(tmp_path / "m.h5", compile=False)
    assert loaded.optimizer is None
    assert np.array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))
    with_custom = load_model(tmp_path / "m.h5",
                             custom_objects={"my_focal_loss": gpunet.losses.CategoricalCrossentropy})
    assert type(with_custom.optimizer).__name__ == "Adam"


def test_compile_false_never_reads_the_training_config(tmp_path):
    trained().save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "r+") as f:
        f.attrs["training_config"] = b"{not json"
        del f.attrs["gpunet_attr_crc"]
    assert load_model(tmp_path / "m.h5", compile=False).optimizer is None
    with pytest.raises(CorruptModelFileError, match="training_config"):
        load_model(tmp_path / "m.h5")


@pytest.mark.parametrize("kind", ["str", "pathlib", "bytesio", "h5py"])
def test_targets_path_pathlike_bytesio_and_open_h5py_file(tmp_path, kind):
    model = trained()
    if kind == "bytesio":
        target = io.BytesIO()
        model.save(target)
        target.seek(0)
    elif kind == "h5py":
        with h5py.File(tmp_path / "m.h5", "w") as f:
            model.save(f)
        target = h5py.File(tmp_path / "m.h5", "r")
    else:
        target = str(tmp_path / "m.h5") if kind == "str" else pathlib.Path(tmp_path) / "m.h5"
        save_model(model, target)
    loaded = load_model(target)
    assert np.array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))
    if kind == "h5py":
        target.close()


def test_weights_through_bytesio():
    model = trained()
    buffer = io.BytesIO()
    model.save_weights(buffer)
    buffer.seek(0)
    fresh = every_layer_model()
    report = fresh.load_weights(buffer)
    assert len(report.loaded) == 8 and np.array_equal(fresh.predict(X, verbose=0), model.predict(X, verbose=0))


@pytest.mark.parametrize("name", ["model.h5", "model.hdf5", "model.bin", "model", "model.keras.h5"])
@pytest.mark.parametrize("fmt", ["h5", "keras"])
def test_format_is_detected_from_content_not_extension(tmp_path, name, fmt):
    model = trained()
    model.save(tmp_path / name, save_format=fmt)
    with open(tmp_path / name, "rb") as fh:
        assert fh.read(4) == (b"\x89HDF" if fmt == "h5" else b"PK\x03\x04")
    assert np.array_equal(load_model(tmp_path / name).predict(X, verbose=0), model.predict(X, verbose=0))


def test_unknown_save_format_is_refused(tmp_path):
    with pytest.raises(ValueError, match="save_format 'tf'"):
        trained().save(tmp_path / "m", save_format="tf")
    assert not os.path.exists(tmp_path / "m")


# ---- LoadReport, by_name, skip_mismatch, reshape ---------------------------------------------------
def _two_dense(second="dense_2", units=3):
    return Sequential([Dense(2, input_dim=3, name="dense_1"), Dense(units, name=second)])


def test_by_name_reports_renamed_layer_as_missing_and_unexpected(tmp_path, caplog):
    _two_dense().save_weights(tmp_path / "w.h5")
    model = _two_dense(second="new_dense", units=10)
    before = model.get_layer("new_dense").get_weights()
    with caplog.at_level(logging.INFO, logger="gpunet.saving"):
        report = model.load_weights(tmp_path / "w.h5", by_name=True)
    assert isinstance(report, LoadReport)
    assert report.loaded == ["dense_1/kernel", "dense_1/bias"]
    assert report.missing_in_file == ["new_dense/kernel", "new_dense/bias"]
    assert report.unexpected_in_file == ["dense_2/kernel", "dense_2/bias"]
    assert report.shape_mismatch == [] and not report.complete
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_layer("new_dense").get_weights()))
    lines = [r.getMessage() for r in caplog.records if r.name == "gpunet.saving"]
    assert len(lines) == 1 and "2 missing in file" in lines[0] and "new_dense/kernel" in lines[0]


@pytest.mark.parametrize("by_name", [False, True])
@pytest.mark.parametrize("skip_mismatch", [False, True])
@pytest.mark.parametrize("fname", ["w.h5", "w.weights.h5"])
def test_shape_mismatch_matrix(tmp_path, by_name, skip_mismatch, fname):
    _two_dense(units=3).save_weights(tmp_path / fname)
    model = _two_dense(units=5)
    before = model.get_weights()
    if not skip_mismatch:
        with pytest.raises(ValueError) as err:
            model.load_weights(tmp_path / fname, by_name=by_name, skip_mismatch=False)
        message = str(err.value)
        assert "dense_2" in message and "kernel" in message and "(2, 5)" in message and "(2, 3)" in message
        assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))  # nothing assigned
        return
    report = model.load_weights(tmp_path / fname, by_name=by_name, skip_mismatch=True)
    assert report.shape_mismatch == [("dense_2/kernel", (2, 5), (2, 3)), ("dense_2/bias", (5,), (3,))]
    assert report.loaded == ["dense_1/kernel", "dense_1/bias"]


def test_reshape_loads_same_sized_weights_like_keras_2(tmp_path):
    src = Sequential([Dense(6, input_dim=2, name="a")])
    src.save_weights(tmp_path / "w.h5")
    dst = Sequential([Dense(6, input_dim=2, name="a")])
    with h5py.File(tmp_path / "w.h5", "r+") as f:  # store the kernel as (3, 4): 12 values, like (2, 6)
        data = f["a/a/kernel:0"][()].reshape(3, 4)
        del f["a/a/kernel:0"]
        f["a"].create_dataset("a/kernel:0", data=data)
    with pytest.raises(ValueError, match=r"Shape mismatch .* \(2, 6\).* \(3, 4\)"):
        dst.load_weights(tmp_path / "w.h5")
    report = dst.load_weights(tmp_path / "w.h5", reshape=True)
    assert report.reshaped == ["a/kernel"]
    assert np.array_equal(dst.get_layer("a").get_weights()[0], src.get_weights()[0])


def test_topological_mismatch_lists_the_layer_names(tmp_path):
    Sequential([Dense(2, input_dim=3, name="first"), Dense(2, name="second")]).save_weights(tmp_path / "w.h5")
    model = Sequential([Dense(2, input_dim=3, name="first"), Dense(2, name="other"), Dense(2, name="third")])
    with pytest.raises(ValueError) as err:
        model.load_weights(tmp_path / "w.h5")
    assert "2 layers with weights" in str(err.value) and "3 layers with weights" in str(err.value)
    assert "['other', 'third']" in str(err.value) and "['second']" in str(err.value)


def test_frozen_and_parameter_free_layers_keep_positional_loading(tmp_path):
    model = trained()
    model.layers[1].trainable = False
    model.save_weights(tmp_path / "w.h5")
    fresh = every_layer_model()
    fresh.layers[1].trainable = False
    fresh.load_weights(tmp_path / "w.h5")
    assert np.array_equal(fresh.predict(X, verbose=0), model.predict(X, verbose=0))


@pytest.mark.parametrize("fname", ["w.h5", "w.weights.h5", "m.h5", "m.keras"])
def test_load_weights_builds_an_unbuilt_model_from_the_file(tmp_path, fname):
    model = Sequential([Dense(5, input_dim=7, activation="relu"), Dropout(0.1), Dense(2)])
    (model.save_weights if "w" in fname else model.save)(tmp_path / fname)
    fresh = Sequential([Dense(5, activation="relu"), Dropout(0.1), Dense(2)])
    assert not fresh.built
    fresh.load_weights(tmp_path / fname)
    probe = RNG.rand(4, 7).astype("float32")
    assert fresh.built and np.array_equal(fresh.predict(probe, verbose=0), model.predict(probe, verbose=0))


def test_unbuilt_model_whose_input_cannot_be_inferred_asks_for_build(tmp_path):
    Sequential([Flatten(input_shape=(2, 3)), Dense(2)]).save_weights(tmp_path / "w.h5")
    fresh = Sequential([Flatten(), Dense(2)])
    with pytest.raises(ValueError, match=r"model.build\(input_shape\)"):
        fresh.load_weights(tmp_path / "w.h5")
    fresh.build((None, 2, 3))
    name = fresh.layers[1].name
    assert fresh.load_weights(tmp_path / "w.h5").loaded == [f"{name}/kernel", f"{name}/bias"]


def test_load_model_of_a_weights_file_says_so(tmp_path):
    trained().save_weights(tmp_path / "w.h5")
    with pytest.raises(CorruptModelFileError, match="weights-only"):
        load_model(tmp_path / "w.h5")


def test_unknown_keyword_arguments_are_rejected(tmp_path):
    model = trained()
    with pytest.raises(TypeError, match="save_traces"):
        model.save(tmp_path / "m.h5", save_traces=False)
    with pytest.raises(TypeError, match="bogus"):
        load_model(tmp_path / "m.h5", bogus=1)



def test_load_weights_from_an_open_group_of_a_whole_model_file(tmp_path):
    model = Sequential([Dense(3, input_dim=2, name="a/b"), Dense(1, name="c")])
    model.save(tmp_path / "m.h5")
    fresh = Sequential([Dense(3, input_dim=2, name="a/b"), Dense(1, name="c")])
    with h5py.File(tmp_path / "m.h5", "r") as f:
        report = fresh.load_weights(f["model_weights"], by_name=True)
    assert report.loaded == ["a/b/kernel", "a/b/bias", "c/kernel", "c/bias"]
