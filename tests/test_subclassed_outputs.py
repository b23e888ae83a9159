"""A subclassed model whose ``call`` returns several tensors (a tuple, a list or a dict), as in Keras: compile
per output (before or after the build), fit/evaluate with a target per output, tf.keras 2's names
(``output_1_loss``; a dict's keys), predict and ``model(x)`` in call's structure, generators, nesting in another
call, or in a functional model; it trains on NumPy's graph plan and the emulated GPU's graph step as on the
tape (models/subclass_outputs.py)."""
import numpy
import pytest

import gpunet
from cuda_emulator import emulator  # noqa: F401 (fixture)
from gpunet import backend as B
from gpunet.layers import Dense, Input
from gpunet.models import Model
from test_masked_plans import backend as path_backend


class TwoHeads(Model):
    """A shared body, a binary head and a three-class head."""

    def __init__(self, kind=tuple):
        super().__init__()
        self.kind = kind
        self.body = Dense(12, activation="relu")
        self.main, self.aux = Dense(1, activation="sigmoid"), Dense(3, activation="softmax")
        self.calls = 0

    def call(self, inputs):
        self.calls += 1
        hidden = self.body(inputs)
        main, aux = self.main(hidden), self.aux(hidden)
        return {"main": main, "aux": aux} if self.kind is dict else self.kind([main, aux])


def data(n=80):
    rng = numpy.random.default_rng(7)
    x = rng.standard_normal((n, 6))
    return x, (x[:, :2].sum(1) > 0).astype("float64")[:, None], rng.integers(0, 3, n)


# tf.keras 2.21's History keys for this model (tf_keras run on TwoHeads with these compile arguments)
KERAS_KEYS = ["loss", "output_1_loss", "output_2_loss", "output_1_accuracy", "output_2_accuracy"]


def run(path, emulator, kind=tuple, compile_first=True):
    x, main, aux = data()
    with B.use_backend(path_backend("numpy" if path == "layer-path" else path, emulator)):
        gpunet.utils.set_random_seed(4)
        model = TwoHeads(kind)
        if not compile_first:
            model.build((None, 6))
        names = ["main", "aux"] if kind is dict else None
        targets = (lambda a, b: dict(zip(names, (a, b)))) if kind is dict else (lambda a, b: [a, b])
        losses = ["binary_crossentropy", "sparse_categorical_crossentropy"]
        model.compile(optimizer=gpunet.optimizers.Adam(0.01), loss=dict(zip(names, losses)) if names else losses,
                      loss_weights=[1.0, 0.5] if not names else {"main": 1.0, "aux": 0.5}, metrics=["accuracy"])
        if path == "layer-path":
            model._train_plan = lambda: None
        history = model.fit(x[:64], targets(main[:64], aux[:64]), batch_size=16, epochs=3, verbose=0, shuffle=False,
                            validation_data=(x[64:], targets(main[64:], aux[64:]))).history
        predicted = model.predict(x, verbose=0)
        evaluated = model.evaluate(x, targets(main, aux), verbose=0)
        return model, history, predicted, evaluated


@pytest.mark.parametrize("compile_first", [True, False], ids=["compiled-before-build", "built-first"])
def test_several_outputs_train_on_the_graph_steps_as_on_the_tape_with_keras_names(emulator, compile_first):
    B.set_floatx("float64")
    ref = run("layer-path", emulator, compile_first=compile_first)
    model, history, predicted, _ = ref
    assert list(history) == KERAS_KEYS + ["val_" + k for k in KERAS_KEYS]
    assert model.output_names == ["output_1", "output_2"] and model.output_shape == [(None, 1), (None, 3)]
    assert isinstance(predicted, tuple) and [p.shape for p in predicted] == [(80, 1), (80, 3)]
    assert history["loss"][-1] < history["loss"][0]
    for epoch in range(3):  # the total is the weighted sum of the outputs' losses
        numpy.testing.assert_allclose(history["loss"][epoch], history["output_1_loss"][epoch]
                                      + 0.5 * history["output_2_loss"][epoch], rtol=1e-12)
    for path, plan in (("numpy", "GraphPlan"), ("emulated-gpu", "GpuGraphPlan")):
        got = run(path, emulator, compile_first=compile_first)
        assert type(got[0]._plan).__name__ == plan, path
        assert got[0].calls <= ref[0].calls - 12 + 1  # (its 12 steps ran the trace, traced once, not call)
        for key in ref[1]:
            numpy.testing.assert_allclose(got[1][key], ref[1][key], rtol=1e-10, err_msg=f"{path} {key}")
        for g, r in zip(got[2], predicted):
            numpy.testing.assert_allclose(got[0].ops.to_host(g), r, rtol=1e-10)
        numpy.testing.assert_allclose(got[3], ref[3], rtol=1e-10)
        for g, r in zip(got[0].get_weights(), model.get_weights()):
            numpy.testing.assert_allclose(g, r, rtol=1e-9, atol=1e-12)


