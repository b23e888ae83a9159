"""Keras's 1-D convolution and pooling over sequences: `Conv1D` (``Convolution1D``), `MaxPooling1D`
(``MaxPool1D``), `AveragePooling1D` (``AvgPool1D``), channels last, with Keras's ``padding`` ("valid",
"same", and Conv1D's "causal"), ``strides`` and ``dilation_rate``. Each gathers its input's windows (one
take of precomputed indices) and reduces them on the tape: a matrix product with the kernel, a max or a mean;
gradients come from gpunet.autodiff (a position in several windows gets the sum of theirs)."""
import numbers

from .. import activations
from ..backend.index_maps import windows as windows_plan
from .base import Layer
from .weight_args import keep_weight_arguments, weight_arguments_config


def _int(value, name, owner, minimum=1):
    value = value[0] if isinstance(value, (list, tuple)) and len(value) == 1 else value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{owner}: `{name}` must be an int >= {minimum} (or a tuple of one), received {value!r}")
    return int(value)


def _padding(padding, allowed, owner):
    value = padding.lower() if isinstance(padding, str) else padding
    if value not in allowed:
        raise ValueError(f"{owner}: `padding` must be one of {list(allowed)}, received {padding!r}")
    return value


def _channels_last(data_format, owner):
    if data_format not in (None, "channels_last"):
        raise NotImplementedError(f"{owner}(data_format={data_format!r}) is not implemented in gpunet: give "
                                  "inputs as (batch, steps, channels), channels last.")


class Conv1D(Layer):
    """``activation(conv1d(inputs, kernel) + bias)`` over (batch, steps, channels); kernel (kernel_size,
    channels, filters) as Keras keeps it."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1, groups=1,
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        _channels_last(data_format, "Conv1D")
        if groups != 1:
            raise NotImplementedError(f"Conv1D(groups={groups!r}) is not implemented in gpunet (groups=1 only).")
        self.filters = _int(filters, "filters", "Conv1D")
        self.kernel_size, self.strides = (_int(kernel_size, "kernel_size", "Conv1D"),), (_int(strides, "strides",
                                                                                                "Conv1D"),)
        self.dilation_rate = (_int(dilation_rate, "dilation_rate", "Conv1D"),)
        if self.strides[0] > 1 and self.dilation_rate[0] > 1:
            raise ValueError("Conv1D: `strides > 1` not supported in conjunction with `dilation_rate > 1`.")
        self.padding = _padding(padding, ("valid", "same", "causal"), "Conv1D")
        self.activation, self.use_bias = activations.get(activation), bool(use_bias)
        keep_weight_arguments(self, locals(), ("kernel", "bias"))
        self.kernel = self.bias = None

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(f"Conv1D '{self.name}' expects inputs (batch, steps, channels) with known channels, "
                             f"received input shape {tuple(input_shape)}")
        self.kernel = self.add_weight(name="kernel", shape=(self.kernel_size[0], input_shape[-1], self.filters),
                                      initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint)

    def compute_output_shape(self, input_shape):
        steps = input_shape[1]
        if steps is not None:
            steps = windows_plan(steps, self.kernel_size[0], self.strides[0], self.dilation_rate[0],
                                 self.padding)[2].shape[0]
        return (input_shape[0], steps, self.filters)

    def call(self, inputs):
        from .. import ops
        size, channels = self.kernel_size[0], inputs.shape[-1]
        left, right, index, _ = windows_plan(inputs.shape[1], size, self.strides[0], self.dilation_rate[0],
                                             self.padding)
        x = ops.pad(inputs, ((0, 0), (left, right), (0, 0))) if left or right else inputs
        windows = ops.reshape(ops.take(x, index, axis=1), (inputs.shape[0], index.shape[0], size * channels))
        y = ops.matmul(windows, ops.reshape(self.kernel, (size * channels, self.filters)))
        if self.bias is not None:
            y = y + self.bias
        return self.activation(y)

    def get_config(self):
        config = super().get_config()
        config.update({
            "filters": self.filters, "kernel_size": list(self.kernel_size), "strides": list(self.strides),
            "padding": self.padding, "data_format": "channels_last", "dilation_rate": list(self.dilation_rate),
            "groups": 1, "activation": activations.serialize(self.activation), "use_bias": self.use_bias})
        config.update(weight_arguments_config(self, ("kernel", "bias")))
        return config


class _Pooling1D(Layer):
    _reduce = None

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        _channels_last(data_format, owner)
        self.pool_size = (_int(pool_size, "pool_size", owner),)
        self.strides = (_int(strides, "strides", owner),) if strides is not None else self.pool_size
        self.padding = _padding(padding, ("valid", "same"), owner)

    def compute_output_shape(self, input_shape):
        steps = input_shape[1]
        if steps is not None:
            steps = windows_plan(steps, self.pool_size[0], self.strides[0], 1, self.padding)[2].shape[0]
        return (input_shape[0], steps, input_shape[2])

    def call(self, inputs):
        from .. import ops
        left, right, index, inside = windows_plan(inputs.shape[1], self.pool_size[0], self.strides[0], 1,
                                                  self.padding)
        if not (left or right):
            return self._reduce(ops.take(inputs, index, axis=1), None)
        x = ops.pad(inputs, ((0, 0), (left, right), (0, 0)))  # (padded steps take no part: TensorFlow's pooling)
        return self._reduce(ops.take(x, index, axis=1), inside)

    def get_config(self):
        config = super().get_config()
        config.update({"pool_size": list(self.pool_size), "padding": self.padding, "strides": list(self.strides),
                       "data_format": "channels_last"})
        return config


class MaxPooling1D(_Pooling1D):
    """The largest value of each window of ``pool_size`` steps, every ``strides`` steps (default: pool_size)."""

    def _reduce(self, windows, inside):
        from .. import ops
        if inside is not None:
            windows = ops.where(inside[None, :, :, None], windows, -float("inf"))
        return ops.max(windows, axis=2)


class AveragePooling1D(_Pooling1D):
    """The mean of each window of ``pool_size`` steps (over its steps inside the sequence)."""

    def _reduce(self, windows, inside):
        from .. import ops
        if inside is None:
            return ops.mean(windows, axis=2)
        counts = inside.sum(axis=1).astype(windows.dtype)[None, :, None]
        return ops.sum(windows, axis=2) / counts


Convolution1D, MaxPool1D, AvgPool1D = Conv1D, MaxPooling1D, AveragePooling1D  # (Keras's other names)
