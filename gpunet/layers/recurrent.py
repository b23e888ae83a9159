"""Keras's recurrent layers `SimpleRNN`, `LSTM` and `GRU` (tf.keras 2.21's arguments, weights, configs and
results; Keras 3 keeps them): a cell (recurrent_cells.py) run over the time axis on the tape, so training
backpropagates through time by gpunet.autodiff, on NumPy and on the GPU alike (a Python loop over the steps:
no fused kernel, and none of cuDNN's speed).

``return_sequences``, ``go_backwards``, ``zero_output_for_mask``, ``dropout``/``recurrent_dropout`` (masks drawn once
per sequence, as Keras's), ``initial_state``, and masks (``Embedding(mask_zero=True)``, ``Masking``): a
masked step keeps the previous state and output, as tf.keras 2 computes it. Weights as Keras keeps them:
``kernel``, ``recurrent_kernel``, ``bias`` of the layer's ``cell`` (Keras 3's .keras layout: ``<layer>/cell``).
``return_state=True`` gives ``[output, *final_states]`` (the functional API's several outputs: Keras's seq2seq
encoder hands its states to the decoder's ``initial_state``). ``stateful=True`` and ``time_major=True`` are
refused with a message; ``unroll`` and ``implementation`` only change how Keras computes, and are taken.
"""
from .base import Layer
from .recurrent_cells import GRUCell, LSTMCell, SimpleRNNCell

_CELL_ARGS = ("activation", "recurrent_activation", "use_bias", "kernel_initializer", "recurrent_initializer",
              "bias_initializer", "kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
              "kernel_constraint", "recurrent_constraint", "bias_constraint", "dropout", "recurrent_dropout")


class _RNN(Layer):
    """A cell over the steps of ``(batch, steps, features)`` inputs (see the module doc)."""

    supports_masking = True
    _cell_class = None
    _own_args = ()
    _allowed_kwargs = Layer._allowed_kwargs + _CELL_ARGS  # (a config's cell arguments: saving/layer_kwargs.py)

    def __init__(self, units, return_sequences=False, return_state=False, go_backwards=False, stateful=False,
                 unroll=False, time_major=False, implementation=2, seed=None, zero_output_for_mask=False, **kwargs):
        if stateful:
            raise NotImplementedError(f"{type(self).__name__}(stateful=True) is not implemented in gpunet: each "
                                      "batch starts from zero states (pass initial_state to start elsewhere).")
        if time_major:
            raise NotImplementedError(f"{type(self).__name__}(time_major=True) is not implemented in gpunet: give "
                                      "inputs as (batch, steps, features).")
        cell_kwargs = {k: kwargs.pop(k) for k in _CELL_ARGS + self._own_args if k in kwargs}
        super().__init__(**kwargs)
        self.cell = self._cell_class(units, name=f"{self.name}_cell", dtype=self.dtype, **cell_kwargs)
        self.return_sequences, self.return_state = bool(return_sequences), bool(return_state)
        self.go_backwards, self.stateful, self.unroll = bool(go_backwards), False, bool(unroll)
        self.implementation, self.seed = implementation, seed
        self.zero_output_for_mask = bool(zero_output_for_mask)  # (masked steps output zeros, not the last output)

    def __call__(self, x, *args, **kwargs):
        if isinstance(x, (list, tuple)) and "initial_state" not in kwargs and not args:
            # tf.keras 2's form of initial_state (its files write it so): the inputs, then the states
            return super().__call__(x[0], initial_state=list(x[1:]) or None, **kwargs)
        return super().__call__(x, *args, **kwargs)

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
        if not self.cell.built:
            self.cell.build((None, input_shape[-1]))
            self.cell.built = True

    @property
    def _several_outputs(self):  # (return_state: the output, then the final states, as Keras's list)
        return self.return_state

    def compute_output_shape(self, input_shape):
        units = self.cell.units
        out = (input_shape[0], input_shape[1], units) if self.return_sequences else (input_shape[0], units)
        return [out] + [(input_shape[0], units)] * self._state_count() if self.return_state else out

    def _state_count(self):
        return 2 if isinstance(self.cell, LSTMCell) else 1

    def call(self, inputs, mask=None, training=None, initial_state=None):
        from .. import ops
        batch, steps = inputs.shape[0], inputs.shape[1]
        units = self.cell.units
        if initial_state is None:
            states = [ops.zeros((batch, units), dtype=inputs.dtype) for _ in range(self._state_count())]
        else:
            states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
            if len(states) != self._state_count():
                raise ValueError(f"{type(self).__name__} '{self.name}' takes {self._state_count()} initial state "
                                 f"tensor(s), received {len(states)}")
        masks = self.cell.dropout_masks(batch, inputs.shape[-1], bool(training))
        order = range(steps - 1, -1, -1) if self.go_backwards else range(steps)
        zeros = ops.zeros((batch, units), dtype=inputs.dtype)
        outputs, last = [], zeros
        for t in order:
            out, new_states = self.cell.call(inputs[:, t], states, masks)
            if mask is not None:  # a masked step keeps the previous output and states (tf.keras 2's rnn)
                keep = ops.expand_dims(ops.cast(mask[:, t], "bool"), -1)
                out = ops.where(keep, out, zeros if self.zero_output_for_mask else last)
                new_states = [ops.where(keep, n, s) for n, s in zip(new_states, states)]
            states, last = new_states, out
            outputs.append(out)
        result = ops.stack(outputs, axis=1) if self.return_sequences else last
        return [result] + list(states) if self.return_state else result

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, list):
            mask = mask[0]
        return mask if self.return_sequences else None  # (the sequence's mask goes on; states carry none)

    def get_config(self):
        config = super().get_config()
        config.update({"return_sequences": self.return_sequences, "return_state": self.return_state,
                       "go_backwards": self.go_backwards, "stateful": False, "unroll": self.unroll})
        if self.zero_output_for_mask:  # (tf.keras 2 writes it only then)
            config["zero_output_for_mask"] = True
        # (no time_major: tf.keras 2 reads its default, Keras 3 refuses the key)
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
