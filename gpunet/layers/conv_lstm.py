"""Keras's convolutional LSTMs `ConvLSTM1D`, `ConvLSTM2D`, `ConvLSTM3D` (Shi et al. 2015): an LSTM whose
products are convolutions, over inputs ``(batch, steps, *spatial, channels)`` (channels first too). tf.keras
2.21's arguments, weights (``kernel`` ``(*kernel_size, channels, 4 * filters)``, ``recurrent_kernel``
``(*kernel_size, filters, 4 * filters)``, ``bias``; gates i, f, c, o), configs and values; Keras 3's too (its
``recurrent_activation`` default is "sigmoid" where tf.keras 2's is "hard_sigmoid"). The input convolution
takes the layer's ``strides``, ``padding`` and ``dilation_rate``, the recurrent one strides 1 and "same"
padding, as Keras's. A `recurrent._RNN` over `ConvLSTMCell`: trained through time on the tape, masks,
``dropout``/``recurrent_dropout`` (a mask per gate, drawn once per sequence, as Keras's), ``go_backwards``,
``return_sequences``, ``return_state`` and ``initial_state`` as the other recurrent layers. A mask over more
than the steps (``Masking``'s, one per place) masks a step where every place of it is masked: tf.keras 2.21
fails on such a mask."""
from .. import activations
from ..autodiff import conv_ops
from ..autodiff.conv_ops import int_tuple, padding_of
from .base import Layer
from .convolutional import add_bias, data_format_of, windowed_shape
from .recurrent import _RNN
from .recurrent_cells import dropout_rates, forget_bias
from .weight_args import keep_weight_arguments, weight_arguments_config

_WEIGHTS = ("kernel", "recurrent", "bias")
_CONV_ARGS = ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "unit_forget_bias")


