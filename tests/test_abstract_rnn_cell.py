"""`AbstractRNNCell`, the base of a cell of your own, against tf.keras 2.21: its docstring's ``MinimalRNNCell`` in
`RNN` gives tf.keras's outputs and trains alike from the same weights; ``get_initial_state``, an ``output_size``
left undefined (the first state's size), several states; what an incomplete cell raises; files with
custom_objects both ways."""
import numpy as np
import pytest

import gpunet
from gpunet import layers
from gpunet.layers.abstract_rnn_cell import AbstractRNNCell

from graph_gradients import assert_trains_alike

R = np.random.default_rng(23)
X = R.random((32, 5, 3)).astype("float32")
Y = R.random((32, 2)).astype("float32")


def _base(lib):
    return AbstractRNNCell if lib is gpunet else lib.layers.AbstractRNNCell


def minimal_cell(lib):
    """tf.keras's AbstractRNNCell docstring example (with a get_config, to be saved)."""
    backend = lib.backend

    class MinimalRNNCell(_base(lib)):
        def __init__(self, units, **kwargs):
            self.units = units
            super(MinimalRNNCell, self).__init__(**kwargs)

        @property
        def state_size(self):
            return self.units

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="uniform", name="kernel")
            self.recurrent_kernel = self.add_weight(shape=(self.units, self.units), initializer="uniform",
                                                    name="recurrent_kernel")
            super().build(input_shape)

        def call(self, inputs, states):
            prev_output = states[0]
            h = backend.dot(inputs, self.kernel)
            output = h + backend.dot(prev_output, self.recurrent_kernel)
            return output, output

        def get_config(self):
            return {**super().get_config(), "units": self.units}
    return MinimalRNNCell


def two_state_cell(lib):
    """A cell with two states and an output of its own size (``output_size``), in tanh."""
    backend = lib.backend

    class TwoStateCell(_base(lib)):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        @property
        def state_size(self):
            return [self.units, 2 * self.units]

        @property
        def output_size(self):
            return 3 * self.units

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], 3 * self.units), initializer="glorot_uniform",
                                          name="kernel")
            super().build(input_shape)

        def call(self, inputs, states):
            h, c = states
            z = backend.tanh(backend.dot(inputs, self.kernel) + backend.concatenate([h, c], axis=-1))
            return z, [z[:, :self.units], z[:, self.units:]]
    return TwoStateCell


def _model(lib, kind):
    L = lib.layers
    inp = lib.Input((5, 3))
    if kind == "minimal":
        x = L.RNN(minimal_cell(lib)(4), go_backwards=True)(inp)
    elif kind == "sequences":
        x = L.GlobalAveragePooling1D()(L.RNN(minimal_cell(lib)(4), return_sequences=True)(inp))
    else:
        x = L.RNN(two_state_cell(lib)(2))(inp)
    model = lib.Model(inp, L.Dense(2)(x))
    model.compile(optimizer=lib.optimizers.SGD(0.05), loss="mse")
    return model


