"""Real Keras 3 loads gpunet files that name a user's loss and activation, given Keras functions of
the same names in custom_objects (CI's interop extra: keras + torch CPU)."""
import numpy as np
import pytest

import gpunet.backend as K
from gpunet.layers import Activation, Dense
from gpunet.models import Sequential, load_model
from keras_support import keras_on_torch

keras = keras_on_torch()

RNG = np.random.RandomState(5)
X = RNG.rand(40, 4).astype("float32")
Y = RNG.rand(40, 1).astype("float32")


def my_loss(y_true, y_pred):
    return K.mean(K.square(y_pred - y_true), axis=-1)


def scaled_tanh(x):
    return 1.7159 * K.tanh(x * (2.0 / 3.0))


def keras_loss(y_true, y_pred):
    return keras.ops.mean(keras.ops.square(y_pred - y_true), axis=-1)


def keras_scaled_tanh(x):
    return 1.7159 * keras.ops.tanh(x * (2.0 / 3.0))


@pytest.mark.parametrize("ext", [".h5", ".keras"])
def test_keras_loads_a_gpunet_file_naming_a_custom_loss_and_activation(tmp_path, ext):
    model = Sequential([Dense(6, input_dim=4, activation=scaled_tanh), Activation(scaled_tanh), Dense(1)])
    model.compile(optimizer="adam", loss=my_loss)
    model.fit(X, Y, epochs=2, batch_size=8, verbose=0)
    model.save(tmp_path / ("m" + ext))
    k = keras.models.load_model(str(tmp_path / ("m" + ext)),
                                custom_objects={"my_loss": keras_loss, "scaled_tanh": keras_scaled_tanh})
    assert k.layers[0].activation is keras_scaled_tanh and k.loss is keras_loss
    np.testing.assert_allclose(np.asarray(k.predict(X, verbose=0)), model.predict(X, verbose=0), atol=1e-5)
    np.testing.assert_allclose(k.evaluate(X, Y, verbose=0), model.evaluate(X, Y, verbose=0), rtol=1e-5)
    if ext == ".keras":  # Keras 3's legacy .h5 loader builds a Sequential's optimizer over no variables
        k.fit(X, Y, epochs=1, batch_size=8, verbose=0)
    # and gpunet reads its own file back with its own functions
    again = load_model(tmp_path / ("m" + ext), custom_objects={"my_loss": my_loss, "scaled_tanh": scaled_tanh})
    np.testing.assert_array_equal(again.predict(X, verbose=0), model.predict(X, verbose=0))
