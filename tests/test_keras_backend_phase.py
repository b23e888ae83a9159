"""Keras 2's learning-phase functions (``K.in_train_phase``, ``K.in_test_phase``, ``K.set_learning_phase``,
``K.learning_phase_scope``) against tf.keras 2.21: at the top level, in calls without ``training``, and
inside a ``Lambda`` during ``fit``/``predict``/``evaluate``."""
import warnings

import numpy as np
import pytest

import gpunet
import gpunet.backend as K

from keras_support import tf_keras_or_skip

tf_keras = tf_keras_or_skip()
TK = tf_keras.backend


def _host(a):
    """Host values of a tensor, backend array or TF tensor."""
    return np.asarray(a.numpy() if hasattr(a, "numpy") else a)


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    yield
    K.clear_session()  # (the learning phase a test set)
    TK.clear_session()


def test_learning_phase_functions_match_tf_keras():
    def trace(Kb):
        out = [Kb.in_train_phase(1.0, 2.0), Kb.in_test_phase(1.0, 2.0)]
        with pytest.warns(UserWarning, match="deprecated"):
            Kb.set_learning_phase(1)
        out += [Kb.in_train_phase(1.0, 2.0), Kb.in_train_phase(lambda: 3.0, lambda: 4.0), Kb.in_test_phase(1.0, 2.0)]
        with pytest.warns(UserWarning, match="deprecated"):
            with Kb.learning_phase_scope(0):
                out.append(Kb.in_train_phase(1.0, 2.0))
        out += [Kb.in_train_phase(1.0, 2.0), Kb.in_train_phase(1.0, 2.0, training=False),
                Kb.in_test_phase(1.0, 2.0, training=0), Kb.in_train_phase(1.0, 2.0, training=np.int64(1))]
        Kb.clear_session()
        out.append(Kb.in_train_phase(1.0, 2.0))
        with pytest.raises(ValueError, match="Expected learning phase to be 0 or 1"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (tf.keras 2 warns before it checks)
            Kb.set_learning_phase(2)
        return out
    assert trace(K) == trace(TK) == [2.0, 1.0, 1.0, 3.0, 2.0, 2.0, 1.0, 2.0, 1.0, 1.0, 2.0]


def test_in_train_phase_with_tensor_flags_matches_tf_keras(ops):
    a, b = np.array([1.0, 2.0, 3.0], "float32"), np.array([4.0, 5.0, 6.0], "float32")
    for flag in (True, False, [True, False, True]):
        mine = K.in_train_phase(K.constant(a), K.constant(b), training=K.constant(flag, dtype="bool"))
        theirs = TK.in_train_phase(TK.constant(a), TK.constant(b), training=TK.constant(flag))
        np.testing.assert_array_equal(_host(mine), theirs.numpy())


def _zeros(a):
    return float((_host(a) == 0).mean())


def test_a_set_learning_phase_drives_calls_without_training_as_in_tf_keras():
    x = np.ones((4, 500), "float32")
    for lib in (gpunet, tf_keras):
        layer, inputs = lib.layers.Dropout(0.5), lib.Input((500,))
        model = lib.Model(inputs, lib.layers.Dropout(0.5)(inputs))
        assert (_zeros(layer(x)), _zeros(model(x))) == (0.0, 0.0)
        with pytest.warns(UserWarning):
            lib.backend.set_learning_phase(1)
        assert 0.4 < _zeros(layer(x)) < 0.6 and 0.4 < _zeros(model(x)) < 0.6, lib
        assert _zeros(model.predict(x, verbose=0)) == 0.0 and _zeros(model(x, training=False)) == 0.0
        if lib is gpunet:  # K.function without the phase among its inputs follows it too
            assert 0.4 < _zeros(K.function([inputs], [model.output])([x])[0]) < 0.6
        lib.backend.clear_session()
        assert (_zeros(layer(x)), _zeros(model(x))) == (0.0, 0.0)


def drop_half(x):
    return K.in_train_phase(K.dropout(x, 0.5), x)


def tf_drop_half(x):
    return TK.in_train_phase(TK.dropout(x, 0.5), x)


def test_in_train_phase_in_a_lambda_drops_in_fit_only_as_in_tf_keras(ops):
    x, y = np.ones((64, 200), "float32"), np.full((64, 1), 200.0, "float32")
    for lib, fn in ((gpunet, drop_half), (tf_keras, tf_drop_half)):
        model = lib.models.Sequential([lib.layers.Lambda(fn, input_shape=(200,)),
                                       lib.layers.Dense(1, kernel_initializer="ones", use_bias=False)])
        model.compile(optimizer=lib.optimizers.SGD(0.0), loss="mse")
        np.testing.assert_array_equal(model.predict(x, verbose=0), y)
        assert model.evaluate(x, y, verbose=0) == 0.0
        # in training each of the 200 ones is 0 or 2: the sum's variance (the mean squared error) is about 200
        assert 100 < model.fit(x, y, epochs=1, batch_size=16, verbose=0).history["loss"][0] < 300, lib
        assert np.var(_host(model(x, training=True))) > 50 and np.var(_host(model(x))) == 0.0


def test_bad_phases_are_named():
    for call in (lambda: K.set_learning_phase(2), lambda: K.learning_phase_scope(-1).__enter__()):
        with pytest.raises(ValueError, match="Expected learning phase to be 0 or 1, received "):
            call()
    assert K.in_train_phase(1.0, 2.0) == 2.0  # nothing was set


def test_the_learning_phase_placeholder_reads_as_the_phase_set():
    phase = K.learning_phase()
    assert (int(phase), bool(phase), K.in_train_phase(1.0, 2.0, training=phase)) == (0, False, 2.0)
    with pytest.warns(UserWarning):
        with K.learning_phase_scope(1):
            assert (int(phase), bool(phase), K.in_train_phase(1.0, 2.0, training=phase)) == (1, True, 1.0)
    assert int(phase) == 0
