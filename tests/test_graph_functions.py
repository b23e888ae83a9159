"""Keras 2's ``K.function`` and ``K.learning_phase`` (the FAQ's "intermediate layer output")."""
import numpy as np
import pytest

import gpunet
from gpunet import backend as K
from gpunet.layers import Dense, Dropout, Input


def _model():
    return gpunet.Sequential([Input((4,)), Dense(5, activation="relu", name="h"), Dropout(0.5, name="drop"),
                              Dense(2, name="out")])


def test_the_faq_example(tfk):
    model = _model()
    ref = tfk.Sequential([tfk.Input((4,)), tfk.layers.Dense(5, activation="relu", name="h"),
                          tfk.layers.Dropout(0.5, name="drop"), tfk.layers.Dense(2, name="out")])
    model.set_weights(ref.get_weights())
    x = np.random.default_rng(0).normal(size=(6, 4)).astype("float32")
    get_hidden = K.function([model.layers[0].input], [model.layers[0].output])
    ref_hidden = tfk.backend.function([ref.layers[0].input], [ref.layers[0].output])
    np.testing.assert_allclose(get_hidden([x])[0], ref_hidden([x])[0], rtol=1e-6)
    both = K.function(model.input, [model.get_layer("h").output, model.output])
    h, out = both(x)
    np.testing.assert_allclose(out, model.predict(x, verbose=0), rtol=1e-6)
    assert h.shape == (6, 5) and K.int_shape(model.output) == (None, 2)


def test_learning_phase_switches_dropout():
    model = _model()
    f = K.function([model.input, K.learning_phase()], [model.get_layer("drop").output])
    x = np.ones((50, 4), "float32")
    test, train = f([x, 0])[0], f([x, 1])[0]
    np.testing.assert_array_equal(test, f([x, 0])[0])
    assert (train == 0).sum() > (test == 0).sum()
    with pytest.raises(NotImplementedError, match="updates"):
        K.function([model.input], [model.output], updates=[1])
