"""BatchNormalization."""
from .base import Layer


class BatchNormalization(Layer):
    """Normalizes over the batch while training and with moving statistics at inference.

    Weights (Keras order): gamma, beta (trainable), moving_mean, moving_variance.
    A frozen layer (``trainable=False``) always uses the moving statistics, as in Keras 2.1+.
    ``synchronized=True``: under `gpunet.distribute`, training normalizes with the statistics of
    every rank's rows together (gpunet/distribute/batch_stats.py), as Keras's
    SyncBatchNormalization does; in a single process it changes nothing.
    """

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", beta_regularizer=None, gamma_regularizer=None,
                 beta_constraint=None, gamma_constraint=None, synchronized=False, **kwargs):
        for legacy in ("renorm_clipping", "renorm_momentum", "fused"):  # no effect unless renorm, or speed only
            kwargs.pop(legacy, None)
        for legacy in ("renorm", "virtual_batch_size", "adjustment"):  # Keras 2 options that change the output
            value = kwargs.pop(legacy, None)
            if value:
                raise ValueError(f"BatchNormalization: gpunet does not implement {legacy}={value!r}; "
                                 f"leave it at its default ({'False' if legacy == 'renorm' else 'None'}).")
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)):
            if len(axis) != 1:
                raise ValueError(f"BatchNormalization supports a single axis, received {axis}")
            axis = axis[0]
        self.axis = int(axis)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        keep_gamma_beta_arguments(self, locals())
        self.moving_mean_initializer = moving_mean_initializer
        self.moving_variance_initializer = moving_variance_initializer
        self.synchronized = bool(synchronized)
        self._world = None  # the ranks a synchronized training step shares its statistics with

    def build(self, input_shape):
        axis = self.axis % len(input_shape)
        dim = input_shape[axis]
        if dim is None:
            raise ValueError(f"BatchNormalization '{self.name}' needs a known size on axis {self.axis}, "
                             f"received input shape {input_shape}")
        shape = (dim,)
        add_gamma_beta(self, shape)
        self.moving_mean = self.add_weight(name="moving_mean", shape=shape, initializer=self.moving_mean_initializer,
                                           trainable=False)
        self.moving_variance = self.add_weight(name="moving_variance", shape=shape,
                                               initializer=self.moving_variance_initializer, trainable=False)
        self._reduce = tuple(i for i in range(len(input_shape)) if i != axis)
        self._bshape = tuple(dim if i == axis else 1 for i in range(len(input_shape)))
        super().build(input_shape)

    _reads_mask = True  # in training its statistics are the unmasked steps' (layers/masking.py hands it the mask)

    def forward(self, x, training=False, mask=None):
        """``mask`` (None, or a boolean array of ``x``'s shape less the features axis, the last): in training the
        batch statistics are the unmasked steps' (tf.keras 2's ``tf.nn.weighted_moments``); every step is
        normalized by them."""
        ops, bshape = self.ops, self._bshape
        if x.ndim != len(bshape) or x.shape[self.axis] != self.moving_mean.shape[0]:
            # Keras's input-spec check; without it the moving averages fail on a reshape deep inside
            raise ValueError(f"BatchNormalization layer '{self.name}' expects inputs of rank {len(bshape)} with "
                             f"{self.moving_mean.shape[0]} features on axis {self.axis}, received input shape "
                             f"{tuple(x.shape)}.")
        gamma = None if self.gamma is None else self.gamma.value.reshape(bshape)
        beta = None if self.beta is None else self.beta.value.reshape(bshape)
        self._world = self._step_weights = None
        if training and self.trainable:
            from ..distribute.batch_stats import moments, synchronized_world
            self._world = synchronized_world(self)
            if mask is not None:
                mean, var, xc = self._masked_moments(x, mask)
            elif self._world is not None:  # the global batch's statistics (distribute/batch_stats.py)
                mean, var, xc = moments(ops, self._world, x, self._reduce, bshape)
            else:
                mean = ops.mean(x, axis=self._reduce, keepdims=True)
                xc = x - mean
                var = ops.mean(xc * xc, axis=self._reduce, keepdims=True)
            m = self.momentum
            mm, mv = self.moving_mean.value, self.moving_variance.value
            mm *= m
            mm += (1 - m) * mean.reshape(mm.shape)
            mv *= m
            mv += (1 - m) * var.reshape(mv.shape)
        else:
            mean = self.moving_mean.value.reshape(bshape)
            var = self.moving_variance.value.reshape(bshape)
            xc = x - mean
        inv = 1.0 / ops.sqrt(var + self.epsilon)
        xhat = xc * inv
        y = xhat if gamma is None else xhat * gamma
        if beta is not None:
            y = y + beta
        self._xhat, self._inv, self._training = xhat, inv, bool(training and self.trainable)
        return y.astype(x.dtype, copy=False)

    def backward(self, dy, need_dx=True):
        ops, axes = self.ops, self._reduce
        xhat, inv = self._xhat, self._inv
        gamma_beta_gradients(self, dy, xhat, axes)
        if not need_dx:
            return None
        dxhat = dy if self.gamma is None else dy * self.gamma.value.reshape(self._bshape)
        if not self._training:
            return dxhat * inv
        if self._step_weights is not None:  # (the statistics of the unmasked steps: each step's share of them)
            share = self._step_weights / ops.sum(self._step_weights, axis=axes, keepdims=True)
            return inv * (dxhat - share * (ops.sum(dxhat, axis=axes, keepdims=True)
                                           + xhat * ops.sum(dxhat * xhat, axis=axes, keepdims=True)))
        if self._world is not None:
            from ..distribute.batch_stats import dx
            return dx(ops, self._world, dxhat, xhat, inv, axes, self._bshape)
        return inv * (dxhat - ops.mean(dxhat, axis=axes, keepdims=True)
                      - xhat * ops.mean(dxhat * xhat, axis=axes, keepdims=True))

    def _masked_moments(self, x, mask):
        """The mean and variance of the steps ``mask`` keeps (weights 1, the others 0: a mean over none is NaN,
        as TensorFlow's), and ``x`` less the mean."""
        ops, axes = self.ops, self._reduce
        if (self.axis % x.ndim != x.ndim - 1 or tuple(mask.shape) != tuple(x.shape[:-1])
                or self._world is not None):
            raise NotImplementedError(
                f"BatchNormalization '{self.name}' receives a mask of shape {tuple(mask.shape)} for inputs of shape "
                f"{tuple(x.shape)}: gpunet takes a mask over every axis but the features', with axis=-1 (received "
                f"axis={self.axis}), in one process (tf.keras computes the batch statistics over the unmasked steps).")
        self._step_weights = w = ops.asarray(mask).astype(x.dtype)[..., None]
        count = ops.sum(w, axis=axes, keepdims=True)  # (the same for every feature)
        mean = ops.sum(w * x, axis=axes, keepdims=True) / count
        xc = x - mean
        return mean, ops.sum(w * (xc * xc), axis=axes, keepdims=True) / count, xc

    def get_config(self):
        from .. import initializers
        config = super().get_config()
        config.update({"axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
                       "center": self.center, "scale": self.scale})
        config.update(gamma_beta_config(self, {
            "moving_mean_initializer": initializers.serialize(initializers.get(self.moving_mean_initializer)),
            "moving_variance_initializer": initializers.serialize(initializers.get(self.moving_variance_initializer))}))
        if self.synchronized:  # (Keras 3's key; left out when False, as Keras 2 configs have no such key)
            config["synchronized"] = True
        return config


