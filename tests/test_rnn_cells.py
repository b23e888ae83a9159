"""Keras's `RNN` over cells: gpunet's `SimpleRNNCell`, `LSTMCell`, `GRUCell`, `StackedRNNCells` (a list of cells)
and a cell of your own (the Keras guide's ``MinimalRNNCell``, with ``K.dot``), against tf.keras 2.21: values,
training side by side, configs, files both ways with tf.keras (.h5) and Keras 3 (.keras)."""
import numpy as np
import pytest

import gpunet
from gpunet import layers

from graph_gradients import assert_trains_alike
from keras_support import assert_files_travel, keras_on_torch

R = np.random.default_rng(7)
X = R.random((32, 6, 3)).astype("float32")
Y = R.random((32, 1)).astype("float32")


def minimal_cell(lib):
    """The Keras guide's cell (keras.io "Recurrent layers"), written against ``lib``'s Layer and backend (Keras 3
    has no ``K.dot``: its ``ops.matmul`` there)."""
    dot = lib.backend.dot if hasattr(lib.backend, "dot") else lib.ops.matmul

    class MinimalRNNCell(lib.layers.Layer):
        def __init__(self, units, **kwargs):
            self.units = units
            self.state_size = units
            super().__init__(**kwargs)

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="uniform", name="kernel")
            self.recurrent_kernel = self.add_weight(shape=(self.units, self.units), initializer="uniform",
                                                    name="recurrent_kernel")
            self.built = True

        def call(self, inputs, states):
            prev_output = states[0]
            h = dot(inputs, self.kernel)
            output = h + dot(prev_output, self.recurrent_kernel)
            return output, [output]

        def get_config(self):
            return {**super().get_config(), "units": self.units}
    return MinimalRNNCell


def _model(lib, kind):
    L = lib.layers
    inp = lib.Input((6, 3))
    if kind == "lstm cell":
        x = L.RNN(L.LSTMCell(5), return_sequences=True)(inp)
        x = L.GlobalAveragePooling1D()(x)
    elif kind == "stacked":
        x = L.RNN([L.GRUCell(4), L.SimpleRNNCell(3), L.LSTMCell(2)])(inp)
    elif kind == "bidirectional":
        x = L.Bidirectional(L.RNN(L.GRUCell(3)))(inp)
    else:
        cell = minimal_cell(lib)
        x = L.RNN(cell(4) if kind == "own cell" else [cell(4), cell(3)], go_backwards=True)(inp)
    model = lib.Model(inp, L.Dense(1)(x))
    model.compile(optimizer=lib.optimizers.Adam(0.01), loss="mse")
    return model


@pytest.mark.parametrize("kind", ["lstm cell", "stacked", "bidirectional", "own cell", "own cells stacked"])
def test_trains_as_tf_keras(tfk, kind):
    model, ref = _model(gpunet, kind), _model(tfk, kind)
    assert [w.shape for w in model.weights] == [tuple(w.shape) for w in ref.weights]
    model.set_weights(ref.get_weights())
    np.testing.assert_allclose(model.predict(X, verbose=0), ref.predict(X, verbose=0), rtol=1e-5, atol=1e-6)
    assert_trains_alike(model, ref, X, Y, epochs=2)


def test_a_built_in_layer_and_rnn_over_its_cell_are_the_same():
    lstm = gpunet.Sequential([gpunet.Input((6, 3)), layers.LSTM(4, return_sequences=True)])
    rnn = gpunet.Sequential([gpunet.Input((6, 3)), layers.RNN(layers.LSTMCell(4), return_sequences=True)])
    rnn.set_weights(lstm.get_weights())
    np.testing.assert_array_equal(rnn.predict(X, verbose=0), lstm.predict(X, verbose=0))


def test_masks_and_return_state_as_tf_keras(tfk):
    tokens = R.integers(0, 9, (8, 6))
    tokens[:, 4:] = 0

    def make(lib):
        L = lib.layers
        inp = lib.Input((6,))
        emb = L.Embedding(9, 3, mask_zero=True)(inp)
        out, (h1, c1), h2 = L.RNN([L.LSTMCell(4), L.GRUCell(2)], return_sequences=True, return_state=True)(emb)
        return lib.Model(inp, [out, h1, c1, h2])  # (the LSTMCell's two states as one list, as Keras gives them)
    model, ref = make(gpunet), make(tfk)
    model.set_weights(ref.get_weights())
    got, want = model.predict(tokens, verbose=0), ref.predict(tokens, verbose=0)
    assert [g.shape for g in got] == [(8, 6, 2), (8, 4), (8, 4), (8, 2)]
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["lstm cell", "stacked", "bidirectional"])
def test_files_both_ways_with_tf_keras_and_keras_3(tfk, kind, tmp_path):
    model = _model(gpunet, kind)
    model.fit(X, Y, epochs=1, verbose=0)
    assert_files_travel(model, X, tmp_path, tfk)


