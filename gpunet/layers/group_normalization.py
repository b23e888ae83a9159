"""Normalization within each sample by parts: `GroupNormalization` (tf.keras 2's and Keras 3's: the
channels split into groups, each group normalized over its channels and the other non-batch axes) and
`RMSNormalization` (Keras 3's: scaled by the root mean square over ``axis``, not centred)."""
from .base import Layer
from .layer_normalization import _check_axis_argument
from .normalization import add_gamma_beta, gamma_beta_config, gamma_beta_gradients, keep_gamma_beta_arguments


def _one_axis(axis, rank, layer):
    if isinstance(axis, bool) or not isinstance(axis, int) or not -rank <= axis < rank or axis % rank == 0:
        raise ValueError(f"{type(layer).__name__} '{layer.name}': invalid axis {axis!r} for an input of rank {rank}: "
                         f"an int in [1, {rank}) or [-{rank - 1}, -1] (not the batch axis).")
    return axis % rank


class GroupNormalization(Layer):
    """Splits the channels (``axis``, the last by default) into ``groups`` groups and normalizes each to mean 0
    and variance 1 over its channels and the sample's other axes, then scales by ``gamma`` and shifts by
    ``beta`` (one per channel). ``groups=-1`` is one group per channel (instance normalization), ``groups=1``
    all channels together (layer normalization over every axis). Keras's arguments and defaults."""

    def __init__(self, groups=32, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(groups, bool) or not isinstance(groups, int) or (groups < 1 and groups != -1):
            raise ValueError(f"GroupNormalization expects a positive int `groups` (or -1), received {groups!r}")
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise TypeError(f"GroupNormalization expects an int `axis`, received {axis!r}")
        self.groups, self.axis, self.epsilon = groups, axis, float(epsilon)
        keep_gamma_beta_arguments(self, locals())

    def build(self, input_shape):
        rank = len(input_shape)
        self._axis = _one_axis(self.axis, rank, self)
        dim = input_shape[self._axis]
        if dim is None:
            raise ValueError(f"Axis {self.axis} of input tensor should have a defined dimension but the layer "
                             f"received an input with shape {tuple(input_shape)}.")
        if self.groups == -1:
            self.groups = dim
        if dim < self.groups:
            raise ValueError(f"Number of groups ({self.groups}) cannot be more than the number of channels ({dim}).")
        if dim % self.groups:
            raise ValueError(f"Number of groups ({self.groups}) must be a multiple of the number of channels ({dim}).")
        add_gamma_beta(self, (dim,))
        a = self._axis
        self._wshape = (1,) * a + (self.groups, dim // self.groups) + (1,) * (rank - a - 1)
        self._reduce = tuple(i for i in range(1, rank + 1) if i != a)  # (the grouped array's axes)
        self._shared = tuple(i for i in range(rank + 1) if i not in (a, a + 1))
        super().build(input_shape)

    def forward(self, x, training=False):
        a, dim = self._axis, self.input_shape[self._axis]
        if x.ndim != len(self.input_shape) or x.shape[a] != dim:
            raise ValueError(f"GroupNormalization layer '{self.name}' expects inputs of shape "
                             f"{(None,) + tuple(self.input_shape[1:])}, received {tuple(x.shape)}.")
        ops = self.ops
        grouped = x.reshape(x.shape[:a] + (self.groups, dim // self.groups) + x.shape[a + 1:])
        centred = grouped - ops.mean(grouped, axis=self._reduce, keepdims=True)
        self._inv = 1.0 / ops.sqrt(ops.mean(centred * centred, axis=self._reduce, keepdims=True) + self.epsilon)
        self._xhat = xhat = centred * self._inv
        y = xhat if self.gamma is None else xhat * self.gamma.value.reshape(self._wshape)
        if self.beta is not None:
            y = y + self.beta.value.reshape(self._wshape)
        return y.reshape(x.shape).astype(x.dtype, copy=False)

    def backward(self, dy, need_dx=True):
        ops, xhat, shape = self.ops, self._xhat, dy.shape
        dy = dy.reshape(xhat.shape)
        gamma_beta_gradients(self, dy, xhat, self._shared)
        if not need_dx:
            return None
        axes = self._reduce
        dxhat = dy if self.gamma is None else dy * self.gamma.value.reshape(self._wshape)
        dx = self._inv * (dxhat - ops.mean(dxhat, axis=axes, keepdims=True)
                          - xhat * ops.mean(dxhat * xhat, axis=axes, keepdims=True))
        return dx.reshape(shape)

    def get_config(self):
        config = super().get_config()
        config.update({"groups": self.groups, "axis": self.axis, "epsilon": self.epsilon, "center": self.center,
                       "scale": self.scale})
        config.update(gamma_beta_config(self))
        return config


class RMSNormalization(Layer):
    """``x / sqrt(mean(x**2 over axis) + epsilon) * scale`` (Keras 3's ``RMSNormalization``; weight ``scale``,
    shaped as the normalized axes, starting at ones)."""

    supports_masking = True

    def __init__(self, axis=-1, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.axis = _check_axis_argument(axis, "RMSNormalization")
        self.epsilon = float(epsilon)
        self.scale = None

    def build(self, input_shape):
        rank = len(input_shape)
        given = sorted(self.axis) if isinstance(self.axis, list) else [self.axis]
        axes = sorted({_one_axis(a, rank, self) for a in given})
        if len(axes) != len(given) or any(input_shape[a] is None for a in axes):
            raise ValueError(f"RMSNormalization '{self.name}': axis {self.axis!r} must name distinct axes of known "
                             f"size; received input shape {tuple(input_shape)}")
        self.axis = given  # (Keras 3 keeps the axes as a sorted list once built, negative ones too)
        self._axes = tuple(axes)
        self._bshape = tuple(input_shape[a] if a in axes else 1 for a in range(rank))
        self._others = tuple(a for a in range(rank) if a not in axes)
        self.scale = self.add_weight(name="scale", shape=tuple(input_shape[a] for a in axes), initializer="ones")
        super().build(input_shape)

    def forward(self, x, training=False):
        if x.ndim != len(self._bshape) or any(x.shape[a] != self._bshape[a] for a in self._axes):
            raise ValueError(f"RMSNormalization layer '{self.name}' expects inputs of shape "
                             f"{(None,) + tuple(self.input_shape[1:])}, received {tuple(x.shape)}.")
        ops = self.ops
        self._x = x
        self._inv = 1.0 / ops.sqrt(ops.mean(x * x, axis=self._axes, keepdims=True) + self.epsilon)
        return (x * self._inv * self.scale.value.reshape(self._bshape)).astype(x.dtype, copy=False)

    def backward(self, dy, need_dx=True):
        ops, x, inv = self.ops, self._x, self._inv
        if self.scale.grad is not None:
            self.scale.grad[...] = ops.sum(dy * x * inv, axis=self._others).reshape(self.scale.shape)
        if not need_dx:
            return None
        g = dy * self.scale.value.reshape(self._bshape)
        return (inv * g - x * (inv * inv * inv) * ops.mean(g * x, axis=self._axes, keepdims=True)).astype(
            dy.dtype, copy=False)

    def get_config(self):
        config = super().get_config()
        config.update({"axis": self.axis, "epsilon": self.epsilon})
        return config
