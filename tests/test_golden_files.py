"""Files written by every gpunet release load forever (pitfall 22): tests/golden/gpunet-<version>/
holds what that version wrote (make_golden.py); a newer format version asks for an upgrade; the
documented save/load keyword arguments stay."""
import glob
import inspect
import json
import os
import zipfile

import h5py
import numpy as np
import pytest

import gpunet
from gpunet.models import Sequential, load_model, model_from_json, model_from_yaml
from gpunet.saving import h5_store

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")
FOLDERS = sorted(glob.glob(os.path.join(GOLDEN, "gpunet-*")))


def _manifest(folder):
    with open(os.path.join(folder, "manifest.json"), encoding="utf-8") as fh:
        return json.load(fh)


CASES = [(os.path.basename(folder), name) for folder in FOLDERS for name in sorted(_manifest(folder)["files"])]


def test_the_current_version_has_golden_files():
    assert os.path.isdir(os.path.join(GOLDEN, f"gpunet-{gpunet.__version__}")), \
        f"run `python tests/golden/make_golden.py` for gpunet {gpunet.__version__} and commit the folder"


@pytest.mark.parametrize("release,name", CASES)
def test_golden_file_loads_and_predicts_as_when_it_was_written(release, name):
    folder = os.path.join(GOLDEN, release)
    entry = _manifest(folder)["files"][name]
    expected = np.load(os.path.join(folder, "expected.npz"))
    x, y = expected["x"], expected["y"]
    path = os.path.join(folder, name)
    if entry["kind"] == "model":
        model = load_model(path)
        assert model.optimizer.iterations == entry["iterations"]
        np.testing.assert_allclose(model.evaluate(x, y, verbose=0), expected[f"{entry['model']}_evaluate"],
                                   rtol=1e-6)
    else:
        with open(path, encoding="utf-8") as fh:
            model = (model_from_json if name.endswith(".json") else model_from_yaml)(fh.read())
        assert model.load_weights(os.path.join(folder, entry["weights"])).complete
    np.testing.assert_allclose(model.predict(x, verbose=0), expected[f"{entry['model']}_predict"],
                               rtol=1e-6, atol=1e-7)
    if entry["kind"] == "model":
        model.fit(x, y, epochs=1, batch_size=8, verbose=0)  # and training goes on from the saved state
        assert model.optimizer.iterations == entry["iterations"] + 3


def _saved(tmp_path, name):
    model = Sequential([gpunet.layers.Dense(2, input_dim=3)])
    (model.save_weights if "weights" in name else model.save)(tmp_path / name)
    return tmp_path / name


@pytest.mark.parametrize("name", ["m.h5", "w.h5", "w.weights.h5"])
def test_a_newer_format_version_in_hdf5_asks_to_upgrade(tmp_path, name):
    path = _saved(tmp_path, name)
    with h5py.File(path, "r+") as f:
        f.attrs["gpunet_format_version"] = np.int64(h5_store.FORMAT_VERSION + 1)
        f.attrs["gpunet_version"] = b"7.0.0"
    with pytest.raises(ValueError, match=r"saved with gpunet 7\.0\.0 \(file format \d+\).*upgrade gpunet"):
        if name == "m.h5":
            load_model(path)
        else:
            Sequential([gpunet.layers.Dense(2, input_dim=3)]).load_weights(path)


def test_a_newer_format_version_in_a_keras_archive_asks_to_upgrade(tmp_path):
    path = _saved(tmp_path, "m.keras")
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    meta = json.loads(members["metadata.json"])
    meta.update(gpunet_format_version=h5_store.FORMAT_VERSION + 1, gpunet_version="7.0.0")
    members["metadata.json"] = json.dumps(meta).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for n, data in members.items():
            zf.writestr(n, data)
    with pytest.raises(ValueError, match=r"saved with gpunet 7\.0\.0.*upgrade gpunet"):
        load_model(path)


def test_every_file_records_the_gpunet_and_format_versions(tmp_path):
    for name in ("m.h5", "w.h5", "w.weights.h5"):
        with h5py.File(_saved(tmp_path, name), "r") as f:
            assert int(f.attrs["gpunet_format_version"]) == h5_store.FORMAT_VERSION
            assert h5_store.text(f.attrs["gpunet_version"]) == gpunet.__version__
    with zipfile.ZipFile(_saved(tmp_path, "m.keras")) as zf:
        meta = json.loads(zf.read("metadata.json"))
    assert (meta["gpunet_format_version"], meta["gpunet_version"]) == (h5_store.FORMAT_VERSION, gpunet.__version__)


DOCUMENTED = {
    Sequential.save: {"filepath": inspect.Parameter.empty, "overwrite": True, "include_optimizer": True},
    Sequential.save_weights: {"filepath": inspect.Parameter.empty, "overwrite": True},
    Sequential.load_weights: {"filepath": inspect.Parameter.empty, "by_name": False, "skip_mismatch": False,
                              "reshape": False},
    gpunet.models.save_model: {"model": inspect.Parameter.empty, "filepath": inspect.Parameter.empty,
                               "overwrite": True, "include_optimizer": True},
    gpunet.models.load_model: {"filepath": inspect.Parameter.empty, "custom_objects": None, "compile": True},
    gpunet.models.model_from_json: {"json_string": inspect.Parameter.empty, "custom_objects": None},
    gpunet.models.model_from_yaml: {"yaml_string": inspect.Parameter.empty, "custom_objects": None},
}


@pytest.mark.parametrize("func", list(DOCUMENTED), ids=lambda f: f.__qualname__)
def test_public_save_and_load_signatures_keep_their_documented_arguments(func):
    params = inspect.signature(func).parameters
    for name, default in DOCUMENTED[func].items():
        assert name in params, f"{func.__qualname__} lost its {name!r} argument"
        assert params[name].default == default or params[name].default is default
