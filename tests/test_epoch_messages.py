"""Callbacks print epochs one way, ``Epoch N:`` (tf.keras 2.8+), ModelCheckpoint included."""
import re

import numpy as np

from gpunet.callbacks import EarlyStopping, ModelCheckpoint, ReduceLROnPlateau
from gpunet.layers import Dense
from gpunet.models import Sequential


def test_every_callback_message_starts_with_epoch_n(tmp_path, capsys):
    x = np.random.RandomState(0).rand(20, 3).astype("float32")
    y = np.zeros((20, 1), "float32")
    model = Sequential([Dense(1, input_dim=3)])
    model.compile("sgd", "mse")
    callbacks = [ModelCheckpoint(str(tmp_path / "m.h5"), monitor="loss", save_best_only=True, verbose=1),
                 ReduceLROnPlateau(monitor="loss", patience=0, min_delta=10.0, verbose=1),
                 EarlyStopping(monitor="loss", patience=1, min_delta=10.0, verbose=1)]
    model.fit(x, y, epochs=5, batch_size=10, verbose=0, callbacks=callbacks)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Epoch")]
    assert any("saving model to" in line for line in lines) and any("early stopping" in line for line in lines)
    assert any("ReduceLROnPlateau" in line for line in lines)
    assert all(re.match(r"Epoch [1-9]\d*: ", line) for line in lines), lines
