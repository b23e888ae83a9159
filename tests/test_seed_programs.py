"""The seeds' programs, with only ``from keras.`` changed to ``from gpunet.``.

Seed 000 (machinelearningmastery's "save and load your Keras models"): JSON and YAML
architecture + HDF5 weights, each printing the same accuracy before and after reloading.
Seed 001 (a Keras saving tutorial): save / del / load_model / fit / evaluate, and
``load_weights(by_name=True)`` into a model with ``dense_1`` and ``new_dense``.
"""
import glob
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from gpunet.layers import Dense
from gpunet.models import Sequential, load_model
from conftest import SHARED, shared_path

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def seed_programs():
    """The two complete programs of seed 000 (the code blocks that import keras)."""
    path = glob.glob(os.path.join(SHARED, "seeds", "000_*.txt"))
    if not path:
        pytest.fail(f"missing seed 000 under {SHARED}/seeds: CI runs with ../shared beside the clone")
    with open(path[0], encoding="utf-8") as fh:
        blocks = re.findall(r"```py\n(.*?)```", fh.read(), flags=re.S)
    return [b for b in blocks if "from keras." in b]


@pytest.mark.parametrize("index", [0, 1], ids=["json", "yaml"])
def test_seed_000_program_prints_the_same_accuracy_twice(tmp_path, index):
    program = seed_programs()[index]
    program = program.replace("from keras.", "from gpunet.")
    program = program.replace('"pima-indians-diabetes.csv"',
                              repr(shared_path("data", "pima-indians-diabetes.csv")))
    program = program.replace("epochs=150", "epochs=12")  # shorter, same code path
    assert "from keras" not in program and "epochs=12" in program
    (tmp_path / "program.py").write_text(program, encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    run = subprocess.run([sys.executable, "program.py"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    scores = re.findall(r"^(\w+): (\d+\.\d\d)%$", run.stdout, flags=re.M)
    assert len(scores) == 2 and scores[0] == scores[1], run.stdout
    assert 50.0 < float(scores[0][1]) <= 100.0
    assert "Saved model to disk" in run.stdout and "Loaded model from disk" in run.stdout
    assert (tmp_path / "model.h5").exists() and (tmp_path / ("model.json", "model.yaml")[index]).exists()


def _pima():
    data = np.loadtxt(shared_path("data", "pima-indians-diabetes.csv"), delimiter=",")
    return data[:, 0:8], data[:, 8]


def test_seed_001_save_del_load_fit_evaluate(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    X, Y = _pima()
    X_train, Y_train, X_test, Y_test = X[:600], Y[:600], X[600:], Y[600:]
    model = Sequential()
    model.add(Dense(12, input_dim=8, kernel_initializer="uniform", activation="relu"))
    model.add(Dense(1, kernel_initializer="uniform", activation="sigmoid"))
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.fit(X_train, Y_train, epochs=3, batch_size=10, verbose=0)
    expected = model.evaluate(X_test, Y_test, verbose=0)

    model.save("my_model.h5")  # save the model
    del model  # delete the existing model
    model = load_model("my_model.h5")  # a compiled model, identical to the deleted one
    preds = model.evaluate(X_test, Y_test, verbose=0)
    assert preds == expected
    model.fit(X_train, Y_train, verbose=0)  # training can continue
    preds = model.evaluate(X_test, Y_test, verbose=0)
    print("Loss = " + str(preds[0]))
    print("Test Accuracy = " + str(preds[1]))
    assert model.optimizer.iterations == 3 * 60 + 19  # fit continued the saved Adam: 19 more steps of 32


def test_seed_001_load_weights_by_name_for_transfer_learning(tmp_path):
    fname = str(tmp_path / "my_model_weights.h5")
    original = Sequential()
    original.add(Dense(2, input_dim=3, name="dense_1"))
    original.add(Dense(3, name="dense_2"))
    original.save_weights(fname)

    model = Sequential()
    model.add(Dense(2, input_dim=3, name="dense_1"))  # same name: gets the weights
    model.add(Dense(10, name="new_dense"))  # new name: keeps its own
    untouched = model.get_layer("new_dense").get_weights()
    report = model.load_weights(fname, by_name=True)

    assert all(np.array_equal(a, b) for a, b in zip(model.get_layer("dense_1").get_weights(),
                                                     original.get_layer("dense_1").get_weights()))
    assert all(np.array_equal(a, b) for a, b in zip(model.get_layer("new_dense").get_weights(), untouched))
    assert report.loaded == ["dense_1/kernel", "dense_1/bias"]
    assert report.missing_in_file == ["new_dense/kernel", "new_dense/bias"]
    assert report.unexpected_in_file == ["dense_2/kernel", "dense_2/bias"]