def test_configs_nest_the_cells_as_keras_writes_them(tfk):
    model, ref = _model(gpunet, "stacked"), _model(tfk, "stacked")
    mine, theirs = model.layers[1].get_config(), ref.layers[1].get_config()
    assert mine["cell"]["class_name"] == theirs["cell"]["class_name"] == "StackedRNNCells"
    assert [c["class_name"] for c in mine["cell"]["config"]["cells"]] == ["GRUCell", "SimpleRNNCell", "LSTMCell"]
    for key in ("return_sequences", "return_state", "go_backwards", "stateful", "unroll"):
        assert mine[key] == theirs[key], key
    again = gpunet.models.model_from_json(ref.to_json())  # tf.keras's config read
    cells = again.layers[1].cell.cells
    assert [type(c).__name__ for c in cells] == ["GRUCell", "SimpleRNNCell", "LSTMCell"]
    assert [c.units for c in cells] == [4, 3, 2]
    again.set_weights(ref.get_weights())
    np.testing.assert_allclose(again.predict(X, verbose=0), ref.predict(X, verbose=0), rtol=1e-5, atol=1e-6)


def test_a_cell_of_your_own_saves_and_loads_with_custom_objects(tfk, tmp_path):
    model = _model(gpunet, "own cells stacked")
    model.fit(X, Y, epochs=1, verbose=0)
    want = model.predict(X, verbose=0)
    objects = {"MinimalRNNCell": type(model.layers[1].cell.cells[0])}
    for name in ("m.h5", "m.keras"):
        model.save(tmp_path / name)
        again = gpunet.models.load_model(tmp_path / name, custom_objects=objects)
        np.testing.assert_array_equal(again.predict(X, verbose=0), want)
    ref = tfk.models.load_model(tmp_path / "m.h5", custom_objects={"MinimalRNNCell": minimal_cell(tfk)})
    np.testing.assert_allclose(ref.predict(X, verbose=0), want, rtol=1e-5, atol=1e-6)
    keras = keras_on_torch()
    k3 = keras.models.load_model(tmp_path / "m.keras", custom_objects={"MinimalRNNCell": minimal_cell(keras)})
    np.testing.assert_allclose(np.asarray(k3.predict(X, verbose=0)), want, rtol=1e-5, atol=1e-6)
    with pytest.raises(Exception, match="MinimalRNNCell"):
        gpunet.models.load_model(tmp_path / "m.h5")


def test_the_guide_s_programs_run_with_unknown_lengths():
    cell = minimal_cell(gpunet)
    for rnn in (layers.RNN(cell(32)), layers.RNN([cell(32), cell(64)])):
        x = gpunet.Input((None, 5))
        y = rnn(x)
        assert tuple(y.shape) == (None, 32 if not isinstance(rnn.cell, layers.StackedRNNCells) else 64)
        model = gpunet.Model(x, y)
        assert model.predict(R.random((2, 7, 5)).astype("float32"), verbose=0).shape == (2, y.shape[-1])


class _NoStateSize(layers.Layer):
    def call(self, inputs, states):
        return inputs, states


class _TwoStatesReturned(layers.Layer):
    state_size = 3

    def call(self, inputs, states):
        return states[0], [states[0], states[0]]


def test_refusals_name_what_was_expected():
    with pytest.raises(ValueError, match="Argument `cell` should have a `call` method"):
        layers.RNN(object())
    with pytest.raises(ValueError, match="The RNN cell should have a `state_size` attribute"):
        layers.RNN(_NoStateSize())
    with pytest.raises(ValueError, match=r"returned 2 state\(s\) for 1"):
        layers.RNN(_TwoStatesReturned())(X)
    with pytest.raises(ValueError, match=r"returned 2 state\(s\) for 1"):
        layers.RNN([_TwoStatesReturned()])(X)
    with pytest.raises(ValueError, match="at least one cell"):
        layers.StackedRNNCells([])
    with pytest.raises(TypeError, match="state_size must be an int or a list of ints"):
        layers.RNN(type("Odd", (_NoStateSize,), {"state_size": "3"})())(X)
