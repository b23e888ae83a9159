"""``keras.utils`` odds and ends from tf.keras 2: interactive logging (progress bars and callback messages to
standard output, or to a logger for a server's job), ``to_ordinal``, ``get_source_inputs``."""
import logging

import numpy as np
import pytest

import gpunet
from gpunet.layers import Dense, Input
from gpunet.models import Model, Sequential

from keras_support import tf_keras_or_skip


@pytest.fixture
def quiet():
    gpunet.utils.disable_interactive_logging()
    yield
    gpunet.utils.enable_interactive_logging()


def _fit(verbose):
    model = Sequential([Dense(1, input_shape=(2,))])
    model.compile(optimizer="sgd", loss="mse")
    x = np.ones((8, 2), "float32")
    stop = gpunet.callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=1e9, verbose=1)
    model.fit(x, x[:, :1], epochs=3, verbose=verbose, callbacks=[stop])


def test_disabled_interactive_logging_sends_bars_and_messages_to_the_logger(quiet, capsys, caplog):
    assert not gpunet.utils.is_interactive_logging_enabled()
    with caplog.at_level(logging.INFO, logger="gpunet"):
        _fit(verbose=1)
    assert capsys.readouterr().out == ""
    text = "".join(r.getMessage() for r in caplog.records if r.name == "gpunet")
    assert "Epoch 1/3" in text and "1/1 [==============================]" in text and "Epoch 2: early stopping" in text


def test_keras3_keeps_them_in_config_too():
    assert gpunet.config.disable_interactive_logging is gpunet.utils.disable_interactive_logging
    assert gpunet.config.is_interactive_logging_enabled is gpunet.utils.is_interactive_logging_enabled


def test_enabled_interactive_logging_writes_to_standard_output(capsys, caplog):
    assert gpunet.utils.is_interactive_logging_enabled()
    with caplog.at_level(logging.INFO, logger="gpunet"):
        _fit(verbose=2)
    out = capsys.readouterr().out
    assert "Epoch 1/3" in out and "Epoch 2: early stopping" in out and " - loss: " in out
    assert not [r for r in caplog.records if r.name == "gpunet"]


@pytest.mark.parametrize("y, classes", [([0, 1, 2, 3], 4), ([[0], [2], [1]], None), ([[1, 0], [2, 2]], 3), ([], 2)])
def test_to_ordinal_matches_tf_keras(y, classes):
    tf_keras = tf_keras_or_skip()
    got, want = gpunet.utils.to_ordinal(y, classes), tf_keras.utils.to_ordinal(y, classes)
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


def test_to_ordinal_refuses_indices_outside_the_classes():
    with pytest.raises(ValueError, match=r"class indices in \[0, num_classes=3\), received values from 0 to 3"):
        gpunet.utils.to_ordinal([0, 3], 3)
    with pytest.raises(ValueError, match=r"received values from -1 to 1"):
        gpunet.utils.to_ordinal([-1, 1])


def test_get_source_inputs_is_in_utils_too():
    i = Input((3,))
    out = Dense(2)(Dense(4)(i))
    assert gpunet.utils.get_source_inputs(out) == [i]
    assert Model(i, out).inputs == gpunet.utils.get_source_inputs(out)
