"""Sizes a file declares are checked before anything is allocated, configs are bounded (with limits
the caller can raise), and whatever Python error a bad value would cause underneath, loading raises
one of gpunet's errors naming the file and the field."""
import io
import json
import time
import zipfile

import h5py
import numpy as np
import pytest

from gpunet.layers import Dense
from gpunet.models import Sequential, load_model, model_from_json, model_from_yaml
from gpunet.saving import config_limits, h5_store
from gpunet.saving.cli import inspect
from gpunet.saving.errors import CorruptModelFileError, InvalidConfigError, SavingError

X = np.random.RandomState(4).rand(8, 3).astype("float32")
DEEP = 100_000


def model_(optimizer="adam"):
    model = Sequential([Dense(4, input_dim=3, activation="relu", name="d1"), Dense(2, name="d2")])
    model.compile(loss="mse", optimizer=optimizer)
    model.fit(X, np.ones((8, 2), "float32"), epochs=1, batch_size=4, verbose=0)
    return model


def _edit_h5(path, edit):
    with h5py.File(path, "r+") as f:
        edit(f)
        if "gpunet_attr_crc" in f.attrs:
            del f.attrs["gpunet_attr_crc"]


def _set_config(path, change, key="model_config"):
    def edit(f):
        config = json.loads(h5_store.text(f.attrs[key]))
        f.attrs[key] = json.dumps(change(config))
    _edit_h5(path, edit)


def _quick(func, seconds=10):
    start = time.perf_counter()
    with pytest.raises(SavingError) as err:
        func()
    assert time.perf_counter() - start < seconds
    return str(err.value)


# ---- declared sizes ----------------------------------------------------------------------------------------
# (Adam's .h5 optimizer weights follow tf.keras's legacy layout, without a learning rate; Nadam's
# keep Keras 3's, with one)
@pytest.mark.parametrize("name, shape, dtype, optimizer", [("iter", (2 ** 34,), "i8", "Adam"),
                                                           ("learning_rate", (2 ** 28,), "f4", "Nadam")])
def test_optimizer_scalars_declaring_huge_arrays_are_refused_unread(tmp_path, name, shape, dtype, optimizer):
    model_(optimizer.lower()).save(tmp_path / "m.h5")

    def edit(f):
        del f[f"optimizer_weights/{optimizer}/{name}:0"]
        f.create_dataset(f"optimizer_weights/{optimizer}/{name}:0", shape=shape, dtype=dtype, chunks=(1024,),
                         compression="gzip")
        del f["optimizer_weights"].attrs["gpunet_sum64"]
    _edit_h5(tmp_path / "m.h5", edit)
    assert (tmp_path / "m.h5").stat().st_size < 100_000
    message = _quick(lambda: load_model(tmp_path / "m.h5"))
    assert str(tmp_path / "m.h5") in message and "must be a scalar of shape () or (1,)" in message
    assert str(shape) in message and "MemoryError" not in message


@pytest.mark.parametrize("units", [10 ** 12, "Infinity", -3, 2.5])
def test_units_must_be_positive_integers_below_a_bound(tmp_path, units):
    model_().save(tmp_path / "m.h5")
    raw = (tmp_path / "m.h5").read_bytes()

    def change(config):
        config["config"]["layers"][2]["config"]["units"] = units
        return config
    with h5py.File(tmp_path / "m.h5", "r+") as f:
        config = change(json.loads(h5_store.text(f.attrs["model_config"])))
        text = json.dumps(config).replace('"Infinity"', "Infinity")
        f.attrs["model_config"] = text
        del f.attrs["gpunet_attr_crc"]
    message = _quick(lambda: load_model(tmp_path / "m.h5"))
    assert str(tmp_path / "m.h5") in message and "model_config" in message and "argument units" in message
    assert raw  # the original bytes were a loadable model


def test_a_kernel_too_big_to_allocate_is_refused_unless_the_limit_is_raised(tmp_path):
    config = json.loads(model_().to_json())
    config["config"]["layers"][1]["config"]["units"] = 2 ** 20
    config["config"]["layers"][2]["config"]["units"] = 2 ** 12
    with pytest.raises(InvalidConfigError, match=r"kernel: shape \(1048576, 4096\) holds 4294967296 values.*"
                                                 r"max_weight_values"):
        model_from_json(json.dumps(config))
    config["config"]["layers"][2]["config"]["units"] = 3
    with config_limits(max_dim=2 ** 19), pytest.raises(InvalidConfigError, match="max_dim"):
        model_from_json(json.dumps(config))


def test_a_weights_file_cannot_make_an_unbuilt_model_allocate_a_huge_kernel(tmp_path):
    with h5py.File(tmp_path / "w.h5", "w") as f:
        f.attrs["layer_names"] = np.array([b"a", b"b"])
        for name, shape in (("a", (2 ** 26, 64)), ("b", (64, 2))):
            g = f.create_group(name)
            g.attrs["weight_names"] = np.array([f"{name}/kernel:0".encode(), f"{name}/bias:0".encode()])
            g.create_dataset(f"{name}/kernel:0", shape=shape, dtype="f4", chunks=(1, 1))
            g.create_dataset(f"{name}/bias:0", shape=shape[1:], dtype="f4")
    model = Sequential([Dense(64, name="a"), Dense(2, name="b")])  # unbuilt: the file gives the input width
    start = time.perf_counter()
    with pytest.raises(SavingError, match=r"layer 'a': the kernel: shape \(67108864, 64\).*max_weight_values") as err:
        model.load_weights(tmp_path / "w.h5")
    assert str(tmp_path / "w.h5") in str(err.value) and not model.built and time.perf_counter() - start < 10


