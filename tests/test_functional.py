"""The functional API (``Model(inputs, outputs)``): graphs, training against tf.keras 2.21, gradients."""
import numpy as np
import pytest

import gpunet
from gpunet import backend as B
from gpunet.layers import Add, Dense, Dropout, Input
from gpunet.models import Model, Sequential

from conftest import DATA
from graph_gradients import check_model_gradients


def _pima():
    data = np.loadtxt(f"{DATA}/pima-indians-diabetes.csv", delimiter=",")
    return data[:, :8].astype("float32") / data[:, :8].max(axis=0).astype("float32"), data[:, 8].astype("float32")


def _skip_graph(lib, L=None):
    """A DAG: a residual Add and a Concatenate of two branches (the same in gpunet and tf.keras)."""
    L = L or lib.layers
    x = lib.Input((8,))
    a = L.Dense(6, activation="relu", name="a")(x)
    b = L.Dense(6, activation="tanh", name="b")(a)
    c = L.Dense(4, name="c")(x)
    s = L.Add(name="s")([a, b])
    m = L.Concatenate(name="m")([s, c])
    out = L.Dense(1, activation="sigmoid", name="out")(m)
    return lib.Model(x, out)


def test_layers_in_keras_order_and_summary(tfk):
    model, ref = _skip_graph(gpunet), _skip_graph(tfk)
    assert [l.name for l in model.layers][1:] == [l.name for l in ref.layers][1:]
    assert type(model.layers[0]).__name__ == "InputLayer" and model.get_layer(index=0) is model.layers[0]
    assert [w.shape for w in model.weights] == [tuple(w.shape) for w in ref.weights]
    assert model.input_shape == (None, 8) and model.output_shape == (None, 1)
    assert model.count_params() == ref.count_params() == 6 * 9 + 6 * 7 + 4 * 9 + 11
    lines = []
    model.summary(print_fn=lines.append)
    assert "Connected to" in lines[2]
    at = next(i for i, line in enumerate(lines) if line.startswith("m (Concatenate)"))
    assert lines[at].split()[-1] == "s[0][0]" and lines[at + 1].split() == ["c[0][0]"]


