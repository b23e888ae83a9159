"""The cells of the recurrent layers (recurrent.py): one time step of `SimpleRNN`, `LSTM` and `GRU`, with
Keras's weights (``kernel``, ``recurrent_kernel``, ``bias``: their shapes, gate order and initializers) and
formulas (tf.keras 2.21's, which Keras 3 keeps). A cell's ``call(x, states)`` runs on the tape, so its
gradient (backpropagation through time) comes from gpunet.autodiff."""
from .. import activations
from .base import Layer
from .weight_args import keep_weight_arguments, weight_arguments_config

_WEIGHTS = ("kernel", "recurrent", "bias")


def dropout_rates(owner, dropout, recurrent_dropout):
    """``(dropout, recurrent_dropout)`` checked to lie in [0, 1], as floats; the error names ``owner``."""
    for name, rate in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
        if not 0.0 <= float(rate) <= 1.0:
            raise ValueError(f"{owner}: `{name}` must be in [0, 1], received {rate!r}")
    return min(1.0, float(dropout)), min(1.0, float(recurrent_dropout))


def forget_bias(base, units):
    """Keras's ``unit_forget_bias`` initializer: ``[base(units), ones(units), base(2 * units)]`` (gates i, f, c, o)."""
    def forget_ones(shape, dtype=None, **kwargs):
        from .. import backend as B
        ops = B.get_backend()
        return ops.concatenate([ops.asarray(base((units,), dtype=dtype), dtype), ops.ones((units,), dtype),
                                ops.asarray(base((2 * units,), dtype=dtype), dtype)])
    return forget_ones


class _Cell(Layer):
    """What the three cells share: their arguments, weights and dropout masks."""

    _gates = 1  # (kernel columns per unit: LSTM's i, f, c, o; GRU's z, r, h)

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None,
                 implementation=2, **kwargs):
        # (seed: Keras 3's for its dropout draws, gpunet draws from its generator; implementation: tf.keras 2's
        # choice of how to compute, the same values)
        super().__init__(**kwargs)
        self.seed, self.implementation = seed, implementation
        if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
            raise ValueError(f"Received an invalid value for argument `units`, expected a positive integer, got "
                             f"{units!r}.")
        self.units = units
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = bool(use_bias)
        keep_weight_arguments(self, locals(), _WEIGHTS)
        self.dropout, self.recurrent_dropout = dropout_rates(type(self).__name__, dropout, recurrent_dropout)
        self.state_size = units

    def _bias_shape(self):
        return (self._gates * self.units,)

    def _bias_initializer(self):
        return self.bias_initializer

    def build(self, input_shape):
        width = self._gates * self.units
        self.kernel = self.add_weight(name="kernel", shape=(input_shape[-1], width),
                                      initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight(name="recurrent_kernel", shape=(self.units, width),
                                                initializer=self.recurrent_initializer,
                                                regularizer=self.recurrent_regularizer,
                                                constraint=self.recurrent_constraint)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=self._bias_shape(), initializer=self._bias_initializer(),
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)

    def dropout_masks(self, batch, width, training):
        """Keras's dropout masks, drawn once per sequence: one for the inputs, one for the previous output."""
        from .. import random
        from ..autodiff import Tensor

        def mask(rate, n):
            if not training or rate <= 0.0:
                return None
            keep = random.uniform((batch, n)).data >= rate
            return Tensor((keep / (1.0 - rate)).astype(self.dtype))
        return mask(self.dropout, width), mask(self.recurrent_dropout, self.units)

    def get_config(self):
        config = super().get_config()
        config.update({
            "units": self.units, "activation": activations.serialize(self.activation),
            "recurrent_activation": activations.serialize(self.recurrent_activation), "use_bias": self.use_bias})
        config.update(weight_arguments_config(self, _WEIGHTS, activity=False))
        config.update({"dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout})
        return config


def _dropped(x, mask):
    return x if mask is None else x * mask


class SimpleRNNCell(_Cell):
    """``h = activation(x @ kernel + h_prev @ recurrent_kernel + bias)``."""

    def get_config(self):
        config = super().get_config()
        del config["recurrent_activation"]  # (Keras's SimpleRNN has none)
        return config

    def call(self, x, states, masks=(None, None)):
        from .. import ops
        h = ops.matmul(_dropped(x, masks[0]), self.kernel) + ops.matmul(_dropped(states[0], masks[1]),
                                                                          self.recurrent_kernel)
        if self.bias is not None:
            h = h + self.bias
        h = self.activation(h)
        return h, [h]


class LSTMCell(_Cell):
    """Keras's LSTM step, gates in the order i, f, c, o; ``unit_forget_bias`` starts the forget gate's bias
    at 1."""

    _gates = 4

    def __init__(self, units, unit_forget_bias=True, **kwargs):
        super().__init__(units, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.state_size = [units, units]

    def _bias_initializer(self):
        return forget_bias(self.bias_initializer, self.units) if self.unit_forget_bias else self.bias_initializer

    def call(self, x, states, masks=(None, None)):
        from .. import ops
        h_prev, c_prev = states
        z = ops.matmul(_dropped(x, masks[0]), self.kernel) + ops.matmul(_dropped(h_prev, masks[1]),
                                                                          self.recurrent_kernel)
        if self.bias is not None:
            z = z + self.bias
        u, act, gate = self.units, self.activation, self.recurrent_activation
        i, f, o = gate(z[:, :u]), gate(z[:, u:2 * u]), gate(z[:, 3 * u:])
        c = f * c_prev + i * act(z[:, 2 * u:3 * u])
        h = o * act(c)
        return h, [h, c]

    def get_config(self):
        config = super().get_config()
        config["unit_forget_bias"] = self.unit_forget_bias
        return config


class GRUCell(_Cell):
    """Keras's GRU step, gates in the order z, r, h; ``reset_after=True`` (Keras 2.x's and 3's default,
    cuDNN's form) applies the reset gate after the recurrent product and keeps two biases (input, recurrent)."""

    _gates = 3

    def __init__(self, units, reset_after=True, **kwargs):
        super().__init__(units, **kwargs)
        self.reset_after = bool(reset_after)

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def call(self, x, states, masks=(None, None)):
        from .. import ops
        h_prev, u = states[0], self.units
        xz = ops.matmul(_dropped(x, masks[0]), self.kernel)
        hd = _dropped(h_prev, masks[1])
        bias_in = bias_rec = None
        if self.bias is not None:
            bias_in, bias_rec = (self.bias[0], self.bias[1]) if self.reset_after else (self.bias, None)
            xz = xz + bias_in
        if self.reset_after:
            rec = ops.matmul(hd, self.recurrent_kernel)
            if bias_rec is not None:
                rec = rec + bias_rec
            z = self.recurrent_activation(xz[:, :u] + rec[:, :u])
            r = self.recurrent_activation(xz[:, u:2 * u] + rec[:, u:2 * u])
            hh = self.activation(xz[:, 2 * u:] + r * rec[:, 2 * u:])
        else:
            rk = self.recurrent_kernel
            z = self.recurrent_activation(xz[:, :u] + ops.matmul(hd, rk[:, :u]))
            r = self.recurrent_activation(xz[:, u:2 * u] + ops.matmul(hd, rk[:, u:2 * u]))
            hh = self.activation(xz[:, 2 * u:] + ops.matmul(r * hd, rk[:, 2 * u:]))
        h = z * h_prev + (1 - z) * hh
        return h, [h]

    def get_config(self):
        config = super().get_config()
        config["reset_after"] = self.reset_after
        return config
