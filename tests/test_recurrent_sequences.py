"""The whole-sequence LSTM, GRU and SimpleRNN (autodiff/recurrent_sequences.py), the path of Keras's default ones:
outputs, states and every gradient equal the per-step cell's on the tape (a subclass of the cell takes that path)
for masks, directions, sequences, states given and returned, and dropout; gradients by central differences in
float64."""
import numpy as np
import pytest

import gpunet
from gpunet import backend as B
from gpunet import layers
from gpunet.layers.recurrent import fused

from graph_gradients import check_model_gradients

R = np.random.default_rng(29)
TOKENS = R.integers(1, 9, (6, 7))
TOKENS[::2, 4:] = 0
TOKENS[1, :2] = 0  # (a masked start too)


class _StepLSTMCell(layers.LSTMCell):
    """The same cell, run step by step on the tape."""


class _StepGRUCell(layers.GRUCell):
    """The same cell, run step by step on the tape."""


class _StepSimpleRNNCell(layers.SimpleRNNCell):
    """The same cell, run step by step on the tape."""


STEPPED = {"LSTM": _StepLSTMCell, "GRU": _StepGRUCell, "SimpleRNN": _StepSimpleRNNCell}
CELLS = ["LSTM", "GRU", "SimpleRNN"]


def _model(cell, whole, return_sequences, go_backwards, zero_output, states):
    gpunet.utils.set_random_seed(11)
    count = 2 if cell == "LSTM" else 1
    inp, starts = gpunet.Input((7,)), [gpunet.Input((4,)) for _ in range(count)]
    x = layers.Embedding(9, 3, mask_zero=True)(inp)
    kwargs = dict(return_sequences=return_sequences, go_backwards=go_backwards, zero_output_for_mask=zero_output,
                  return_state=True)
    extra = {"activation": "relu"} if cell == "SimpleRNN" and go_backwards else {}  # (its other activation)
    rnn = getattr(layers, cell)(4, **extra, **kwargs) if whole else layers.RNN(STEPPED[cell](4, **extra), **kwargs)
    out, *ends = rnn(x, initial_state=starts) if states else rnn(x)
    flat = layers.Flatten()(out) if return_sequences else out
    model = gpunet.Model([inp] + starts if states else inp, layers.Concatenate()([flat] + ends))
    model.compile("sgd", "mse")
    return model, rnn


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("return_sequences, go_backwards, zero_output, states", [
    (False, False, False, False), (True, False, False, True), (True, True, True, False), (False, True, False, True)])
def test_outputs_and_gradients_equal_the_per_step_cell(cell, return_sequences, go_backwards, zero_output, states):
    (whole, rnn), (stepped, step_rnn) = (_model(cell, w, return_sequences, go_backwards, zero_output, states)
                                         for w in (True, False))
    assert fused(rnn.cell) and not fused(step_rnn.cell)
    fused_model = whole
    stepped.set_weights(fused_model.get_weights())
    starts = [R.standard_normal((6, 4)) for _ in range(2 if cell == "LSTM" else 1)]
    x = [TOKENS] + starts if states else TOKENS
    np.testing.assert_allclose(fused_model.predict(x, verbose=0), stepped.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    y = R.standard_normal(fused_model.output_shape[1:]).astype("float32")[None].repeat(6, axis=0)
    fused_model.fit(x, y, epochs=2, batch_size=3, shuffle=False, verbose=0)
    stepped.fit(x, y, epochs=2, batch_size=3, shuffle=False, verbose=0)
    for a, b in zip(fused_model.get_weights(), stepped.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cell", CELLS)
def test_dropout_masks_are_applied_as_the_per_step_cell_applies_them(cell):
    x = R.standard_normal((5, 6, 3)).astype("float32")
    whole = getattr(layers, cell)(4, dropout=0.4, recurrent_dropout=0.3, return_sequences=True)
    stepped = layers.RNN(STEPPED[cell](4, dropout=0.4, recurrent_dropout=0.3), return_sequences=True)
    whole.build((None, 6, 3))
    stepped.build((None, 6, 3))
    stepped.set_weights(whole.get_weights())
    outs = []
    for layer in (whole, stepped):
        gpunet.utils.set_random_seed(3)  # (the same draws for the same masks)
        outs.append(B.get_backend().to_host(layer(x, training=True)))
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-5, atol=1e-6)
    assert not np.allclose(outs[0], B.get_backend().to_host(whole(x)))


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("return_sequences", [False, True])
def test_gradients_by_central_differences(ops, f64, cell, return_sequences):
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(6)
        inp = gpunet.Input((5, 2))
        masked = layers.Masking(0.0)(inp)
        out, *ends = getattr(layers, cell)(3, return_sequences=return_sequences, go_backwards=True,
                                           return_state=True)(masked)
        model = gpunet.Model(inp, layers.Concatenate()([layers.Flatten()(out) if return_sequences else out] + ends))
        model.compile("sgd", "mse")
        bias = model.layers[2].cell.bias
        bias.assign(np.random.default_rng(7).normal(0, 0.5, bias.shape))
        x = R.standard_normal((3, 5, 2))
        x[0, 3:] = 0.0  # (masked steps)
        x[2, :1] = 0.0
        width = (15 if return_sequences else 3) + 3 * len(ends)
        check_model_gradients(model, ops, ops.asarray(x), R.standard_normal((3, width)))
