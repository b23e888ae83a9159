"""Keras's legacy HDF5 layout as gpunet writes and reads it: attributes, names, chunking, strings."""
import json

import h5py
import numpy as np
import pytest

from gpunet.layers import BatchNormalization, Dense
from gpunet.models import Sequential, load_model
from gpunet.saving import h5_store as h5s
from gpunet.saving import hdf5_legacy as h5l

X = np.random.RandomState(2).rand(16, 4).astype("float32")
Y = (X.sum(1) > 2).astype("float32")


def small(names=("dense", "dense_1")):
    model = Sequential([Dense(3, input_dim=4, activation="relu", name=names[0]),
                        Dense(1, activation="sigmoid", name=names[1])])
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.fit(X, Y, epochs=1, batch_size=8, verbose=0)
    return model


def test_whole_model_file_has_keras_legacy_layout(tmp_path):
    small().save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "r") as f:
        config = json.loads(h5s.text(f.attrs["model_config"]))
        assert config["class_name"] == "Sequential"
        assert [l["class_name"] for l in config["config"]["layers"]] == ["InputLayer", "Dense", "Dense"]
        training = json.loads(h5s.text(f.attrs["training_config"]))
        assert training["loss"] == "binary_crossentropy" and training["metrics"] == ["accuracy"]
        assert training["optimizer_config"]["class_name"] == "Adam"
        assert h5s.text(f.attrs["keras_version"]).startswith("2.") and h5s.text(f.attrs["backend"])
        weights = f["model_weights"]
        assert h5l.load_attributes(weights, "layer_names") == ["dense", "dense_1"]
        assert {"backend", "keras_version"} <= set(weights.attrs)
        assert h5l.load_attributes(weights["dense"], "weight_names") == ["dense/kernel:0", "dense/bias:0"]
        assert weights["dense/dense/kernel:0"].shape == (4, 3)
        kernel = weights["dense/dense/kernel:0"]
        assert kernel.chunks is None and kernel.compression is None  # contiguous, uncompressed
        names = h5l.load_attributes(f["optimizer_weights"], "weight_names")
        # tf.keras 2.21's legacy Adam restores by position: iter, every m, every v (no learning rate)
        assert names == ["Adam/iter:0"] + [f"Adam/{w}/{s}:0" for s in "mv"
                                           for w in ("dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias")]
        assert int(f["optimizer_weights/Adam/iter:0"][()]) == 2
        assert int(f.attrs["gpunet_format_version"]) == h5s.FORMAT_VERSION
        assert h5s.text(f.attrs["gpunet_version"])
        rng = json.loads(h5s.text(f.attrs["gpunet_rng"]))
        assert rng["global"]["bit_generator"] == "PCG64"
        state = json.loads(h5s.text(f.attrs["gpunet_optimizer"]))
        assert state["iterations"] == 2 and state["learning_rate"] == 0.001 and state["slot_names"] == ["m", "v"]


def test_weights_file_has_layer_names_at_the_root(tmp_path):
    small().save_weights(tmp_path / "w.h5")
    with h5py.File(tmp_path / "w.h5", "r") as f:
        assert h5l.load_attributes(f, "layer_names") == ["dense", "dense_1"]
        assert "model_config" not in f.attrs and "dense/dense/bias:0" in f


@pytest.mark.parametrize("order", [("a/b", "a"), ("a", "a/b"), ("conv1", "conv1/bn"), ("conv1/bn", "conv1")])
def test_slash_names_are_escaped_and_round_trip_in_either_order(tmp_path, order):
    model = small(names=order)
    model.save(tmp_path / "m.h5")
    model.save(tmp_path / "m.keras")
    model.save_weights(tmp_path / "w.weights.h5")
    with h5py.File(tmp_path / "m.h5", "r") as f:
        escaped = [n.replace("/", "%2F") for n in order]
        assert h5l.load_attributes(f["model_weights"], "layer_names") == escaped
        assert all(f"{n}/{n}/kernel:0" in f["model_weights"] for n in escaped)
    for name in ("m.h5", "m.keras"):
        loaded = load_model(tmp_path / name)
        assert [l.name for l in loaded.layers] == list(order)
        assert np.array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))
    for name in ("m.h5", "w.weights.h5"):
        fresh = small(names=order)
        assert fresh.load_weights(tmp_path / name, by_name=True).complete
        assert np.array_equal(fresh.predict(X, verbose=0), model.predict(X, verbose=0))


