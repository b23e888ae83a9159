"""to_json / to_yaml and model_from_json / model_from_yaml: round trips, safety and error messages."""
import json

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import shared_path
from gpunet.layers import Activation, BatchNormalization, Dense, Dropout, Flatten, InputLayer, Layer, Reshape
from gpunet.layers.naming import reset_names
from gpunet.models import Sequential, model_from_json, model_from_yaml
from gpunet.saving.errors import InvalidConfigError, UnsafeConfigError


def _seed_model():
    model = Sequential()
    model.add(Dense(12, input_dim=8, kernel_initializer="uniform", activation="relu"))
    model.add(Dense(8, kernel_initializer="uniform", activation="relu"))
    model.add(Dense(1, kernel_initializer="uniform", activation="sigmoid"))
    return model


def test_json_round_trip_gives_identical_config_and_predictions():
    model = _seed_model()
    rebuilt = model_from_json(model.to_json())
    assert rebuilt.get_config() == model.get_config()
    rebuilt.set_weights(model.get_weights())
    x = np.random.default_rng(0).random((5, 8), dtype="float32")
    assert np.array_equal(rebuilt.predict(x), model.predict(x))


def test_yaml_and_json_give_equal_configs():
    model = _seed_model()
    from_yaml = model_from_yaml(model.to_yaml()).get_config()
    assert from_yaml == model_from_json(model.to_json()).get_config() == model.get_config()
    assert yaml.safe_load(model.to_yaml()) == json.loads(model.to_json())
    assert "!!python" not in model.to_yaml()


def test_to_json_passes_keyword_arguments_to_json_dumps():
    text = _seed_model().to_json(indent=2, sort_keys=True)
    assert text.startswith('{\n  "backend": "tensorflow",\n  "class_name": "Sequential"')


def test_unicode_layer_names_survive_json_and_yaml():
    model = Sequential([Dense(3, input_shape=(4,), name="层_1"), Dense(2, name="Dichte_ü")])
    for rebuilt in (model_from_json(model.to_json()), model_from_yaml(model.to_yaml()),
                    model_from_json(model.to_json(ensure_ascii=False).encode("utf-8")),
                    model_from_yaml(model.to_yaml(allow_unicode=True))):
        assert [l.name for l in rebuilt.layers] == ["层_1", "Dichte_ü"]


def test_rebuilt_model_is_uncompiled_and_says_to_compile():
    rebuilt = model_from_json(_seed_model().to_json())
    x, y = np.zeros((4, 8), "float32"), np.zeros((4, 1), "float32")
    assert rebuilt.predict(x).shape == (4, 1)
    for call in (lambda: rebuilt.evaluate(x, y, verbose=0), lambda: rebuilt.fit(x, y, epochs=1, verbose=0)):
        with pytest.raises(RuntimeError, match=r"compile.*model_from_json"):
            call()


def test_keras_202_yaml_with_python_tuple_loads_like_its_json():
    with open(shared_path("keras_fixtures", "seed_keras202_model.yaml"), encoding="utf-8") as f:
        from_yaml = model_from_yaml(f.read())
    with open(shared_path("keras_fixtures", "seed_keras202_model.json"), encoding="utf-8") as f:
        from_json = model_from_json(f.read())
    # Keras 2.0 configs hold no model name, so each load generates one: compare the layers.
    assert from_yaml.get_config()["layers"] == from_json.get_config()["layers"]
    assert from_yaml.input_shape == (None, 8)


