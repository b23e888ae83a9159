"""The class registry: custom_objects, register_serializable, unknown-class messages and unsafe configs."""
import json

import numpy as np
import pytest

from gpunet import initializers, losses
from gpunet.layers import Dense, Layer
from gpunet.models import Sequential, model_from_config, model_from_json, model_from_yaml
from gpunet.saving import registry
from gpunet.saving.errors import UnknownObjectError, UnsafeConfigError


@pytest.fixture(autouse=True)
def _clean_registry():
    """Registrations made by a test do not leak into the next one."""
    objects, names = dict(registry._GLOBAL_OBJECTS), dict(registry._GLOBAL_NAMES)
    yield
    registry._GLOBAL_OBJECTS.clear(), registry._GLOBAL_OBJECTS.update(objects)
    registry._GLOBAL_NAMES.clear(), registry._GLOBAL_NAMES.update(names)


class Scale(Layer):
    """A user layer: multiplies by a constant factor."""

    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def forward(self, x, training=False):
        return x * self.factor

    def backward(self, dy, need_dx=True):
        return dy * self.factor

    def get_config(self):
        config = super().get_config()
        config["factor"] = self.factor
        return config


class ConstantInit(initializers.Initializer):
    """A user initializer."""

    def __init__(self, value=0.0):
        self.value = value

    def __call__(self, shape, dtype=None):
        return np.full(shape, self.value, dtype=dtype or "float32")

    def get_config(self):
        return {"value": self.value}


def my_loss(y_true, y_pred):
    return ((y_true - y_pred) ** 2).mean()


def _model():
    return Sequential([Dense(3, input_shape=(2,), name="d", kernel_initializer=ConstantInit(0.5)),
                       Scale(3.0, name="scale")])


@pytest.mark.parametrize("loader,dump", [(model_from_json, "to_json"), (model_from_yaml, "to_yaml")])
def test_custom_layer_and_initializer_round_trip_with_custom_objects(loader, dump):
    model = _model()
    text = getattr(model, dump)()
    rebuilt = loader(text, custom_objects={"Scale": Scale, "ConstantInit": ConstantInit})
    assert rebuilt.get_config() == model.get_config()
    assert isinstance(rebuilt.layers[1], Scale) and rebuilt.layers[1].factor == 3.0
    assert np.array_equal(rebuilt.layers[0].kernel.numpy(), np.full((2, 3), 0.5, "float32"))
    x = np.ones((2, 2), "float32")
    rebuilt.set_weights(model.get_weights())
    assert np.array_equal(rebuilt.predict(x), model.predict(x))


def test_unknown_class_message_names_class_module_layer_and_fix():
    config = json.loads(_model().to_json())
    config["config"]["layers"][2]["module"] = "my_project.layers"
    with pytest.raises(UnknownObjectError) as info:
        model_from_config(config, custom_objects={"ConstantInit": ConstantInit})
    message = str(info.value)
    for part in ("'Scale'", "'my_project.layers'", "layer 2 'scale'", "custom_objects={'Scale': Scale}",
                 "gpunet.utils.register_serializable"):
        assert part in message
    assert isinstance(info.value, ValueError)


def test_unknown_initializer_message_names_the_argument():
    text = _model().to_json()
    with pytest.raises(UnknownObjectError, match=r"'ConstantInit' in layer 1 'd', argument kernel_initializer.*"
                                                 r"custom_objects=\{'ConstantInit': ConstantInit\}"):
        model_from_json(text, custom_objects={"Scale": Scale})


def test_register_serializable_makes_custom_objects_unnecessary():
    registry.register_serializable()(Scale)
    registry.register_serializable(package="tests")(ConstantInit)
    model = _model()
    config = json.loads(model.to_json())
    assert config["config"]["layers"][2]["registered_name"] == "Custom>Scale"
    assert model_from_json(model.to_json()).get_config() == model.get_config()
    assert registry.get_registered_object("tests>ConstantInit") is ConstantInit
    assert registry.get_registered_name(ConstantInit) == "tests>ConstantInit"


