"""Damaged, foreign and half-written files; atomic saves; overwrite rules; loaders that never run
code from a file; files independent of the device. (Saves killed by SIGKILL and readers racing a
writer: test_concurrent_saves.py.)"""
import builtins
import io
import json
import marshal
import os
import pickle
import subprocess
import sys
import zipfile

import h5py
import numpy as np
import pytest

from gpunet.layers import BatchNormalization, Dense
from gpunet.models import Sequential, load_model
from gpunet.saving import h5_store, hdf5_legacy, keras_zip
from gpunet.saving.errors import CorruptModelFileError, SavingError

X = np.random.RandomState(5).rand(12, 4).astype("float32")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def model_():
    model = Sequential([Dense(5, input_dim=4, activation="relu"), BatchNormalization(), Dense(2)])
    model.compile(loss="mse", optimizer="adam")
    model.fit(X, np.ones((12, 2), "float32"), epochs=1, batch_size=4, verbose=0)
    return model


def _same(a, b):
    return (len(a.get_weights()) == len(b.get_weights())
            and all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))
            and [l.name for l in a.layers] == [l.name for l in b.layers]
            and all(np.array_equal(s, b.optimizer.get_state()["slots"][k])
                    for k, s in a.optimizer.get_state()["slots"].items()))


@pytest.mark.parametrize("ext", [".h5", ".keras"])
def test_truncated_files_raise_corrupt_model_file_error(tmp_path, ext):
    model_().save(tmp_path / ("m" + ext))
    raw = (tmp_path / ("m" + ext)).read_bytes()
    for cut in (0, 1, 7, 8, 100, 512, len(raw) // 3, len(raw) // 2, len(raw) - 100, len(raw) - 1):
        path = tmp_path / f"cut{cut}{ext}"
        path.write_bytes(raw[:cut])
        with pytest.raises(CorruptModelFileError) as err:
            load_model(path)
        assert str(path) in str(err.value)
        if ext == ".h5" and cut >= len(raw) // 3:
            assert f"truncated: the file has {cut} bytes, its HDF5 header says {len(raw)} bytes" in str(err.value)
    with pytest.raises(CorruptModelFileError, match="empty"):
        load_model(tmp_path / "cut0.h5" if ext == ".h5" else tmp_path / "cut0.keras")


@pytest.mark.parametrize("ext", [".h5", ".keras"])
def test_bit_flips_give_a_gpunet_error_or_the_exact_model(tmp_path, ext):
    model = model_()
    model.save(tmp_path / ("m" + ext))
    raw = (tmp_path / ("m" + ext)).read_bytes()
    rng = np.random.RandomState(0)
    positions = sorted(set(range(0, 48)) | set(rng.randint(0, len(raw), 200).tolist()))
    outcomes = {"error": 0, "exact": 0}
    for pos in positions:
        data = bytearray(raw)
        data[pos] ^= 1 << int(rng.randint(8))
        path = tmp_path / ("flip" + ext)
        path.write_bytes(bytes(data))
        try:
            loaded = load_model(path)
        except SavingError:  # CorruptModelFileError for damage; never another exception type
            outcomes["error"] += 1
            continue
        assert _same(model, loaded), f"bit flip at byte {pos} loaded different data"
        outcomes["exact"] += 1
    assert outcomes["error"] > len(positions) // 2


def test_foreign_files_are_named_for_what_they_are(tmp_path):
    (tmp_path / "model.json").write_text(model_().to_json())
    with pytest.raises(CorruptModelFileError, match="JSON text.*model_from_json"):
        load_model(tmp_path / "model.json")
    (tmp_path / "noise.h5").write_bytes(bytes(range(256)) * 2)
    with pytest.raises(CorruptModelFileError, match="bad signature"):
        load_model(tmp_path / "noise.h5")
    with pytest.raises(CorruptModelFileError, match="folder"):
        load_model(tmp_path)
    with h5py.File(tmp_path / "data.h5", "w") as f:
        f["x"] = np.arange(3)
    with pytest.raises(CorruptModelFileError, match="no model_config"):
        load_model(tmp_path / "data.h5")
    with pytest.raises(CorruptModelFileError, match="layer_names"):
        model_().load_weights(tmp_path / "data.h5")
    with h5py.File(tmp_path / "data.h5", "a") as f:
        f.attrs["model_config"] = model_().to_json()
    with pytest.raises(CorruptModelFileError, match="missing 'model_weights' group"):
        load_model(tmp_path / "data.h5")
    with zipfile.ZipFile(tmp_path / "other.keras", "w") as zf:
        zf.writestr("readme.txt", "hello")
    with pytest.raises(CorruptModelFileError, match="no config.json"):
        load_model(tmp_path / "other.keras")
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.h5")


def test_failed_weight_load_changes_nothing(tmp_path):
    model = model_()
    model.save_weights(tmp_path / "w.h5")
    with h5py.File(tmp_path / "w.h5", "r+") as f:  # damage the last weight's bytes only
        data = f["dense_1/dense_1/bias:0"]
        data[0] = data[0] + 1
    fresh = model_()
    before = fresh.get_weights()
    with pytest.raises(CorruptModelFileError, match="checksum"):
        fresh.load_weights(tmp_path / "w.h5")
    assert all(np.array_equal(a, b) for a, b in zip(before, fresh.get_weights()))


@pytest.mark.parametrize("ext,writer", [(".h5", (hdf5_legacy, "write_arrays")),
                                        (".keras", (keras_zip, "write_weights")),
                                        (".weights.h5", (keras_zip, "write_weights"))])
def test_a_save_that_fails_midway_leaves_the_previous_file(tmp_path, monkeypatch, ext, writer):
    model = model_()
    path = tmp_path / ("m" + ext)
    save = model.save_weights if ext == ".weights.h5" else model.save
    save(path)
    before = path.read_bytes()
    module, name = writer
    original = getattr(module, name)
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2 or name == "write_weights":
            raise OSError("disk full (simulated)")
        return original(*args, **kwargs)
    monkeypatch.setattr(module, name, failing)
    with pytest.raises(OSError, match="simulated"):
        save(path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == [path.name]  # no temporary file left behind


def test_overwrite_false_raises_and_never_prompts(tmp_path, monkeypatch):
    model = model_()
    monkeypatch.setattr(builtins, "input", lambda *a: pytest.fail("prompted"))
    monkeypatch.setattr(sys, "stdin", None)
    for name, save in (("m.h5", model.save), ("m.keras", model.save), ("w.h5", model.save_weights)):
        save(tmp_path / name)
        before = (tmp_path / name).read_bytes()
        with pytest.raises(FileExistsError, match=name):
            save(tmp_path / name, overwrite=False)
        assert (tmp_path / name).read_bytes() == before
    model.save(tmp_path / "m.h5", overwrite=True)


def test_missing_parent_folders_are_created(tmp_path):
    model = model_()
    model.save(tmp_path / "a" / "b" / "m.keras")
    model.save_weights(tmp_path / "c" / "d" / "w.h5")
    assert load_model(tmp_path / "a" / "b" / "m.keras").count_params() == model.count_params()


def test_loaders_never_unpickle_eval_or_import(tmp_path, monkeypatch):
    model = model_()
    model.save(tmp_path / "m.h5")
    model.save(tmp_path / "m.keras")
    model.save_weights(tmp_path / "w.h5")
    load_model(tmp_path / "m.h5")  # warm up: gpunet's own lazy imports happen now
    load_model(tmp_path / "m.keras")

    def forbidden(*args, **kwargs):
        raise AssertionError("a loader tried to run code from a file")
    for module, name in ((pickle, "loads"), (pickle, "load"), (marshal, "loads"), (builtins, "eval"),
                         (builtins, "exec"), (np, "load")):
        monkeypatch.setattr(module, name, forbidden)
    before = set(sys.modules)
    load_model(tmp_path / "m.h5")
    load_model(tmp_path / "m.keras")
    model.load_weights(tmp_path / "w.h5")
    with h5py.File(tmp_path / "m.h5", "r+") as f:  # a config that names a module to import
        config = json.loads(h5_store.text(f.attrs["model_config"]))
        config["config"]["layers"][1].update(module="this", class_name="Dense", registered_name="this>Dense")
        config["config"]["layers"][1]["class_name"] = "NotAGpunetLayer"
        f.attrs["model_config"] = json.dumps(config)
        del f.attrs["gpunet_attr_crc"]
    with pytest.raises(SavingError):
        load_model(tmp_path / "m.h5")
    assert set(sys.modules) == before


_NO_CUPY_LOADER = """
import sys
sys.modules["cupy"] = None  # `import cupy` raises ImportError in this process
sys.path.insert(0, {repo!r})
import numpy as np
from gpunet.models import load_model
model = load_model({path!r})
assert model.ops.name == "numpy", model.ops.name
np.save({out!r}, model.predict(np.load({x!r}), verbose=0))
"""


@pytest.mark.parametrize("ext", [".h5", ".keras"])
def test_files_are_device_independent(ops, tmp_path, ext):
    """Saved under any backend (CuPy on a GPU), loaded where CuPy cannot even be imported."""
    model = model_()
    assert model.ops is ops
    model.save(tmp_path / ("m" + ext))
    np.save(tmp_path / "x.npy", X)
    script = _NO_CUPY_LOADER.format(repo=REPO, path=str(tmp_path / ("m" + ext)), out=str(tmp_path / "p.npy"),
                                    x=str(tmp_path / "x.npy"))
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, GPUNET_BACKEND="auto"))
    assert run.returncode == 0, run.stderr[-2000:]
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), model.predict(X, verbose=0), rtol=1e-5, atol=1e-6)
    with h5py.File(tmp_path / "m.h5" if ext == ".h5" else io.BytesIO(_weights_member(tmp_path / "m.keras"))) as f:
        kinds = set()
        f.visititems(lambda name, obj: kinds.add(obj.dtype.kind) if isinstance(obj, h5py.Dataset) else None)
        assert kinds <= set("fiu")  # numbers only: no object, opaque or pickled data


def _weights_member(path):
    with zipfile.ZipFile(path) as zf:
        return zf.read("model.weights.h5")


def test_weights_load_into_a_model_on_either_backend(ops, tmp_path):
    from gpunet import backend as B
    with B.use_backend("numpy"):
        source = model_()
    source.save_weights(tmp_path / "w.h5")
    target = Sequential([Dense(5, input_dim=4, activation="relu"), BatchNormalization(), Dense(2)])
    assert target.ops is ops
    target.load_weights(tmp_path / "w.h5")
    np.testing.assert_allclose(target.predict(X, verbose=0), source.predict(X, verbose=0), rtol=1e-5, atol=1e-6)
