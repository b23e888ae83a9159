"""compile's ``loss_weights`` for a model of one output: tf.keras 2 multiplies the loss by it (given as a
list of one, a dict of one or a number), the loss it logs included. gpunet once took the argument and
ignored it. (Several outputs: models/multi_output.py weighs each output's loss.)"""
from .base import Loss


def one_weight(loss_weights):
    """The one output's weight from compile's ``loss_weights`` (None: 1.0)."""
    if loss_weights is None:
        return 1.0
    values = (list(loss_weights.values()) if isinstance(loss_weights, dict)
              else list(loss_weights) if isinstance(loss_weights, (list, tuple)) else [loss_weights])
    if len(values) != 1 or not isinstance(values[0], (int, float)) or isinstance(values[0], bool):
        raise ValueError(f"compile's loss_weights for a model of one output must be a number, or a list or dict "
                         f"of one number; received {loss_weights!r}.")
    return float(values[0])


class WeightedLoss(Loss):
    """``loss`` times ``weight``: its value and gradient. The fused steps take it as a loss of their own (its
    own compute between their kernels), not as the loss it wraps."""

    def __init__(self, loss, weight):
        self.unweighted, self.weight = loss, float(weight)
        self.name, self.reduction = loss.name, loss.reduction

    def __getattr__(self, name):  # (from_logits, label_smoothing...: the loss's own)
        if name == "unweighted":
            raise AttributeError(name)
        return getattr(self.unweighted, name)

    @property
    def sparse_labels(self):
        return self.unweighted.sparse_labels

    @property
    def labels_per_batch(self):
        return self.unweighted.labels_per_batch

    def compute(self, ops, y_true, y_pred, sample_weight=None):
        value, grad = self.unweighted.compute(ops, y_true, y_pred, sample_weight)
        return value * self.weight, grad * self.weight

    def batch_losses(self, ops, y_true, y_pred, sample_weight, batch_size):
        return [v * self.weight for v in self.unweighted.batch_losses(ops, y_true, y_pred, sample_weight, batch_size)]

    def per_sample(self, ops, y_true, y_pred):
        return self.unweighted.per_sample(ops, y_true, y_pred) * self.weight

    def _scale(self, size, w, shape):
        return self.unweighted._scale(size, w, shape) * self.weight
