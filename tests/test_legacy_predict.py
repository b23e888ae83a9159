"""Keras 2's predict_classes / predict_proba, deprecated with the modern idiom in the warning."""
import numpy as np
import pytest

from gpunet.layers import Dense
from gpunet.models import Sequential

X = np.random.RandomState(2).rand(7, 4).astype("float32")


def test_predict_classes_for_one_sigmoid_unit_is_int32_column():
    model = Sequential([Dense(3, input_dim=4, activation="relu"), Dense(1, activation="sigmoid")])
    with pytest.warns(DeprecationWarning, match=r"predict_classes\(\)` is deprecated.*> 0.5\).astype\('int32'\)"):
        classes = model.predict_classes(X)
    proba = model.predict(X, verbose=0)
    assert classes.dtype == np.int32 and classes.shape == (7, 1)
    assert np.array_equal(classes, (proba > 0.5).astype("int32"))


def test_predict_classes_for_softmax_is_argmax_and_predict_proba_is_predict():
    model = Sequential([Dense(3, input_dim=4, activation="softmax")])
    with pytest.warns(DeprecationWarning, match=r"np.argmax\(model.predict\(x\), axis=-1\)"):
        classes = model.predict_classes(X, batch_size=3)
    proba = model.predict(X, verbose=0)
    assert classes.shape == (7,) and np.array_equal(classes, proba.argmax(axis=-1))
    with pytest.warns(DeprecationWarning, match=r"predict_proba\(\)` is deprecated.*model.predict\(x\)"):
        assert np.array_equal(model.predict_proba(X), proba)