_GAMMA_BETA_ARGUMENTS = ("beta_initializer", "gamma_initializer", "beta_regularizer", "gamma_regularizer",
                         "beta_constraint", "gamma_constraint")


def keep_gamma_beta_arguments(layer, arguments):
    """Keep a normalization layer's ``center``, ``scale`` and gamma's and beta's initializers, regularizers
    and constraints from its ``__init__``'s arguments (``locals()``); no weights yet."""
    layer.center, layer.scale = bool(arguments["center"]), bool(arguments["scale"])
    for key in _GAMMA_BETA_ARGUMENTS:
        setattr(layer, key, arguments[key])
    layer.gamma = layer.beta = None


def add_gamma_beta(layer, shape):
    """A normalization layer's trainable scale (``gamma``, if ``layer.scale``) and offset (``beta``,
    if ``layer.center``), of ``shape``, from the layer's initializers, regularizers and constraints."""
    if layer.scale:
        layer.gamma = layer.add_weight(name="gamma", shape=shape, initializer=layer.gamma_initializer,
                                       regularizer=layer.gamma_regularizer, constraint=layer.gamma_constraint)
    if layer.center:
        layer.beta = layer.add_weight(name="beta", shape=shape, initializer=layer.beta_initializer,
                                      regularizer=layer.beta_regularizer, constraint=layer.beta_constraint)


def gamma_beta_gradients(layer, dy, xhat, axes):
    """Write gamma's and beta's gradients (those that train) for output gradient ``dy`` of
    normalized ``xhat``, summed over ``axes`` (those the weights are shared along)."""
    ops = layer.ops
    if layer.gamma is not None and layer.gamma.grad is not None:
        layer.gamma.grad[...] = ops.sum(dy * xhat, axis=axes).reshape(layer.gamma.shape)
    if layer.beta is not None and layer.beta.grad is not None:
        layer.beta.grad[...] = ops.sum(dy, axis=axes).reshape(layer.beta.shape)


def gamma_beta_config(layer, more_initializers=None):
    """The config entries of gamma's and beta's initializers (then ``more_initializers``),
    regularizers and constraints, in Keras's order."""
    from .. import initializers, regularizers, constraints
    config = {"beta_initializer": initializers.serialize(initializers.get(layer.beta_initializer)),
              "gamma_initializer": initializers.serialize(initializers.get(layer.gamma_initializer))}
    config.update(more_initializers or {})
    config.update({
        "beta_regularizer": regularizers.serialize(regularizers.get(layer.beta_regularizer)),
        "gamma_regularizer": regularizers.serialize(regularizers.get(layer.gamma_regularizer)),
        "beta_constraint": constraints.serialize(constraints.get(layer.beta_constraint)),
        "gamma_constraint": constraints.serialize(constraints.get(layer.gamma_constraint)),
    })
    return config