class ConvLSTMCell(Layer):
    """One step of a convolutional LSTM over ``rank`` spatial axes (see the module's docstring)."""

    def __init__(self, rank, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 activation="tanh", recurrent_activation="hard_sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.rank, self.seed = rank, seed
        self.filters = int_tuple(filters, 1, "filters", owner)[0]
        self.kernel_size = int_tuple(kernel_size, rank, "kernel_size", owner)
        self.strides = int_tuple(strides, rank, "strides", owner)
        self.dilation_rate = int_tuple(dilation_rate, rank, "dilation_rate", owner)
        self.padding, self.data_format = padding_of(padding, owner=owner), data_format_of(data_format)
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias, self.unit_forget_bias = bool(use_bias), bool(unit_forget_bias)
        keep_weight_arguments(self, locals(), _WEIGHTS)
        self.dropout, self.recurrent_dropout = dropout_rates(owner, dropout, recurrent_dropout)
        self.state_size = [self.filters, self.filters]
        self.input_spatial = None  # (the steps' spatial shape, set by the layer at each call: the states' shape)

    @property
    def _channel(self):
        return -1 if self.data_format == "channels_last" else 1

    def build(self, input_shape):
        channels = input_shape[self._channel]
        width = 4 * self.filters
        self.kernel = self.add_weight(name="kernel", shape=self.kernel_size + (channels, width),
                                      initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight(name="recurrent_kernel", shape=self.kernel_size + (self.filters, width),
                                                initializer=self.recurrent_initializer,
                                                regularizer=self.recurrent_regularizer,
                                                constraint=self.recurrent_constraint)
        self.bias = None
        if self.use_bias:
            initializer = (forget_bias(self.bias_initializer, self.filters) if self.unit_forget_bias
                           else self.bias_initializer)
            self.bias = self.add_weight(name="bias", shape=(width,), initializer=initializer,
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint)

    def state_shape(self, step_shape):
        """The shape of a state for steps of ``step_shape`` ``(batch, *spatial, channels)`` (channels first too)."""
        return windowed_shape(step_shape, self.data_format, self.kernel_size, self.strides, self.dilation_rate,
                              self.padding, self.filters)

    def get_initial_state(self, batch_size=None, dtype=None):
        from .. import ops
        shape = self.state_shape((batch_size,) + tuple(self.input_spatial))
        return [ops.zeros(shape, dtype=dtype or self.dtype), ops.zeros(shape, dtype=dtype or self.dtype)]

    def dropout_masks(self, batch, width, training):
        """Keras's dropout masks, drawn once per sequence: one per gate for the inputs, and for the previous
        output."""
        from .. import random
        from ..autodiff import Tensor
        state = self.state_shape((batch,) + tuple(self.input_spatial))[1:]

        def masks(rate, shape):
            if not training or rate <= 0.0:
                return None
            return [Tensor(((random.uniform((batch,) + tuple(shape)).data >= rate) / (1.0 - rate)).astype(self.dtype))
                    for _ in range(4)]
        return masks(self.dropout, self.input_spatial), masks(self.recurrent_dropout, state)

    def call(self, x, states, masks=(None, None)):
        h_prev, c_prev = states
        f = self.filters
        gates = []
        for k in range(4):
            kernel = self.kernel[..., k * f:(k + 1) * f]
            recurrent = self.recurrent_kernel[..., k * f:(k + 1) * f]
            xk = x if masks[0] is None else x * masks[0][k]
            hk = h_prev if masks[1] is None else h_prev * masks[1][k]
            z = conv_ops.convolve(xk, kernel, self.strides, self.padding, self.data_format, self.dilation_rate)
            if self.bias is not None:
                z = add_bias(z, self.bias[k * f:(k + 1) * f], self.data_format, self.rank)
            gates.append(z + conv_ops.convolve(hk, recurrent, (1,) * self.rank, "same", self.data_format,
                                               (1,) * self.rank))
        gate, act = self.recurrent_activation, self.activation
        c = gate(gates[1]) * c_prev + gate(gates[0]) * act(gates[2])
        h = gate(gates[3]) * act(c)
        return h, [h, c]

    def get_config(self):
        config = super().get_config()
        config.update({
            "filters": self.filters, "kernel_size": list(self.kernel_size), "strides": list(self.strides),
            "padding": self.padding, "data_format": self.data_format, "dilation_rate": list(self.dilation_rate),
            "activation": activations.serialize(self.activation),
            "recurrent_activation": activations.serialize(self.recurrent_activation), "use_bias": self.use_bias})
        weights = weight_arguments_config(self, _WEIGHTS, activity=False)
        for key in ("kernel_initializer", "recurrent_initializer", "bias_initializer"):
            config[key] = weights.pop(key)
        config["unit_forget_bias"] = self.unit_forget_bias
        config.update(weights)
        config.update({"dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout})
        return config


class ConvLSTM(_RNN):
    """A `ConvLSTMCell` over the steps of ``(batch, steps, *spatial, channels)`` inputs (module docstring)."""

    rank = None
    _binds_last_axis = False
    _own_args = _CONV_ARGS
    _allowed_kwargs = _RNN._allowed_kwargs + _CONV_ARGS

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 return_sequences=False, return_state=False, go_backwards=False, stateful=False, unroll=False,
                 time_major=False, seed=None, zero_output_for_mask=False, **kwargs):
        if stateful:
            raise NotImplementedError(f"{type(self).__name__}(stateful=True) is not implemented in gpunet.")
        cell_kwargs = {k: kwargs.pop(k) for k in self._allowed_kwargs if k in kwargs and k not in Layer._allowed_kwargs}
        Layer.__init__(self, **kwargs)
        self.implementation, self.seed = 2, seed
        cell = ConvLSTMCell(self.rank, filters, kernel_size, strides, padding, data_format, dilation_rate,
                            name=self.name, dtype=self.dtype, seed=seed, **cell_kwargs)
        self._setup(cell, return_sequences, return_state, go_backwards, stateful, unroll, time_major,
                    zero_output_for_mask)

    def build(self, input_shape):
        rank, cell = self.rank, self.cell
        channel = rank + 2 if cell.data_format == "channels_last" else 2
        if len(input_shape) != rank + 3 or input_shape[channel] is None:
            raise ValueError(f"Input 0 of layer \"{self.name}\" is incompatible with the layer: expected "
                             f"ndim={rank + 3} (batch, steps, {rank} spatial axes and the channels, known), found "
                             f"shape {tuple(input_shape)}")
        if not cell.built:
            cell.build((None,) + tuple(input_shape[2:]))
            cell.built = True

    def _step_zeros(self, inputs):
        from .. import ops
        return ops.zeros(self.cell.state_shape((inputs.shape[0],) + tuple(inputs.shape[2:])), dtype=inputs.dtype)

    def call(self, inputs, mask=None, training=None, initial_state=None):
        from .. import ops
        self.cell.input_spatial = tuple(inputs.shape[2:])
        if mask is not None and len(mask.shape) > 2:  # (Masking's: a step counts where any of its places does)
            mask = ops.any(ops.cast(mask, "bool"), axis=tuple(range(2, len(mask.shape))))
        return super().call(inputs, mask=mask, training=training, initial_state=initial_state)

    def compute_mask(self, inputs, mask=None):
        mask = mask[0] if isinstance(mask, list) else mask
        if mask is None or not self.return_sequences:
            return None
        from .. import ops
        return ops.any(ops.cast(mask, "bool"), axis=tuple(range(2, len(mask.shape)))) if len(mask.shape) > 2 else mask

    def compute_output_shape(self, input_shape):
        state = self.cell.state_shape((input_shape[0],) + tuple(input_shape[2:]))
        out = (input_shape[0], input_shape[1]) + state[1:] if self.return_sequences else state
        return [out, state, state] if self.return_state else out


class ConvLSTM1D(ConvLSTM):
    """A convolutional LSTM over steps of ``(steps_in_space, channels)``."""

    rank = 1


class ConvLSTM2D(ConvLSTM):
    """A convolutional LSTM over steps of ``(rows, cols, channels)`` images (Keras's next-frame prediction)."""

    rank = 2


class ConvLSTM3D(ConvLSTM):
    """A convolutional LSTM over steps of ``(depth, rows, cols, channels)`` volumes."""

    rank = 3


__all__ = ["ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D", "ConvLSTMCell"]
