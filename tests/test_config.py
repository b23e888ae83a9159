"""Model configs: every Keras spelling in the shared fixtures loads; gpunet's own config has Keras's shape."""
import json
import zipfile

import h5py
import numpy as np
import pytest

from conftest import shared_path
from gpunet.layers import Dense
from gpunet.models import Sequential, model_from_config, model_from_json, model_from_yaml
from gpunet.saving import config as C
from gpunet.saving.errors import InvalidConfigError, SavingError

UNIFORM = {"class_name": "RandomUniform", "config": {"minval": -0.05, "maxval": 0.05, "seed": None}}
GLOROT = {"class_name": "GlorotUniform", "config": {"seed": None}}
# (class, units, activation, kernel initializer) per layer, input shape, parameter count, as Keras built them.
SEED_MLP = ([("Dense", 12, "relu", UNIFORM), ("Dense", 8, "relu", UNIFORM), ("Dense", 1, "sigmoid", UNIFORM)],
            (None, 8), 221)
BN_SOFTMAX = ([("Dense", 16, "tanh", GLOROT), ("BatchNormalization", None, None, None), ("Dropout", None, None, None),
               ("Dense", 16, "linear", GLOROT), ("Activation", None, "relu", None),
               ("Dense", 3, "softmax", GLOROT)], (None, 6), 499)


def _fixture_text(kind, name):
    path = shared_path("keras_fixtures", name)
    if kind == "h5":
        with h5py.File(path, "r") as f:
            return f.attrs["model_config"]
    if kind == "keras":
        with zipfile.ZipFile(path) as z:
            return z.read("config.json")
    with open(path, encoding="utf-8") as f:
        return f.read()


CASES = [
    ("json", "keras2_seed_mlp.json", SEED_MLP), ("json", "keras2_dropout_bn_softmax.json", BN_SOFTMAX),
    ("json", "keras3_seed_mlp.json", SEED_MLP), ("json", "keras3_dropout_bn_softmax.json", BN_SOFTMAX),
    ("json", "seed_keras202_model.json", SEED_MLP), ("yaml", "seed_keras202_model.yaml", SEED_MLP),
    ("h5", "keras2_seed_mlp.h5", SEED_MLP), ("h5", "keras2_dropout_bn_softmax.h5", BN_SOFTMAX),
    ("h5", "keras3_seed_mlp.h5", SEED_MLP), ("h5", "keras3_dropout_bn_softmax.h5", BN_SOFTMAX),
    ("keras", "keras3_seed_mlp.keras", SEED_MLP), ("keras", "keras3_dropout_bn_softmax.keras", BN_SOFTMAX),
]


@pytest.mark.parametrize("kind,name,expected", CASES, ids=[c[1] for c in CASES])
def test_every_keras_fixture_config_loads_with_its_layers(kind, name, expected):
    text = _fixture_text(kind, name)
    model = model_from_yaml(text) if kind == "yaml" else model_from_json(text)
    layers, input_shape, params = expected
    assert isinstance(model, Sequential)
    assert model.input_shape == input_shape
    assert model.built and model.count_params() == params
    assert [type(layer).__name__ for layer in model.layers] == [cls for cls, _, _, _ in layers]
    for layer, (_, units, activation, init) in zip(model.layers, layers):
        config = layer.get_config()
        assert config.get("units") == units
        assert config.get("activation") == activation
        if init is not None:
            assert config["kernel_initializer"] == init
            assert config["bias_initializer"] == {"class_name": "Zeros", "config": {}}
        assert config["dtype"] == "float32" and config["trainable"] is True
    assert model.predict(np.zeros((2, input_shape[1]), "float32")).shape == (2, layers[-1][1])


@pytest.mark.parametrize("name", ["keras2_dropout_bn_softmax.json", "keras3_dropout_bn_softmax.json"])
def test_batch_normalization_and_dropout_arguments_come_through(name):
    model = model_from_json(_fixture_text("json", name))
    bn, dropout = model.layers[1], model.layers[2]
    assert (bn.momentum, bn.epsilon, bn.center, bn.scale) == (0.99, 0.001, True, True)
    assert bn.axis in (1, -1)  # Keras 2 wrote [1], Keras 3 -1: the same axis of a 2-D input
    assert dropout.rate == 0.25 and dropout.seed is None and dropout.noise_shape is None