class _NumpyConfigLayer(Layer):
    """A user layer whose get_config returns NumPy scalars, a 0-d array, a small array and a tuple."""

    def __init__(self, scale=1.0, size=1, offsets=(0.0,), **kwargs):
        super().__init__(**kwargs)
        self.scale, self.size, self.offsets = scale, size, offsets

    def forward(self, x, training=False):
        return x * float(self.scale)

    def backward(self, dy, need_dx=True):
        return dy * float(self.scale)

    def get_config(self):
        config = super().get_config()
        config.update(scale=np.float32(0.5), size=np.int64(3), offsets=(np.array(1.5), np.arange(2)))
        return config


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_numpy_values_in_configs_serialize_as_plain_values(fmt):
    model = Sequential([_NumpyConfigLayer(input_shape=(2,), name="np_layer")])
    text = model.to_json() if fmt == "json" else model.to_yaml()
    data = json.loads(text) if fmt == "json" else yaml.safe_load(text)
    entry = data["config"]["layers"][1]["config"]
    assert (entry["scale"], entry["size"], entry["offsets"]) == (0.5, 3, [1.5, [0, 1]])
    loader = model_from_json if fmt == "json" else model_from_yaml
    rebuilt = loader(text, custom_objects={"_NumpyConfigLayer": _NumpyConfigLayer})
    assert rebuilt.layers[0].size == 3 and rebuilt.layers[0].offsets == [1.5, [0, 1]]


UNSAFE_YAML = [
    "!!python/object/apply:os.system ['echo pwned']",
    "class_name: Sequential\nconfig: !!python/object/new:subprocess.Popen [['ls']]",
    "class_name: !!python/name:os.system ''\nconfig: []",
    "class_name: Sequential\nconfig: !!python/module:os ''",
    "class_name: Sequential\nconfig: !!python/object:collections.OrderedDict {}",
]


@pytest.mark.parametrize("text", UNSAFE_YAML)
def test_yaml_python_tags_are_refused_naming_the_tag(text, monkeypatch):
    import os
    monkeypatch.setattr(os, "system", lambda *a: pytest.fail("os.system was called"))
    tag = text.split("!!", 1)[1].split(" ", 1)[0]
    with pytest.raises(UnsafeConfigError, match="refusing YAML tag 'tag:yaml.org,2002:" + tag):
        model_from_yaml(text)


def test_unknown_non_python_yaml_tag_is_refused():
    with pytest.raises(UnsafeConfigError, match="unknown YAML tag '!custom'"):
        model_from_yaml("class_name: !custom Sequential\nconfig: []")


@pytest.mark.parametrize("loader,text,message", [
    (model_from_json, '{"class_name": "Sequential",', r"not valid JSON \(Expecting.*line 1 column 29"),
    (model_from_json, "", "not valid JSON"),
    (model_from_json, "my_model.json", "looks like a file name"),
    (model_from_json, "[1, 2]", "received a list"),
    (model_from_json, b"\x89HDF\r\n\x1a\n\x00", "HDF5 or .keras file"),
    (model_from_yaml, "class_name: [Sequential", r"not valid YAML \(.*line 1"),
    (model_from_yaml, "just a string", "received a str"),
])
def test_bad_text_gets_a_clear_value_error(loader, text, message):
    with pytest.raises(InvalidConfigError, match=message) as info:
        loader(text)
    assert isinstance(info.value, ValueError)


def test_non_text_input_is_a_type_error():
    with pytest.raises(TypeError, match=r"expects a JSON string, received dict.*model_from_config"):
        model_from_json({"class_name": "Sequential", "config": []})
    with pytest.raises(TypeError, match="expects a YAML string, received int"):
        model_from_yaml(3)


def test_yaml_alias_bombs_are_refused():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, "
              f"*a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, 8)]
    with pytest.raises(InvalidConfigError, match="expands to more than"):
        model_from_yaml("\n".join(lines))


# ---- generated models --------------------------------------------------------------------------
_ACTIVATIONS = st.sampled_from(["linear", "relu", "sigmoid", "tanh", "softmax"])
_FLOATS = st.floats(min_value=1e-6, max_value=0.999, allow_nan=False)
_NAMES = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=8)


def _prod(shape):
    n = 1
    for d in shape:
        n *= d
    return n