def test_unicode_names_and_paths(tmp_path):
    folder = tmp_path / "模型" / "Größe"
    model = small(names=("层_1", "Dichte_ü"))
    model.save(folder / "m.h5")
    model.save_weights(folder / "w.weights.h5")
    model.save(folder / "m.keras")
    for name in ("m.h5", "m.keras"):
        loaded = load_model(folder / name)
        assert [l.name for l in loaded.layers] == ["层_1", "Dichte_ü"]
        assert np.array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))
    fresh = small(names=("层_1", "Dichte_ü"))
    assert fresh.load_weights(folder / "w.weights.h5", by_name=True).complete


STRING_FLAVOURS = {
    "bytes": lambda s: s.encode("utf-8"),
    "numpy.bytes_": lambda s: np.bytes_(s.encode("utf-8")),
    "str": lambda s: s,
    "vlen-utf8": lambda s: np.array(s, dtype=h5py.string_dtype("utf-8")),
    "fixed-ascii-S": lambda s: np.array(s.encode("utf-8"), dtype=f"S{len(s.encode('utf-8'))}"),
}
LIST_FLAVOURS = {
    "fixed-S-array": lambda xs: np.array([x.encode("utf-8") for x in xs]),
    "vlen-utf8-array": lambda xs: np.array(xs, dtype=h5py.string_dtype("utf-8")),
    "vlen-ascii-array": lambda xs: np.array([x.encode() for x in xs], dtype=h5py.string_dtype("ascii")),
    "object-str-array": lambda xs: np.array(xs, dtype=object),
}


@pytest.mark.parametrize("flavour", sorted(STRING_FLAVOURS))
def test_string_attributes_read_whatever_wrote_them(tmp_path, flavour):
    with h5py.File(tmp_path / "s.h5", "w") as f:
        f.attrs["x"] = STRING_FLAVOURS[flavour]("über")
    with h5py.File(tmp_path / "s.h5", "r") as f:
        assert h5s.text(f.attrs["x"]) == "über"


@pytest.mark.parametrize("flavour", sorted(LIST_FLAVOURS))
def test_name_lists_read_whatever_wrote_them(tmp_path, flavour):
    names = ["dense", "dense_1"]
    with h5py.File(tmp_path / "s.h5", "w") as f:
        f.attrs["layer_names"] = LIST_FLAVOURS[flavour](names)
    with h5py.File(tmp_path / "s.h5", "r") as f:
        assert h5l.load_attributes(f, "layer_names") == names


@pytest.mark.parametrize("flavour", sorted(LIST_FLAVOURS))
def test_keras_weights_file_with_any_string_flavour_loads(tmp_path, flavour):
    model = small()
    model.save_weights(tmp_path / "w.h5")
    with h5py.File(tmp_path / "w.h5", "r+") as f:  # rewrite every name list the way another writer would
        f.attrs["layer_names"] = LIST_FLAVOURS[flavour](["dense", "dense_1"])
        for layer in ("dense", "dense_1"):
            f[layer].attrs["weight_names"] = LIST_FLAVOURS[flavour]([f"{layer}/kernel:0", f"{layer}/bias:0"])
    fresh = small()
    assert fresh.load_weights(tmp_path / "w.h5").complete
    assert np.array_equal(fresh.predict(X, verbose=0), model.predict(X, verbose=0))