def test_layer_names_and_model_name_are_kept():
    model = model_from_json(_fixture_text("json", "keras3_dropout_bn_softmax.json"))
    assert model.name == "sequential_1"
    assert [l.name for l in model.layers] == ["dense_3", "batch_normalization", "dropout", "dense_4", "activation",
                                             "dense_5"]


def _seed_model():
    model = Sequential()
    model.add(Dense(12, input_dim=8, kernel_initializer="uniform", activation="relu"))
    model.add(Dense(8, kernel_initializer="uniform", activation="relu"))
    model.add(Dense(1, kernel_initializer="uniform", activation="sigmoid"))
    return model


def test_model_to_config_has_keras_wrapper_and_plain_values():
    model = _seed_model()
    config = C.model_to_config(model)
    assert config["class_name"] == "Sequential" and config["module"] == "keras"
    assert config["keras_version"] == C.KERAS_VERSION and config["keras_version"].startswith("2.")
    assert config["backend"] == "tensorflow"
    assert config["config"] == json.loads(json.dumps(model.get_config()))
    first = config["config"]["layers"][0]
    assert first == {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 8], "dtype": "float32",
                                                            "sparse": False, "ragged": False, "name": "dense_input"}}
    # No "module" on layer entries: Keras 3 then reads them with its Keras 2 reader.
    assert all("module" not in entry for entry in config["config"]["layers"])


def test_model_from_config_round_trips_gpunet_config():
    model = _seed_model()
    rebuilt = model_from_config(C.model_to_config(model))
    assert rebuilt.get_config() == model.get_config()
    assert rebuilt.optimizer is None  # architecture only: uncompiled


def test_keras3_options_are_dropped_only_while_inert():
    text = _fixture_text("json", "keras3_seed_mlp.json")
    config = json.loads(text)
    dense = config["config"]["layers"][1]["config"]
    dense.update(lora_rank=None, lora_alpha=None, autocast=False)
    assert model_from_config(config).layers[0].units == 12
    dense["lora_rank"] = 4
    with pytest.raises(InvalidConfigError, match=r"layer 1 'dense'.*lora_rank=4 .*LoRA"):
        model_from_config(config)


@pytest.mark.parametrize("key,value,message", [
    ("renorm", True, "batch renormalization"), ("adjustment", "fn", "adjustment"),
    ("virtual_batch_size", 8, "ghost batch")])
def test_batch_normalization_options_gpunet_lacks_are_errors(key, value, message):
    config = json.loads(_fixture_text("json", "keras3_dropout_bn_softmax.json"))
    config["config"]["layers"][2]["config"][key] = value
    with pytest.raises(InvalidConfigError, match=message):
        model_from_config(config)


def test_unknown_layer_keyword_warns_naming_layer_and_key_and_strict_refuses_it():
    config = json.loads(_fixture_text("json", "keras2_seed_mlp.json"))
    config["config"]["layers"][2]["config"].update(unitz=3, future_option="x")
    with pytest.warns(UserWarning, match=r"\['unitz', 'future_option'\] of layer 2 'dense_1' \(Dense\).*strict=True"):
        model = model_from_config(config)
    assert [l.units for l in model.layers] == [12, 8, 1]
    with pytest.raises(TypeError, match=r"layer 2 'dense_1' \(Dense\).*\['unitz', 'future_option'\]"):
        model_from_config(config, strict=True)


@pytest.mark.parametrize("policy,dtype", [
    ({"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float64"}, "registered_name": None},
     "float64"),
    ({"class_name": "Policy", "config": {"name": "float16"}}, "float16"), ("float64", "float64")])
def test_dtype_policy_dicts_and_strings_load(policy, dtype):
    config = json.loads(_fixture_text("json", "keras3_seed_mlp.json"))
    for entry in config["config"]["layers"][1:]:
        entry["config"]["dtype"] = policy
    model = model_from_config(config)
    assert [l.dtype for l in model.layers] == [dtype] * 3
    assert model.layers[0].kernel.value.dtype == np.dtype(dtype)