@st.composite
def _layer_specs(draw, shape):
    """(layer factory, output shape) for a random valid layer on inputs of ``shape`` (batch excluded)."""
    kind = draw(st.sampled_from(["Dense", "Activation", "Dropout", "Flatten", "Reshape", "BN"]))
    if kind == "Dense":
        units = draw(st.integers(1, 6))
        kw = dict(activation=draw(_ACTIVATIONS), use_bias=draw(st.booleans()),
                  kernel_initializer=draw(st.sampled_from(["uniform", "glorot_uniform", "zeros", "ones"])))
        return (lambda **k: Dense(units, **kw, **k)), shape[:-1] + (units,)
    if kind == "Activation":
        act = draw(_ACTIVATIONS)
        return (lambda **k: Activation(act, **k)), shape
    if kind == "Dropout":
        rate, seed = draw(st.floats(0.0, 0.9)), draw(st.none() | st.integers(0, 2**31 - 1))
        return (lambda **k: Dropout(rate, seed=seed, **k)), shape
    if kind == "Flatten":
        return (lambda **k: Flatten(**k)), (_prod(shape),)
    if kind == "Reshape":
        n = _prod(shape)
        target = draw(st.sampled_from([(n,), (-1,), (1, n), (n, 1)]))
        out = tuple(n if d == -1 else d for d in target)
        return (lambda **k: Reshape(target, **k)), out
    momentum, epsilon = draw(_FLOATS), draw(_FLOATS)
    center, scale = draw(st.booleans()), draw(st.booleans())
    return (lambda **k: BatchNormalization(momentum=momentum, epsilon=epsilon, center=center, scale=scale, **k)), shape


@st.composite
def _models(draw):
    """A random stack of 1-6 layers, with an InputLayer, an input_shape on the first layer, or no input shape."""
    reset_names()
    width = draw(st.integers(1, 6))
    dtype = draw(st.sampled_from(["float32", "float64"]))
    count = draw(st.integers(1, 6))
    names = draw(st.lists(_NAMES, min_size=count, max_size=count, unique=True)) if draw(st.booleans()) else None
    factories, shape = [], (width,)
    for _ in range(count):
        factory, shape = draw(_layer_specs(shape))
        factories.append(factory)
    start = draw(st.sampled_from(["input_layer", "input_shape", "none"]))
    model = Sequential(name=draw(st.none() | _NAMES))
    if start == "input_layer":
        model.add(InputLayer(input_shape=(width,), dtype=dtype))
    frozen = draw(st.lists(st.booleans(), min_size=count, max_size=count))
    # Some of the layers may sit in a nested Sequential (frozen or not): layers[lo:hi].
    lo = draw(st.integers(0, count - 1))
    hi = draw(st.integers(lo + 1, count)) if draw(st.booleans()) else lo
    inner, freeze_inner = (Sequential(name="nested_model_x") if hi > lo else None), draw(st.booleans())
    for i, factory in enumerate(factories):
        kwargs = {"dtype": dtype, "trainable": not frozen[i]}
        if names:
            kwargs["name"] = names[i]
        if i == 0 and start == "input_shape":
            kwargs["input_shape"] = (width,)
        (inner if inner is not None and lo <= i < hi else model).add(factory(**kwargs))
        if inner is not None and i == hi - 1:
            if freeze_inner:
                inner.trainable = False
            model.add(inner)
    return model


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_models())
def test_generated_models_round_trip_through_json_and_yaml(model):
    config = model.get_config()
    from_json = model_from_json(model.to_json())
    from_yaml = model_from_yaml(model.to_yaml())
    assert from_json.get_config() == config
    assert from_yaml.get_config() == config
    assert from_json.built == model.built


def test_python2_unicode_tags_read_as_plain_strings():
    with open(shared_path("keras_fixtures", "seed_keras202_model.yaml"), encoding="utf-8") as f:
        text = f.read().replace("name: dense_1", "name: !!python/unicode 'dense_1'")
    assert "!!python/unicode" in text
    assert model_from_yaml(text).layers[0].name == "dense_1"
