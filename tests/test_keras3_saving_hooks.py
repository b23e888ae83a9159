"""Keras 3's saving hooks, as its "Save, serialize, and export models" guide writes them: a layer whose
``build`` takes more than a shape (``get_build_config``/``build_from_config``), a model whose ``compile``
takes its own arguments (``get_compile_config``/``compile_from_config``), the defaults of all four, and
files both ways with Keras 3."""
import logging

import numpy as np
import pytest

import gpunet
from gpunet import layers
from gpunet.models import load_model, model_from_json

from keras_support import keras_on_torch

X = np.random.default_rng(3).random((4, 8)).astype("float32")


def _custom_build_class(lib):
    class LayerWithCustomBuild(lib.layers.Layer):  # (the guide's, word for word but the ops module)
        def __init__(self, units=32, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def call(self, inputs):
            return lib.ops.matmul(inputs, self.w) + self.b

        def get_config(self):
            return dict(units=self.units, **super().get_config())

        def build(self, input_shape, layer_init):
            super().build(input_shape)
            self._input_shape = input_shape
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer=layer_init)
            self.b = self.add_weight(shape=(self.units,), initializer=layer_init)
            self.layer_init = layer_init

        def get_build_config(self):
            return {"layer_init": self.layer_init, "input_shape": self._input_shape}

        def build_from_config(self, config):
            self.build(config["input_shape"], config["layer_init"])
    return LayerWithCustomBuild


def _built_by_hand(cls):
    layer = cls(units=16)
    layer.build(input_shape=(8,), layer_init="random_normal")
    return gpunet.Sequential([layer])


@pytest.mark.parametrize("ext", [".keras", ".h5"])
def test_a_layer_built_from_its_own_build_config(tmp_path, ext):
    cls = _custom_build_class(gpunet)
    model = _built_by_hand(cls)
    model.save(tmp_path / ("custom" + ext))  # (unbuilt: its layer was built by hand, as in the guide)
    want = model.predict(X, verbose=0)
    loaded = load_model(tmp_path / ("custom" + ext), custom_objects={"LayerWithCustomBuild": cls})
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), want)
    assert loaded.layers[0].layer_init == "random_normal" and loaded.layers[0].w.shape == (8, 16)
    again = model_from_json(model.to_json(), custom_objects={"LayerWithCustomBuild": cls})
    assert again.layers[0].layer_init == "random_normal" and again.layers[0].built


def test_keras_3s_file_of_such_a_layer_loads_and_gpunets_loads_in_keras_3(tmp_path):
    keras = keras_on_torch()
    theirs_cls, mine_cls = _custom_build_class(keras), _custom_build_class(gpunet)
    layer = theirs_cls(units=16)
    layer.build(input_shape=(8,), layer_init="random_normal")
    theirs = keras.Sequential([layer])
    theirs.save(tmp_path / "k3.keras")
    mine = load_model(tmp_path / "k3.keras", custom_objects={"LayerWithCustomBuild": mine_cls})
    np.testing.assert_allclose(mine.predict(X, verbose=0), theirs.predict(X, verbose=0), rtol=1e-5, atol=1e-6)
    _built_by_hand(mine_cls).save(tmp_path / "mine.keras")
    back = keras.models.load_model(tmp_path / "mine.keras", custom_objects={"LayerWithCustomBuild": theirs_cls})
    assert back.layers[0].layer_init == "random_normal"


class ModelWithCustomCompile(gpunet.Model):  # (the guide's; its train_step is TensorFlow's, left out)
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense1 = layers.Dense(8, activation="relu")
        self.dense2 = layers.Dense(4, activation="softmax")

    def call(self, x):
        return self.dense2(self.dense1(x))

    def compile(self, optimizer, loss_fn):
        super().compile(optimizer)
        self.model_optimizer = optimizer
        self.loss_fn = loss_fn

    def get_compile_config(self):
        return {"model_optimizer": self.model_optimizer, "loss_fn": self.loss_fn}

    def compile_from_config(self, config):
        optimizer = gpunet.utils.deserialize_keras_object(config["model_optimizer"])
        loss_fn = gpunet.utils.deserialize_keras_object(config["loss_fn"])
        self.compile(optimizer=optimizer, loss_fn=loss_fn)


def test_a_model_compiled_from_its_own_compile_config(tmp_path):
    model = ModelWithCustomCompile()
    model.compile(optimizer="SGD", loss_fn="mean_squared_error")
    model(np.zeros((1, 5), "float32"))
    model.save(tmp_path / "cc.keras")
    back = load_model(tmp_path / "cc.keras", custom_objects={"ModelWithCustomCompile": ModelWithCustomCompile})
    assert (type(back.optimizer).__name__, back.loss_fn, back.model_optimizer) == ("SGD", "mean_squared_error", "SGD")


class OwnCompile(gpunet.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = layers.Dense(2)

    def call(self, x):
        return self.dense(x)

    def compile(self, optimizer, loss_fn):
        super().compile(optimizer, loss=loss_fn)


def test_a_model_overriding_compile_alone_loads_uncompiled_and_says_why(tmp_path, caplog):
    model = OwnCompile()
    model.compile("sgd", loss_fn="mse")
    model(np.zeros((1, 5), "float32"))
    model.save(tmp_path / "own.keras")
    with caplog.at_level(logging.WARNING, logger="gpunet.saving"):
        back = load_model(tmp_path / "own.keras", custom_objects={"OwnCompile": OwnCompile})
    assert back.optimizer is None
    assert "overrides compile() and not compile_from_config()" in caplog.text
    np.testing.assert_array_equal(back.predict(X[:, :5], verbose=0), model.predict(X[:, :5], verbose=0))


def test_the_defaults_give_and_take_what_files_hold():
    model = gpunet.Sequential([layers.Dense(3, input_shape=(8,)), layers.Dense(1, activation="sigmoid")])
    assert model.get_compile_config() is None
    model.compile(gpunet.optimizers.Adam(0.02), "binary_crossentropy", metrics=["accuracy"])
    config = model.get_compile_config()
    assert config["optimizer"]["config"]["learning_rate"] == pytest.approx(0.02)
    twin = gpunet.Sequential([layers.Dense(3, input_shape=(8,)), layers.Dense(1, activation="sigmoid")])
    twin.compile_from_config(config)
    assert twin.get_compile_config() == config and twin.metrics_names == model.metrics_names
    assert model.layers[0].get_build_config() == {"input_shape": [None, 8]}
    fresh = layers.Dense(5)
    assert fresh.get_build_config() is None
    fresh.build_from_config({"input_shape": [None, 4]})
    assert fresh.built and fresh.kernel.shape == (4, 5)


def test_deserialize_keras_object_takes_plain_names_as_keras_3_and_refuses_them_as_keras_2():
    from gpunet.utils import generic_utils
    assert gpunet.utils.deserialize_keras_object("SGD") == "SGD"
    assert gpunet.saving.deserialize_keras_object("mean_squared_error") == "mean_squared_error"
    with pytest.raises(ValueError, match="Unknown object: 'nope'"):
        generic_utils.deserialize_keras_object("nope")
    with pytest.raises(ValueError, match="Unknown object: 'nope'"):
        gpunet.utils.deserialize_keras_object("nope", module_objects={})
