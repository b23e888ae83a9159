"""Every file real Keras wrote (shared/keras_fixtures) loads in gpunet with Keras's predictions and
evaluation, and its optimizer state (iterations and slots) is restored."""
import json
import os

import h5py
import numpy as np
import pytest

from gpunet.models import load_model, model_from_json
from gpunet.saving import hdf5_legacy
from conftest import FIXTURES, shared_path

CASES = ["seed_mlp", "dropout_bn_softmax"]
MODEL_FILES = [(f, c, ext) for f in ("keras2", "keras3") for c in CASES for ext in (".h5", ".keras")
               if not (f == "keras2" and ext == ".keras")]


def expected(flavor, case):
    return np.load(shared_path("keras_fixtures", f"{flavor}_{case}.expected.npz"))


@pytest.mark.parametrize("flavor,case,ext", MODEL_FILES, ids=[f"{f}_{c}{e}" for f, c, e in MODEL_FILES])
def test_load_model_predicts_and_evaluates_like_keras(flavor, case, ext):
    exp = expected(flavor, case)
    model = load_model(shared_path("keras_fixtures", f"{flavor}_{case}{ext}"))
    np.testing.assert_allclose(model.predict(exp["probe"], verbose=0), exp["predict"], rtol=0, atol=1e-5)
    loss, accuracy = model.evaluate(exp["X"], exp["Y"], verbose=0)
    np.testing.assert_allclose([loss, accuracy], exp["evaluate"], rtol=0, atol=1e-5)


@pytest.mark.parametrize("flavor", ["keras2", "keras3"])
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("weights", [".weights.h5", ".h5"])
def test_load_weights_into_the_json_architecture(flavor, case, weights):
    exp = expected(flavor, case)
    with open(shared_path("keras_fixtures", f"{flavor}_{case}.json"), encoding="utf-8") as fh:
        model = model_from_json(fh.read())
    report = model.load_weights(shared_path("keras_fixtures", f"{flavor}_{case}{weights}"))
    assert report.complete and len(report.loaded) == len(model.weights)
    np.testing.assert_allclose(model.predict(exp["probe"], verbose=0), exp["predict"], rtol=0, atol=1e-5)


def test_keras3_weights_file_loads_by_name_from_its_recorded_names():
    with open(shared_path("keras_fixtures", "keras3_dropout_bn_softmax.json"), encoding="utf-8") as fh:
        model = model_from_json(fh.read())
    report = model.load_weights(shared_path("keras_fixtures", "keras3_dropout_bn_softmax.weights.h5"), by_name=True)
    assert report.complete and "dense_4/kernel" in report.loaded


def test_tf_keras_weights_file_without_names_refuses_by_name():
    with open(shared_path("keras_fixtures", "keras2_seed_mlp.json"), encoding="utf-8") as fh:
        model = model_from_json(fh.read())
    with pytest.raises(ValueError, match="no layer names"):
        model.load_weights(shared_path("keras_fixtures", "keras2_seed_mlp.weights.h5"), by_name=True)


def _keras_slots(path):
    """``{(layer, weight, slot_word): array}`` from a fixture's optimizer_weights group."""
    with h5py.File(path, "r") as f:
        group = f["optimizer_weights"]
        return {name: group[name][()] for name in hdf5_legacy.load_attributes(group, "weight_names")}


@pytest.mark.parametrize("flavor", ["keras2", "keras3"])
def test_adam_state_restored_from_keras_names(flavor):
    path = shared_path("keras_fixtures", f"{flavor}_seed_mlp.h5")
    model = load_model(path)
    stored = _keras_slots(path)
    iterations = [v for k, v in stored.items() if k.split(":")[0].endswith("iteration")]
    assert model.optimizer.iterations == int(iterations[0]) == 770
    slots = model.optimizer.get_state()["slots"]
    layout = {p: (off, shape) for p, off, shape in model._layout}
    for path_, (off, shape) in layout.items():
        layer, weight = path_.split("/")
        n = int(np.prod(shape))
        if flavor == "keras2":
            names = {"m": f"Adam/m/{layer}/{weight}:0", "v": f"Adam/v/{layer}/{weight}:0"}
        else:
            names = {"m": f"adam/sequential_{layer}_{weight}_momentum", "v": f"adam/sequential_{layer}_{weight}_velocity"}
        for slot, name in names.items():
            assert np.array_equal(slots[slot][off:off + n].reshape(shape), stored[name]), (path_, slot)


@pytest.mark.parametrize("flavor", ["keras2", "keras3"])
def test_sgd_momentum_state_restored(flavor):
    path = shared_path("keras_fixtures", f"{flavor}_dropout_bn_softmax.h5")
    model = load_model(path)
    assert type(model.optimizer).__name__ == "SGD" and model.optimizer.nesterov
    assert model.optimizer.iterations == 50
    momentum = model.optimizer.get_state()["slots"]["momentum"]
    assert momentum.any()
    off, shape = next((o, s) for p, o, s in model._layout if p == "dense_5/kernel")
    stored = _keras_slots(path)
    name = "SGD/m/dense_5/kernel:0" if flavor == "keras2" else "sgd/sequential_1_dense_5_kernel_momentum"
    assert np.array_equal(momentum[off:off + int(np.prod(shape))].reshape(shape), stored[name])


def test_keras3_archive_positional_optimizer_state():
    model = load_model(shared_path("keras_fixtures", "keras3_seed_mlp.keras"))
    reference = load_model(shared_path("keras_fixtures", "keras3_seed_mlp.h5"))
    assert model.optimizer.iterations == reference.optimizer.iterations == 770
    for name, slot in reference.optimizer.get_state()["slots"].items():
        assert np.array_equal(slot, model.optimizer.get_state()["slots"][name])


def test_training_continues_from_keras_state():
    exp = expected("keras2", "seed_mlp")
    a = load_model(shared_path("keras_fixtures", "keras2_seed_mlp.h5"))
    b = load_model(shared_path("keras_fixtures", "keras3_seed_mlp.h5"))
    for model in (a, b):
        before = model.evaluate(exp["X"], exp["Y"], verbose=0)[0]
        model.fit(exp["X"], exp["Y"], epochs=3, batch_size=32, verbose=0)
        after = model.evaluate(exp["X"], exp["Y"], verbose=0)[0]
        assert model.optimizer.iterations == 770 + 3 * 24
        assert after < before  # warm Adam moments keep improving instead of jumping


def test_index_files_describe_what_loads():
    for flavor in ("keras2", "keras3"):
        with open(os.path.join(FIXTURES, f"{flavor}_index.json"), encoding="utf-8") as fh:
            index = json.load(fh)
        for case, entry in index.items():
            model = load_model(os.path.join(FIXTURES, entry["full_h5"]))
            assert model.loss == entry["compile"]["loss"]