def test_inspect_counts_parameters_with_python_ints(tmp_path):
    with h5py.File(tmp_path / "w.h5", "w") as f:
        f.attrs["layer_names"] = np.array([b"big"])
        g = f.create_group("big")
        g.attrs["weight_names"] = np.array([b"big/kernel:0"])
        g.create_dataset("big/kernel:0", shape=(2 ** 40, 2 ** 40), dtype="f4", chunks=(1, 1))
    text = inspect(tmp_path / "w.h5")
    assert f"{2 ** 80:,} params" in text and f"Total params: {2 ** 80:,}" in text


def test_an_archive_config_past_the_size_limit_is_refused_before_parsing(tmp_path):
    model = model_()
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    config = members["config.json"].decode()
    members["config.json"] = (config[:-1] + " " * (17 << 20) + "}").encode()
    with zipfile.ZipFile(tmp_path / "big.keras", "w") as zf:  # stored: under any expansion ratio check
        for name, data in members.items():
            zf.writestr(name, data)
    message = _quick(lambda: load_model(tmp_path / "big.keras"))
    assert "config.json" in message and "max_config_bytes" in message and str(tmp_path) in message
    with config_limits(max_config_bytes=32 << 20):
        assert np.array_equal(load_model(tmp_path / "big.keras").predict(X, verbose=0), model.predict(X, verbose=0))


# ---- deep and wrong-typed configs -------------------------------------------------------------------------
def test_deep_json_and_yaml_are_config_errors_not_recursion_errors():
    with pytest.raises(InvalidConfigError, match="model_from_json: the text is nested too deep"):
        model_from_json("[" * DEEP + "]" * DEEP)
    with pytest.raises(InvalidConfigError, match="model_from_yaml: the text is nested too deep"):
        model_from_yaml("[" * DEEP + "]" * DEEP)
    with pytest.raises(InvalidConfigError, match=r"nested 513 deep.*max_depth"):
        model_from_json('{"a": ' * 512 + "1" + "}" * 512)


@pytest.mark.parametrize("ext", [".h5", ".keras"])
def test_a_deep_config_in_a_file_names_the_file(tmp_path, ext):
    path = tmp_path / ("m" + ext)
    model_().save(path)
    deep = '{"class_name": "Sequential", "config": ' + "[" * DEEP + "]" * DEEP + "}"
    if ext == ".h5":
        _edit_h5(path, lambda f: f.attrs.__setitem__("model_config", deep))
    else:
        with zipfile.ZipFile(path) as zf:
            members = {n: zf.read(n) for n in zf.namelist()}
        members["config.json"] = deep.encode()
        with zipfile.ZipFile(path, "w") as zf:
            for name, data in members.items():
                zf.writestr(name, data)
    with pytest.raises(CorruptModelFileError, match="nested too deep") as err:
        load_model(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("key, value, field", [
    ("training_config", [], "training_config"), ("training_config", "adam", "training_config"),
    ("gpunet_rng", [1, 2], "gpunet_rng"), ("gpunet_rng", {"global": 10 ** 400}, "gpunet_rng"),
    ("gpunet_rng", {"layers": 3}, "gpunet_rng"), ("model_config", [], "model_config"),
    ("model_config", {"class_name": "Sequential"}, "model_config"),
    ("model_config", {"class_name": "Sequential", "config": {"layers": [{"class_name": "Dense", "config": {
        "units": 2, "kernel_initializer": 5}}]}}, "model_config"),
    ("gpunet_optimizer", [], "gpunet_optimizer"), ("gpunet_optimizer", {"iterations": "x"}, "optimizer state"),
])
def test_wrong_typed_fields_raise_gpunet_errors_naming_file_and_field(tmp_path, key, value, field):
    model_().save(tmp_path / "m.h5")
    text = json.dumps(value).replace(str(10 ** 400), "1" + "0" * 400)
    _edit_h5(tmp_path / "m.h5", lambda f: f.attrs.__setitem__(key, text))
    with pytest.raises(SavingError) as err:
        load_model(tmp_path / "m.h5")
    assert str(tmp_path / "m.h5") in str(err.value)
    if field is not None:
        assert field in str(err.value)
    assert isinstance(err.value, ValueError)


def test_a_big_attribute_is_refused_before_it_is_read(tmp_path):
    model_().save(tmp_path / "m.h5")
    _edit_h5(tmp_path / "m.h5", lambda f: f.attrs.create("keras_version", np.zeros((20 << 20,), "u1")))
    with pytest.raises(CorruptModelFileError, match=r"attribute 'keras_version' of / declares"):
        load_model(tmp_path / "m.h5")


def test_limits_can_be_raised_for_one_block_only():
    text = json.dumps({"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "Dense", "config": {"units": 2, "name": "x" * 300, "batch_input_shape": [None, 3]}}]}})
    with config_limits(max_string=100), pytest.raises(InvalidConfigError, match="a string of 300 characters"):
        model_from_json(text)
    assert model_from_json(text).layers[0].name == "x" * 300
    with pytest.raises(TypeError, match="unknown limit"):
        with config_limits(max_bananas=3):
            pass
    with pytest.raises(ValueError, match="positive integer"):
        with config_limits(max_depth=0):
            pass


def test_a_weights_stream_with_a_wrong_typed_checksum_list_names_the_stream():
    model = model_()
    buffer = io.BytesIO()
    model.save_weights(buffer)
    with h5py.File(buffer, "r+") as f:
        f["d1"].attrs["gpunet_sum64"] = "not numbers"
    buffer.seek(0)
    with pytest.raises(CorruptModelFileError, match="BytesIO"):
        model_().load_weights(buffer)
