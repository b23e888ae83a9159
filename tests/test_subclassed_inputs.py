"""A subclassed model fed several arrays (``fit([x_wide, x_deep], y)``, ``call`` unpacking them: the Wide &
Deep model of Hands-On Machine Learning), as in Keras: fit, evaluate, predict, validation data, ``build`` with
a list of shapes; ``call`` gets a list or a tuple as given, a part with more axes in its own shape; it trains on
NumPy's graph plan and the emulated GPU's graph step as on the tape (models/subclass_inputs.py)."""
import numpy
import pytest

import gpunet
from cuda_emulator import emulator  # noqa: F401 (fixture)
from gpunet import backend as B
from gpunet import backend as K
from gpunet.layers import Dense, Flatten
from gpunet.models import Model
from test_masked_plans import backend as path_backend


class WideAndDeep(Model):
    """Hands-On ML's: the wide input straight to the output, the deep one through two hidden layers."""

    def __init__(self):
        super().__init__()
        self.hidden1, self.hidden2 = Dense(12, activation="relu"), Dense(12, activation="relu")
        self.flat, self.out = Flatten(), Dense(1, activation="sigmoid")
        self.seen = set()

    def call(self, inputs):
        self.seen.add(type(inputs).__name__)
        input_a, input_b = inputs
        deep = self.hidden2(self.hidden1(self.flat(input_b)))
        return self.out(K.concatenate([input_a, deep]))


def data():
    rng = numpy.random.default_rng(5)
    wide, deep = rng.standard_normal((90, 5)), rng.standard_normal((90, 2, 3))
    return wide, deep, ((wide[:, :2].sum(1) + deep[:, 0, :2].sum(1)) > 0).astype("float64")[:, None]


def run(path, emulator, kind=list):
    wide, deep, y = data()
    with B.use_backend(path_backend("numpy" if path == "layer-path" else path, emulator)):
        gpunet.utils.set_random_seed(4)
        model = WideAndDeep()
        model.compile(optimizer=gpunet.optimizers.Adam(0.01), loss="binary_crossentropy", metrics=["accuracy"])
        if path == "layer-path":
            model._train_plan = lambda: None
        history = model.fit(kind([wide[:70], deep[:70]]), y[:70], batch_size=16, epochs=3, verbose=0, shuffle=False,
                            validation_data=(kind([wide[70:], deep[70:]]), y[70:])).history
        predicted = model.ops.to_host(model.predict(kind([wide, deep]), verbose=0))
        return model, history, predicted, model.evaluate(kind([wide, deep]), y, verbose=0)


def test_several_inputs_train_on_the_graph_steps_as_on_the_tape(emulator):
    B.set_floatx("float64")
    ref = run("layer-path", emulator)
    assert ref[0].seen == {"list"} and ref[1]["loss"][-1] < ref[1]["loss"][0]
    for path, plan in (("numpy", "GraphPlan"), ("emulated-gpu", "GpuGraphPlan")):
        model, history, predicted, evaluated = run(path, emulator)
        assert type(model._plan).__name__ == plan
        for key in ref[1]:
            numpy.testing.assert_allclose(history[key], ref[1][key], rtol=1e-10, err_msg=f"{path} {key}")
        numpy.testing.assert_allclose(predicted, ref[2], rtol=1e-10)
        numpy.testing.assert_allclose(evaluated, ref[3], rtol=1e-10)
        for g, r in zip(model.get_weights(), ref[0].get_weights()):
            numpy.testing.assert_allclose(g, r, rtol=1e-9, atol=1e-12)


def test_a_tuple_comes_to_call_as_a_tuple_and_build_takes_a_list_of_shapes():
    B.set_floatx("float64")
    with B.use_backend(B.resolve("numpy")):
        model = run("layer-path", None, kind=tuple)[0]
        assert model.seen == {"tuple"}
        built = WideAndDeep()
        built.build([(None, 5), (None, 2, 3)])
        wide, deep, _ = data()
        assert built.predict([wide, deep], verbose=0).shape == (90, 1) and built.seen == {"list"}


def test_a_different_number_of_inputs_later_is_refused_by_name():
    wide, deep, y = data()
    with B.use_backend(B.resolve("numpy")):
        model = WideAndDeep()
        model.compile("adam", "binary_crossentropy")
        model.fit([wide, deep], y, epochs=1, verbose=0)
        with pytest.raises(ValueError, match=r"The model has 2 inputs \['input_1', 'input_2'\]: pass x input as a "
                                             r"list of 2 arrays"):
            model.predict([wide, deep, deep], verbose=0)


class Keyed(Model):
    """A call reading its inputs by name (Keras hands it the dict it was given)."""

    def __init__(self):
        super().__init__()
        self.deep, self.out = Dense(6, activation="relu"), Dense(1, activation="sigmoid")
        self.keys = []

    def call(self, inputs):
        self.keys.append(sorted(inputs))
        if "wide" in inputs:
            return self.out(K.concatenate([inputs["wide"], self.deep(inputs["deep"])]))
        return self.out(self.deep(inputs["deep"]))


@pytest.mark.parametrize("keys", [("deep", "wide"), ("deep",)])
def test_a_dict_of_inputs_comes_to_call_as_a_dict_and_trains_as_on_the_tape(keys):
    B.set_floatx("float64")
    wide, deep, y = data()
    x = {"wide": wide, "deep": deep.reshape(len(deep), -1)}
    x = {k: x[k] for k in keys}
    histories = []
    for path in ("layer-path", "numpy"):
        with B.use_backend(B.resolve("numpy")):
            gpunet.utils.set_random_seed(4)
            model = Keyed()
            model.compile(optimizer=gpunet.optimizers.Adam(0.01), loss="binary_crossentropy")
            if path == "layer-path":
                model._train_plan = lambda: None
            histories.append(model.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False).history["loss"])
            assert model.predict(x, verbose=0).shape == (90, 1) and model.input_names == sorted(keys)
            assert all(seen == sorted(keys) for seen in model.keys)
    assert type(model._plan).__name__ == "GraphPlan"
    numpy.testing.assert_allclose(histories[1], histories[0], rtol=1e-10)
