"""Keras loss functions.

Contract used by the training loop: ``get(identifier)`` returns a `Loss` with
``name`` (Keras's function name) and ``compute(ops, y_true, y_pred, sample_weight)``
returning ``(loss, dy_pred)``: the batch loss with Keras's default reduction
(sum of weighted per-sample losses divided by the batch size) as a 0-d backend
array, and its gradient with respect to ``y_pred``. ``loss(y_true, y_pred)``
is the Keras-style call returning that scalar.
"""
from . import backend as B


class Loss:
    name = None

    def per_sample(self, ops, y_true, y_pred):
        """Per-sample losses, shape (N,)."""
        raise NotImplementedError

    def per_sample_grad(self, ops, y_true, y_pred):
        """d(per-sample loss)/d(y_pred), same shape as y_pred."""
        raise NotImplementedError

    def compute(self, ops, y_true, y_pred, sample_weight=None):
        n = y_pred.shape[0]
        losses = self.per_sample(ops, y_true, y_pred)
        grad = self.per_sample_grad(ops, y_true, y_pred)
        if sample_weight is None:
            return ops.sum(losses) / n, grad * (1.0 / n)
        w = sample_weight.reshape((n,) + (1,) * (grad.ndim - 1))
        return ops.sum(losses * sample_weight) / n, grad * (w / n)

    def __call__(self, y_true, y_pred, sample_weight=None):
        ops = B.get_backend()
        y_pred = ops.asarray(y_pred, dtype=B.floatx())
        y_true = ops.asarray(y_true, dtype=y_pred.dtype).reshape(y_pred.shape)
        sw = None if sample_weight is None else ops.asarray(sample_weight, dtype=y_pred.dtype)
        return self.compute(ops, y_true, y_pred, sw)[0]

    def get_config(self):
        return {"name": self.name}


class BinaryCrossentropy(Loss):
    name = "binary_crossentropy"

    def per_sample(self, ops, y_true, y_pred):
        xp, eps = ops.xp, B.epsilon()
        p = xp.clip(y_pred, eps, 1 - eps)
        return -(y_true * xp.log(p + eps) + (1 - y_true) * xp.log(1 - p + eps)).mean(axis=-1)

    def per_sample_grad(self, ops, y_true, y_pred):
        xp, eps = ops.xp, B.epsilon()
        p = xp.clip(y_pred, eps, 1 - eps)
        inside = (y_pred > eps) & (y_pred < 1 - eps)
        g = (-(y_true / (p + eps)) + (1 - y_true) / (1 - p + eps)) * inside
        return g / y_pred.shape[-1]


_NAMES = {"binary_crossentropy": BinaryCrossentropy}


def get(identifier):
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str) and identifier in _NAMES:
        return _NAMES[identifier]()
    raise ValueError(f"Unknown loss {identifier!r}. Valid names: {sorted(_NAMES)}")


def serialize(loss):
    return loss.name
