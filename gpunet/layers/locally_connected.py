"""tf.keras 2's locally connected layers, `LocallyConnected1D` and `LocallyConnected2D`: a convolution whose
weights are not shared, each output position having its own kernel.

Their weights are tf.keras 2.21's, by name, shape and order for each ``implementation``, so ``.h5`` files and
``set_weights(tf_model.get_weights())`` move between the two:

- ``1``: ``kernel`` ``(output positions, prod(kernel_size) * channels, filters)``, each position's window
  flattened as tf.keras's ``local_conv`` slices it (channels last: ``(*kernel_size, channels)``; channels first:
  ``(channels, *kernel_size)``); ``padding="valid"`` only.
- ``2``: ``kernel`` as a dense layer between the whole input and the whole output, ``(*spatial, channels,
  *outputs, filters)`` (channels first: ``(channels, *spatial, filters, *outputs)``), multiplied by tf.keras's
  0/1 connectivity mask; "valid" or "same" padding (tf.keras's "same": window ``o`` covers
  ``[o * stride - k // 2, o * stride + k - k // 2)``, clipped to the input).
- ``3``: ``kernel`` 1-D, the non-zero entries of that matrix (``(outputs, inputs)``, flattened in the data
  format's order) in row-major order, as tf.keras's sorted ``conv_kernel_idxs``.

``bias`` is ``(*outputs, filters)`` for all three; on channels-first outputs tf.keras adds it reshaped (not
transposed) to ``(filters, *outputs)``, and so does gpunet. Forward and backward are by hand on the backend's
arrays: windows times per-position kernels in one batched product (1), one matrix product with the dense
matrix (2, 3).
"""
import math
import numbers

from .. import activations
from ..autodiff.conv_ops import data_format_of
from ..backend.index_maps import kernel_slices, window_plan
from .base import Layer
from .input_spec import InputSpec
from .weight_args import keep_weight_arguments, weight_arguments_config


def _int_tuple(value, rank, name, owner, minimum=1):
    """tf.keras's ``normalize_tuple``: an int or ``rank`` ints, each >= ``minimum``, with a message naming it."""
    values = tuple(value) if isinstance(value, (list, tuple)) else (value,) * rank
    if len(values) != rank or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= minimum
                                      for v in values):
        raise ValueError(f"{owner}: the `{name}` argument must be an integer >= {minimum} or a tuple of {rank} of "
                         f"them. Received: {name}={value!r}")
    return tuple(int(v) for v in values)


def _output_length(length, size, padding, stride):
    """tf.keras's ``conv_output_length`` ("same" keeps ``ceil(length / stride)`` outputs)."""
    if length is None:
        return None
    return (length + stride - 1) // stride if padding == "same" else (length - size + stride) // stride


