"""tf.keras 2's ``MeanTensor``: the element-wise weighted mean of the value tensors given so far::

    m = gpunet.metrics.MeanTensor()
    m.update_state([0, 1, 2, 3])
    m.update_state([4, 5, 6, 7])
    m.result().numpy()    # array([2., 3., 4., 5.], dtype=float32)

Every update must have the shape of the first (or ``shape``, when given). The sums are float64 (as gpunet's
other metric states: exact counts, summed over ranks by gpunet.distribute); the result has the metric's
``dtype``, on the host, with tf.keras's ``.numpy()``."""
from .. import backend as B
from .base import Metric
from .reduce import compile_refusal

_NOT_BUILT = ("MeanTensor does not have any value yet. Please call the MeanTensor instance or use "
              "`.update_state(value)` before retrieving the result.")


class MeanTensor(Metric):
    """The element-wise (weighted) mean of the values given to ``update_state(values, sample_weight=None)``;
    ``shape`` fixes the values' shape up front (else the first update's)."""

    def __init__(self, name="mean_tensor", dtype=None, shape=None):
        super().__init__(name=name, dtype=dtype)
        # (not Metric's `_total` / `_count`: those are the base class's running mean, reset as floats)
        self._shape, self._sums, self._weights = None, None, None
        if shape is not None:
            self._build(shape)

    def _build(self, shape):
        self._shape = tuple(int(d) for d in shape)
        self._sums = self.add_weight(name="total", shape=self._shape, initializer="zeros", dtype="float64")
        self._weights = self.add_weight(name="count", shape=self._shape, initializer="zeros", dtype="float64")

    @property
    def total(self):
        """The weighted sums (a state variable), None before the shape is known."""
        return self._sums

    @property
    def count(self):
        """The sums of the weights (a state variable), None before the shape is known."""
        return self._weights

    def update_state(self, values, sample_weight=None):
        """Add ``values`` element-wise, weighted by ``sample_weight`` (a scalar, or a shape that broadcasts to
        the values after tf.keras's squeeze or expansion of its last axis)."""
        from ..autodiff.tensor import value_of
        ops = B.get_backend()
        values = ops.asarray(value_of(values), dtype=self.dtype)
        if self._shape is None:
            self._build(values.shape)
        elif tuple(values.shape) != self._shape:
            raise ValueError("MeanTensor input values must always have the same shape. Expected shape (set during "
                             f"the first call): {self._shape}. Got: {tuple(values.shape)}.")
        self._variables_on(ops)
        xp = ops.xp
        weights = xp.ones_like(values)
        if sample_weight is not None:
            weights = ops.asarray(value_of(sample_weight), dtype=self.dtype)
            if weights.ndim and weights.ndim == values.ndim + 1 and weights.shape[-1] == 1:
                weights = weights[..., 0]
            elif weights.ndim and weights.ndim == values.ndim - 1:
                weights = weights[..., None]
            if weights.ndim not in (0, values.ndim) or any(
                    w not in (1, v) for w, v in zip(weights.shape, values.shape)):
                # (tf.keras then averages the values over the weights' missing axes, and fails to add them
                # to sums of the first shape: the error is raised here, saying why)
                raise ValueError(f"MeanTensor: sample_weight of shape {tuple(weights.shape)} cannot be broadcast to "
                                 f"the values' shape {tuple(values.shape)}")
            weights = xp.broadcast_to(weights, values.shape)
            values = values * weights
        self._sums.assign_add(values)
        self._weights.assign_add(weights)

    def update(self, ops, y_true, y_pred, sample_weight=None):
        raise ValueError(compile_refusal(self))

    def result(self):
        """The element-wise mean (0 where no weight was given), a host array of the metric's dtype."""
        if self._shape is None:
            raise ValueError(_NOT_BUILT)
        ops = self._sums.ops
        xp = ops.xp
        count = self._weights.value
        mean = xp.where(count == 0, 0.0, self._sums.value / xp.where(count == 0, 1.0, count))
        return B.resolve("numpy").eager(ops.to_host(mean).astype(self.dtype))  # (on the host, with .numpy())

    def __call__(self, values, sample_weight=None):
        """Update with ``values``, then return the result (tf.keras's ``metric(values)``)."""
        self.update_state(values, sample_weight)
        return self.result()
