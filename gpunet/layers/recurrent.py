"""Keras's recurrent layers `SimpleRNN`, `LSTM` and `GRU` (tf.keras 2.21's arguments, weights, configs and
results; Keras 3 keeps them): a cell (recurrent_cells.py) run over the time axis on the tape, so training
backpropagates through time by gpunet.autodiff, on NumPy and on the GPU alike (a Python loop over the steps:
no fused kernel, and none of cuDNN's speed).

``return_sequences``, ``go_backwards``, ``zero_output_for_mask``, ``dropout``/``recurrent_dropout`` (masks drawn once
per sequence, as Keras's), ``initial_state``, and masks (``Embedding(mask_zero=True)``, ``Masking``): a
masked step keeps the previous state and output, as tf.keras 2 computes it. Weights as Keras keeps them:
``kernel``, ``recurrent_kernel``, ``bias`` of the layer's ``cell`` (Keras 3's .keras layout: ``<layer>/cell``).
``return_state=True`` gives ``[output, *final_states]`` (the functional API's several outputs: Keras's seq2seq
encoder hands its states to the decoder's ``initial_state``). ``stateful=True`` carries the states from one
call to the next (recurrent_state.py); ``time_major=True`` is refused with a message; ``unroll`` and
``implementation`` only change how Keras computes, and are taken. `RNN` (rnn.py) runs any cell, yours too.
"""
import functools

from .base import Layer
from . import recurrent_state
from .recurrent_cells import GRUCell, LSTMCell, SimpleRNNCell
from .recurrent_state import flat_sizes, output_size

_CELL_ARGS = ("activation", "recurrent_activation", "use_bias", "kernel_initializer", "recurrent_initializer",
              "bias_initializer", "kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
              "kernel_constraint", "recurrent_constraint", "bias_constraint", "dropout", "recurrent_dropout")


def build_cell(cell, step_shape):
    """Build ``cell`` (unless built) for steps of ``step_shape`` ``(batch, features)``."""
    if getattr(cell, "built", True):
        return
    probing = isinstance(cell, Layer) and type(cell).compute_output_shape is Layer.compute_output_shape
    if probing:  # (a cell of your own: its call takes states, so its step's shape is known, not probed)
        cell.compute_output_shape = lambda shape: (shape[0], output_size(cell))
    try:
        cell.build(step_shape)
    finally:
        if probing:
            del cell.compute_output_shape
    cell.built = True


def cell_step(cell, x, states, masks, training):
    """One step of ``cell``: ``(output, new states)`` as tensors. gpunet's cells (and stacks) take the sequence's
    dropout ``masks``, a cell of your own its ``training`` when its ``call`` has that argument (as Keras passes it)."""
    from ..autodiff import lift
    from .user_code import takes_training
    if hasattr(cell, "dropout_masks"):
        out, new = cell.call(x, states) if masks is None else cell.call(x, states, masks)
    else:
        out, new = cell.call(x, list(states), **({"training": training} if takes_training(cell.call) else {}))
    return lift(out), [lift(s) for s in (new if isinstance(new, (list, tuple)) else [new])]


def fused(cell):
    """Whether ``cell`` is Keras's default LSTM, GRU or SimpleRNN step (SimpleRNN's relu too), which
    autodiff/recurrent_sequences.py runs whole."""
    def named(activation, name):
        return (getattr(activation, "name", None) == name and not getattr(activation, "params", None)
                and not getattr(activation, "custom", False))
    if type(cell) is SimpleRNNCell:
        return named(cell.activation, "tanh") or named(cell.activation, "relu")
    if not (type(cell) is LSTMCell or (type(cell) is GRUCell and cell.reset_after)):
        return False
    return named(cell.activation, "tanh") and named(cell.recurrent_activation, "sigmoid")