def test_a_dict_names_the_outputs_by_its_keys_and_predict_returns_a_dict(emulator):
    B.set_floatx("float64")
    ref = run("layer-path", emulator, kind=dict)
    model, history, predicted, _ = ref
    assert model.output_names == ["aux", "main"]  # (sorted, as tf.keras 2 flattens a dict)
    assert list(history)[:3] == ["loss", "aux_loss", "main_loss"] and "main_accuracy" in history
    assert isinstance(predicted, dict) and {k: v.shape for k, v in predicted.items()} == {"main": (80, 1),
                                                                                         "aux": (80, 3)}
    got = run("numpy", emulator, kind=dict)
    assert type(got[0]._plan).__name__ == "GraphPlan"
    for key in history:
        numpy.testing.assert_allclose(got[1][key], history[key], rtol=1e-10, err_msg=key)
    numpy.testing.assert_allclose(got[2]["aux"], predicted["aux"], rtol=1e-10)


def test_a_subclassed_model_trains_as_the_functional_model_of_the_same_layers():
    """The same weights, one loss for every output (as in Keras): the same history as Model(inputs, outputs)."""
    B.set_floatx("float64")
    x, main, aux = data()
    y = [main, numpy.eye(3)[aux]]
    sub = TwoHeads(list)
    sub.build((None, 6))
    inputs = Input((6,))
    hidden = Dense(12, activation="relu")(inputs)
    functional = Model(inputs, [Dense(1, activation="sigmoid")(hidden), Dense(3, activation="softmax")(hidden)])
    functional.set_weights(sub.get_weights())
    histories = []
    for model in (sub, functional):
        model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
        histories.append(model.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False).history)
    assert list(histories[0]) == ["loss", "output_1_loss", "output_2_loss", "output_1_mae", "output_2_mae"]
    assert list(histories[1])[:3] == ["loss"] + [f"{name}_loss" for name in functional.output_names]
    for a, b in zip(histories[0].values(), histories[1].values()):
        numpy.testing.assert_allclose(a, b, rtol=1e-12)
    assert isinstance(sub(x[:5]), list) and [o.shape for o in sub(x[:5])] == [(5, 1), (5, 3)]


def test_a_generator_builds_the_model_and_completes_compile_at_its_first_batch():
    x, main, aux = data()

    def batches():
        while True:
            for lo in range(0, 80, 20):
                yield x[lo:lo + 20], (main[lo:lo + 20], aux[lo:lo + 20])
    model = TwoHeads()
    model.compile("adam", loss=["binary_crossentropy", "sparse_categorical_crossentropy"], metrics=[["accuracy"], []])
    assert model._loss_fn is None and model.metrics_names == ["loss"]  # (waits for call to tell the outputs)
    history = model.fit(batches(), steps_per_epoch=4, epochs=2, verbose=0).history
    assert list(history) == ["loss", "output_1_loss", "output_2_loss", "output_1_accuracy"]
    assert model.metrics_names == ["loss", "output_1_loss", "output_2_loss", "output_1_accuracy"]
    assert len(model.evaluate(x, [main, aux], verbose=0)) == 4


def test_a_generator_of_several_inputs_feeds_a_subclassed_model_not_built_yet():
    from test_subclassed_inputs import WideAndDeep, data as wide_deep
    wide, deep, y = wide_deep()

    def batches():
        while True:
            for lo in range(0, 90, 30):
                yield [wide[lo:lo + 30], deep[lo:lo + 30]], y[lo:lo + 30]
    model = WideAndDeep()
    model.compile("adam", loss="binary_crossentropy")
    history = model.fit(batches(), steps_per_epoch=3, epochs=2, verbose=0).history
    assert len(history["loss"]) == 2 and model.input_names == ["input_1", "input_2"] and model.seen == {"list"}
    numpy.testing.assert_allclose(model.evaluate([wide, deep], y, verbose=0), history["loss"][-1], rtol=0.2)


class Summed(Model):
    """A model whose call calls a model of several outputs (on the tape) and adds them."""

    def __init__(self):
        super().__init__()
        self.inner = TwoHeads(tuple)
        self.head = Dense(1)

    def call(self, inputs):
        main, aux = self.inner(inputs)
        return self.head(aux) + main


def test_a_model_of_several_outputs_called_inside_a_call_hands_its_tensors_and_their_gradients():
    B.set_floatx("float64")
    x, main, _ = data()
    model = Summed()
    model.compile("sgd", loss="mse")
    model.fit(x, main, batch_size=80, epochs=1, verbose=0)  # (builds; the weights' gradients after one step)
    before = [w.copy() for w in model.get_weights()]
    model.fit(x, main, batch_size=80, epochs=1, verbose=0, shuffle=False)
    step = [(b - a) / 0.01 for a, b in zip(model.get_weights(), before)]  # (sgd: lr 0.01, the gradients)
    model.set_weights(before)
    rng, eps = numpy.random.default_rng(1), 1e-6
    for k in range(len(before)):  # finite differences of the loss on one entry of each weight
        index = tuple(rng.integers(0, s) for s in before[k].shape)

        def loss_at(delta):
            ws = [w.copy() for w in before]
            ws[k][index] += delta
            model.set_weights(ws)
            return model.evaluate(x, main, batch_size=80, verbose=0)
        numpy.testing.assert_allclose(step[k][index], (loss_at(eps) - loss_at(-eps)) / (2 * eps), rtol=1e-5, atol=1e-9)
    assert type(model.inner(x[:3])) is tuple


