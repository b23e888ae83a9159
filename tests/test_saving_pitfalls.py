"""Saving pitfalls whose checks sit best together: NumPy values in configs through save() (6), code
in configs refused by load_model too (10), dtypes through the weights paths (20), checkpoint
folders checked when the callback is made and failing saves never swallowed (27), h5py groups
as targets (28), unknown layer keys warn or, with strict=True, fail (21)."""
import io
import json
import os
import zipfile

import h5py
import numpy as np
import pytest
import yaml

from gpunet.callbacks import LambdaCallback, ModelCheckpoint
from gpunet.layers import Dense, Layer
from gpunet.models import Sequential, load_model, model_from_json, model_from_yaml
from gpunet.saving import h5_store
from gpunet.saving.errors import UnsafeConfigError
from gpunet.testing import edit_saved_config

X = np.random.RandomState(9).rand(10, 3).astype("float32")
Y = np.random.RandomState(10).rand(10, 2).astype("float32")


class NumpyConfigLayer(Layer):
    """get_config returns NumPy scalars, a 0-d array, a small array and a tuple."""

    def __init__(self, scale=1.0, size=1, offsets=(0.0,), **kwargs):
        super().__init__(**kwargs)
        self.scale, self.size, self.offsets = scale, size, offsets

    def forward(self, x, training=False):
        return x * float(self.scale)

    def backward(self, dy, need_dx=True):
        return dy * float(self.scale)

    def get_config(self):
        config = super().get_config()
        config.update(scale=np.float32(self.scale), size=np.int64(self.size),
                      offsets=(np.array(self.offsets[0]), np.asarray(self.offsets[1])))
        return config


@pytest.mark.parametrize("name", ["m.h5", "m.keras"])
def test_save_writes_numpy_config_values_as_plain_json(tmp_path, name):
    model = Sequential([Dense(2, input_dim=3, name="d"), NumpyConfigLayer(0.5, 3, (1.5, (0, 1)), name="np_layer")])
    model.save(tmp_path / name)
    loaded = load_model(tmp_path / name, custom_objects={"NumpyConfigLayer": NumpyConfigLayer})
    layer = loaded.get_layer("np_layer")
    assert (layer.scale, layer.size, layer.offsets) == (0.5, 3, [1.5, [0, 1]])
    assert type(layer.scale) is float and type(layer.size) is int
    assert np.array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))


# ---- pitfall 10: load_model refuses code in a file's config, in both formats ---------------------------
UNSAFE_ENTRIES = {
    "os.system": {"module": "os", "class_name": "system", "config": {"name": "x"}},
    "base64 bytecode": {"class_name": "Lambda", "config": {
        "name": "l", "function": ["4wEAAAAAAAAAAQAAAAIAAABDAAAAcwgAAAB8AGQBFABTACkCTukCAAAAqQA=", None, None],
        "function_type": "lambda", "module": "__main__", "output_shape": None, "arguments": {}}},
}


def _with_entry_in_file(path, entry):
    edit_saved_config(path, lambda config: config["config"]["layers"].append(entry))


@pytest.mark.parametrize("entry", list(UNSAFE_ENTRIES.values()), ids=list(UNSAFE_ENTRIES))
@pytest.mark.parametrize("name", ["m.h5", "m.keras"])
def test_load_model_refuses_configs_that_carry_code(tmp_path, monkeypatch, name, entry):
    monkeypatch.setattr(os, "system", lambda *a: pytest.fail("os.system was called"))
    Sequential([Dense(2, input_dim=3)]).save(tmp_path / name)
    _with_entry_in_file(tmp_path / name, entry)
    with pytest.raises(UnsafeConfigError, match="Refusing to load"):
        load_model(tmp_path / name)


# ---- pitfall 20: dtypes through every weights path; dtype strings and policies -----------------------
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("name", ["w.h5", "w.weights.h5"])
def test_weights_files_keep_each_dtype(tmp_path, dtype, name):
    model = Sequential([Dense(4, input_dim=3, dtype=dtype), Dense(2, dtype=dtype)])
    model.save_weights(tmp_path / name)
    fresh = model_from_json(model.to_json())
    assert fresh.load_weights(tmp_path / name).complete
    assert [w.dtype for w in fresh.get_weights()] == [np.dtype(dtype)] * 4
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), fresh.get_weights()))
    assert fresh.predict(X, verbose=0).dtype == np.dtype(dtype)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("form", ["string", "DTypePolicy", "Policy"])