def test_long_name_lists_are_chunked_like_keras(tmp_path):
    names = [f"layer_{i:05d}_" + "x" * 190 for i in range(1000)]  # ~200 KB
    with h5py.File(tmp_path / "c.h5", "w") as f:
        h5l.save_attributes(f, "layer_names", names)
    with h5py.File(tmp_path / "c.h5", "r") as f:
        assert "layer_names" not in f.attrs and "layer_names0" in f.attrs and "layer_names3" in f.attrs
        assert all(f.attrs[k].nbytes <= h5l.HDF5_OBJECT_HEADER_LIMIT for k in f.attrs)
        assert h5l.load_attributes(f, "layer_names") == names


def test_a_thousand_long_named_layers_with_adam_save_and_load(tmp_path):
    names = [f"L{i:04d}_" + "x" * 194 for i in range(1000)]  # 200 characters each: 200 KB of names, 4 chunks
    model = Sequential([Dense(1, use_bias=False, name=n) for n in names])
    model.build((None, 1))
    model.compile(loss="mse", optimizer="adam")
    model.fit(np.ones((2, 1), "float32"), np.ones((2, 1), "float32"), epochs=1, verbose=0)
    model.save(tmp_path / "big.h5")
    model.save_weights(tmp_path / "w.h5")
    with h5py.File(tmp_path / "big.h5", "r") as f:
        assert "layer_names0" in f["model_weights"].attrs  # over 64 KB: Keras's chunks
        assert h5l.load_attributes(f["model_weights"], "layer_names") == names
        assert len(h5l.load_attributes(f["optimizer_weights"], "weight_names")) == 1 + 2 * 1000
        assert len(h5s.text(f.attrs["model_config"])) > 64 * 1024
    loaded = load_model(tmp_path / "big.h5")
    assert [l.name for l in loaded.layers] == names and loaded.optimizer.iterations == 1
    slots = loaded.optimizer.get_state()["slots"]
    assert all(np.array_equal(slots[k], v) for k, v in model.optimizer.get_state()["slots"].items())
    assert np.array_equal(loaded.get_weights()[-1], model.get_weights()[-1])
    fresh = Sequential([Dense(1, use_bias=False, name=n) for n in names])
    fresh.build((None, 1))
    report = fresh.load_weights(tmp_path / "w.h5")
    assert len(report.loaded) == 1000 and report.complete


def test_big_endian_weights_are_written_little_endian(tmp_path):
    model = Sequential([Dense(3, input_dim=2)])
    big = [w.astype(w.dtype.newbyteorder(">")) for w in model.get_weights()]
    with h5py.File(tmp_path / "b.h5", "w") as f:
        h5l.write_weights(f, [("dense", [("kernel", big[0]), ("bias", big[1])])], "2.15.0", "tensorflow")
    with h5py.File(tmp_path / "b.h5", "r") as f:
        stored = f["dense/dense/kernel:0"]
        assert stored.dtype.byteorder in ("<", "=") and np.array_equal(stored[()], big[0])
    fresh = Sequential([Dense(3, input_dim=2)])
    fresh.load_weights(tmp_path / "b.h5")
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), fresh.get_weights()))


def test_newer_format_version_asks_to_upgrade(tmp_path):
    small().save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "r+") as f:
        f.attrs["gpunet_format_version"] = np.int64(h5s.FORMAT_VERSION + 1)
        f.attrs["gpunet_version"] = b"9.9.0"
    with pytest.raises(ValueError, match=r"saved with gpunet 9\.9\.0.*upgrade"):
        load_model(tmp_path / "m.h5")


def test_batchnorm_statistics_are_in_the_file(tmp_path):
    model = Sequential([Dense(3, input_dim=4), BatchNormalization()])
    model.compile(loss="mse", optimizer="sgd")
    model.fit(X, np.zeros((16, 3), "float32"), epochs=1, verbose=0)
    model.save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "r") as f:
        group = f["model_weights/batch_normalization"]
        assert h5l.load_attributes(group, "weight_names")[2:] == ["batch_normalization/moving_mean:0",
                                                                   "batch_normalization/moving_variance:0"]
        assert np.array_equal(group["batch_normalization/moving_mean:0"][()],
                              model.layers[1].get_weights()[2])
