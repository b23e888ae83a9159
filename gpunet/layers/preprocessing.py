"""Keras's numeric preprocessing layers: `Normalization` (feature-wise, its statistics from
``adapt``) and `Rescaling`. They carry no trainable weights; inside a model they make the
preprocessing part of the saved file (the TensorFlow regression tutorial's
``normalizer.adapt(train_features)`` then ``Sequential([normalizer, Dense(64), ...])``)."""
import itertools

from .. import backend as B
from .base import Layer, Weight


def _as_axes(axis):
    if axis is None:
        return ()
    if isinstance(axis, bool) or not isinstance(axis, (int, list, tuple)) or \
            not all(isinstance(a, int) and not isinstance(a, bool) for a in ([axis] if isinstance(axis, int) else axis)):
        raise TypeError(f"Normalization: expected an int, a list/tuple of ints or None for `axis`, received {axis!r}")
    return (axis,) if isinstance(axis, int) else tuple(axis)


class Normalization(Layer):
    """Shifts and scales each feature to mean 0 and variance 1: ``(x - mean) / sqrt(variance)``
    (``sqrt(variance)`` floored at ``K.epsilon()``, as Keras).

    Give ``mean`` and ``variance``, or call ``adapt(data)`` to compute them from your training
    data, once, before training. ``axis``: the axes kept (one mean per position on them; the
    others, the batch axis always, are averaged over); None: one mean and variance for all.
    ``invert=True`` maps normalized values back: ``mean + x * sqrt(variance)``.

    Weights (non-trainable, Keras's names and order; only when ``mean`` is not given): mean,
    variance, count (an int64 scalar: the values ``adapt`` has seen per position).
    """

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        self.axis = _as_axes(axis)
        if (mean is None) != (variance is None):
            raise ValueError(f"When setting values directly, both `mean` and `variance` must be set. Got mean: {mean} "
                             f"and variance: {variance}")
        self.input_mean, self.input_variance = _listed(mean), _listed(variance)
        self.invert = bool(invert)
        self.adapt_mean = self.adapt_variance = self.count = None

    def build(self, input_shape):
        rank = len(input_shape)
        if any(a < -rank or a >= rank for a in self.axis):
            raise ValueError(f"All `axis` values must be in the range [-ndim, ndim). Found ndim: `{rank}`, "
                             f"axis: {self.axis}")
        keep = sorted(a % rank for a in self.axis)
        if any(input_shape[a] is None for a in keep):
            raise ValueError(f"All `axis` values to be kept must have known shape. Got axis: {self.axis}, input shape: "
                             f"{tuple(input_shape)}")
        self._keep = keep
        self._reduce = tuple(a for a in range(rank) if a not in keep)
        # one mean for everything (axis=None): a scalar, whatever the rank of later inputs (Keras's too)
        self._bshape = tuple(input_shape[a] if a in keep else 1 for a in range(rank)) if keep else ()
        shape = tuple(input_shape[a] for a in keep)
        if self.input_mean is None:
            self.adapt_mean = self.add_weight(name="mean", shape=shape, initializer="zeros", trainable=False)
            self.adapt_variance = self.add_weight(name="variance", shape=shape, initializer="ones", trainable=False)
            # Keras's count is an int64 scalar (a float32 one would stop counting exactly at 2**24)
            self.count = Weight(self, "count", self.ops.zeros((), "int64"), trainable=False)
            self._weights.append(self.count)
        else:
            self._fixed = tuple(self._broadcast(v, shape) for v in (self.input_mean, self.input_variance))
        super().build(input_shape)

    def _broadcast(self, values, shape):
        """A given mean or variance (a scalar, or values for the kept axes' last positions, as
        Keras 3 reads them) in the shape that broadcasts over an input."""
        ops = self.ops
        v = ops.asarray(values, dtype=self.dtype)
        try:
            v = v.reshape((1,) * (len(shape) - v.ndim) + tuple(v.shape)) if v.ndim <= len(shape) else v
            return (v + ops.zeros(shape, self.dtype)).reshape(self._bshape)
        except ValueError:
            raise ValueError(f"Normalization '{self.name}': mean/variance of shape {tuple(v.shape)} do not fit the kept "
                             f"axes {self.axis} of size {shape}.") from None

    def _check(self, x, what):
        if self._keep and (x.ndim != len(self._bshape) or any(x.shape[a] != self._bshape[a] for a in self._keep)):
            raise ValueError(f"Normalization layer '{self.name}' expects inputs of shape "
                             f"{(None,) + tuple(self.input_shape[1:])} (sizes fixed on axes {self._keep}); {what} "
                             f"of shape {tuple(x.shape)}.")

    @property
    def mean(self):
        """The mean it subtracts, shaped to broadcast over an input (tf.keras's ``normalizer.mean``;
        ``.numpy()`` gives a NumPy array)."""
        return self.ops.eager(self._statistics()[0])

    @property
    def variance(self):
        """The variance it divides by the square root of, shaped as ``mean``."""
        return self.ops.eager(self._statistics()[1])

    def _statistics(self):
        if not self.built:
            raise AttributeError(f"Normalization '{self.name}' has no mean and variance yet: adapt() it, or build it "
                                 f"(call it or its model) first.")
        if self.input_mean is not None:
            return self._fixed
        return self.adapt_mean.value.reshape(self._bshape), self.adapt_variance.value.reshape(self._bshape)

    def forward(self, x, training=False):
        self._check(x, "received inputs")
        ops = self.ops
        mean, variance = self._statistics()
        x = ops.asarray(x, dtype=self.dtype)
        self._std = ops.maximum(ops.sqrt(variance), B.epsilon())
        return mean + x * self._std if self.invert else (x - mean) / self._std

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        return dy * self._std if self.invert else dy / self._std

    def adapt(self, data, batch_size=None, steps=None):
        """Set mean and variance from ``data``: an array (samples first), or batches of it (a
        generator or `gpunet.utils.Sequence` yielding arrays or ``(x, y)`` tuples; ``steps``:
        how many to take). Computed in float64 over all of the data at once, so the result does
        not depend on ``batch_size`` (accepted for Keras compatibility)."""
        if self.input_mean is not None:
            raise ValueError(f"Cannot `adapt` a Normalization layer that is initialized with static `mean` and "
                             f"`variance`, you passed mean {self.input_mean} and variance {self.input_variance}.")
        ops = self.ops
        batches = _batches(data, steps, ops)
        first = next(batches, None)
        if first is None:
            raise ValueError(f"Normalization '{self.name}': adapt received no batches from {type(data).__name__}.")
        if not self.built:
            given = self.batch_input_shape  # Normalization(input_shape=[1], axis=None).adapt(a 1-D array)
            if given is None and self.axis:
                # a Sequential starting with it is then built at once, as tf.keras's is (its summary shows
                # every layer), and its config records the input shape
                given = self.batch_input_shape = (None,) + tuple(first.shape[1:])
            self.build(given if given is not None else (None,) + tuple(first.shape[1:]))
        total = mean = variance = None
        for batch in itertools.chain([first], batches):
            self._check(batch, "adapt received data")
            axes = self._reduce if self._keep else None  # axis=None: every value, whatever the data's rank
            count = batch.size // max(1, self.adapt_mean.value.size)  # values per kept position
            if count == 0:
                continue
            b_mean = ops.mean(batch, axis=axes)
            b_var = ops.var(batch, axis=axes)
            if total is None:
                total, mean, variance = count, b_mean, b_var
                continue
            # Chan et al.'s merge of two (count, mean, variance) summaries, exact in float64
            share = count / (total + count)
            delta = b_mean - mean
            mean = mean + delta * share
            variance = variance * (1 - share) + b_var * share + delta * delta * share * (1 - share)
            total += count
        if total is None:
            raise ValueError(f"Normalization '{self.name}': adapt received no samples (data of shape "
                             f"{tuple(first.shape)}).")
        self.adapt_mean.assign(mean)
        self.adapt_variance.assign(variance)
        self.count.assign(ops.asarray(total, dtype="int64"))

    def reset_state(self):
        """Forget what ``adapt`` computed (mean 0, variance 1, count 0)."""
        if self.adapt_mean is not None:
            for w, value in ((self.adapt_mean, 0), (self.adapt_variance, 1), (self.count, 0)):
                w.value[...] = value

    def get_config(self):
        config = super().get_config()
        config.update({"axis": list(self.axis), "invert": self.invert, "mean": self.input_mean,
                       "variance": self.input_variance})
        return config