def test_a_model_of_several_outputs_in_a_functional_graph_gives_a_tensor_each(f64, ops):
    """``main, aux = heads(inputs)`` in a functional model: one symbolic tensor per output, gradients through
    both by finite differences, and it trains on the layer path."""
    from graph_gradients import check_model_gradients
    heads = TwoHeads(list)
    inputs = Input((6,))
    main, aux = heads(inputs)
    model = Model(inputs, [main, Dense(2)(aux)])
    assert [tuple(t.shape) for t in model.outputs] == [(None, 1), (None, 2)]
    model.compile(optimizer="sgd", loss="mse")
    rng = numpy.random.default_rng(3)
    check_model_gradients(model, ops, ops.asarray(rng.standard_normal((5, 6))), rng.standard_normal((5, 3)))
    x, y, _ = data()
    history = model.fit(x, [y, numpy.hstack([y, 1 - y])], epochs=3, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]


def test_outputs_that_change_or_do_not_fit_are_refused_by_name():
    x, main, aux = data()
    model = TwoHeads()
    model.compile("adam", loss="binary_crossentropy")
    with pytest.raises(ValueError, match=r"2 outputs \['output_1', 'output_2'\].*received one ndarray"):
        model.fit(x, main, verbose=0)
    model.kind = lambda parts: parts[0]
    with pytest.raises(ValueError, match="call returned one tensor, but it returned 2"):
        model.predict(x, verbose=0)
    model.kind = lambda parts: [parts[1], parts[0]]
    with pytest.raises(ValueError, match="keep their number, names and shapes"):
        model.predict(x, verbose=0)


class TrainOrInfer(Model):
    """The same calls in both modes, the outputs in another order: only the outputs tell the traces apart
    (a trace holds the calls its outputs need in their order: here one's output feeds other)."""

    def __init__(self):
        super().__init__()
        self.body = Dense(4, activation="tanh")
        self.one, self.other = Dense(1, activation="sigmoid"), Dense(1, activation="sigmoid")

    def call(self, inputs, training=None):
        hidden = self.body(inputs)
        one = self.one(hidden)
        other = self.other(one)
        return (one, other) if training else (other, one)


def test_a_call_returning_other_tensors_in_training_is_not_traced(emulator):
    """Its trace in training would give predict the outputs in training's order (the GPU's forward plan
    runs the trace)."""
    x, main, _ = data()
    with B.use_backend(path_backend("emulated-gpu", emulator)):
        model = TrainOrInfer()
        model.compile("adam", loss="binary_crossentropy")
        model.fit(x, [main, 1 - main], epochs=1, verbose=0)
        assert model._plan_graph() is None
        predicted = [model.ops.to_host(p) for p in model.predict(x, verbose=0)]
        hidden = model.body(x)
        numpy.testing.assert_allclose(predicted[0], model.ops.to_host(model.other(model.one(hidden))), rtol=1e-6)
        numpy.testing.assert_allclose(predicted[1], model.ops.to_host(model.one(hidden)), rtol=1e-6)


@pytest.mark.parametrize("loss, metrics", [(["mse"], [["mae"]]), ({"out": "mse"}, {"out": ["mae"]})])
def test_one_output_takes_compile_arguments_given_per_output(loss, metrics):
    """tf.keras 2 takes ``loss=["mse"]`` or a dict keyed by the one output's name."""
    x, main, _ = data()
    inputs = Input((6,))
    model = Model(inputs, Dense(1, name="out")(inputs))
    model.compile("sgd", loss=loss, metrics=metrics)
    assert model.loss == "mse" and model.metrics_names == ["loss", "mae"]
    assert list(model.fit(x, main, epochs=1, verbose=0).history) == ["loss", "mae"]


class OneInList(Model):
    def __init__(self, kind):
        super().__init__()
        self.kind, self.dense = kind, Dense(2)

    def call(self, inputs):
        return self.kind([self.dense(inputs)])


@pytest.mark.parametrize("kind", [list, tuple])
@pytest.mark.parametrize("build_first", [False, True])
def test_call_returning_one_tensor_in_a_list_gives_it_back_in_one(kind, build_first):
    """tf.keras 2.21 (checked by hand): predict and ``model(x)`` give ``[array]``; fit takes one target, History
    has ``loss`` alone."""
    x, main, _ = data()
    model = OneInList(kind)
    if build_first:
        model.build((None, 6))
    predicted = model.predict(x, verbose=0)
    assert type(predicted) is kind and len(predicted) == 1 and predicted[0].shape == (80, 2)
    called = model(x[:5])
    assert type(called) is kind and len(called) == 1
    numpy.testing.assert_allclose(model.ops.to_host(called[0]), predicted[0][:5], rtol=1e-6)
    model.compile("sgd", "mse")
    assert list(model.fit(x, numpy.hstack([main, main]), epochs=1, verbose=0).history) == ["loss"]
    assert type(model.predict_on_batch(x[:3])) is kind
