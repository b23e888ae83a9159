"""The tf.keras 2 guide "The Functional API", its Keras parts (no convolutions, no LSTM): integer
inputs for a shared Embedding, an ensemble of models called like layers, ``Model.from_config``
with a custom layer, and ``save``/``load_model`` of the MNIST model."""
import numpy as np
import pytest

import gpunet as keras
from gpunet import backend as K
from gpunet import layers


class CustomDense(layers.Layer):
    def __init__(self, units=32):
        super(CustomDense, self).__init__()
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal", trainable=True)
        self.b = self.add_weight(shape=(self.units,), initializer="random_normal", trainable=True)

    def call(self, inputs):
        return K.dot(inputs, self.w) + self.b

    def get_config(self):
        return {"units": self.units}


def test_model_from_config_rebuilds_the_graph_with_a_custom_layer():
    inputs = keras.Input((4,))
    outputs = CustomDense(10)(inputs)
    model = keras.Model(inputs, outputs)
    config = model.get_config()
    new_model = keras.Model.from_config(config, custom_objects={"CustomDense": CustomDense})
    assert [type(l).__name__ for l in new_model.layers] == ["InputLayer", "CustomDense"]
    new_model.set_weights(model.get_weights())
    x = np.random.default_rng(0).random((3, 4)).astype("float32")
    np.testing.assert_array_equal(new_model.predict(x, verbose=0), model.predict(x, verbose=0))
    with pytest.raises(ValueError, match="Model.from_config expects a functional model's config"):
        keras.Model.from_config({"units": 3})


def test_integer_inputs_feed_a_shared_embedding_and_save_as_int32(tfk, tmp_path):
    shared_embedding = layers.Embedding(50, 8)
    # (the guide's shape=(None,): gpunet packs several inputs side by side, so their lengths are fixed)
    text_input_a = keras.Input(shape=(7,), dtype="int32")
    text_input_b = keras.Input(shape=(7,), dtype="int32")
    pooled = [layers.GlobalAveragePooling1D()(shared_embedding(t)) for t in (text_input_a, text_input_b)]
    outputs = layers.Dense(1)(layers.concatenate(pooled))
    model = keras.Model([text_input_a, text_input_b], outputs)
    assert text_input_a.dtype == "int32" and model.get_config()["layers"][0]["config"]["dtype"] == "int32"
    rng = np.random.default_rng(1)
    a, b, y = rng.integers(0, 50, (32, 7)), rng.integers(0, 50, (32, 7)), rng.random(32)
    model.compile("adam", "mse")
    history = model.fit([a, b], y, epochs=3, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    model.save(tmp_path / "text.h5")
    ref = tfk.models.load_model(tmp_path / "text.h5")
    assert ref.inputs[0].dtype == "int32"
    np.testing.assert_allclose(ref.predict([a, b], verbose=0), model.predict([a, b], verbose=0), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="Unsupported layer dtype 'int32'"):
        layers.Dense(2, dtype="int32")  # integer types are for inputs only


def test_the_mnist_model_and_an_ensemble(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    inputs = keras.Input(shape=(784,))
    x = layers.Dense(64, activation="relu")(inputs)
    x = layers.Dense(64, activation="relu")(x)
    outputs = layers.Dense(10)(x)
    model = keras.Model(inputs=inputs, outputs=outputs, name="mnist_model")
    model.summary()
    assert 'Model: "mnist_model"' in capsys.readouterr().out
    rng = np.random.default_rng(0)
    x_train = rng.random((200, 784)).astype("float32")
    y_train = (x_train[:, :10].argmax(1)).astype("uint8")
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  optimizer=keras.optimizers.RMSprop(), metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=64, epochs=2, validation_split=0.2, verbose=0)
    scores = model.evaluate(x_train, y_train, verbose=0)
    model.save("path_to_my_model")  # (the guide's SavedModel directory: gpunet writes one HDF5 file there)
    del model
    model = keras.models.load_model("path_to_my_model")
    np.testing.assert_allclose(model.evaluate(x_train, y_train, verbose=0), scores, rtol=1e-6)

    def get_model():
        inputs = keras.Input(shape=(128,))
        outputs = layers.Dense(1)(inputs)
        return keras.Model(inputs, outputs)

    members = [get_model() for _ in range(3)]
    inputs = keras.Input(shape=(128,))
    outputs = layers.average([m(inputs) for m in members])
    ensemble_model = keras.Model(inputs=inputs, outputs=outputs)
    x = rng.random((4, 128)).astype("float32")
    np.testing.assert_allclose(ensemble_model.predict(x, verbose=0),
                               np.mean([m.predict(x, verbose=0) for m in members], axis=0), rtol=1e-5)