def test_trains_as_tf_keras_does(tfk):
    x, y = _pima()
    model, ref = _skip_graph(gpunet), _skip_graph(tfk)
    model.set_weights(ref.get_weights())
    for m, opt in ((model, gpunet.optimizers.SGD(0.05, momentum=0.9)), (ref, tfk.optimizers.SGD(0.05, momentum=0.9))):
        m.compile(loss="binary_crossentropy", optimizer=opt, metrics=["accuracy"])
    h = model.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0, validation_split=0.2)
    r = ref.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0, validation_split=0.2)
    for got, want in zip(model.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-5)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(h.history[key], r.history[key], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(model.predict(x[:50], verbose=0), ref.predict(x[:50], verbose=0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), ref.evaluate(x, y, verbose=0), rtol=1e-4)


def test_gradients_match_finite_differences(f64, ops):
    """The graph's backward (a tensor used twice sums its gradients; Add hands one array to both
    inputs) against central differences of sum(out * g), g a random upstream gradient."""
    model = _skip_graph(gpunet)
    model.compile(loss="mse", optimizer="sgd")
    rng = np.random.default_rng(3)
    x = ops.asarray(rng.normal(size=(5, 8)))
    g = rng.normal(size=(5, 1))
    check_model_gradients(model, ops, x, g, count=25)


def test_a_chain_runs_the_fused_plan_and_equals_sequential():
    x, y = _pima()
    inp = Input((8,))
    out = Dense(1, activation="sigmoid")(Dropout(0.1)(Dense(12, activation="relu")(inp)))
    model = Model(inp, out)
    seq = Sequential([Dense(12, activation="relu", input_shape=(8,)), Dropout(0.1), Dense(1, activation="sigmoid")])
    seq.set_weights(model.get_weights())
    for m in (model, seq):
        gpunet.utils.set_random_seed(7)
        m.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
        m.fit(x, y, epochs=2, batch_size=10, verbose=0)
    assert model._plan is not None and model._plan is not False
    for got, want in zip(model.get_weights(), seq.get_weights()):
        np.testing.assert_array_equal(got, want)


def test_merge_graph_takes_the_graph_step_on_numpy():
    from gpunet import backend as B
    from gpunet.backend.graph_plan import GraphPlan
    with B.use_backend("numpy"):  # (tests/test_graph_plan.py: it trains as the layer path)
        model = _skip_graph(gpunet)
        model.compile(loss="mse", optimizer="sgd")
        model.fit(np.ones((4, 8), "float32"), np.ones((4, 1), "float32"), verbose=0)
        assert isinstance(model._train_plan(), GraphPlan)


def test_a_sequential_inside_a_graph():
    x, y = _pima()
    body = Sequential([Dense(6, activation="relu"), Dense(6)], name="body")
    inp = Input((8,))
    h = body(inp)
    model = Model(inp, Dense(1, activation="sigmoid")(Add()([h, Dense(6)(inp)])))
    model.compile(loss="binary_crossentropy", optimizer="adam")
    before = body.get_weights()
    model.fit(x, y, epochs=1, verbose=0)
    assert any(not np.array_equal(a, b) for a, b in zip(before, body.get_weights()))
    assert [l.name for l in model.layers][:2] == [model.layers[0].name, "body"]


@pytest.mark.parametrize("make, error, match", [
    (lambda: Model(Dense(2)(Input((3,))), Input((3,))), ValueError, "must come from gpunet.Input"),
    (lambda: Model(Input((3,)), Dense(2)(Input((3,)))), ValueError, "Graph disconnected"),
    (lambda: Model(np.ones(3), Input((3,))), TypeError, "must be symbolic tensors"),
    (lambda: Model(), NotImplementedError, "needs inputs= and outputs="),
    (lambda: Dense(2)([Input((3,)), Input((3,))]), TypeError, "takes one input tensor, received a list of 2"),
    (lambda: Add()(Input((3,))), ValueError, "should be called on a list of inputs"),
])
def test_bad_graphs_are_refused(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_several_inputs_of_unknown_lengths_take_arrays_of_any_length():
    a, b = Input((None, 4)), Input((3,))
    pooled = gpunet.layers.GlobalAveragePooling1D()(a)
    model = Model([a, b], Dense(1)(gpunet.layers.Concatenate()([pooled, b])))
    model.compile("sgd", "mse")
    rng = np.random.default_rng(0)
    short, long_, other = rng.random((8, 2, 4)), rng.random((8, 5, 4)), rng.random((8, 3))
    model.fit([short, other], rng.random((8, 1)), epochs=1, verbose=0)
    w, bias = model.layers[-1].get_weights()
    for seq in (short, long_):
        want = np.concatenate([seq.mean(axis=1), other], axis=1) @ w + bias
        np.testing.assert_allclose(model.predict([seq, other], verbose=0), want, rtol=1e-5, atol=1e-6)


def test_what_is_not_supported_yet_says_so():
    x = Input((3,))
    model = Model(x, Dense(2)(x))
    with pytest.raises(TypeError, match="has no add"):
        model.add(Dense(1))


def test_built_layer_refuses_another_shape():
    dense = Dense(2)
    dense(Input((3,)))
    with pytest.raises(ValueError, match=r"built for input shape \(None, 3\), received a tensor of shape \(None, 4\)"):
        dense(Input((4,)))


def test_input_tensor_is_symbolic():
    t = Input(shape=(8,), name="pixels")
    assert t.shape == (None, 8) and t.dtype == B.floatx() and t.name == "pixels"
    with pytest.raises(TypeError, match="is symbolic"):
        np.asarray(t)


def test_clone_model_rebuilds_the_graph():
    model = _skip_graph(gpunet)
    clone = gpunet.models.clone_model(model)
    assert [l.name for l in clone.layers] == [l.name for l in model.layers]
    assert all(a is not b for a, b in zip(clone.layers, model.layers))
    assert clone.get_config() == model.get_config()
    clone.set_weights(model.get_weights())
    x = _pima()[0][:20]
    np.testing.assert_array_equal(clone.predict(x, verbose=0), model.predict(x, verbose=0))


def test_the_readme_example_runs_as_written(capsys):
    """README's "The functional API" block, on the Pima data, with its 150 epochs cut to 3."""
    import os
    import re
    with open(os.path.join(os.path.dirname(__file__), "..", "README.md")) as f:
        section = f.read().split("## The functional API", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert "epochs=150" in code
    X, Y = _pima()
    scope = {"X": X, "Y": Y}
    exec(compile(code.replace("epochs=150", "epochs=3"), "README.md", "exec"), scope)
    model = scope["model"]
    assert [type(l).__name__ for l in model.layers] == ["InputLayer", "Dense", "Dense", "Add", "Dense"]
    assert "Epoch 3/3" in capsys.readouterr().out
    assert model.evaluate(X, Y, verbose=0)[1] > 0.6


def test_inputs_are_named_as_in_tf_keras_2(tfk):
    """tf.keras 2 numbers unnamed Input()s from 1 (input_1, input_2); a name read from a file is taken."""
    from gpunet.layers.naming import reset_names
    tfk.backend.clear_session()
    reset_names()
    mine = [gpunet.Input((3,)).name, gpunet.Input((2,)).name]
    theirs = [tfk.Input((3,)).name, tfk.Input((2,)).name]
    assert mine == theirs == ["input_1", "input_2"]
    named = gpunet.Input((3,), name="input_7")
    loaded = gpunet.models.model_from_json(gpunet.Model(named, gpunet.layers.Dense(1)(named)).to_json())
    assert loaded.layers[0].name == "input_7" and gpunet.Input((3,)).name == "input_8"