def test_registered_name_finds_a_class_registered_under_another_name():
    registry.register_serializable(package="pkg", name="Multiplier")(Scale)
    registry.register_serializable()(ConstantInit)
    model = _model()
    entry = json.loads(model.to_json())["config"]["layers"][2]
    assert (entry["class_name"], entry["registered_name"]) == ("Scale", "pkg>Multiplier")
    assert isinstance(model_from_json(model.to_json()).layers[1], Scale)


def test_keras3_entry_with_registered_name_and_module_resolves_without_import():
    registry.register_serializable(package="MyPkg")(Scale)
    entry = {"module": "definitely_not_installed.layers", "class_name": "Scale", "registered_name": "MyPkg>Scale",
             "config": {"name": "s", "factor": 4.0, "trainable": True,
                        "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}}}}
    layer = registry.layer_from_config(entry)
    assert isinstance(layer, Scale) and layer.factor == 4.0 and layer.dtype == "float32"


def test_register_serializable_rejects_classes_without_get_config():
    class NoConfig:
        pass
    with pytest.raises(ValueError, match="NoConfig: it has no get_config"):
        registry.register_serializable()(NoConfig)
    with pytest.raises(ValueError, match="without '>'"):
        registry.register_serializable(package="a>b")


def test_custom_object_scope_is_used_and_then_forgotten():
    text = _model().to_json()
    with registry.custom_object_scope({"Scale": Scale}, {"ConstantInit": ConstantInit}):
        assert isinstance(model_from_json(text).layers[1], Scale)
    with pytest.raises(UnknownObjectError):
        model_from_json(text)


def test_custom_loss_and_activation_functions_resolve_by_name():
    assert registry.deserialize("my_loss", "loss", {"my_loss": my_loss}) is my_loss
    keras3_ref = {"module": "__main__", "class_name": "function", "config": "my_loss", "registered_name": "my_loss"}
    assert registry.deserialize(keras3_ref, "loss", {"my_loss": my_loss}) is my_loss
    registry.register_serializable()(my_loss)
    assert registry.deserialize({**keras3_ref, "config": "Custom>my_loss", "registered_name": "Custom>my_loss"},
                                "activation") is my_loss
    assert registry.serialize_object(my_loss) == "Custom>my_loss"


def test_builtin_function_reference_from_keras_resolves_to_gpunet():
    ref = {"module": "keras.losses", "class_name": "function", "config": "binary_crossentropy",
           "registered_name": "binary_crossentropy"}
    assert isinstance(registry.deserialize(ref, "loss"), losses.Loss)
    assert registry.deserialize("relu", "activation").name == "relu"


def test_serialize_object_writes_registered_name():
    registry.register_serializable(package="p")(ConstantInit)
    assert registry.serialize_object(ConstantInit(2.0)) == {"class_name": "ConstantInit", "config": {"value": 2.0},
                                                             "registered_name": "p>ConstantInit"}


# ---- unsafe configs --------------------------------------------------------------------------------
def _with_layer(entry):
    config = json.loads(Sequential([Dense(2, input_shape=(3,), name="d")]).to_json())
    config["config"]["layers"].append(entry)
    return config


KERAS2_LAMBDA = {"class_name": "Lambda", "config": {
    "name": "lambda", "function": ["4wEAAAAAAAAAAQAAAAIAAABDAAAAcwgAAAB8AGQBFABTACkCTukCAAAAqQA=", None, None],
    "function_type": "lambda", "module": "__main__", "output_shape": None, "arguments": {}}}
KERAS3_LAMBDA = {"module": "keras.layers", "class_name": "Lambda", "config": {"name": "lambda", "function": {
    "class_name": "__lambda__", "config": {"code": "4wEAAAAAAAAAAAAAAAEAAAAC", "defaults": None, "closure": None}}}}
UNSAFE = {
    "os.system layer": {"module": "os", "class_name": "system", "config": {"name": "x"}},
    "subprocess layer": {"module": "subprocess", "class_name": "Popen", "config": {"name": "x", "args": ["ls"]}},
    "keras2 lambda": KERAS2_LAMBDA,
    "keras3 lambda": KERAS3_LAMBDA,
    "function ref": {"class_name": "Activation", "config": {"name": "a", "activation": {
        "module": "os", "class_name": "function", "config": "system", "registered_name": "system"}}},
    "initializer gadget": {"class_name": "Dense", "config": {"name": "e", "units": 1, "kernel_initializer": {
        "module": "builtins", "class_name": "eval", "config": {}}}},
    "passive": {"class_name": "Dense", "config": {"name": "e", "units": 1, "kernel_initializer": {
        "class_name": "Zeros", "config": {}, "__passive_serialization__": True}}},
}


@pytest.mark.parametrize("entry", list(UNSAFE.values()), ids=list(UNSAFE))
@pytest.mark.parametrize("fmt", ["config", "json", "yaml"])
def test_unsafe_configs_are_refused_by_every_loader(entry, fmt, monkeypatch):
    import os
    import subprocess
    monkeypatch.setattr(os, "system", lambda *a: pytest.fail("os.system was called"))
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: pytest.fail("Popen was called"))
    config = _with_layer(entry)
    with pytest.raises(UnsafeConfigError, match="Refusing to load"):
        if fmt == "config":
            model_from_config(config)
        elif fmt == "json":
            model_from_json(json.dumps(config))
        else:
            import yaml
            model_from_yaml(yaml.safe_dump(config))


def test_unsafe_top_level_model_class_is_refused():
    with pytest.raises(UnsafeConfigError, match="model 'system' from module 'os'"):
        model_from_config({"module": "os", "class_name": "system", "config": {"layers": []}})


def test_user_lambda_class_is_allowed_when_the_user_supplies_it():
    class Lambda(Scale):
        def __init__(self, function=None, function_type=None, module=None, output_shape=None, arguments=None,
                     **kwargs):
            super().__init__(factor=1.0, **kwargs)

    model = model_from_config(_with_layer(KERAS2_LAMBDA), custom_objects={"Lambda": Lambda})
    assert isinstance(model.layers[-1], Lambda)


def test_keras_layer_gpunet_lacks_lists_gpunet_layers():
    entry = {"module": "keras.layers", "class_name": "DenseFeatures", "config": {"name": "conv", "num_bins": 3}}
    with pytest.raises(UnknownObjectError, match=r"'DenseFeatures' \(saved from module 'keras.layers'\) in layer 2 "
                                                 r"'conv'\. gpunet's built-in layers are \[.*'Dense'"):
        model_from_config(_with_layer(entry))


def test_tf_keras_registered_class_name_resolves_by_its_plain_name():
    entry = {"class_name": "Custom>Scale", "config": {"name": "s", "factor": 5.0}}
    assert model_from_config(_with_layer(entry), custom_objects={"Scale": Scale}).layers[-1].factor == 5.0
    with pytest.raises(UnknownObjectError, match=r"custom_objects=\{'Scale': Scale\}"):
        model_from_config(_with_layer(entry))


def test_nested_functional_and_empty_models_are_refused_clearly():
    entry = {"class_name": "Functional", "config": {"name": "inner", "layers": []}}
    with pytest.raises(ValueError, match="functional config's 'input_layers' must list"):
        model_from_config(_with_layer(entry))
    entry = {"class_name": "Sequential", "config": {"name": "inner", "layers": []}}
    with pytest.raises(ValueError, match="Cannot add the empty Sequential 'inner'"):
        model_from_config(_with_layer(entry))


def test_nested_sequential_from_a_module_to_import_is_refused():
    entry = {"module": "os", "class_name": "Sequential", "config": {"name": "inner", "layers": []}}
    with pytest.raises(UnsafeConfigError, match="from module 'os'"):
        model_from_config(_with_layer(entry))


def test_builtin_initializer_with_bad_arguments_is_not_called_unknown():
    entry = {"class_name": "Dense", "config": {"name": "e", "units": 1, "kernel_initializer": {
        "class_name": "RandomUniform", "config": {"minval": -1, "spread": 3}}}}
    with pytest.raises(ValueError, match=r"initializer 'RandomUniform' in layer 2 'e'.*spread") as info:
        model_from_config(_with_layer(entry))
    assert not isinstance(info.value, UnknownObjectError)


def test_keras_import_lines_for_the_registry_and_saving_work(tmp_path):
    """``keras.utils.register_keras_serializable`` (tf.keras 2) and ``keras.saving.*`` (Keras 3) as a
    user's program spells them, with gpunet in the import line."""
    import gpunet
    from gpunet.saving import get_registered_object, load_model, register_keras_serializable, save_model

    assert gpunet.utils.register_keras_serializable is register_keras_serializable
    register_keras_serializable(package="app")(Scale)
    assert gpunet.utils.get_registered_name(Scale) == "app>Scale" and get_registered_object("app>Scale") is Scale
    assert gpunet.utils.get_registered_object("nothing", module_objects={"nothing": Dense}) is Dense
    assert gpunet.utils.get_registered_object("nothing") is None
    model = Sequential([Dense(2, input_shape=(3,), name="d"), Scale(5.0, name="s")])
    save_model(model, tmp_path / "m.keras")
    again = load_model(tmp_path / "m.keras", compile=False)
    assert isinstance(again.layers[1], Scale) and again.layers[1].factor == 5.0
    np.testing.assert_array_equal(again.get_weights()[0], model.get_weights()[0])
    gpunet.saving.save_weights(model, tmp_path / "w.weights.h5")
    fresh = Sequential([Dense(2, input_shape=(3,), name="d"), Scale(5.0, name="s")])
    report = gpunet.saving.load_weights(fresh, tmp_path / "w.weights.h5")
    assert report.loaded and not report.shape_mismatch
    np.testing.assert_array_equal(fresh.get_weights()[0], model.get_weights()[0])
    with gpunet.saving.CustomObjectScope({"Scale": Scale}):
        assert get_registered_object("Scale") is Scale
    with pytest.raises(AttributeError, match="module 'gpunet.saving' has no attribute 'nonsense'"):
        gpunet.saving.nonsense


def test_layers_serialize_and_deserialize_as_keras_layers_module_does():
    """``keras.layers.serialize`` / ``deserialize`` (the Keras 3 saving guide's way to pass a layer's config): JSON
    values, nested layers in a config of your own serialized too, configs written by tf.keras 2 and Keras 3."""
    import gpunet

    @gpunet.saving.register_keras_serializable(package="MyLayers", name="KernelMult")
    class MyDense(Layer):
        def __init__(self, units, *, kernel_initializer=None, nested_model=None, **kwargs):
            super().__init__(**kwargs)
            self.units, self.kernel_initializer, self.nested_model = units, kernel_initializer, nested_model

        def get_config(self):
            return {**super().get_config(), "units": self.units, "kernel_initializer": self.kernel_initializer,
                    "nested_model": self.nested_model}

    try:
        config = gpunet.layers.serialize(MyDense(64, nested_model=MyDense(16, kernel_initializer="ones", name="in")))
        json.dumps(config)  # (plain values only)
        assert config["registered_name"] == "MyLayers>KernelMult"
        assert config["config"]["nested_model"]["config"]["kernel_initializer"] == "ones"
        layer = gpunet.layers.deserialize(config)
        assert type(layer) is MyDense and layer.units == 64 and layer.nested_model["config"]["name"] == "in"
    finally:
        for key in ("MyLayers>KernelMult", "KernelMult"):
            registry._GLOBAL_OBJECTS.pop(key, None)
        registry._GLOBAL_NAMES.pop(MyDense, None)
    dense = gpunet.layers.deserialize(gpunet.layers.serialize(Dense(3, activation="relu", name="d")))
    assert (type(dense), dense.units, dense.name, dense.activation.name) == (Dense, 3, "d", "relu")
    with pytest.raises(UnknownObjectError, match="Nowhere"):
        gpunet.layers.deserialize({"class_name": "Nowhere", "config": {}})
    from keras_support import keras_on_torch, tf_keras_or_skip
    tf_keras = tf_keras_or_skip()
    written = tf_keras.layers.serialize(tf_keras.layers.Dense(4, use_bias=False, name="k2"))
    layer = gpunet.layers.deserialize(json.loads(json.dumps(written)))
    assert (type(layer), layer.units, layer.use_bias, layer.name) == (Dense, 4, False, "k2")
    keras = keras_on_torch()
    layer = gpunet.layers.deserialize(keras.layers.serialize(keras.layers.Dense(5, activation="tanh", name="k3")))
    assert (type(layer), layer.units, layer.activation.name, layer.name) == (Dense, 5, "tanh", "k3")
