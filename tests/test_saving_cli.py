"""`gpunet inspect` / `gpunet convert`: gpunet.saving.cli.inspect and convert."""
import json
import os

import numpy as np
import pytest

from gpunet.layers import BatchNormalization, Dense
from gpunet.models import Sequential, load_model, model_from_json, model_from_yaml
from gpunet.saving.cli import convert, inspect
from gpunet.saving.errors import CorruptModelFileError
from conftest import shared_path

X = np.random.RandomState(7).rand(10, 3).astype("float32")


def model_():
    model = Sequential([Dense(4, input_dim=3, name="hidden"), BatchNormalization(name="bn"), Dense(1, name="out")])
    model.compile(loss="mse", optimizer="adam")
    model.fit(X, np.zeros((10, 1), "float32"), epochs=1, batch_size=5, verbose=0)
    return model


def test_inspect_gpunet_h5(tmp_path):
    model_().save(tmp_path / "m.h5")
    text = inspect(str(tmp_path / "m.h5"))
    assert "Format: Keras HDF5, legacy layout (whole model" in text
    assert "Written by: gpunet" in text
    assert "hidden (Dense): (3, 4), (4,); 16 params" in text
    assert "bn (BatchNormalization): (4,), (4,), (4,), (4,); 16 params" in text
    assert "Total params: 37" in text
    assert "optimizer=Adam" in text and "Optimizer state: present (Adam, iterations 2" in text


def test_inspect_keras_archive_and_weights(tmp_path):
    model = model_()
    model.save(tmp_path / "m.keras", include_optimizer=False)
    text = inspect(str(tmp_path / "m.keras"))
    assert "Keras 3 .keras archive" in text and "Optimizer state: absent" in text
    assert text.index("hidden") < text.index("bn") < text.index("out")  # the model's order
    model.save_weights(tmp_path / "w.weights.h5")
    assert "Keras 3 weights layout" in inspect(str(tmp_path / "w.weights.h5"))


def test_inspect_keras_written_file():
    text = inspect(shared_path("keras_fixtures", "keras2_seed_mlp.h5"))
    assert "Written by: Keras 2.21.0 (backend tensorflow)" in text
    assert "Total params: 221" in text and "Optimizer state: present" in text


def test_inspect_bad_files(tmp_path):
    (tmp_path / "bad.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 40)
    with pytest.raises(CorruptModelFileError, match="bad.h5"):
        inspect(str(tmp_path / "bad.h5"))
    with pytest.raises(FileNotFoundError):
        inspect(str(tmp_path / "none.h5"))


def test_convert_h5_to_json_writes_architecture_and_weights(tmp_path):
    model = model_()
    model.save(tmp_path / "model.h5")
    written = convert(tmp_path / "model.h5", tmp_path / "model.json")
    assert written == [str(tmp_path / "model.json"), str(tmp_path / "model.weights.h5")]
    rebuilt = model_from_json((tmp_path / "model.json").read_text())
    rebuilt.load_weights(tmp_path / "model.weights.h5")
    assert np.array_equal(rebuilt.predict(X, verbose=0), model.predict(X, verbose=0))


def test_convert_chain_yaml_keras_h5_keeps_predictions(tmp_path):
    model = model_()
    model.save(tmp_path / "a.keras")
    assert convert(tmp_path / "a.keras", tmp_path / "b.h5") == [str(tmp_path / "b.h5")]
    b = load_model(tmp_path / "b.h5")
    assert b.optimizer.iterations == 2  # training config and optimizer state carried over
    convert(tmp_path / "b.h5", tmp_path / "c.yaml")
    assert model_from_yaml((tmp_path / "c.yaml").read_text()).count_params() == model.count_params()
    convert(tmp_path / "c.yaml", tmp_path / "d.keras")
    convert(tmp_path / "d.keras", tmp_path / "e.weights.h5")
    fresh = Sequential.from_config(model.get_config())
    fresh.load_weights(tmp_path / "e.weights.h5")
    for path in ("b.h5", "d.keras"):
        assert np.array_equal(load_model(tmp_path / path).predict(X, verbose=0), model.predict(X, verbose=0))
    assert np.array_equal(fresh.predict(X, verbose=0), model.predict(X, verbose=0))


def test_convert_keras_fixture_to_gpunet_h5(tmp_path):
    convert(shared_path("keras_fixtures", "keras3_dropout_bn_softmax.keras"), tmp_path / "x.h5")
    exp = np.load(shared_path("keras_fixtures", "keras3_dropout_bn_softmax.expected.npz"))
    np.testing.assert_allclose(load_model(tmp_path / "x.h5").predict(exp["probe"], verbose=0), exp["predict"],
                               atol=1e-5)


def test_convert_errors(tmp_path):
    model = model_()
    model.save_weights(tmp_path / "w.h5")
    with pytest.raises(CorruptModelFileError, match="weights only"):
        convert(tmp_path / "w.h5", tmp_path / "x.keras")
    (tmp_path / "arch.json").write_text(json.dumps(json.loads(model.to_json())))
    with pytest.raises(FileNotFoundError, match="arch.weights.h5"):
        convert(tmp_path / "arch.json", tmp_path / "x.keras")
    with pytest.raises(ValueError, match="same file"):
        convert(tmp_path / "w.h5", tmp_path / "w.h5")
    assert not os.path.exists(tmp_path / "x.keras")
