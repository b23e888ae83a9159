"""Keras 2's `GlobalAveragePooling1D` and `GlobalMaxPooling1D` (``keras.layers.pooling``): the mean
or the maximum over the steps of a sequence, ``(batch, steps, features)`` to ``(batch, features)``
(``(batch, features, steps)`` with ``data_format="channels_first"``; ``keepdims=True`` keeps the
steps axis with size 1). Weightless; they train layer by layer (the fused plans run Dense stacks only).

As in tf.keras 2.21, GlobalAveragePooling1D honors the mask of an ``Embedding(mask_zero=True)``
before it (the mean over the unmasked steps; a sequence that is all padding gives NaN, 0 / 0, as in
tf.keras and Keras 3), and GlobalMaxPooling1D ignores it: its maximum covers the padded steps too.
GlobalMaxPooling1D's gradient goes to the maximal step of each feature, shared equally among ties,
as TensorFlow's ``reduce_max`` gradient (and PyTorch's ``amax``, Keras 3's) shares it.
"""
from ..backend import keras_functions as _K
from .base import Layer
from .reshaping import _check_rank


class _GlobalPooling1D(Layer):
    """A reduction over the steps axis of 3-D inputs (tf.keras's ``GlobalPooling1D``)."""

    def __init__(self, data_format="channels_last", keepdims=False, **kwargs):
        super().__init__(**kwargs)
        value = _K.image_data_format() if data_format is None else data_format
        if str(value).lower() not in ("channels_first", "channels_last"):
            raise ValueError('The `data_format` argument must be one of "channels_first", "channels_last". '
                             f"Received: {value}")
        self.data_format = str(value).lower()
        self.keepdims = bool(keepdims)
        self._axis = 1 if self.data_format == "channels_last" else 2

    def build(self, input_shape):
        _check_rank(self, input_shape, 3)
        if input_shape[self._axis] == 0:
            raise ValueError(f"Incorrect input shape {tuple(input_shape)} with dimension 0 at reduction axis "
                             f"{self._axis}.")
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        _check_rank(self, input_shape, 3)
        shape = list(input_shape)
        if self.keepdims:
            shape[self._axis] = 1
        else:
            del shape[self._axis]
        return tuple(shape)

    def _kept(self, shape):
        """``shape`` with the steps axis as 1 (the reduction's result with keepdims)."""
        return tuple(1 if i == self._axis else d for i, d in enumerate(shape))

    def _output(self, y):
        """The reduction ``y`` (steps axis kept) as the layer returns it."""
        return y if self.keepdims else y.reshape(self.compute_output_shape(y.shape))

    def get_config(self):
        config = super().get_config()
        config.update({"data_format": self.data_format, "keepdims": self.keepdims})
        return config


class GlobalAveragePooling1D(_GlobalPooling1D):
    """The mean over the steps: ``GlobalAveragePooling1D()`` after ``Embedding(10000, 16)`` averages
    each sequence's word vectors. After ``Embedding(..., mask_zero=True)`` (directly, or through
    layers that pass masks on, e.g. Dropout) padded steps are left out of the mean."""

    supports_masking = True
    _mask_aware = True  # forward takes the mask (layers/masking.py)

    def forward(self, x, training=False, mask=None):
        _check_rank(self, x.shape, 3)
        ops, axis = self.ops, self._axis
        self._x_shape = x.shape
        if mask is None:
            self._share = None
            return ops.mean(x, axis=axis, keepdims=self.keepdims)
        want = (x.shape[0], x.shape[axis])
        if tuple(mask.shape) != want:
            raise ValueError(f"GlobalAveragePooling1D layer '{self.name}' received a mask of shape "
                             f"{tuple(mask.shape)} for inputs of shape {tuple(x.shape)}: expected {want} "
                             f"(batch, steps) with data_format='{self.data_format}'.")
        # tf.keras's order: sum(x * mask) / sum(mask)
        weights = mask.astype(x.dtype).reshape((x.shape[0], 1, x.shape[2]) if axis == 2 else want + (1,))
        count = ops.sum(weights, axis=axis, keepdims=True)
        self._share = weights / count  # each unmasked step's share of the mean: the backward pass
        return self._output(ops.sum(x * weights, axis=axis, keepdims=True) / count)

    def compute_mask(self, inputs, mask=None):
        return None  # the steps are gone: so is the mask

    def backward(self, dy, need_dx=True):
        dy = dy.reshape(self._kept(self._x_shape))
        if self._share is not None:
            return dy * self._share
        dx = self.ops.empty(self._x_shape, dy.dtype)
        dx[...] = dy / self._x_shape[self._axis]
        return dx


class GlobalMaxPooling1D(_GlobalPooling1D):
    """The maximum over the steps, feature by feature. tf.keras 2.21 does not let it take a mask:
    after ``Embedding(..., mask_zero=True)`` padded steps count as well (their vectors are row 0)."""

    supports_masking = False  # tf.keras 2.21's: a mask reaching it is dropped

    def forward(self, x, training=False):
        _check_rank(self, x.shape, 3)
        y = self.ops.max(x, axis=self._axis, keepdims=True)
        self._x, self._y = x, y
        return self._output(y)

    def backward(self, dy, need_dx=True):
        dy = dy.reshape(self._y.shape)
        ties = (self._x == self._y).astype(dy.dtype)
        return ties * (dy / self.ops.sum(ties, axis=self._axis, keepdims=True))


GlobalAvgPool1D, GlobalMaxPool1D = GlobalAveragePooling1D, GlobalMaxPooling1D  # (Keras's other names)
