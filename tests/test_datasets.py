"""The seed's network on the real Pima data, and a softmax MLP on Iris."""
import numpy as np

import gpunet
from gpunet.models import Sequential
from gpunet.layers import Dense
from conftest import shared_path


def test_seed_network_on_pima_reaches_75_percent():
    gpunet.utils.set_random_seed(7)
    dataset = np.loadtxt(shared_path("data", "pima-indians-diabetes.csv"), delimiter=",")
    X, Y = dataset[:, 0:8], dataset[:, 8]
    model = Sequential()
    model.add(Dense(12, input_dim=8, kernel_initializer="uniform", activation="relu"))
    model.add(Dense(8, kernel_initializer="uniform", activation="relu"))
    model.add(Dense(1, kernel_initializer="uniform", activation="sigmoid"))
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.fit(X, Y, epochs=150, batch_size=10, verbose=0)
    loss, acc = model.evaluate(X, Y, verbose=0)
    assert acc >= 0.75, f"training accuracy {acc:.4f} (loss {loss:.4f})"


def test_softmax_mlp_on_iris_reaches_90_percent():
    gpunet.utils.set_random_seed(7)
    rows = [line.strip().split(",") for line in open(shared_path("data", "iris.csv")) if line.strip()]
    X = np.array([[float(v) for v in r[:4]] for r in rows])
    names = sorted({r[4] for r in rows})
    labels = np.array([names.index(r[4]) for r in rows])
    Y = gpunet.utils.to_categorical(labels, 3)
    model = Sequential([Dense(8, input_dim=4, activation="relu"), Dense(3, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.fit(X, Y, epochs=200, batch_size=5, verbose=0)
    loss, acc = model.evaluate(X, Y, verbose=0)
    assert acc >= 0.90, f"training accuracy {acc:.4f} (loss {loss:.4f})"
