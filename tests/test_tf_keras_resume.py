"""Optimizer state between gpunet and tf.keras 2.21 (the Keras 2 API), both ways, without TensorFlow.

tests/tf_keras_fixtures/ holds what tf.keras 2.21 wrote (make_fixtures.py says how): gpunet resumes
those files as tf.keras continues. The other way needs tf.keras itself, so it is checked by hand
(see gpunet/saving/optimizer_state.py): here, gpunet's ``optimizer_weights`` must be exactly the list
tf.keras's legacy optimizer writes, the one its load_model restores by position.
"""
import json
import os

import h5py
import numpy as np
import pytest

import gpunet
from gpunet.layers import Dense
from gpunet.models import Sequential, load_model
from gpunet.saving import hdf5_legacy
from tf_keras_fixtures.cases import optimizers

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tf_keras_fixtures")
EXPECTED = np.load(os.path.join(HERE, "expected.npz"))
with open(os.path.join(HERE, "legacy_layout.json"), encoding="utf-8") as _fh:
    LEGACY = json.load(_fh)
X, Y = EXPECTED["X"], EXPECTED["Y"]
CASES = sorted({key.split("/")[0] for key in EXPECTED.files if "/" in key})
FILES = [(c, ext) for c in CASES for ext in (".h5", ".keras") if os.path.exists(os.path.join(HERE, c + ext))]
# tf.keras 2.11+ slot name -> gpunet's (Keras 2's), per optimizer class.
SLOTS = {"SGD": {"m": "momentum"}, "Adamax": {"u": "v"},
         "RMSprop": {"velocity": "rms", "average_gradient": "mg"},
         "Adadelta": {"accumulated_grad": "accum_grad", "accumulated_delta_var": "accum_var"}}
GPUNET = optimizers(gpunet.optimizers)


def flat(model):
    return np.concatenate([w.ravel() for w in model.get_weights()])


@pytest.mark.parametrize("case,ext", FILES, ids=[c + e for c, e in FILES])
def test_gpunet_resumes_what_tf_keras_saved(case, ext):
    model = load_model(os.path.join(HERE, case + ext))
    state = model.optimizer.get_state()
    assert state["iterations"] == int(EXPECTED[f"{case}/iterations"]) == 6
    names = SLOTS.get(type(model.optimizer).__name__, {})
    for key in (k for k in EXPECTED.files if k.startswith(case + "/slot/")):
        slot = names.get(key.split("/")[-1], key.split("/")[-1])
        if case == "sgd":  # tf.keras's SGD keeps its last step in "m" even at momentum=0 (times 0 next step)
            assert slot not in state["slots"]
            continue
        np.testing.assert_array_equal(state["slots"][slot], EXPECTED[key])
    np.testing.assert_allclose(flat(model), EXPECTED[f"{case}/before"], rtol=0, atol=0)
    model.fit(X, Y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    # As tf.keras went on in the process that saved the file (for Nadam gpunet rebuilds the momentum
    # schedule product from the step count; tf.keras's own reload restarts it, `after_reloaded`).
    np.testing.assert_allclose(flat(model), EXPECTED[f"{case}/after"], rtol=0, atol=1e-6)


def trained(case, tmp_path):
    model = Sequential([Dense(4, input_dim=5, activation="tanh", name="dense"), Dense(2, name="dense_1")])
    model.compile(loss="mse", optimizer=GPUNET[case]())
    model.fit(X, Y, epochs=2, batch_size=8, verbose=0)
    model.save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "r") as f:
        group = f["optimizer_weights"]
        names = hdf5_legacy.load_attributes(group, "weight_names")
        return model, [(n, group[n][()]) for n in names]


@pytest.mark.parametrize("case", sorted(set(LEGACY) - {"nadam"}))
def test_gpunet_h5_lists_optimizer_state_as_tf_keras_restores_it(case, tmp_path):
    model, arrays = trained(case, tmp_path)
    # the same names, order and shapes as tf.keras's own legacy optimizer writes (what set_weights zips)
    assert [[n, list(np.shape(a))] for n, a in arrays] == LEGACY[case]
    state = model.optimizer.get_state()
    assert int(arrays[0][1]) == state["iterations"] == 6
    slots = np.concatenate([a.ravel() for _, a in arrays[1:]] or [np.zeros(0, "float32")])
    expected = [state["slots"][s] for s in model.optimizer.slot_names]  # every weight per slot, in turn
    np.testing.assert_array_equal(slots, np.concatenate(expected or [np.zeros(0, "float32")]))
    assert load_model(tmp_path / "m.h5").optimizer.get_state()["iterations"] == 6


@pytest.mark.parametrize("case", ["nadam", "adamw"])
def test_what_tf_keras_cannot_resume_keeps_keras_3s_order(case, tmp_path):
    # Nadam: tf.keras's legacy list has its momentum_cache second, where Keras 3 reads the learning rate,
    # and another update rule; AdamW: tf.keras has no legacy AdamW. Keras 3's order (its learning rate
    # second, u_product last) is one entry longer than tf.keras's legacy Nadam list: rejected whole.
    model, arrays = trained(case, tmp_path)
    assert [n for n, _ in arrays[:2]] == [f"{type(model.optimizer).__name__}/iter:0",
                                          f"{type(model.optimizer).__name__}/learning_rate:0"]
    assert float(arrays[1][1]) == pytest.approx(0.01)
    if case == "nadam":
        assert len(arrays) == len(LEGACY["nadam"]) + 1
        assert arrays[-1][0] == "Nadam/m_schedule:0"


def test_schedule_state_is_iterations_and_slots(tmp_path):
    model, arrays = trained("adam-schedule", tmp_path)
    assert [n for n, _ in arrays] == ["Adam/iter:0"] + [f"Adam/{w}/{s}:0" for s in "mv" for w in
                                                        ("dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias")]
    loaded = load_model(tmp_path / "m.h5")
    assert loaded.optimizer.iterations == 6 and float(loaded.optimizer.learning_rate) == float(
        model.optimizer.learning_rate)