def test_unsupported_dtype_policy_is_named():
    config = json.loads(_fixture_text("json", "keras3_seed_mlp.json"))
    config["config"]["layers"][1]["config"]["dtype"] = {"class_name": "QuantizedDTypePolicy",
                                                        "config": {"name": "int8_from_float32"}}
    with pytest.raises(InvalidConfigError, match="QuantizedDTypePolicy"):
        model_from_config(config)


def test_keras3_build_input_shape_builds_a_model_without_input_layer():
    config = {"module": "keras", "class_name": "Sequential",
              "config": {"name": "s", "trainable": True, "layers": [
                  {"module": "keras.layers", "class_name": "Dense", "config": {"name": "d", "units": 3}}],
                  "build_input_shape": [None, 5]}}
    model = model_from_config(config)
    assert model.built and model.layers[0].kernel.shape == (5, 3)


def test_keras3_frozen_model_stays_frozen():
    config = json.loads(_fixture_text("json", "keras3_seed_mlp.json"))
    config["config"]["trainable"] = False
    model = model_from_config(config)
    assert model.trainable is False and model.trainable_weights == []


@pytest.mark.parametrize("config,error,message", [
    ([{"class_name": "Dense", "config": {"units": 1}}], TypeError, "received list"),
    ({"config": {"layers": []}}, InvalidConfigError, r"missing \['class_name'\]"),
    ({"class_name": "Sequential", "config": {"name": "x"}}, InvalidConfigError, "needs a 'layers' list"),
    ({"class_name": "Sequential", "config": 3}, InvalidConfigError, "dict or a list of layers"),
    ({"class_name": "Sequential", "config": [["Dense"]]}, InvalidConfigError, "layer 0 is"),
    ({"class_name": "Model", "config": {"layers": []}}, InvalidConfigError, "input_layers. must list"),
    ({"class_name": "Sequential", "config": [], "keras_version": "1.2.2"}, InvalidConfigError, "Keras 1"),
])
def test_malformed_configs_get_clear_errors(config, error, message):
    with pytest.raises(error, match=message):
        model_from_config(config)


def test_saving_errors_are_value_errors():
    with pytest.raises(ValueError):
        model_from_config({"class_name": "Sequential", "config": "nope"})
    assert issubclass(InvalidConfigError, SavingError)


def test_to_plain_converts_numpy_values_and_tuples():
    value = {"f": np.float32(0.5), "i": np.int64(3), "b": np.bool_(True), "z": np.array(2.5),
             "a": np.arange(3, dtype="int16"), "t": (1, (np.float64(2.0), None)), np.str_("k"): "v", "d": np.dtype("float64"), "c": np.float16}
    plain = C.to_plain(value)
    assert plain == {"f": 0.5, "i": 3, "b": True, "z": 2.5, "a": [0, 1, 2], "t": [1, [2.0, None]], "k": "v",
                     "d": "float64", "c": "float16"}
    assert type(plain["i"]) is int and type(plain["f"]) is float and type(plain["b"]) is bool
    assert json.loads(json.dumps(plain)) == plain


class _FakeCupyScalar:
    """Quacks like a CuPy 0-d array: tolist() and item() copy to the host."""
    dtype = np.dtype("float32")

    def tolist(self):
        return 0.25


def test_to_plain_duck_types_device_arrays_and_rejects_objects_with_a_path():
    assert C.to_plain({"x": [_FakeCupyScalar()]}) == {"x": [0.25]}
    with pytest.raises(TypeError, match=r"config\.layers\[1\]\.bad.*object"):
        C.to_plain({"layers": [0, {"bad": object()}]})


def test_keras2_input_layer_entry_and_dense_batch_shape_are_kept():
    model = model_from_json(_fixture_text("json", "keras2_seed_mlp.json"))
    layers = model.get_config()["layers"]
    assert layers[0] == {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 8], "dtype": "float32",
                                                                "sparse": False, "ragged": False,
                                                                "name": "dense_input"}}
    assert layers[1]["config"]["batch_input_shape"] == [None, 8]
    assert "batch_input_shape" not in layers[2]["config"]