def _batches(data, steps, ops):
    """``adapt``'s data as float64 backend arrays: the data itself, or the batches it yields."""
    from ..models.batch_sources import adapt_batches, is_batch_source  # (models import layers)
    if not is_batch_source(data):
        yield ops.asarray(data, dtype="float64")
        return
    for batch in adapt_batches(data, steps):
        yield ops.asarray(batch, dtype="float64")


def _listed(values):
    """``mean``/``variance`` as given, in the form a config holds (a float or nested lists)."""
    if values is None or isinstance(values, (int, float)):
        return None if values is None else float(values)
    ops = B.get_backend()
    return ops.to_host(ops.asarray(values, dtype="float64")).tolist()


class Rescaling(Layer):
    """``x * scale + offset``: ``Rescaling(1 / 255)`` maps 0..255 to 0..1. Weightless. A ``scale`` per channel
    applies to the channels under ``channels_first`` too, as in Keras 3 (tf.keras 2 broadcasts it over the
    width)."""

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale, self.offset = _listed(scale), _listed(offset)

    def build(self, input_shape):
        ops = self.ops
        self._scale = ops.asarray(self.scale, dtype=self.dtype)
        if self._scale.ndim and B.image_data_format() == "channels_first":  # (Keras 3's: a scale per channel)
            self._scale = self._scale.reshape(self._scale.shape + (1,) * (3 - self._scale.ndim))
        self._offset = ops.asarray(self.offset, dtype=self.dtype)
        super().build(input_shape)

    def forward(self, x, training=False):
        return self.ops.asarray(x, dtype=self.dtype) * self._scale + self._offset

    def backward(self, dy, need_dx=True):
        return dy * self._scale if need_dx else None

    def get_config(self):
        config = super().get_config()
        config.update({"scale": self.scale, "offset": self.offset})
        return config