@pytest.mark.parametrize("kind", ["minimal", "sequences", "two states"])
def test_an_rnn_over_the_cell_predicts_and_trains_as_tf_keras(ops, tfk, kind):
    model, ref = _model(gpunet, kind), _model(tfk, kind)
    assert isinstance(model.layers[1].cell, AbstractRNNCell)
    assert [w.shape for w in model.weights] == [tuple(w.shape) for w in ref.weights]
    model.set_weights(ref.get_weights())
    np.testing.assert_allclose(model.predict(X, verbose=0), ref.predict(X, verbose=0), rtol=1e-5, atol=1e-6)
    assert_trains_alike(model, ref, X, Y, epochs=2)
    for got, want in zip(model.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_output_shapes_and_initial_states_as_tf_keras(ops, tfk):
    cell, theirs = minimal_cell(gpunet)(4), minimal_cell(tfk)(4)
    with pytest.raises(NotImplementedError):
        cell.output_size  # noqa: B018 - (left undefined, as tf.keras's)
    assert getattr(cell, "output_size", None) is None  # (RNN's fallback: the first state's size)
    assert layers.RNN(cell, return_sequences=True).compute_output_shape((None, 5, 3)) == (None, 5, 4)
    zeros = cell.get_initial_state(batch_size=2, dtype="float32")
    want = theirs.get_initial_state(batch_size=2, dtype="float32").numpy()
    assert zeros.shape == want.shape and zeros.numpy().dtype == want.dtype and not zeros.numpy().any()
    assert cell.get_initial_state(inputs=ops.asarray(X[:, 0])).shape == (32, 4)
    two = two_state_cell(gpunet)(2).get_initial_state(batch_size=3, dtype="float64")
    assert [s.shape for s in two] == [(3, 2), (3, 4)] and two[0].numpy().dtype == np.float64
    with pytest.raises(ValueError, match=r"batch_size and dtype cannot be None.*batch_size=None, dtype=float32"):
        cell.get_initial_state(dtype="float32")
    with pytest.raises(ValueError, match=r"batch_size and dtype cannot be None"):
        theirs.get_initial_state(dtype="float32")


def test_an_initial_state_of_the_cell_s_own_is_used(ops):
    class StartsAtOne(minimal_cell(gpunet)):
        def get_initial_state(self, inputs=None, batch_size=None, dtype=None):
            return [gpunet.ops.ones((batch_size, self.units), dtype=dtype)]
    rnn, plain = layers.RNN(StartsAtOne(4)), layers.RNN(minimal_cell(gpunet)(4))
    plain.build((None, 5, 3))
    rnn.build((None, 5, 3))
    rnn.set_weights(plain.get_weights())
    ones = [ops.asarray(np.ones((32, 4), "float32"))]
    np.testing.assert_allclose(ops.to_host(rnn(ops.asarray(X))),
                               ops.to_host(plain(ops.asarray(X), initial_state=ones)), rtol=1e-6)


def test_an_incomplete_cell_says_what_it_lacks():
    class NoState(AbstractRNNCell):
        def call(self, inputs, states):
            return inputs, states

    with pytest.raises(NotImplementedError, match="NoState must define `state_size`"):
        NoState().state_size  # noqa: B018
    with pytest.raises(ValueError, match="should have a `state_size` attribute"):
        layers.RNN(NoState())
    with pytest.raises(NotImplementedError, match=r"must define call\(inputs, states\)"):
        AbstractRNNCell().call(X[:, 0], [X[:, 0]])

    class Attributes(AbstractRNNCell):  # (sizes set as attributes, as a plain Layer's cell sets them)
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.state_size, self.output_size = 3, 3

        def call(self, inputs, states):
            out = states[0] + gpunet.backend.sum(inputs, axis=-1, keepdims=True)
            return out, [out]
    out = layers.RNN(Attributes())(X)
    np.testing.assert_allclose(out.numpy(), np.repeat(X.sum(axis=(1, 2))[:, None], 3, axis=1), rtol=1e-5)


def test_files_with_custom_objects_both_ways(tfk, tmp_path):
    model = _model(gpunet, "minimal")
    model.fit(X, Y, epochs=1, verbose=0)
    want = model.predict(X, verbose=0)
    mine, theirs = {"MinimalRNNCell": minimal_cell(gpunet)}, {"MinimalRNNCell": minimal_cell(tfk)}
    for name in ("m.h5", "m.keras"):
        model.save(tmp_path / name)
        again = gpunet.models.load_model(tmp_path / name, custom_objects=mine)
        assert isinstance(again.layers[1].cell, AbstractRNNCell)
        np.testing.assert_array_equal(again.predict(X, verbose=0), want)
    ref = tfk.models.load_model(tmp_path / "m.h5", custom_objects=theirs)
    np.testing.assert_allclose(ref.predict(X, verbose=0), want, rtol=1e-5, atol=1e-6)
    ref.save(tmp_path / "tf.h5")
    back = gpunet.models.load_model(tmp_path / "tf.h5", custom_objects=mine)
    np.testing.assert_allclose(back.predict(X, verbose=0), want, rtol=1e-5, atol=1e-6)
