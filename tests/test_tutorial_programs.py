"""Whole Keras 2 tutorial programs run with gpunet's imports (gpunet only, no tf.keras): the
outcomes a user of the tutorial would see."""
import numpy as np
import pytest

import gpunet.backend as K
from gpunet.layers import Dense, Dropout, InputLayer, Lambda
from gpunet.models import Sequential, clone_model
from gpunet.utils import set_random_seed


def _pima_like(n=200):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (n, 8)).astype("float32")
    y = (x[:, 0] + 0.5 * x[:, 1] + 0.1 * rng.standard_normal(n) > 0.8).astype("float32")
    return x, y


def focal(y_true, y_pred):
    y_pred = K.clip(y_pred, K.epsilon(), 1 - K.epsilon())
    pt = K.switch(K.equal(y_true, 1), y_pred, 1 - y_pred)
    return -K.mean(K.pow(1. - pt, 2) * K.log(pt), axis=-1)


def antirectifier(x):
    x -= K.mean(x, axis=1, keepdims=True)
    x = K.l2_normalize(x, axis=1)
    return K.concatenate([K.relu(x), K.relu(-x)], axis=1)


def test_focal_loss_and_antirectifier_lambda_train_downhill():
    # Both use a value along two paths of different lengths; the tape used to drop one path's
    # gradient, and the focal-loss tutorial's loss then rose epoch after epoch.
    set_random_seed(7)
    x, y = _pima_like()
    model = Sequential([Dense(12, input_dim=8, activation="relu"), Lambda(antirectifier),
                        Dense(1, activation="sigmoid")])
    model.compile(loss=focal, optimizer="adam", metrics=["accuracy"])
    history = model.fit(x, y, epochs=8, batch_size=10, verbose=0)
    losses = history.history["loss"]
    assert all(b < a for a, b in zip(losses, losses[1:])), losses
    assert history.history["accuracy"][-1] > 0.7


def test_clone_model_as_keras_2():
    set_random_seed(7)
    x, y = _pima_like(40)
    model = Sequential([InputLayer(input_shape=(8,)), Dense(12, activation="relu"), Dropout(0.2),
                        Dense(1, activation="sigmoid")], name="base")
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    clone = clone_model(model)
    # same architecture and names, new weights, not compiled (Keras's clone_model)
    assert clone.name == "base" and [l.name for l in clone.layers] == ["dense", "dropout", "dense_1"]
    assert clone.input_shape == (None, 8) and clone.optimizer is None
    assert not np.array_equal(clone.get_weights()[0], model.get_weights()[0])
    clone.set_weights(model.get_weights())
    clone.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    assert clone.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)
    relu6 = clone_model(model, clone_function=lambda layer: layer.__class__.from_config(
        {**layer.get_config(), "activation": "relu6"} if isinstance(layer, Dense) else layer.get_config()))
    assert [l.get_config().get("activation") for l in relu6.layers] == ["relu6", None, "relu6"]
    with pytest.raises(ValueError, match="input_tensors"):
        clone_model(model, input_tensors=[x])