class LocallyConnected(Layer):
    """``activation(unshared_conv(inputs, kernel) + bias)`` over ``rank`` spatial axes (the two layers' base)."""

    rank = None

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 implementation=1, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        owner, rank = type(self).__name__, self.rank
        if isinstance(filters, bool) or not isinstance(filters, numbers.Integral) or filters < 1:
            raise ValueError(f"{owner}: `filters` must be a positive integer, received filters={filters!r}")
        if isinstance(implementation, bool) or implementation not in (1, 2, 3):
            raise ValueError(f"{owner}: `implementation` must be 1, 2 or 3, received implementation="
                             f"{implementation!r}")
        self.filters, self.implementation = int(filters), int(implementation)
        self.kernel_size = _int_tuple(kernel_size, rank, "kernel_size", owner)
        self.strides = _int_tuple(strides, rank, "strides", owner)
        value = padding.lower() if isinstance(padding, str) else padding
        if self.implementation == 1 and value != "valid":
            raise ValueError(f'Invalid border mode for {owner} (only "valid" is supported if implementation is 1): '
                             f"{padding!r}")
        if value not in ("valid", "same"):
            raise ValueError(f"{owner}: `padding` must be \"valid\" or \"same\" for implementation "
                             f"{self.implementation}, received padding={padding!r}")
        self.padding = value
        self.data_format = data_format_of(data_format)
        self.activation, self.use_bias = activations.get(activation), bool(use_bias)
        keep_weight_arguments(self, locals(), ("kernel", "bias"))
        self.kernel = self.bias = None
        self.input_spec = InputSpec(ndim=rank + 2)

    # ---- shapes --------------------------------------------------------------------------------------------
    def _split(self, shape):
        """``(spatial, channels)`` of a ``(batch, ...)`` shape in the layer's data format."""
        if self.data_format == "channels_last":
            return tuple(shape[1:-1]), shape[-1]
        return tuple(shape[2:]), shape[1]

    def _outputs(self, spatial):
        return tuple(_output_length(n, k, self.padding, s) for n, k, s in zip(spatial, self.kernel_size, self.strides))

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != self.rank + 2:
            raise ValueError(f"{type(self).__name__} '{self.name}' expects inputs of rank {self.rank + 2}, received "
                             f"input shape {input_shape}")
        outputs = self._outputs(self._split(input_shape)[0])
        if self.data_format == "channels_last":
            return (input_shape[0],) + outputs + (self.filters,)
        return (input_shape[0], self.filters) + outputs

    def build(self, input_shape):
        owner, input_shape = type(self).__name__, tuple(input_shape)
        if len(input_shape) != self.rank + 2:
            raise ValueError(f"{owner} '{self.name}' expects inputs of rank {self.rank + 2}, received input shape "
                             f"{input_shape}")
        spatial, channels = self._split(input_shape)
        if channels is None or None in spatial:
            raise ValueError(f"{owner} '{self.name}' needs known spatial sizes and channels (data_format="
                             f"'{self.data_format}'), received input shape {input_shape}")
        outputs = self._outputs(spatial)
        if min(outputs) <= 0:
            raise ValueError(f"One of the dimensions in the output is <= 0 due to downsampling in {self.name}. "
                             f"Consider increasing the input size. Received input shape {input_shape} which would "
                             f"produce output shape with a zero or negative value in a dimension.")
        self._spatial, self._channels, self._out = spatial, channels, outputs
        first = self.data_format == "channels_first"
        if self.implementation == 1:
            shape = (math.prod(outputs), math.prod(self.kernel_size) * channels, self.filters)
            self._plan = window_plan(spatial, self.kernel_size, self.strides, (1,) * self.rank, "valid")[0]
        else:
            mask = self._connections()
            if first:
                shape = (channels,) + spatial + (self.filters,) + outputs
                mask = mask.reshape((1,) + spatial + (1,) + outputs)
            else:
                shape = spatial + (channels,) + outputs + (self.filters,)
                mask = mask.reshape(spatial + (1,) + outputs + (1,))
            self._dense_shape = (math.prod(shape[:self.rank + 1]), math.prod(shape[self.rank + 1:]))
            if self.implementation == 2:
                self._mask = mask
            else:  # (tf.keras's sorted (output, input) pairs: the row-major order of the (outputs, inputs) matrix)
                xp = self.ops.xp
                full = xp.ascontiguousarray(xp.broadcast_to(mask, shape).reshape(self._dense_shape).T)
                self._rows, self._cols = xp.nonzero(full)
                shape = (int(self._rows.shape[0]),)
        self.kernel = self.add_weight(name="kernel", shape=shape, initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=outputs + (self.filters,), initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint)
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={1 if first else -1: channels})
        super().build(input_shape)

    def to_backend(self, ops):
        """Move the weights, and the connectivity the layer keeps beside them, to ``ops``'s arrays."""
        for name in ("_mask", "_rows", "_cols"):
            if getattr(self, name, None) is not None:
                setattr(self, name, ops.asarray(self.ops.to_host(getattr(self, name))))
        super().to_backend(ops)

    def _connections(self):
        """tf.keras's ``conv_kernel_mask``: which input positions each output position reads, as a boolean
        array ``(*spatial, *outputs)``."""
        xp, rank, mask = self.ops.xp, self.rank, None
        for d, (n, k, s, out) in enumerate(zip(self._spatial, self.kernel_size, self.strides, self._out)):
            i, o = xp.arange(n).reshape(n, 1), xp.arange(out).reshape(1, out)
            center = o * s + (k // 2 if self.padding == "valid" else 0)
            reads = (i >= xp.maximum(center - k // 2, 0)) & (i < xp.minimum(center + k - k // 2, n))
            place = [1] * (2 * rank)
            place[d], place[rank + d] = n, out
            reads = reads.reshape(place)
            mask = reads if mask is None else mask & reads
        return mask

    # ---- forward and backward --------------------------------------------------------------------------------
    def forward(self, x, training=False):
        spatial, channels = self._split(x.shape)
        if spatial != self._spatial or channels != self._channels:
            raise ValueError(f"{type(self).__name__} '{self.name}' expects inputs of shape "
                             f"{(None,) + tuple(self.input_shape[1:])}, received {tuple(x.shape)}")
        ops, xp = self.ops, self.ops.xp
        kernel = self.kernel.value
        self._x_shape = x.shape
        if self.implementation == 1:
            xl = x if self.data_format == "channels_last" else xp.moveaxis(x, 1, -1)
            cols = ops.gather_windows(xp.ascontiguousarray(xl), self._plan)  # (batch, *outputs, window, channels)
            if self.data_format == "channels_first":
                cols = xp.swapaxes(cols, -1, -2)  # (tf.keras slices (channels, *kernel_size) windows)
            rows = cols.reshape(x.shape[0], kernel.shape[0], kernel.shape[1]).transpose(1, 0, 2)
            self._windows = rows  # (positions, batch, features)
            z = xp.matmul(rows, kernel).transpose(1, 0, 2).reshape((x.shape[0],) + self._out + (self.filters,))
            if self.data_format == "channels_first":
                z = xp.moveaxis(z, -1, 1)
        else:
            self._flat = x.reshape(x.shape[0], -1)
            self._dense = dense = self._dense_matrix(kernel)
            z = xp.matmul(self._flat, dense).reshape(self.compute_output_shape(x.shape))
        if self.bias is not None:
            z = z + self._bias_shaped(self.bias.value)
        act = self.activation
        if act.custom:
            y, self._act_backward = act.forward(ops, z)
        elif act.name == "linear":
            y = z
        else:
            y = ops.activation_forward(act.name, z, act.params)
        self._z, self._y = z, y
        return y

    def _dense_matrix(self, kernel):
        """Implementations 2 and 3: the ``(inputs, outputs)`` matrix of the whole layer."""
        if self.implementation == 2:
            return (kernel * self._mask).reshape(self._dense_shape)
        dense = self.ops.xp.zeros(self._dense_shape, kernel.dtype)
        dense[self._cols, self._rows] = kernel
        return dense

    def _bias_shaped(self, bias):
        if self.data_format == "channels_last":
            return bias
        return bias.reshape((self.filters,) + self._out)  # (tf.keras's bias_add: a reshape, not a transpose)

    def backward(self, dy, need_dx=True):
        ops, xp, act = self.ops, self.ops.xp, self.activation
        if act.custom:
            dz = self._act_backward(dy)
        elif act.name == "linear":
            dz = dy
        else:
            dz = ops.activation_backward(act.name, dy, self._z, self._y, act.params)
        if self.bias is not None and self.bias.grad is not None:
            self.bias.grad[...] = dz.sum(axis=0).reshape(self.bias.shape)
        kernel, grad = self.kernel.value, self.kernel.grad
        batch = dz.shape[0]
        if self.implementation == 1:
            dl = dz if self.data_format == "channels_last" else xp.moveaxis(dz, 1, -1)
            dl = dl.reshape(batch, kernel.shape[0], self.filters).transpose(1, 0, 2)  # (positions, batch, filters)
            if grad is not None:
                grad[...] = xp.matmul(self._windows.transpose(0, 2, 1), dl)
            if not need_dx:
                return None
            dcols = xp.matmul(dl, kernel.transpose(0, 2, 1)).transpose(1, 0, 2)  # (batch, positions, features)
            window = math.prod(self.kernel_size)
            if self.data_format == "channels_first":
                dcols = xp.swapaxes(dcols.reshape((batch,) + self._out + (self._channels, window)), -1, -2)
            dcols = dcols.reshape((batch,) + self._out + (window, self._channels))
            dx = xp.zeros((batch,) + self._spatial + (self._channels,), dz.dtype)
            for k, slices in enumerate(kernel_slices(self._plan)):
                dx[(slice(None),) + slices + (slice(None),)] += dcols[(Ellipsis, k, slice(None))]
            return dx if self.data_format == "channels_last" else xp.ascontiguousarray(xp.moveaxis(dx, -1, 1))
        dflat = dz.reshape(batch, -1)
        if grad is not None:
            ddense = xp.matmul(self._flat.T, dflat)
            if self.implementation == 2:
                grad[...] = ddense.reshape(kernel.shape) * self._mask
            else:
                grad[...] = ddense[self._cols, self._rows]
        if not need_dx:
            return None
        return xp.matmul(dflat, self._dense.T).reshape(self._x_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters, "kernel_size": list(self.kernel_size), "strides": list(self.strides),
                       "padding": self.padding, "data_format": self.data_format,
                       "activation": activations.serialize(self.activation), "use_bias": self.use_bias})
        config.update(weight_arguments_config(self, ("kernel", "bias")))
        config["implementation"] = self.implementation
        return config


class LocallyConnected1D(LocallyConnected):
    """Unshared convolution over the steps of ``(batch, steps, channels)`` (tf.keras 2's, with its weights)."""
    rank = 1


class LocallyConnected2D(LocallyConnected):
    """Unshared convolution over the rows and columns of ``(batch, rows, cols, channels)`` images."""
    rank = 2
