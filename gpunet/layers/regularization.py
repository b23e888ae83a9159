"""Keras 2's `ActivityRegularization` and the spatial dropouts `SpatialDropout1D`,
`SpatialDropout2D` and `SpatialDropout3D`.

ActivityRegularization is the identity whose output carries an activity regularizer (L1L2 with
its ``l1`` and ``l2``): the model engine adds ``l1 * sum(|y|) + l2 * sum(y**2)``, divided by the
batch size, to the loss in fit and evaluate and its gradient to the backward pass, exactly as for
``Dense(activity_regularizer=...)`` (gpunet/models/engine.py); the fused plans decline a model
with it (an activity regularizer), so it trains layer by layer.

The spatial dropouts are tf.keras 2's: Dropout with a noise shape that keeps a sample's channel
(feature map) whole, ``(batch, 1, channels)`` for 3-D input, ``(batch, 1, 1, channels)`` for
4-D (``(batch, channels, 1, 1)`` with ``data_format='channels_first'``) and likewise for 5-D.
Their masks come from Dropout's code (gpunet's generator, or the layer's own with ``seed=``).
Their configs are Keras 3's (``rate``, ``seed``, ``name``, ``dtype``; ``data_format`` for 2-D and
3-D): tf.keras 2 also writes ``trainable`` and ``noise_shape``, which Keras 3's constructors refuse
(it cannot load tf.keras's own files with these layers), while tf.keras 2 reads Keras 3's keys.
"""
from .. import regularizers
from ..backend import keras_functions as _K
from .base import Layer
from .core import Dropout


class ActivityRegularization(Layer):
    """The identity, adding ``l1 * sum(|x|) + l2 * sum(x**2)`` (per sample, averaged over the
    batch) to the loss: ``ActivityRegularization(l1=0.01)``."""

    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        super().__init__(**kwargs)
        self.l1, self.l2 = l1, l2
        # What the engine (and the plans' refusal) looks at; checks the factors as Keras's L1L2.
        self.activity_regularizer = regularizers.L1L2(l1=l1, l2=l2)

    def forward(self, x, training=False):
        return x

    def backward(self, dy, need_dx=True):
        return dy  # the penalty's gradient is added by the engine before this layer's backward

    def get_config(self):
        config = super().get_config()
        config.update({"l1": self.l1, "l2": self.l2})
        return config


class _SpatialDropout(Dropout):
    """Dropout whose mask is shared across the spatial axes of ``rank``-D input (batch included)."""

    rank = None

    def __init__(self, rate, data_format=None, **kwargs):
        # tf.keras 2 passes noise_shape and seed on to Dropout (and ignores noise_shape: the
        # channel rule decides).
        super().__init__(rate, **kwargs)
        if data_format is None:
            data_format = _K.image_data_format()
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError(f'`data_format` must be "channels_last" or "channels_first". '
                             f"Received: data_format={data_format}.")
        self.data_format = data_format

    def get_config(self):
        # Keras 3's keys, which every Keras reads (see the module's docstring); a frozen or
        # noise_shape setting changes nothing in a weightless layer whose mask shape is fixed.
        config = {"rate": self.rate, "seed": self.seed, "name": self.name, "dtype": self.dtype}
        if self.batch_input_shape is not None:
            config["batch_input_shape"] = list(self.batch_input_shape)
        if self.rank != 3:
            config["data_format"] = self.data_format
        return config

    def _check_rank(self, shape):
        if len(shape) != self.rank:
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: expected '
                             f"ndim={self.rank}, found ndim={len(shape)}. Full shape received: {tuple(shape)}")

    def build(self, input_shape):
        self._check_rank(input_shape)
        super().build(input_shape)

    def _mask_shape(self, shape):
        channel = 1 if self.data_format == "channels_first" else len(shape) - 1
        return tuple(d if i in (0, channel) else 1 for i, d in enumerate(shape))

    def forward(self, x, training=False):
        self._check_rank(x.shape)
        if not training or self.rate == 0.0:
            self._mask = None
            return x
        self._mask = self.ops.dropout_mask(self._mask_shape(x.shape), self.rate, x.dtype, self._generator)
        return x * self._mask  # (Dropout.backward multiplies dy by the same broadcast mask)


class SpatialDropout1D(_SpatialDropout):
    """Dropout of whole channels of ``(samples, timesteps, channels)`` input, each sample's own:
    ``SpatialDropout1D(0.2)``. Inputs kept are scaled by ``1 / (1 - rate)``, as Dropout's."""

    rank = 3

    def __init__(self, rate, **kwargs):
        super().__init__(rate, data_format="channels_last", **kwargs)


class SpatialDropout2D(_SpatialDropout):
    """Dropout of whole 2-D feature maps of ``(samples, rows, cols, channels)`` input
    (``data_format='channels_first'``: ``(samples, channels, rows, cols)``)."""

    rank = 4


class SpatialDropout3D(SpatialDropout2D):
    """Dropout of whole 3-D feature maps of ``(samples, dim1, dim2, dim3, channels)`` input
    (``data_format='channels_first'``: channels on axis 1)."""

    rank = 5
