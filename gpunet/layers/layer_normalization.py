"""Normalization over each sample's own features: `LayerNormalization` and `UnitNormalization`.

Unlike BatchNormalization, neither keeps statistics across batches: each sample is normalized
by its own mean and variance (or its L2 norm), the same while training and at inference.
"""
from .base import Layer
from .normalization import add_gamma_beta, gamma_beta_config, gamma_beta_gradients, keep_gamma_beta_arguments


def _axes(axis, rank, layer):
    """``axis`` (an int or ints, negative from the end) as sorted non-negative axes of a
    ``rank``-D input, the batch axis excluded."""
    given = [axis] if isinstance(axis, int) else list(axis)
    if not given or any(isinstance(a, bool) or not isinstance(a, int) for a in given):
        raise TypeError(f"{type(layer).__name__} '{layer.name}': expected an int or a list of ints for `axis`, "
                        f"received {axis!r}")
    axes = sorted({a % rank for a in given if -rank <= a < rank})
    if len(axes) != len(given) or 0 in axes:
        raise ValueError(f"{type(layer).__name__} '{layer.name}': invalid axis {axis!r} for an input of rank {rank}: "
                         f"each must be in [1, {rank}) or [-{rank - 1}, -1] (not the batch axis), without repeats.")
    return axes


def _check_axis_argument(axis, layer_name):
    if isinstance(axis, bool) or not isinstance(axis, (int, list, tuple)):
        raise TypeError(f"{layer_name}: expected an int or a list/tuple of ints for the argument 'axis', "
                        f"but received: {axis!r}")
    return list(axis) if isinstance(axis, (list, tuple)) else axis


class LayerNormalization(Layer):
    """Normalizes each sample over ``axis`` (its features, by default) to mean 0 and variance 1,
    then scales by ``gamma`` and shifts by ``beta`` (Keras's arguments and defaults: epsilon 1e-3).

    Weights: gamma, beta (trainable, shaped as the normalized axes). Its output does not depend
    on the other samples of the batch, so training and inference compute the same.
    """

    supports_masking = True  # (tf.keras 2's: a mask passes through)

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, **kwargs):
        if kwargs.pop("rms_scaling", False):  # Keras 3's deprecated option: it changes the output
            raise ValueError("LayerNormalization: gpunet does not implement rms_scaling=True (deprecated in Keras 3, "
                             "which scales by the variance, not the root mean square); leave it False.")
        super().__init__(**kwargs)
        self.axis = _check_axis_argument(axis, "LayerNormalization")
        self.epsilon = float(epsilon)
        keep_gamma_beta_arguments(self, locals())

    def build(self, input_shape):
        rank = len(input_shape)
        self.axis = _axes(self.axis, rank, self)  # as tf.keras 2 keeps it once built: [1] for -1 on 2-D input
        if any(input_shape[a] is None for a in self.axis):
            raise ValueError(f"LayerNormalization '{self.name}' needs known sizes on axes {self.axis}, received "
                             f"input shape {tuple(input_shape)}")
        add_gamma_beta(self, tuple(input_shape[a] for a in self.axis))
        self._bshape = tuple(input_shape[a] if a in self.axis else 1 for a in range(rank))
        self._others = tuple(a for a in range(rank) if a not in self.axis)  # the axes gamma and beta are summed over
        super().build(input_shape)

    def forward(self, x, training=False):
        if x.ndim != len(self._bshape) or any(x.shape[a] != self._bshape[a] for a in self.axis):
            raise ValueError(f"LayerNormalization layer '{self.name}' expects inputs of shape "
                             f"{(None,) + tuple(self.input_shape[1:])}, received {tuple(x.shape)}.")
        ops, axes = self.ops, tuple(self.axis)
        xc = x - ops.mean(x, axis=axes, keepdims=True)
        self._inv = 1.0 / ops.sqrt(ops.mean(xc * xc, axis=axes, keepdims=True) + self.epsilon)
        self._xhat = xhat = xc * self._inv
        y = xhat if self.gamma is None else xhat * self.gamma.value.reshape(self._bshape)
        if self.beta is not None:
            y = y + self.beta.value.reshape(self._bshape)
        return y.astype(x.dtype, copy=False)

    def backward(self, dy, need_dx=True):
        ops, xhat, others = self.ops, self._xhat, self._others
        gamma_beta_gradients(self, dy, xhat, others)
        if not need_dx:
            return None
        axes = tuple(self.axis)
        dxhat = dy if self.gamma is None else dy * self.gamma.value.reshape(self._bshape)
        return self._inv * (dxhat - ops.mean(dxhat, axis=axes, keepdims=True)
                            - xhat * ops.mean(dxhat * xhat, axis=axes, keepdims=True))

    def get_config(self):
        config = super().get_config()
        config.update({"axis": self.axis, "epsilon": self.epsilon, "center": self.center, "scale": self.scale})
        config.update(gamma_beta_config(self))
        return config


_L2_EPSILON = 1e-12  # tf.math.l2_normalize's floor under the sum of squares (Keras 3's too)


class UnitNormalization(Layer):
    """Scales each sample to unit L2 norm over ``axis``: ``x / sqrt(max(sum(x**2), 1e-12))``
    (tf.keras 2's ``tf.math.l2_normalize``). Weightless."""

    supports_masking = True

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = _check_axis_argument(axis, "UnitNormalization")

    def build(self, input_shape):
        self._axes = tuple(_axes(self.axis, len(input_shape), self))
        super().build(input_shape)

    def forward(self, x, training=False):
        ops = self.ops
        squares = ops.sum(x * x, axis=self._axes, keepdims=True)
        self._x, self._inv = x, 1.0 / ops.sqrt(ops.maximum(squares, _L2_EPSILON))
        self._floored = squares <= _L2_EPSILON  # where the floor holds, the norm is a constant
        return (x * self._inv).astype(x.dtype, copy=False)

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        x, inv = self._x, self._inv
        along = self.ops.sum(dy * x, axis=self._axes, keepdims=True) * (inv * inv * inv)
        along[self._floored] = 0
        return (dy * inv - x * along).astype(dy.dtype, copy=False)

    def get_config(self):
        config = super().get_config()
        config["axis"] = self.axis
        return config
