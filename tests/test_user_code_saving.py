"""Users' own loss, metric, activation, Lambda and Layer subclass survive save -> load_model(custom_objects)
-> fit continuing bit-identically on the CPU, in .h5 and .keras; files hold their names, never code."""
import json
import os

import h5py
import numpy as np
import pytest

import gpunet
import gpunet.backend as K
from gpunet.layers import Activation, Dense, Lambda, Layer
from gpunet.models import Sequential, load_model, model_from_json
from gpunet.saving import h5_store
from gpunet.saving.errors import UnknownObjectError, UnsafeConfigError
from gpunet.testing import edit_saved_config

RNG = np.random.RandomState(6)
X = RNG.rand(48, 5).astype("float32")
Y = (X[:, :2].sum(1, keepdims=True) > 1.0).astype("float32")


def my_loss(y_true, y_pred):
    return K.mean(K.square(y_pred - y_true), axis=-1) + 0.1 * K.mean(K.abs(y_pred - y_true), axis=-1)


def my_metric(y_true, y_pred):
    return K.mean(K.cast(K.equal(y_true, K.cast(y_pred > 0.5, "float32")), "float32"), axis=-1)


def scaled_tanh(x):
    return 1.7159 * K.tanh(x * (2.0 / 3.0))


def halve(x):
    return x * 0.5


class Affine(Layer):
    """Elementwise ``x * gain + offset`` with a trainable gain and a non-trainable offset."""

    def __init__(self, offset=0.1, **kwargs):
        super().__init__(**kwargs)
        self.offset_value = offset

    def build(self, input_shape):
        self.gain = self.add_weight(name="gain", shape=(input_shape[-1],), initializer="ones")
        self.offset = self.add_weight(name="offset", shape=(input_shape[-1],),
                                      initializer=gpunet.initializers.Constant(self.offset_value), trainable=False)
        super().build(input_shape)

    def call(self, inputs):
        return inputs * self.gain + self.offset

    def get_config(self):
        config = super().get_config()
        config["offset"] = self.offset_value
        return config


CUSTOM = {"my_loss": my_loss, "my_metric": my_metric, "scaled_tanh": scaled_tanh, "halve": halve,
          "Affine": Affine}


def build():
    model = Sequential([Dense(8, input_dim=5, activation=scaled_tanh), Affine(0.2), Lambda(halve),
                        Activation(scaled_tanh), Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss=my_loss, metrics=[my_metric, "accuracy"])
    return model


@pytest.mark.parametrize("ext", [".h5", ".keras"])
def test_save_load_fit_continues_bit_identically(tmp_path, ext):
    gpunet.utils.set_random_seed(8)
    straight = build()
    expected = straight.fit(X, Y, epochs=4, batch_size=8, verbose=0).history

    gpunet.utils.set_random_seed(8)
    first = build()
    first.fit(X, Y, epochs=2, batch_size=8, verbose=0)
    first.save(tmp_path / ("m" + ext))
    resumed = load_model(tmp_path / ("m" + ext), custom_objects=CUSTOM)
    assert resumed.metrics_names == ["loss", "my_metric", "accuracy"]
    assert isinstance(resumed.layers[1], Affine) and resumed.layers[2].function is halve
    assert resumed.layers[0].activation.fn is scaled_tanh and resumed._loss_fn.fn is my_loss
    history = resumed.fit(X, Y, epochs=4, initial_epoch=2, batch_size=8, verbose=0).history
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        assert np.array_equal(a, b)
    assert history["loss"] == expected["loss"][2:] and history["my_metric"] == expected["my_metric"][2:]


def test_files_name_user_objects_and_hold_no_code(tmp_path):
    model = build()
    model.fit(X, Y, epochs=1, batch_size=8, verbose=0)
    model.save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "r") as f:
        config = json.loads(h5_store.text(f.attrs["model_config"]))
        training = json.loads(h5_store.text(f.attrs["training_config"]))
    layers = config["config"]["layers"]
    assert layers[1]["config"]["activation"] == "scaled_tanh"
    assert layers[2]["class_name"] == "Affine" and layers[2]["config"]["offset"] == 0.2
    assert {k: layers[3]["config"][k] for k in ("function", "function_type", "output_shape")} == \
        {"function": "halve", "function_type": "function", "output_shape": None}
    assert layers[4]["config"]["activation"] == "scaled_tanh"
    assert training["loss"] == "my_loss" and training["metrics"] == ["my_metric", "accuracy"]


