"""Core layers: Dense, Activation, Dropout, Flatten, Reshape (InputLayer/Input: input_layer.py)."""
from .. import activations
from .. import backend as B
from .. import regularizers
from ..backend import random as _random
from .base import Layer
from .input_layer import InputLayer, Input  # noqa: F401 (Keras 2's keras.layers.core has them)


def _prod(shape):
    n = 1
    for d in shape:
        n *= d
    return n


class Dense(Layer):
    """Densely connected layer: ``activation(dot(x, kernel) + bias)`` on the last axis.

    Example: ``Dense(12, input_dim=8, kernel_initializer='uniform', activation='relu')``.
    On the CuPy backend this runs as one fused kernel.
    """

    _binds_last_axis = True  # (a shared call may take other sizes: layers/symbolic.py)

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(units, int) or isinstance(units, bool) or units <= 0:
            try:
                if int(units) == units and int(units) > 0:
                    units = int(units)
                else:
                    raise ValueError
            except (TypeError, ValueError):
                raise ValueError(f"Dense expects a positive integer `units`, received {units!r}") from None
        self.units = units
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        # As Keras: the regularizer and constraint objects (a name resolved now, so that a typo
        # fails at construction), the very ones the weights get, so changing a factor takes effect.
        from .. import initializers, constraints
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        initializers.get(kernel_initializer), initializers.get(bias_initializer)
        self.kernel = self.bias = None

    def build(self, input_shape):
        width = input_shape[-1]
        if width is None:
            raise ValueError(f"Dense layer '{self.name}' needs a known last input dimension, received {input_shape}")
        self.kernel = self.add_weight(name="kernel", shape=(width, self.units), initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.units,), initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def forward(self, x, training=False):
        w = self.kernel.value
        if x.shape[-1] != w.shape[0]:
            raise ValueError(f"Dense layer '{self.name}' expects input width {w.shape[0]}, received "
                             f"{x.shape[-1]} (input shape {tuple(x.shape)}).")
        lead = x.shape[:-1]
        if x.ndim != 2:
            x = x.reshape(-1, x.shape[-1])
        act = self.activation
        b = None if self.bias is None else self.bias.value
        if act.custom:  # the user's function runs on the tape after the (fused) linear part
            z = self.ops.dense_forward(x, w, b, "linear", {})[0]
            y, self._act_backward = act.forward(self.ops, z)
            z = None
        else:
            y, z = self.ops.dense_forward(x, w, b, act.name, act.params)
        self._x, self._z, self._y, self._lead = x, z, y, lead
        if len(lead) != 1:
            y = y.reshape(lead + (self.units,))
        return y

    def backward(self, dy, need_dx=True):
        if dy.ndim != 2:
            dy = dy.reshape(-1, self.units)
        act = self.activation
        name, params = act.name, act.params
        if act.custom:
            dy, name, params = self._act_backward(dy), "linear", {}
        dx = self.ops.dense_backward(dy, self._x, self.kernel.value, self._z, self._y, name, params,
                                     self.kernel.grad, None if self.bias is None else self.bias.grad, need_dx)
        if dx is not None and len(self._lead) != 1:
            dx = dx.reshape(self._lead + (dx.shape[-1],))
        return dx

    def get_config(self):
        config = super().get_config()
        config.update({
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": _serialize_init(self.kernel_initializer),
            "bias_initializer": _serialize_init(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(regularizers.get(self.kernel_regularizer)),
            "bias_regularizer": regularizers.serialize(regularizers.get(self.bias_regularizer)),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "kernel_constraint": _serialize_constraint(self.kernel_constraint),
            "bias_constraint": _serialize_constraint(self.bias_constraint),
        })
        return config


def _serialize_init(identifier):
    from .. import initializers
    return initializers.serialize(initializers.get(identifier))


def _serialize_constraint(identifier):
    from .. import constraints
    return constraints.serialize(constraints.get(identifier))


class Activation(Layer):
    """Applies an activation function: ``Activation('relu')``."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def forward(self, x, training=False):
        act = self.activation
        if act.custom:
            y, self._act_backward = act.forward(self.ops, x)
            return y
        y = self.ops.activation_forward(act.name, x, act.params)
        self._x, self._y = x, y
        return y

    def backward(self, dy, need_dx=True):
        act = self.activation
        if act.custom:
            return self._act_backward(dy)
        return self.ops.activation_backward(act.name, dy, self._x, self._y, act.params)

    def get_config(self):
        config = super().get_config()
        config["activation"] = activations.serialize(self.activation)
        return config


class Dropout(Layer):
    """Sets a fraction ``rate`` of inputs to 0 while training, scaling the rest by ``1/(1-rate)``."""

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        rate = float(rate)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"Dropout rate must be in [0, 1), received {rate}")
        self.rate = rate
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = seed
        self._generator = None if seed is None else _random.make_generator(seed)
        self._mask = None

    def forward(self, x, training=False):
        if not training or self.rate == 0.0:
            self._mask = None
            return x
        shape = x.shape
        if self.noise_shape is not None:
            shape = tuple(x.shape[i] if d is None else d for i, d in enumerate(self.noise_shape))
        self._mask = self.ops.dropout_mask(shape, self.rate, x.dtype, self._generator)
        return x * self._mask

    def backward(self, dy, need_dx=True):
        return dy if self._mask is None else dy * self._mask

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "noise_shape": None if self.noise_shape is None else list(self.noise_shape),
                       "seed": self.seed})
        return config


class Flatten(Layer):
    """Flattens every dimension but the batch. With ``data_format="channels_first"`` (None: the global
    ``image_data_format()``) the channels axis is moved last first, as Keras does, so the Dense layer after it
    sees the order a channels-last model gives it (weights move between the two formats)."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        value = B.image_data_format() if data_format is None else str(data_format).lower()
        if value not in ("channels_last", "channels_first"):
            raise ValueError(f"Flatten: `data_format` must be 'channels_last' or 'channels_first', received "
                             f"{data_format!r}")
        self.data_format = value

    def reads_rows(self, ndim):
        """Whether flattening inputs of ``ndim`` axes keeps each sample's order (the plans' view of rows)."""
        return self.data_format == "channels_last" or ndim <= 2

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        return (input_shape[0], None if None in rest else _prod(rest))

    def forward(self, x, training=False):
        self._shape = x.shape
        if not self.reads_rows(x.ndim):
            self._order = (0,) + tuple(range(2, x.ndim)) + (1,)
            x = x.transpose(self._order)
        return x.reshape(x.shape[0], -1)

    def backward(self, dy, need_dx=True):
        if self.reads_rows(len(self._shape)):
            return dy.reshape(self._shape)
        moved = tuple(self._shape[i] for i in self._order)
        return self.ops.xp.ascontiguousarray(dy.reshape(moved).transpose((0, len(moved) - 1) + tuple(
            range(1, len(moved) - 1))))

    def get_config(self):
        config = super().get_config()
        config["data_format"] = self.data_format
        return config


class Reshape(Layer):
    """Reshapes inputs to ``target_shape`` (batch dimension excluded; one -1 allowed)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(int(d) for d in target_shape)
        if sum(1 for d in self.target_shape if d == -1) > 1:
            raise ValueError(f"Reshape target_shape may hold at most one -1, received {self.target_shape}")

    def compute_output_shape(self, input_shape):
        target = list(self.target_shape)
        if -1 in target and None not in input_shape[1:]:
            known = _prod(d for d in target if d != -1)
            total = _prod(input_shape[1:])
            if total % known:
                raise ValueError(f"Reshape cannot turn input shape {tuple(input_shape[1:])} into {self.target_shape}")
            target[target.index(-1)] = total // known
        elif None not in input_shape[1:] and _prod(input_shape[1:]) != _prod(target):
            raise ValueError(f"Reshape cannot turn input shape {tuple(input_shape[1:])} into {self.target_shape}")
        return (input_shape[0],) + tuple(target)

    def forward(self, x, training=False):
        self._shape = x.shape
        return x.reshape((x.shape[0],) + self.target_shape)

    def backward(self, dy, need_dx=True):
        return dy.reshape(self._shape)

    def get_config(self):
        config = super().get_config()
        config["target_shape"] = list(self.target_shape)
        return config


_MOVED = {"ActivityRegularization": "regularization", "SpatialDropout1D": "regularization",
          "SpatialDropout2D": "regularization", "SpatialDropout3D": "regularization",
          "RepeatVector": "reshaping", "Permute": "reshaping"}


def __getattr__(name):
    """Keras 2 kept these in ``keras.layers.core`` (tf.keras 2.21 still re-exports them there);
    looked up on first use, as their modules import this one."""
    if name in _MOVED:
        import importlib
        return getattr(importlib.import_module(f"{__package__}.{_MOVED[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Identity(Layer):
    """Returns its input unchanged (a placeholder, e.g. where a model's variant has no layer)."""

    def forward(self, x, training=False):
        return x

    def backward(self, dy, need_dx=True):
        return dy if need_dx else None
