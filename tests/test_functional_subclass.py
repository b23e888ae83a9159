"""A subclass of Model that hands Model a graph (``super().__init__(inputs=..., outputs=...)``): a
functional model, as in tf.keras 2 and Keras 3 (models/functional_subclass.py)."""
import json

import numpy as np
import pytest

import gpunet
from gpunet.models import Functional, load_model, model_from_json, model_from_yaml
from gpunet.saving.errors import UnknownObjectError


def classes(keras):
    """The test's model classes written against ``keras`` (gpunet, tf.keras 2 or Keras 3)."""
    layers = keras.layers

    class Classifier(keras.Model):
        """__init__ takes its own arguments: saved as its name, rebuilt by calling it."""

        def __init__(self, units=6, **kwargs):
            inputs = keras.Input(shape=(8,))
            hidden = layers.Dense(units, activation="relu")(inputs)
            outputs = layers.Dense(1, activation="sigmoid")(hidden)
            super().__init__(inputs=inputs, outputs=outputs, **kwargs)
            self.units = units

        def probabilities(self, x):
            return self.predict(x, verbose=0)[:, 0]

    class Passing(keras.Model):
        """__init__ passes the graph on: saved as the graph."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)

    return Classifier, Passing


def pima():
    from conftest import shared_path
    data = np.loadtxt(shared_path("data", "pima-indians-diabetes.csv"), delimiter=",", dtype="float32")
    return data[:160, :8] / data[:160, :8].max(axis=0), data[:160, 8:]


def graph(keras, units=6):
    inputs = keras.Input(shape=(8,))
    outputs = keras.layers.Dense(1, activation="sigmoid")(keras.layers.Dense(units, activation="relu")(inputs))
    return inputs, outputs


def test_the_subclass_becomes_functional_and_trains_as_model_does(ops):
    Classifier, _ = classes(gpunet)
    x, y = pima()
    gpunet.utils.set_random_seed(7)
    model = Classifier(units=5)
    gpunet.utils.set_random_seed(7)
    plain = gpunet.Model(*graph(gpunet, 5))
    assert isinstance(model, Functional) and type(model) is Classifier and model.units == 5
    assert model.name == "classifier" and [l.name for l in model.layers][0].startswith("input")
    for m in (model, plain):
        m.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    assert model._train_plan() is not None  # the fused step, as for Model(inputs, outputs)
    gpunet.utils.set_random_seed(8)  # (the same shuffles for both)
    h = model.fit(x, y, epochs=3, batch_size=10, verbose=0)
    gpunet.utils.set_random_seed(8)
    r = plain.fit(x, y, epochs=3, batch_size=10, verbose=0)
    np.testing.assert_allclose(h.history["loss"], r.history["loss"], rtol=1e-6)
    for got, want in zip(model.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    np.testing.assert_allclose(model.probabilities(x[:4]), plain.predict(x[:4], verbose=0)[:, 0], rtol=1e-6)
    lines = []
    model.summary(print_fn=lines.append)
    assert lines[0] == 'Model: "classifier"' and any("Connected to" in line for line in lines)
    assert repr(model).startswith("<Classifier name=classifier")


def test_trains_as_tf_keras_trains_the_same_subclass(tfk):
    from graph_gradients import assert_trains_alike
    x, y = pima()
    model, ref = classes(gpunet)[0](units=5), classes(tfk)[0](units=5)
    ref.set_weights(model.get_weights())
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    ref.compile(optimizer=tfk.optimizers.Adam(), loss="binary_crossentropy", metrics=["accuracy"])
    assert_trains_alike(model, ref, x, y)


def test_subclasses_of_the_subclass_and_a_graph_built_before_attributes():
    Classifier, _ = classes(gpunet)

    class Deeper(Classifier):
        def describe(self):
            return f"{self.name}: {self.units}"

    model = Deeper(units=3)
    assert isinstance(model, Functional) and model.describe() == "deeper: 3"
    assert Deeper.__mro__[1:3] == (Classifier, Functional)
    assert type(Classifier(units=2)) is Classifier  # (the base was made functional once, for both)


def test_configs_by_constructor(tmp_path):
    Classifier, Passing = classes(gpunet)
    model = Classifier(units=4, name="clf")
    assert model.get_config() == {"name": "clf", "trainable": True, "units": 4}  # (tf.keras 2: {"units": 4})
    # an argument that is not a plain value is left out (its default comes back on load)
    class Activated(gpunet.Model):
        def __init__(self, units, activation="relu"):
            inputs = gpunet.Input((2,))
            super().__init__(inputs, gpunet.layers.Dense(units, activation=activation)(inputs))

    config = Activated(3, activation=gpunet.activations.tanh).get_config()
    assert config == {"units": 3}  # (a name and trainable flag only where __init__ takes them)
    passing = Passing(*graph(gpunet))
    config = passing.get_config()
    assert {"layers", "input_layers", "output_layers"} <= set(config)

    class Own(Classifier):
        def get_config(self):
            return {**super().get_config(), "units": self.units}

    own = Own(units=3)
    assert own.get_config() == {"name": own.name, "trainable": True, "units": 3}
    rebuilt = Own.from_config(own.get_config())
    assert rebuilt.units == 3 and rebuilt.layers[1].units == 3
    with pytest.raises(TypeError, match="Classifier.from_config received a functional model's config"):
        Classifier.from_config(config)


@pytest.mark.parametrize("ext", ["h5", "keras"])
def test_save_and_load_model_resume_training_exactly(tmp_path, ext):
    Classifier, Passing = classes(gpunet)
    x, y = pima()
    for make, cls in ((lambda: Classifier(units=5), Classifier), (lambda: Passing(*graph(gpunet, 5)), Passing)):
        gpunet.utils.set_random_seed(3)
        straight = make()
        straight.compile(optimizer="adam", loss="binary_crossentropy")
        straight.fit(x, y, epochs=4, batch_size=16, verbose=0)
        gpunet.utils.set_random_seed(3)
        first = make()
        first.compile(optimizer="adam", loss="binary_crossentropy")
        first.fit(x, y, epochs=2, batch_size=16, verbose=0)
        path = str(tmp_path / f"{cls.__name__}.{ext}")
        first.save(path)
        resumed = load_model(path, custom_objects={cls.__name__: cls})
        assert type(resumed) is cls and resumed.name == first.name
        np.testing.assert_array_equal(resumed.predict(x, verbose=0), first.predict(x, verbose=0))
        resumed.fit(x, y, epochs=4, initial_epoch=2, batch_size=16, verbose=0)
        for got, want in zip(resumed.get_weights(), straight.get_weights()):
            np.testing.assert_array_equal(got, want)


def test_json_and_yaml_round_trips_and_unknown_class():
    _, Passing = classes(gpunet)
    model = Passing(*graph(gpunet))
    config = json.loads(model.to_json())
    assert config["class_name"] == "Passing" and "input_layers" in config["config"]
    for text, read in ((model.to_json(), model_from_json), (model.to_yaml(), model_from_yaml)):
        back = read(text, custom_objects={"Passing": Passing})
        assert type(back) is Passing and [l.name for l in back.layers] == [l.name for l in model.layers]
    with pytest.raises(UnknownObjectError, match=r"Unknown model class 'Passing'.*custom_objects=\{'Passing': Passing\}"):
        model_from_json(model.to_json())


def test_nested_in_sequential_and_functional_models_and_saved(tmp_path):
    Classifier, _ = classes(gpunet)
    x, y = pima()
    inner = Classifier(units=4)
    inputs = gpunet.Input((8,))
    outer = gpunet.Model(inputs, gpunet.layers.Dense(1)(inner(inputs)))
    seq = gpunet.Sequential([Classifier(units=3), gpunet.layers.Dense(1)])
    for model in (outer, seq):
        model.compile(optimizer="sgd", loss="mse")
        model.fit(x, y, epochs=1, verbose=0)
        path = str(tmp_path / f"{model.name}.h5")
        model.save(path)
        back = load_model(path, custom_objects={"Classifier": Classifier})
        assert any(type(l) is Classifier for l in back.layers)
        np.testing.assert_array_equal(back.predict(x, verbose=0), model.predict(x, verbose=0))


def test_call_beside_a_graph_is_refused():
    class Doubled(gpunet.Model):
        def __init__(self):
            super().__init__(*graph(gpunet))

        def call(self, inputs, training=None):
            return 2 * inputs

    with pytest.raises(NotImplementedError, match="Doubled hands Model inputs= and outputs= and also defines call"):
        Doubled()


def exchange(writer, reader, units, path):
    """A Classifier of ``units`` written by ``writer`` (gpunet, tf.keras or Keras 3) to ``path`` and read
    back by ``reader``: the reader's class, the same predictions."""
    x, _ = pima()
    model = classes(writer)[0](units=units)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.save(path)
    cls = classes(reader)[0]
    back = reader.models.load_model(path, custom_objects={"Classifier": cls})
    assert type(back) is cls
    np.testing.assert_allclose(back.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_h5_files_pass_between_gpunet_and_tf_keras(tmp_path, tfk):
    for writer, reader in ((gpunet, tfk), (tfk, gpunet)):
        exchange(writer, reader, 4, str(tmp_path / f"from_{writer.__name__}.h5"))


def test_keras_files_pass_between_gpunet_and_keras3(tmp_path):
    from keras_support import keras_on_torch
    keras = keras_on_torch()
    # Keras 3 records a subclass's name alone (it cannot load its own file of units=4 either): its
    # model keeps the default units
    for writer, reader, units in ((gpunet, keras, 4), (gpunet, keras, 6), (keras, gpunet, 6)):
        exchange(writer, reader, units, str(tmp_path / f"from_{writer.__name__}_{units}.keras"))
