"""pandas DataFrames and Series as Keras users pass them (``model.fit(df[features], df["label"])``, a dict of
columns for a model made from a dict of inputs): trained exactly as the same NumPy arrays."""
import os

import numpy as np
import pytest

import gpunet
from gpunet.layers import Dense, Input, concatenate
from gpunet.models import Model, Sequential

pd = pytest.importorskip("pandas")
SHARED = os.environ.get("GPUNET_SHARED", os.path.join(os.path.dirname(__file__), "..", "..", "shared"))


@pytest.fixture
def pima():
    path = os.path.join(SHARED, "data", "pima-indians-diabetes.csv")
    if not os.path.exists(path):
        pytest.skip(f"{path} is not here (../shared/data)")
    frame = pd.read_csv(path, header=None)
    frame.columns = [f"f{i}" for i in range(8)] + ["label"]
    return frame


def _train(x, y, sample_weight=None, make=None):
    gpunet.utils.set_random_seed(5)
    model = make() if make else Sequential([Dense(12, activation="relu", input_shape=(8,)),
                                            Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, sample_weight=sample_weight, epochs=3, batch_size=32, validation_split=0.2,
                        verbose=0).history
    return history, model.evaluate(x, y, verbose=0), model.predict(x, verbose=0)


def test_a_dataframe_and_series_train_as_their_arrays(pima):
    features, label = pima.iloc[:, :8], pima["label"]
    weights = pd.Series(np.where(label == 1, 2.0, 1.0))
    got = _train(features, label, weights)
    want = _train(features.to_numpy(), label.to_numpy(), weights.to_numpy())
    assert got[0] == want[0] and got[1] == want[1]
    np.testing.assert_array_equal(got[2], want[2])


def test_a_dict_of_columns_feeds_a_model_made_from_a_dict_of_inputs(pima):
    def make():
        inputs = {name: Input((1,), name=name) for name in pima.columns[:8]}
        h = Dense(12, activation="relu")(concatenate(list(inputs.values())))
        return Model(inputs, Dense(1, activation="sigmoid")(h))
    got = _train(dict(pima.iloc[:, :8]), pima["label"], make=make)
    want = _train({name: pima[name].to_numpy()[:, None] for name in pima.columns[:8]}, pima["label"].to_numpy(),
                  make=make)
    assert got[0] == want[0] and got[1] == want[1]
    np.testing.assert_array_equal(got[2], want[2])
