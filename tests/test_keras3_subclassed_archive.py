"""A subclassed model in a ``.keras`` archive, as Keras 3 saves it: its class's name and constructor arguments
(``get_config``: its own, or the arguments it was made with), its build shape, compile config, weights in the
attribute layout and optimizer state; ``load_model(path, custom_objects={"Net": Net})`` makes it again and
training resumes exactly. Both ways with real Keras 3. Keras 2's formats (.h5, JSON) refuse it by name, as
tf.keras 2 does."""
import numpy as np
import pytest

import gpunet
from keras_support import keras_on_torch

keras = keras_on_torch()


def _net_class(lib):
    class Net(lib.Model):
        """A config of its own (``units``), a layer of your own inside, a weight of its own."""

        def __init__(self, units=4, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.hidden = lib.layers.Dense(units, activation="relu")
            self.head = lib.layers.Dense(1, activation="sigmoid")
            self.temperature = self.add_weight(name="temperature", shape=(), initializer="ones")

        def call(self, inputs):
            return self.head(self.hidden(inputs) / self.temperature)

        def get_config(self):
            return {**super().get_config(), "units": self.units}
    return Net


class Made(gpunet.Model):
    """No get_config of its own: its constructor's arguments are its config (Keras 3 records them too)."""

    def __init__(self, width, activation="tanh", name=None):
        super().__init__(name=name)
        self.width = width
        self.inner = gpunet.layers.Dense(width, activation=activation)
        self.out = gpunet.layers.Dense(1)

    def call(self, inputs):
        return self.out(self.inner(inputs))


def _data():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(48, 6)).astype("float32")
    return x, (x[:, :2].sum(1) > 0).astype("float32")


def test_save_load_and_resume_exactly(tmp_path):
    x, y = _data()
    Net = _net_class(gpunet)
    model = Net(7)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    model.save(str(tmp_path / "net.keras"))
    back = gpunet.models.load_model(str(tmp_path / "net.keras"), custom_objects={"Net": Net})
    assert type(back) is Net and back.units == 7 and back.optimizer.iterations == model.optimizer.iterations
    np.testing.assert_array_equal(back.predict(x, verbose=0), model.predict(x, verbose=0))
    go_on = [m.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0).history for m in (model, back)]
    assert go_on[0] == go_on[1]


def test_a_class_without_get_config_saves_its_constructor_arguments(tmp_path):
    x, _ = _data()
    model = Made(5, activation="relu", name="made")
    model.build((None, 6))
    model.save(str(tmp_path / "made.keras"))
    back = gpunet.models.load_model(str(tmp_path / "made.keras"), custom_objects={"Made": Made})
    assert back.width == 5 and back.inner.activation.__name__ == "relu" and back.name == "made"
    np.testing.assert_array_equal(back.predict(x, verbose=0), model.predict(x, verbose=0))


def test_keras_3_loads_gpunet_archives_and_gpunet_loads_keras_3s(tmp_path):
    x, y = _data()
    model = _net_class(gpunet)(6)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(x, y, epochs=2, verbose=0)
    model.save(str(tmp_path / "g.keras"))
    KNet = _net_class(keras)
    ref = keras.models.load_model(str(tmp_path / "g.keras"), custom_objects={"Net": KNet})
    assert ref.units == 6
    np.testing.assert_allclose(np.asarray(ref.predict(x, verbose=0)), model.predict(x, verbose=0), rtol=1e-5,
                               atol=1e-6)
    ref.fit(x, y, epochs=1, verbose=0)
    ref.save(str(tmp_path / "k.keras"))
    back = gpunet.models.load_model(str(tmp_path / "k.keras"), custom_objects={"Net": _net_class(gpunet)})
    assert back.units == 6 and back.loss == "binary_crossentropy"
    np.testing.assert_allclose(back.predict(x, verbose=0), np.asarray(ref.predict(x, verbose=0)), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(float(back.temperature.numpy()), float(ref.temperature.numpy()))


def test_what_cannot_be_saved_is_refused_before_anything_is_written(tmp_path):
    model = Made(3)
    model.build((None, 6))
    for save in (lambda: model.save(str(tmp_path / "m.h5")), model.to_json, model.to_yaml):
        with pytest.raises(NotImplementedError, match="Save it to a .keras file"):
            save()
    def identity(v):
        return v
    held = Made(3, activation=identity)  # (a function as an argument: no config holds it)
    held.build((None, 6))
    with pytest.raises(NotImplementedError, match=r"arguments a config cannot hold: \['activation'\]"):
        held.save(str(tmp_path / "held.keras"))
    unbuilt = Made(3)
    with pytest.raises(ValueError, match="not built yet"):
        unbuilt.save(str(tmp_path / "unbuilt.keras"))
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_several_inputs_and_outputs_come_back(tmp_path):
    """build_config keeps one shape per input (Keras 3's list), compile_config a loss per output."""
    from test_subclassed_inputs import WideAndDeep, data as wide_deep
    from test_subclassed_outputs import TwoHeads, data as two_heads
    x, main, aux = two_heads()
    heads = TwoHeads()
    heads.compile("adam", loss=["binary_crossentropy", "sparse_categorical_crossentropy"], metrics=["accuracy"])
    heads.fit(x, [main, aux], epochs=1, verbose=0)
    heads.save(str(tmp_path / "heads.keras"))
    back = gpunet.models.load_model(str(tmp_path / "heads.keras"), custom_objects={"TwoHeads": TwoHeads})
    assert back.metrics_names == heads.metrics_names
    assert back.evaluate(x, [main, aux], verbose=0) == heads.evaluate(x, [main, aux], verbose=0)
    wide, deep, y = wide_deep()
    model = WideAndDeep()
    model.compile("adam", "binary_crossentropy")
    model.fit([wide, deep], y, epochs=1, verbose=0)
    model.save(str(tmp_path / "wd.keras"))
    again = gpunet.models.load_model(str(tmp_path / "wd.keras"), custom_objects={"WideAndDeep": WideAndDeep})
    assert again.input_names == ["input_1", "input_2"]
    np.testing.assert_array_equal(again.predict([wide, deep], verbose=0), model.predict([wide, deep], verbose=0))