def test_a_file_whose_config_spells_dtype_as_a_string_or_a_policy_loads(tmp_path, dtype, form):
    model = Sequential([Dense(4, input_dim=3, dtype=dtype, name="a"), Dense(2, dtype=dtype, name="b")])
    model.save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "r+") as f:
        config = json.loads(h5_store.text(f.attrs["model_config"]))
        for entry in config["config"]["layers"][1:]:
            entry["config"]["dtype"] = dtype if form == "string" else {"class_name": form, "config": {"name": dtype}}
        f.attrs["model_config"] = json.dumps(config)
        del f.attrs["gpunet_attr_crc"]
    loaded = load_model(tmp_path / "m.h5")
    assert [l.dtype for l in loaded.layers] == [dtype, dtype]
    assert [w.dtype for w in loaded.get_weights()] == [np.dtype(dtype)] * 4
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), loaded.get_weights()))


# ---- pitfall 27: checkpoint folders, failing saves -----------------------------------------------------
def test_checkpoint_refuses_an_impossible_folder_when_it_is_made(tmp_path):
    (tmp_path / "a_file").write_text("not a folder")
    with pytest.raises(NotADirectoryError, match=r"a_file' is a file, not a folder"):
        ModelCheckpoint(str(tmp_path / "a_file" / "deeper" / "ckpt-{epoch}.h5"))
    ModelCheckpoint(str(tmp_path / "not" / "yet" / "there.h5"))  # missing folders are fine: made at fit
    assert not (tmp_path / "not").exists()


def test_a_checkpoint_save_that_fails_stops_training_with_the_error(tmp_path, monkeypatch):
    model = Sequential([Dense(2, input_dim=3)])
    model.compile(loss="mse", optimizer="sgd")

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device (simulated)")
    monkeypatch.setattr(model, "save", full_disk)
    epochs = []
    with pytest.raises(OSError, match="No space left"):
        model.fit(X, Y, epochs=3, verbose=0, callbacks=[
            ModelCheckpoint(str(tmp_path / "ckpt.h5")), LambdaCallback(on_epoch_end=lambda e, l: epochs.append(e))])
    assert epochs == []  # the checkpoint runs first: the error ends the first epoch


# ---- pitfall 28: an open h5py Group as the target --------------------------------------------------------
def test_save_into_and_load_from_a_group_of_an_open_file():
    model = Sequential([Dense(4, input_dim=3, name="a"), Dense(2, name="b")])
    model.compile(loss="mse", optimizer="adam")
    model.fit(X, Y, epochs=1, verbose=0)
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        f.attrs["owner"] = "another program"
        model.save(f.create_group("models/first"))
        model.save_weights(f.create_group("weights"))
    buffer.seek(0)
    with h5py.File(buffer, "r") as f:
        loaded = load_model(f["models/first"])
        fresh = Sequential([Dense(4, input_dim=3, name="a"), Dense(2, name="b")])
        assert fresh.load_weights(f["weights"]).complete
    assert loaded.optimizer.iterations == 1
    for other in (loaded, fresh):
        assert np.array_equal(other.predict(X, verbose=0), model.predict(X, verbose=0))


# ---- pitfall 21: keys from another Keras version warn (listing them); strict=True refuses them ------------
def test_every_loader_warns_about_unknown_layer_keys_and_strict_refuses_them(tmp_path):
    model = Sequential([Dense(2, input_dim=3, name="d")])
    model.save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "r+") as f:
        config = json.loads(h5_store.text(f.attrs["model_config"]))
        config["config"]["layers"][1]["config"]["future_option"] = 7
        f.attrs["model_config"] = json.dumps(config)
        del f.attrs["gpunet_attr_crc"]
    loaders = {"load_model": lambda **k: load_model(tmp_path / "m.h5", **k),
               "model_from_json": lambda **k: model_from_json(json.dumps(config), **k),
               "model_from_yaml": lambda **k: model_from_yaml(yaml.safe_dump(config), **k)}
    for name, load in loaders.items():
        with pytest.warns(UserWarning, match=r"\['future_option'\] of layer 1 'd' \(Dense\)"):
            loaded = load()
        assert loaded.get_layer("d").units == 2, name
        with pytest.raises(TypeError, match=r"'d' \(Dense\).*\['future_option'\]"):
            load(strict=True)
