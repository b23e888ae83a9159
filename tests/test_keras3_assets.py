"""Keras 3 archives whose ``assets/`` hold an adapted IntegerLookup's vocabulary (gpunet/saving/keras3_assets.py),
and tf-idf's ``idf_weights`` under Keras 3's name, both ways with real Keras 3: a Keras 3 model loads in gpunet
and predicts as Keras 3 does (in a nested model too), gpunet's tf-idf archive loads in Keras 3, an asset no
layer reads is refused by name, and a failed load_weights leaves the model as it was."""
import io
import zipfile

import numpy as np
import pytest

from gpunet import layers
from gpunet.models import Sequential, load_model
from keras_support import keras_on_torch

keras = keras_on_torch()
IDS = np.random.default_rng(5).integers(-3, 25, size=(64, 4))


def k3_lookup(**kwargs):
    lookup = keras.layers.IntegerLookup(**kwargs)
    lookup.adapt(IDS)
    return lookup


def k3_models():
    """Adapted lookups Keras 3 keeps in assets/: indices with a mask into an Embedding, tf-idf into a Dense
    layer, and a multi-hot lookup inside a nested Sequential."""
    keras.utils.set_random_seed(3)
    ints = keras.Sequential([keras.Input((4,), dtype="int64"), k3_lookup(mask_token=0),
                             keras.layers.Embedding(30, 3), keras.layers.Flatten(), keras.layers.Dense(2)])
    tf_idf = keras.Sequential([keras.Input((4,), dtype="int64"), k3_lookup(output_mode="tf_idf", num_oov_indices=2),
                               keras.layers.Dense(2)])
    inner = keras.Sequential([keras.Input((4,), dtype="int64"), k3_lookup(output_mode="multi_hot"),
                              keras.layers.Dense(3, activation="relu")])
    inputs = keras.Input((4,), dtype="int64")
    nested = keras.Model(inputs, keras.layers.Dense(1)(inner(inputs)))
    return {"int-with-mask": ints, "tf-idf": tf_idf, "nested": nested}


def members(path):
    return zipfile.ZipFile(path).namelist()


@pytest.mark.parametrize("name", ["int-with-mask", "tf-idf", "nested"])
def test_a_keras_3_archive_with_a_vocabulary_in_its_assets_loads_and_predicts_as_keras_3(tmp_path, name):
    model = k3_models()[name]
    model.save(tmp_path / "k3.keras")
    assert any(m.startswith("assets/") and m.endswith("/vocabulary.txt") for m in members(tmp_path / "k3.keras"))
    loaded = load_model(tmp_path / "k3.keras")
    want = np.asarray(model.predict(IDS, verbose=0))
    np.testing.assert_allclose(loaded.predict(IDS, verbose=0), want, rtol=1e-5, atol=1e-6)
    lookup = [l for l in loaded.layers if isinstance(l, layers.IntegerLookup)] or \
        [l for l in loaded.layers[1].layers if isinstance(l, layers.IntegerLookup)]
    k3 = [l for l in model.layers if isinstance(l, keras.layers.IntegerLookup)] or \
        [l for l in model.layers[1].layers if isinstance(l, keras.layers.IntegerLookup)]
    assert lookup[0].get_vocabulary() == [int(t) for t in k3[0].get_vocabulary()]
    loaded.save(tmp_path / "back.keras")  # (gpunet writes the vocabulary in the config: Keras 3 reads it there)
    assert not any(m.startswith("assets/") for m in members(tmp_path / "back.keras"))
    again = keras.models.load_model(tmp_path / "back.keras")
    np.testing.assert_allclose(np.asarray(again.predict(IDS, verbose=0)), want, rtol=1e-5, atol=1e-6)


def test_gpunet_tf_idf_weights_go_under_keras_3_s_name(tmp_path):
    lookup = layers.IntegerLookup(output_mode="tf_idf")
    lookup.adapt(IDS)
    model = Sequential([layers.Input((4,), dtype="int64"), lookup, layers.Dense(2)])
    model.save(tmp_path / "g.keras")
    import h5py
    with zipfile.ZipFile(tmp_path / "g.keras") as zf, h5py.File(io.BytesIO(zf.read("model.weights.h5"))) as h5:
        assert list(h5["layers/integer_lookup/vars"]) == ["idf_weights"]
    k3 = keras.models.load_model(tmp_path / "g.keras")
    np.testing.assert_allclose(np.asarray(k3.predict(IDS, verbose=0)), model.predict(IDS, verbose=0), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_array_equal(load_model(tmp_path / "g.keras").predict(IDS, verbose=0),
                                  model.predict(IDS, verbose=0))


def with_member(src, dst, name, data):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.namelist():
            zout.writestr(item, zin.read(item))
        zout.writestr(name, data)


def test_an_asset_no_layer_reads_is_refused_by_name_and_load_weights_changes_nothing(tmp_path):
    model = k3_models()["int-with-mask"]
    model.save(tmp_path / "k3.keras")
    with_member(tmp_path / "k3.keras", tmp_path / "extra.keras", "assets/layers/dense/table.txt", b"1\n2\n")
    with pytest.raises(ValueError, match=r"assets no layer of model .* reads: \['assets/layers/dense/table.txt'\]"):
        load_model(tmp_path / "extra.keras")
    target = load_model(tmp_path / "k3.keras")
    target.set_weights([w * 0 + 0.5 for w in target.get_weights()])
    halves = [w.copy() for w in target.get_weights()]
    bad = tmp_path / "repeated.keras"
    with zipfile.ZipFile(tmp_path / "k3.keras") as zin, zipfile.ZipFile(bad, "w") as zout:
        for item in zin.namelist():
            zout.writestr(item, b"0\n-1\n5\n5\n" if item.endswith("vocabulary.txt") else zin.read(item))
    with pytest.raises(ValueError, match="repeated"):
        target.load_weights(bad)
    for got, want in zip(target.get_weights(), halves):
        np.testing.assert_array_equal(got, want)