@pytest.mark.parametrize("missing,message", [
    ("my_loss", r"training config uses the loss 'my_loss'.*custom_objects=\{'my_loss'"),
    ("my_metric", r"training config uses the metric 'my_metric'.*custom_objects=\{'my_metric'"),
    ("scaled_tanh", r"Unknown activation.* 'scaled_tanh'.*custom_objects=\{'scaled_tanh': "),
    ("halve", r"Lambda layer 'lambda' calls the function 'halve'.*custom_objects=\{'halve': halve\}"),
    ("Affine", r"Unknown layer class 'Affine'.*custom_objects=\{'Affine': Affine\}"),
])
def test_loading_without_an_object_names_it(tmp_path, missing, message):
    build().save(tmp_path / "m.keras")
    partial = {k: v for k, v in CUSTOM.items() if k != missing}
    with pytest.raises((UnknownObjectError, ValueError), match=message):
        load_model(tmp_path / "m.keras", custom_objects=partial)


def test_registered_objects_load_without_custom_objects(tmp_path):
    registry = gpunet.saving.registry
    try:
        for obj in CUSTOM.values():
            gpunet.register_serializable(package="test")(obj)
        model = build()
        model.fit(X, Y, epochs=1, batch_size=8, verbose=0)
        text = model.to_json()
        assert '"activation": "test>scaled_tanh"' in text and '"function": "test>halve"' in text
        model.save(tmp_path / "m.h5")
        loaded = load_model(tmp_path / "m.h5")
        np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))
        # a process that did not register them may pass the plain names instead
        for obj in CUSTOM.values():
            registry._GLOBAL_OBJECTS.pop(registry._GLOBAL_NAMES.pop(obj), None)
            registry._GLOBAL_OBJECTS.pop(obj.__name__, None)
        again = model_from_json(text, custom_objects=CUSTOM)
        assert again.layers[2].function is halve
    finally:
        for obj in CUSTOM.values():
            name = registry._GLOBAL_NAMES.pop(obj, None)
            registry._GLOBAL_OBJECTS.pop(name, None)
            registry._GLOBAL_OBJECTS.pop(obj.__name__, None)


def test_anonymous_lambda_cannot_be_saved_and_says_why(tmp_path):
    model = Sequential([Dense(2, input_dim=5), Lambda(lambda x: x * 2)])
    with pytest.raises(ValueError, match=r"wraps an anonymous function.*never its code"):
        model.save(tmp_path / "m.h5")
    assert not os.path.exists(tmp_path / "m.h5")


@pytest.mark.parametrize("ext", [".h5", ".keras", ".json"])
@pytest.mark.parametrize("make", [lambda: (lambda x: K.tanh(x)), lambda: __import__("functools").partial(K.relu, alpha=0.1)],
                         ids=["lambda", "partial"])
def test_a_nameless_activation_is_refused_before_anything_is_written(tmp_path, ext, make):
    """A lambda or functools.partial activation would be saved as "<lambda>" / "partial", which no
    load resolves: save and to_json refuse it, name the layer and say what to do; nothing is written."""
    model = Sequential([Dense(2, input_dim=3, activation=make(), name="hidden"), Dense(1)])
    path = tmp_path / f"m{ext}"
    with pytest.raises(ValueError, match=r"Layer 'hidden' \(Dense\) has the activation .* no name a saved model can "
                                         r"refer to .*def my_activation"):
        path.write_text(model.to_json()) if ext == ".json" else model.save(path)
    assert not os.path.exists(path) and os.listdir(tmp_path) == []
    model.save_weights(tmp_path / "w.weights.h5")  # the weights alone need no names


MARSHALLED = ["4wEAAAAAAAAAAQAAAAIAAABDAAAAcwgAAAB8AGQBFABTACkCTukCAAAAqQA=", None, None]


@pytest.mark.parametrize("ext", [".h5", ".keras"])
@pytest.mark.parametrize("code", [
    {"function": MARSHALLED, "function_type": "lambda"},
    {"function": {"class_name": "__lambda__", "config": {"code": MARSHALLED[0]}}},
    {"output_shape": MARSHALLED, "output_shape_type": "lambda"},
], ids=["keras2 bytecode", "keras3 __lambda__", "output_shape bytecode"])
def test_file_carrying_marshalled_lambda_code_is_refused(tmp_path, monkeypatch, ext, code):
    import base64
    import marshal
    real, payload = marshal.loads, base64.b64decode(MARSHALLED[0])

    def loads(data, *args, **kwargs):  # (Python's imports unmarshal their bytecode meanwhile: those go through)
        if bytes(data) == payload:
            pytest.fail("marshal.loads was called on the file's code")
        return real(data, *args, **kwargs)
    monkeypatch.setattr(marshal, "loads", loads)
    build().save(tmp_path / ("m" + ext))
    edit_saved_config(tmp_path / ("m" + ext), lambda c: c["config"]["layers"][3]["config"].update(code))
    with pytest.raises(UnsafeConfigError, match="Refusing to load"):
        load_model(tmp_path / ("m" + ext), custom_objects=CUSTOM)
