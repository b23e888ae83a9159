"""tf.keras 2's ``MeanRelativeError(normalizer)``: the weighted mean of ``|y_true - y_pred| / normalizer``
(0 where the normalizer is 0, as ``tf.math.divide_no_nan``)::

    m = gpunet.metrics.MeanRelativeError(normalizer=[1, 3, 2, 3])
    m.update_state([1, 3, 2, 3], [2, 4, 6, 8])
    m.result()    # mean([1, 1/3, 2, 5/3]) = 1.25

A `Mean` (its float64 ``total`` and ``count``) that takes ``(y_true, y_pred)``, so it is also a compile
metric, as in tf.keras 2."""

from .. import backend as B
from .reduce import Mean


def _squeezed(labels, predictions):
    """tf.keras's ``remove_squeezable_dimensions``: the last axis of the one of higher rank dropped where the
    ranks differ by one and that axis has size 1."""
    diff = predictions.ndim - labels.ndim
    if diff == 1 and predictions.shape[-1] == 1:
        predictions = predictions[..., 0]
    elif diff == -1 and labels.shape[-1] == 1:
        labels = labels[..., 0]
    return labels, predictions


class MeanRelativeError(Mean):
    """The weighted mean of ``|y_true - y_pred| / normalizer`` (``normalizer``: values of the predictions'
    shape, or one that broadcasts to it)."""

    def __init__(self, normalizer, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        from ..autodiff.tensor import value_of
        ops = B.get_backend()
        # kept on the host, as get_config hands it back (tf.keras's evaluates its tensor to NumPy there)
        self.normalizer = ops.to_host(ops.asarray(value_of(normalizer))).astype(self.dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Add the relative errors of one batch (``sample_weight``: as `Mean`'s, against the errors)."""
        from ..autodiff.tensor import value_of
        ops = self.total.ops
        y_true = ops.asarray(value_of(y_true), dtype=self.dtype)
        y_pred = ops.asarray(value_of(y_pred), dtype=self.dtype)
        self.update(ops, y_true, y_pred, sample_weight)

    def update(self, ops, y_true, y_pred, sample_weight=None):
        """One batch of backend arrays (the training loop's call, as for any compile metric)."""
        y_true, y_pred = ops.asarray(y_true, dtype=self.dtype), ops.asarray(y_pred, dtype=self.dtype)
        # tf.keras's order of squeezes: y_pred against y_true (unless y_pred has one more axis of size > 1),
        # then y_pred against the normalizer, which keeps its squeeze (tf.keras reassigns it)
        if y_pred.ndim - y_true.ndim != 1 or y_pred.shape[-1] == 1:
            y_true, y_pred = _squeezed(y_true, y_pred)
        y_pred, self.normalizer = _squeezed(y_pred, self.normalizer)
        if tuple(y_pred.shape) != tuple(y_true.shape):
            raise ValueError(f"Shapes {tuple(y_pred.shape)} and {tuple(y_true.shape)} are incompatible")
        xp = ops.xp
        normalizer = ops.asarray(self.normalizer)
        zero = normalizer == 0
        errors = xp.where(zero, 0, xp.abs(y_true - y_pred) / xp.where(zero, 1, normalizer)).astype(self.dtype)
        super().update_state(errors, sample_weight)

    def get_config(self):
        config = super().get_config()
        config["normalizer"] = self.normalizer
        return config