class _RNN(Layer):
    """A cell over the steps of ``(batch, steps, features)`` inputs (see the module doc); `RNN` takes any cell,
    `SimpleRNN`, `LSTM` and `GRU` make theirs from their arguments."""

    _binds_last_axis = True  # (a shared call may take other sizes: layers/symbolic.py)
    supports_masking = True
    _reads_input_masks = True  # (called with initial_state: its sequence's mask still reaches call)
    _cell_class = None
    _own_args = ()
    _allowed_kwargs = Layer._allowed_kwargs + _CELL_ARGS  # (a config's cell arguments: saving/layer_kwargs.py)

    def __init__(self, units, return_sequences=False, return_state=False, go_backwards=False, stateful=False,
                 unroll=False, time_major=False, implementation=2, seed=None, zero_output_for_mask=False, **kwargs):
        cell_kwargs = {k: kwargs.pop(k) for k in _CELL_ARGS + self._own_args if k in kwargs}
        super().__init__(**kwargs)
        self.implementation, self.seed = implementation, seed
        self._setup(self._cell_class(units, name=f"{self.name}_cell", dtype=self.dtype, **cell_kwargs),
                    return_sequences, return_state, go_backwards, stateful, unroll, time_major, zero_output_for_mask)

    def _setup(self, cell, return_sequences, return_state, go_backwards, stateful, unroll, time_major,
               zero_output_for_mask):
        if time_major:
            raise NotImplementedError(f"{type(self).__name__}(time_major=True) is not implemented in gpunet: give "
                                      "inputs as (batch, steps, features).")
        self.cell = cell
        self.return_sequences, self.return_state = bool(return_sequences), bool(return_state)
        self.go_backwards, self.stateful, self.unroll = bool(go_backwards), bool(stateful), bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)  # (masked steps output zeros, not the last output)

    def __call__(self, x, *args, **kwargs):
        from .symbolic import is_symbolic
        x, kwargs = recurrent_state.initial_state_form(x, args, kwargs)
        if is_symbolic(x):
            recurrent_state.check_symbolic(self, x.shape)
        elif self.stateful and not self.built and hasattr(x, "shape"):  # (a direct call: its batch is the layer's)
            self.build(tuple(x.shape))
        out = super().__call__(x, *args, **kwargs)
        if not self.return_state:
            return out
        return [out[0]] + recurrent_state.nested(list(out[1:]), self.cell.state_size)

    def __getattr__(self, name):  # (Keras's layer.units, layer.dropout, ...: the cell's)
        if name in _CELL_ARGS + self._own_args + ("units",) and "cell" in self.__dict__:
            return getattr(self.__dict__["cell"], name)
        raise AttributeError(f"'{type(self).__name__}' object has no attribute {name!r}")

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"Input 0 of layer \"{self.name}\" is incompatible with the layer: expected ndim=3, "
                             f"found ndim={len(input_shape)}. Full shape received: {tuple(input_shape)}")
        if input_shape[-1] is None:
            raise ValueError(f"{type(self).__name__} '{self.name}' needs a known feature size, received input shape "
                             f"{tuple(input_shape)}")
        recurrent_state.check_symbolic(self, input_shape)
        build_cell(self.cell, (None, input_shape[-1]))

    @property
    def _several_outputs(self):  # (return_state: the output, then the final states, as Keras's list)
        return self.return_state

    @property
    def states(self):
        """A stateful layer's carried states (Keras's ``layer.states``; None each before the first call)."""
        return recurrent_state.current(self)

    def reset_states(self, states=None):
        """Start the next call of a stateful layer from zeros, or from ``states`` (tf.keras 2's)."""
        recurrent_state.reset(self, states)

    def reset_state(self):
        """Start the next call of a stateful layer from zeros (Keras 3's name)."""
        recurrent_state.reset(self)

    def compute_output_shape(self, input_shape):
        units = output_size(self.cell)
        out = (input_shape[0], input_shape[1], units) if self.return_sequences else (input_shape[0], units)
        return [out] + [(input_shape[0], n) for n in flat_sizes(self.cell.state_size)] if self.return_state else out

    def _state_count(self):
        return len(flat_sizes(self.cell.state_size))

    def _step(self, x, states, masks, training):
        out, new = cell_step(self.cell, x, states, masks, training)
        if len(new) != len(states):
            raise ValueError(f"The cell of '{self.name}' returned {len(new)} state(s) for {len(states)} (its "
                             f"state_size {self.cell.state_size!r})")
        return out, new

    def call(self, inputs, mask=None, training=None, initial_state=None):
        from .. import ops
        batch, steps = inputs.shape[0], inputs.shape[1]
        if initial_state is not None:
            initial_state = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
            if len(initial_state) != self._state_count():
                raise ValueError(f"{type(self).__name__} '{self.name}' takes {self._state_count()} initial state "
                                 f"tensor(s), received {len(initial_state)}")
        states = recurrent_state.starting(self, batch, inputs.dtype, initial_state)
        masks = (self.cell.dropout_masks(batch, inputs.shape[-1], bool(training))
                 if hasattr(self.cell, "dropout_masks") else None)
        if fused(self.cell):  # (Keras's default LSTM and GRU: the whole sequence as one step of the tape)
            result, *states = self._sequence(inputs, states, masks, mask)
            recurrent_state.keep(self, states)
            return [result] + states if self.return_state else result
        order = range(steps - 1, -1, -1) if self.go_backwards else range(steps)
        zeros = self._step_zeros(inputs)
        outputs, last = [], zeros
        for t in order:
            out, new_states = self._step(inputs[:, t], states, masks, training)
            if mask is not None:  # a masked step keeps the previous output and states (tf.keras 2's rnn)
                keep = ops.reshape(ops.cast(mask[:, t], "bool"), (batch,) + (1,) * (len(out.shape) - 1))
                out = ops.where(keep, out, zeros if self.zero_output_for_mask else last)
                new_states = [ops.where(keep, n, s) for n, s in zip(new_states, states)]
            states, last = new_states, out
            outputs.append(out)
        recurrent_state.keep(self, states)
        result = ops.stack(outputs, axis=1) if self.return_sequences else last
        return [result] + list(states) if self.return_state else result

    def _step_zeros(self, inputs):
        """A step's output of zeros (what ``zero_output_for_mask`` puts at masked steps)."""
        from .. import ops
        return ops.zeros((inputs.shape[0], output_size(self.cell)), dtype=inputs.dtype)

    def _sequence(self, inputs, states, masks, mask):
        from .. import ops
        from ..autodiff import recurrent_sequences as sequences
        cell = self.cell
        keep = None if mask is None else ops.cast(mask, "bool").data
        data = [None if m is None else m.data for m in masks]
        if isinstance(cell, SimpleRNNCell):
            run = functools.partial(sequences.simple_sequence, activation=cell.activation.name)
        else:
            run = sequences.lstm_sequence if isinstance(cell, LSTMCell) else sequences.gru_sequence
        return run(inputs, *states, cell.kernel, cell.recurrent_kernel, cell.bias, keep=keep, input_mask=data[0],
                   recurrent_mask=data[1], go_backwards=self.go_backwards,
                   zero_output_for_mask=self.zero_output_for_mask, return_sequences=self.return_sequences)

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, list):
            mask = mask[0]
        return mask if self.return_sequences else None  # (the sequence's mask goes on; states carry none)

    def _loop_config(self):
        config = super().get_config()
        config.update({"return_sequences": self.return_sequences, "return_state": self.return_state,
                       "go_backwards": self.go_backwards, "stateful": self.stateful, "unroll": self.unroll})
        if self.zero_output_for_mask:  # (tf.keras 2 writes it only then)
            config["zero_output_for_mask"] = True
        # (no time_major: tf.keras 2 reads its default, Keras 3 refuses the key)
        return config

    def get_config(self):
        config = self._loop_config()
        cell = self.cell.get_config()
        for key in ("name", "trainable", "dtype"):
            cell.pop(key, None)
        config.update(cell)
        from .. import regularizers
        config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        return config


class SimpleRNN(_RNN):
    """A fully connected recurrent layer: ``h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)``."""

    _cell_class = SimpleRNNCell


class LSTM(_RNN):
    """Long short-term memory (Hochreiter 1997), Keras's formulas and weights (``unit_forget_bias``)."""

    _cell_class = LSTMCell
    _own_args = ("unit_forget_bias",)
    _allowed_kwargs = _RNN._allowed_kwargs + _own_args


class GRU(_RNN):
    """Gated recurrent unit (Cho et al. 2014), Keras's formulas and weights (``reset_after``)."""

    _cell_class = GRUCell
    _own_args = ("reset_after",)
    _allowed_kwargs = _RNN._allowed_kwargs + _own_args
