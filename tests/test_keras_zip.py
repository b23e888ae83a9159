"""Keras 3's ``.keras`` archive and ``.weights.h5`` layout as gpunet writes and reads them."""
import io
import json
import zipfile

import h5py
import numpy as np
import pytest

from gpunet.layers import Activation, BatchNormalization, Dense, Dropout
from gpunet.models import Sequential, load_model
from gpunet.saving import keras3_config, keras_zip
from gpunet.saving.errors import CorruptModelFileError

X = np.random.RandomState(3).rand(20, 5).astype("float32")
Y = np.eye(2)[np.random.RandomState(4).randint(0, 2, 20)].astype("float32")


def model_():
    model = Sequential([Dense(4, input_dim=5, activation="relu"), BatchNormalization(), Dropout(0.1),
                        Dense(4), Activation("tanh"), Dense(2, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.fit(X, Y, epochs=1, batch_size=10, verbose=0)
    return model


def test_archive_members_and_keras3_config(tmp_path):
    model_().save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as zf:
        assert set(zf.namelist()) == {"config.json", "metadata.json", "model.weights.h5"}
        assert all(i.compress_type == zipfile.ZIP_STORED for i in zf.infolist())
        config = json.loads(zf.read("config.json"))
        meta = json.loads(zf.read("metadata.json"))
    assert meta["keras_version"].startswith("3.") and meta["gpunet_version"]
    assert config["module"] == "keras" and config["class_name"] == "Sequential"
    first, dense = config["config"]["layers"][:2]
    assert first["class_name"] == "InputLayer" and first["config"]["batch_shape"] == [None, 5]
    assert dense["module"] == "keras.layers" and dense["registered_name"] is None
    assert dense["config"]["dtype"]["class_name"] == "DTypePolicy"
    assert dense["config"]["kernel_initializer"]["module"] == "keras.initializers"
    assert "batch_input_shape" not in dense["config"]
    compile_config = config["compile_config"]
    assert compile_config["loss"] == "categorical_crossentropy" and compile_config["metrics"] == ["accuracy"]
    assert compile_config["optimizer"]["class_name"] == "Adam"
    assert config["build_config"] == {"input_shape": [None, 5]}


def test_weights_layout_addresses_layers_by_class_and_position(tmp_path):
    model = model_()
    model.save_weights(tmp_path / "w.weights.h5")
    with h5py.File(tmp_path / "w.weights.h5", "r") as f:
        assert sorted(f["layers"]) == ["activation", "batch_normalization", "dense", "dense_1", "dense_2",
                                       "dropout"]
        assert f["layers/dense_1/vars"].attrs["name"] == "dense_1"
        assert f["layers/dense_2/vars/0"].shape == (4, 2)
        assert np.array_equal(f["layers/batch_normalization/vars/3"][()], model.layers[1].get_weights()[3])
        opt = f["optimizer/vars"]
        assert len(opt) == 2 + 2 * 8  # iteration, learning_rate, (m, v) per trainable weight
        assert int(opt["0"][()]) == 2 and opt["1"][()] == np.float32(0.001)
        m, v = model.optimizer.get_state()["slots"]["m"], model.optimizer.get_state()["slots"]["v"]
        # Keras 3's order: m and v interleaved per weight, the first weight being dense/kernel.
        assert np.array_equal(opt["2"][()].ravel(), m[:20]) and np.array_equal(opt["3"][()].ravel(), v[:20])


def test_layer_keys_follow_keras_naming():
    assert keras_zip.to_snake_case("BatchNormalization") == "batch_normalization"
    assert keras_zip.to_snake_case("RMSprop") == "rm_sprop"
    assert keras_zip.keys_for_classes(["Dense", "Dropout", "Dense", "Dense"]) == ["dense", "dropout", "dense_1",
                                                                                  "dense_2"]


def test_archive_round_trip_through_bytesio():
    model = model_()
    buffer = io.BytesIO()
    model.save(buffer, save_format="keras")
    buffer.seek(0)
    loaded = load_model(buffer)
    assert np.array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))
    assert loaded.optimizer.iterations == 2


def _rewrite(path, drop=None, replace=None):
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    if drop:
        del members[drop]
    members.update(replace or {})
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


@pytest.mark.parametrize("member", ["config.json", "model.weights.h5"])
def test_missing_member_is_a_corrupt_file(tmp_path, member):
    model_().save(tmp_path / "m.keras")
    _rewrite(tmp_path / "m.keras", drop=member)
    with pytest.raises(CorruptModelFileError, match=f"no {member}"):
        load_model(tmp_path / "m.keras")


def test_config_that_is_not_json_is_a_corrupt_file(tmp_path):
    model_().save(tmp_path / "m.keras")
    _rewrite(tmp_path / "m.keras", replace={"config.json": b"\x00not json"})
    with pytest.raises(CorruptModelFileError, match="config.json is not valid JSON"):
        load_model(tmp_path / "m.keras")


def test_zip_bomb_member_is_refused(tmp_path):
    model_().save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    with zipfile.ZipFile(tmp_path / "m.keras", "w") as zf:
        for name, data in members.items():
            if name == "config.json":  # a small deflated member that expands ~1000x
                data = json.dumps({"pad": " " * 3_000_000, **json.loads(data)}).encode()
                zf.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)
            else:
                zf.writestr(name, data)
    with pytest.raises(CorruptModelFileError, match="refused"):
        load_model(tmp_path / "m.keras")


def test_keras3_config_conversion_adds_input_layer_for_input_dim():
    config = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "Dense", "config": {"name": "d", "units": 2, "batch_input_shape": [None, 3],
                                           "dtype": "float32", "kernel_initializer": {"class_name": "Zeros",
                                                                                      "config": {}}}}]}}
    out = keras3_config.keras3_config(config)
    layers = out["config"]["layers"]
    assert [l["class_name"] for l in layers] == ["InputLayer", "Dense"]
    assert layers[0]["config"]["batch_shape"] == [None, 3]
    assert layers[1]["config"]["kernel_initializer"] == {"module": "keras.initializers", "class_name": "Zeros",
                                                         "config": {}, "registered_name": None}
