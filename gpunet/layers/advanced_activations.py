"""Keras 2's advanced activation layers (``keras.layers.advanced_activations``): `LeakyReLU`,
`ReLU`, `ELU`, `Softmax`, `ThresholdedReLU` and `PReLU`.

Each layer but PReLU is an activation with parameters: ``layer.activation`` is its
`gpunet.activations.ActivationSpec` (``LeakyReLU(0.1)`` is ``leaky_relu`` with ``alpha=0.1``),
run by the backend's activation code, and folded by the fused plans into the Dense layer before
it as an ``Activation`` layer is (gpunet/backend/layer_stack.py): ``Dense(64)``, ``LeakyReLU(0.1)``
trains as ``Dense(64)`` with that activation. The formulas and subgradients are tf.keras 2's:
``ReLU(negative_slope=a)`` alone is ``tf.nn.leaky_relu`` and ``ReLU(max_value=6)`` alone is
``tf.nn.relu6``, as tf.keras's ``backend.relu`` picks them. Configs are tf.keras 2's
(``LeakyReLU``: ``alpha``); Keras 3's ``negative_slope`` for LeakyReLU is accepted too.
"""
from .. import activations, constraints, initializers, regularizers
from .base import Layer


class _ActivationLayer(Layer):
    """A weightless layer applying ``self.activation``, made from its arguments by ``_spec``."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._cached = None

    def _spec(self):
        """``(name, params)`` of the backend activation this layer computes."""
        raise NotImplementedError

    @property
    def activation(self):
        """The `ActivationSpec` applied: the same object while the layer's arguments stay the same
        (the plans compare it by identity), a new one after ``layer.alpha = ...``."""
        name, params = self._spec()
        cached = self._cached
        if cached is None or cached.name != name or cached.params != params:
            cached = self._cached = activations.ActivationSpec(name, params)
        return cached

    def forward(self, x, training=False):
        act = self.activation
        y = self.ops.activation_forward(act.name, x, act.params)
        self._x, self._y, self._act = x, y, act
        return y

    def backward(self, dy, need_dx=True):
        act = self._act
        return self.ops.activation_backward(act.name, dy, self._x, self._y, act.params)


def _number(value, what, layer, minimum=None):
    if value is None or isinstance(value, bool):
        raise ValueError(f"{layer} {what} cannot be {value!r}: expected a float.")
    value = float(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{what} of a {layer} layer cannot be a negative value. Received: {value}")
    return value


class LeakyReLU(_ActivationLayer):
    """``x`` for ``x > 0``, ``alpha * x`` otherwise (``tf.nn.leaky_relu``).

    ``LeakyReLU(alpha=0.3)`` as in Keras 2; Keras 3's ``negative_slope=`` is the same argument.
    """

    def __init__(self, alpha=0.3, negative_slope=None, **kwargs):
        super().__init__(**kwargs)
        if negative_slope is not None:
            if alpha not in (0.3, negative_slope):
                raise ValueError(f"LeakyReLU got alpha={alpha!r} and negative_slope={negative_slope!r}: "
                                 "they name the same argument, pass one.")
            alpha = negative_slope
        self.alpha = _number(alpha, "alpha", "LeakyReLU")

    def _spec(self):
        return "leaky_relu", {"alpha": float(self.alpha)}

    def get_config(self):
        config = super().get_config()
        config["alpha"] = float(self.alpha)
        return config


class ReLU(_ActivationLayer):
    """Keras 2's ``ReLU(max_value=None, negative_slope=0.0, threshold=0.0)``: ``x`` for
    ``threshold < x``, clipped to ``max_value`` when given, ``negative_slope * (x - threshold)``
    below the threshold. Subgradients at the kinks are tf.keras's (its relu6 when ``max_value=6``
    and ``threshold=0``: none at x = 6 exactly; its leaky relu for a slope alone: the slope at 0)."""

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        self.max_value = None if max_value is None else _number(max_value, "max_value", "ReLU", 0.0)
        self.negative_slope = _number(negative_slope, "negative_slope", "ReLU", 0.0)
        self.threshold = _number(threshold, "threshold", "ReLU", 0.0)

    def _spec(self):
        slope, top, threshold = float(self.negative_slope), self.max_value, float(self.threshold)
        if threshold == 0.0 and top is None and slope != 0.0:
            return "leaky_relu", {"alpha": slope}  # tf.keras's backend.relu: tf.nn.leaky_relu
        if threshold == 0.0 and top == 6.0 and slope == 0.0:
            return "relu6", {}  # tf.nn.relu6 (no gradient at 6)
        params = {}
        if slope != 0.0:
            params["alpha"] = slope
        if top is not None:
            params["max_value"] = float(top)
        if threshold != 0.0:
            params["threshold"] = threshold
        return "relu", params

    def get_config(self):
        config = super().get_config()
        config.update({"max_value": None if self.max_value is None else float(self.max_value),
                       "negative_slope": float(self.negative_slope), "threshold": float(self.threshold)})
        return config


class ELU(_ActivationLayer):
    """Exponential linear unit: ``x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` otherwise."""

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = _number(alpha, "alpha", "ELU")

    def _spec(self):
        alpha = float(self.alpha)
        return "elu", ({} if alpha == 1.0 else {"alpha": alpha})

    def get_config(self):
        config = super().get_config()
        config["alpha"] = float(self.alpha)
        return config


class Softmax(_ActivationLayer):
    """``exp(x) / sum(exp(x))`` along ``axis`` (an int, or a list of axes normalized together).
    ``layer(x, mask=m)`` (tf.keras 2's): where ``m`` is 0 (False) ``x`` is lowered by 1e9 first (float16:
    to its lowest value), so those places get no share; ``robust_masking`` sets them to that value instead
    (and takes ``m > 0.5`` of a float mask)."""

    _computes_with_mask = True  # (a file's call with mask=: saving/call_arguments.py keeps it)

    def __call__(self, x, *args, mask=None, **kwargs):
        if mask is not None:  # (computed by the ops, on arrays, tape tensors or symbolic ones alike)
            from .. import ops
            from .symbolic import is_symbolic
            from ..autodiff.tensor import is_tensor
            if not (is_symbolic(mask) or is_tensor(mask)):
                mask = self.ops.asarray(mask)  # (an array: onto this layer's device)
            low = -65504.0 if str(x.dtype) == "float16" else -1e9  # (float16's lowest: tf.keras's choice)
            if self.robust_masking:
                keep = mask if str(mask.dtype) == "bool" else ops.greater(mask, 0.5)
                x = ops.where(keep, x, ops.cast(low, x.dtype))
            else:
                x = x + (1.0 - ops.cast(mask, x.dtype)) * low
        return super().__call__(x, *args, **kwargs)

    def __init__(self, axis=-1, robust_masking=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)):
            axis = [_axis(a) for a in axis]
            if not axis:
                raise ValueError("Softmax needs at least one axis, received [].")
        else:
            axis = _axis(axis)
        self.axis = axis
        self.robust_masking = bool(robust_masking)

    def _spec(self):
        axis = self.axis
        if isinstance(axis, (list, tuple)):
            axis = axis[0] if len(axis) == 1 else tuple(axis)
        return "softmax", ({} if axis == -1 else {"axis": axis})

    def get_config(self):
        config = super().get_config()
        config["axis"] = list(self.axis) if isinstance(self.axis, (list, tuple)) else self.axis
        if self.robust_masking:
            config["robust_masking"] = True
        return config


def _axis(value):
    if isinstance(value, bool) or int(value) != value:
        raise ValueError(f"Softmax axis must be an integer or a list of integers, received {value!r}")
    return int(value)


class ThresholdedReLU(_ActivationLayer):
    """``x`` for ``x > theta``, 0 otherwise (Keras 2; ``theta >= 0``)."""

    def __init__(self, theta=1.0, **kwargs):
        super().__init__(**kwargs)
        self.theta = _number(theta, "theta", "ThresholdedReLU", 0.0)

    def _spec(self):
        theta = float(self.theta)
        return "relu", ({"threshold": theta} if theta != 0.0 else {})

    def get_config(self):
        config = super().get_config()
        config["theta"] = float(self.theta)
        return config


class PReLU(Layer):
    """Parametric ReLU: ``x`` for ``x > 0``, ``alpha * x`` otherwise, with ``alpha`` a trainable
    weight of the input's shape (batch excluded), of size 1 along each of ``shared_axes``.
    Trains layer by layer (it is not folded into the plans)."""

    def __init__(self, alpha_initializer="zeros", alpha_regularizer=None, alpha_constraint=None, shared_axes=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.alpha_initializer = initializers.get(alpha_initializer)
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        self.alpha_constraint = constraints.get(alpha_constraint)
        if shared_axes is None:
            self.shared_axes = None
        else:
            axes = list(shared_axes) if isinstance(shared_axes, (list, tuple)) else [shared_axes]
            self.shared_axes = [int(a) for a in axes]
        self.alpha = None

    def build(self, input_shape):
        shape = list(input_shape[1:])
        for axis in self.shared_axes or ():
            if not 1 <= axis <= len(shape):
                raise ValueError(f"PReLU '{self.name}': shared axis {axis} is not an axis of inputs of shape "
                                 f"{tuple(input_shape)} (axes count from 1, the batch being axis 0).")
            shape[axis - 1] = 1
        if None in shape:
            raise ValueError(f"PReLU '{self.name}' needs known input dimensions (or shared_axes over the unknown "
                             f"ones), received input shape {tuple(input_shape)}")
        self.alpha = self.add_weight(name="alpha", shape=tuple(shape), initializer=self.alpha_initializer,
                                     regularizer=self.alpha_regularizer, constraint=self.alpha_constraint)
        self._reduce = (0,) + tuple(sorted(set(self.shared_axes or ())))
        super().build(input_shape)

    def forward(self, x, training=False):
        ops = self.ops
        alpha = self.alpha.value
        self._x = x
        neg = ops.relu(-x)  # tf.keras: relu(x) - alpha * relu(-x)
        self._neg = neg
        return ops.relu(x) - alpha * neg

    def backward(self, dy, need_dx=True):
        ops, x = self.ops, self._x
        alpha = self.alpha.value
        if self.alpha.grad is not None:
            self.alpha.grad[...] = ops.sum(dy * -self._neg, axis=self._reduce, keepdims=True).reshape(alpha.shape)
        if not need_dx:
            return None
        dx = ops.relu_backward(dy, x, None)
        dx += (dy * alpha) * (x < 0)
        return dx

    def get_config(self):
        config = super().get_config()
        config.update({
            "alpha_initializer": initializers.serialize(self.alpha_initializer),
            "alpha_regularizer": regularizers.serialize(self.alpha_regularizer),
            "alpha_constraint": constraints.serialize(self.alpha_constraint),
            "shared_axes": None if self.shared_axes is None else list(self.shared_axes),
        })
        return config


#: the layers the fused plans fold as the activation they compute (PReLU has a weight: not one of them)
FOLDABLE = (LeakyReLU, ReLU, ELU, Softmax, ThresholdedReLU)
