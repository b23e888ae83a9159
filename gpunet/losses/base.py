"""`Loss`: per-sample values and their gradient, reduced the way Keras reduces them."""
from .. import backend as B
from ..autodiff.tensor import is_tensor
from ..autodiff.nn import loss_values

# Keras 2 names ("auto" = "sum_over_batch_size") plus Keras 3's; None is Keras 3's "none".
REDUCTIONS = ("auto", "sum_over_batch_size", "mean", "sum", "mean_with_sample_weight", "none")


class Loss:
    """Base class of gpunet's losses (Keras's ``keras.losses.Loss``).

    Subclasses implement ``_forward(ops, y_true, y_pred, need_grad)`` returning
    ``(values, grad)``: the per-sample losses (``y_pred.shape[:-1]``) and, when
    asked, their derivative with respect to ``y_pred`` (``y_pred``'s shape); or, as in
    Keras, ``call(y_true, y_pred)`` on tensors (`gpunet.ops` / ``K.*``), whose gradient
    then comes from the tape.

    The training loop calls `compute`; users call the loss like Keras::

        bce = BinaryCrossentropy(from_logits=True)
        bce([[0.0], [1.0]], [[-2.0], [3.0]])       # 0-d backend array
    """

    name = None
    #: True when ``y_true`` holds integer class indices (shape ``y_pred.shape[:-1]``).
    sparse_labels = False
    #: True when what a sample's label means depends on the rest of its batch (Keras's hinge
    #: losses turn 0/1 labels into -1/1 only where every label of the batch is 0 or 1): then
    #: `batch_losses` prepares the labels batch by batch (`_batch_labels`).
    labels_per_batch = False
    #: True for `AddedLossesOnly` (``compile(loss=None)``): fit needs no targets.
    takes_no_targets = False

    def __init__(self, reduction="auto", name=None):
        if reduction is None:
            reduction = "none"
        if reduction not in REDUCTIONS:
            raise ValueError(f"Invalid reduction {reduction!r} for {type(self).__name__}. "
                             f"Expected one of {list(REDUCTIONS)}.")
        self.reduction = reduction
        if name is not None:
            self.name = name
        elif self.name is None:  # a user's subclass: Keras names it after the class
            from ..layers.naming import snake_case
            self.name = snake_case(type(self).__name__)

    # ---- per-sample values ------------------------------------------------------------
    def _forward(self, ops, y_true, y_pred, need_grad):
        if type(self).call is not Loss.call:  # a Keras-style subclass: its call() runs on the tape
            from .function_loss import FunctionLoss
            return FunctionLoss(self.call)._forward(ops, y_true, y_pred, need_grad)
        raise NotImplementedError(f"{type(self).__name__} defines neither call(y_true, y_pred) nor _forward.")

    def per_sample(self, ops, y_true, y_pred):
        """Per-sample losses (``y_pred.shape[:-1]``) of backend arrays of matching shapes."""
        return self._forward(ops, self._prepare_true(ops, y_true, y_pred), y_pred, False)[0]

    def _prepare_true(self, ops, y_true, y_pred):
        if y_true.dtype != y_pred.dtype:
            y_true = y_true.astype(y_pred.dtype)
        return y_true

    # ---- reduction: what the training loop calls ---------------------------------------
    def compute(self, ops, y_true, y_pred, sample_weight=None):
        """``(loss, dy_pred)``: the reduced batch loss (0-d backend array) and its exact
        gradient with respect to ``y_pred``. ``sample_weight`` has shape ``(N,)`` or None.

        The default reduction is Keras's ``sum_over_batch_size``: the sum of the weighted
        per-sample losses divided by their number (not by the sum of the weights).
        """
        values, grad = self._forward(ops, self._prepare_true(ops, y_true, y_pred), y_pred, True)
        w = None
        if sample_weight is not None:
            w = _expand(sample_weight, values.ndim).astype(y_pred.dtype, copy=False)
            values = values * w
            grad *= w[..., None]
        scale = self._scale(values.size, w, values.shape)
        grad *= scale
        return ops.sum(values) * scale, grad

    def batch_losses(self, ops, y_true, y_pred, sample_weight, batch_size):
        """`compute`'s loss for each consecutive batch of ``batch_size`` samples (the last may
        be shorter), as a list of floats. Per-sample values do not depend on the batch, so
        an epoch's worth of outputs takes a few calls instead of a few per batch. A Keras-style
        subclass's ``call`` may mix a batch's samples: it runs batch by batch."""
        if type(self).call is not Loss.call:
            return [float(self.compute(ops, y_true[lo:lo + batch_size], y_pred[lo:lo + batch_size],
                                       None if sample_weight is None else sample_weight[lo:lo + batch_size])[0])
                    for lo in range(0, y_pred.shape[0], batch_size)]
        y_true = self._prepare_true(ops, y_true, y_pred)
        if self.labels_per_batch:
            y_true = self._batch_labels(ops, y_true, batch_size)
        values = self._forward(ops, y_true, y_pred, False)[0]
        n = values.shape[0]
        if n != y_pred.shape[0]:
            raise ValueError(f"{self.name} with axis={getattr(self, 'axis', -1)!r} reduces the batch axis: its values "
                             "are not per sample, so it cannot be the loss of a model (use a later axis).")
        if n == 0:
            return []
        w = None
        if sample_weight is not None:
            w = _expand(sample_weight, values.ndim).astype(y_pred.dtype, copy=False)
            values = values * w
        per_sample = values.size // n
        if w is None:  # one scale per batch size
            full, rest = divmod(n, batch_size)
            scales = [self._scale(batch_size * per_sample, None, None)] * full
            if rest:
                scales.append(self._scale(rest * per_sample, None, None))
        else:
            scales = [self._scale((min(n, lo + batch_size) - lo) * per_sample, w[lo:lo + batch_size], None)
                      for lo in range(0, n, batch_size)]
        sums = ops.batch_sums(values, batch_size)
        # float32 sums times float32 scales: what `compute`'s ``sum(values) * scale`` rounds to
        return ops.to_host(sums * ops.asarray(scales, dtype=sums.dtype)).tolist()

    def _batch_labels(self, ops, y_true, batch_size):
        """``y_true`` as each batch of ``batch_size`` rows, passed alone, would be read (for
        `labels_per_batch` losses; their `_forward` must leave labels so prepared unchanged)."""
        return y_true

    def _scale(self, size, w, shape):
        if self.reduction == "sum":
            return 1.0
        if self.reduction == "mean_with_sample_weight" and w is not None:
            total = float(w.sum()) * (size / max(w.size, 1))
            return 1.0 / total if total else 0.0
        return 1.0 / size if size else 0.0

    # ---- Keras-style calls -----------------------------------------------------------------
    def _arrays(self, y_true, y_pred):
        ops = B.get_backend()
        y_pred = ops.asarray(y_pred)
        if y_pred.dtype.kind != "f":
            y_pred = ops.asarray(y_pred, dtype=B.floatx())
        if y_pred.ndim == 0:
            raise ValueError(f"{self.name} expects y_pred with at least one dimension, received a scalar.")
        y_true = ops.asarray(y_true)
        if self.sparse_labels:
            y_true = _check_labels(ops, self.name, y_true, y_pred, getattr(self, "axis", -1),
                                   getattr(self, "ignore_class", None))
        else:
            if tuple(y_true.shape) != tuple(y_pred.shape):
                if y_true.size != y_pred.size:
                    raise ValueError(f"{self.name}: y_true and y_pred must have the same shape, received "
                                     f"y_true.shape={tuple(y_true.shape)}, y_pred.shape={tuple(y_pred.shape)}")
                y_true = y_true.reshape(y_pred.shape)  # Keras squeezes/expands (N,) against (N, 1)
            y_true = y_true.astype(y_pred.dtype, copy=False)
        return ops, y_true, y_pred

    def call(self, y_true, y_pred):
        """Per-sample losses as a backend array (Keras's ``Loss.call``); on gpunet tensors, a
        tensor whose gradient for ``y_pred`` is this loss's own (so user code can build on it)."""
        if is_tensor(y_true) or is_tensor(y_pred):
            return loss_values(self, y_true, y_pred)
        ops, y_true, y_pred = self._arrays(y_true, y_pred)
        return self._forward(ops, y_true, y_pred, False)[0]

    def __call__(self, y_true, y_pred, sample_weight=None):
        """The reduced loss (0-d backend array; per-sample values when ``reduction="none"``); on
        gpunet tensors a tensor, so a loss object can be used inside a custom loss."""
        if is_tensor(y_true) or is_tensor(y_pred):
            from .function_loss import reduce_values
            return reduce_values(self, loss_values(self, y_true, y_pred), sample_weight)
        ops, y_true, y_pred = self._arrays(y_true, y_pred)
        sw = None
        if sample_weight is not None:
            sw = ops.asarray(sample_weight, dtype=y_pred.dtype)
            batch = _values_shape(self, y_pred)
            if sw.ndim == len(batch) + 1 and sw.shape[-1] == 1:
                sw = sw.reshape(sw.shape[:-1])  # Keras squeezes (N, 1) weights against (N,) losses
            if sw.ndim > len(batch) or tuple(sw.shape) != batch[:sw.ndim]:
                if sw.size != 1:
                    raise ValueError(f"{self.name}: sample_weight of shape {tuple(sw.shape)} does not match the "
                                     f"per-sample losses of shape {batch}.")
                sw = ops.full(batch, float(sw.reshape(())), y_pred.dtype)
        if self.reduction == "none":
            values = self._forward(ops, y_true, y_pred, False)[0]
            return ops.eager(values if sw is None else values * _expand(sw, values.ndim))
        return ops.eager(self.compute(ops, y_true, y_pred, sw)[0])  # (with tf.keras 2's .numpy())

    # ---- config ------------------------------------------------------------------------------
    def get_config(self):
        """Keras's config: ``name``, ``reduction`` and the loss's own arguments."""
        return {"reduction": self.reduction, "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _expand(w, ndim):
    """Sample weights of shape (N,) broadcast against per-sample losses of rank ``ndim``."""
    return w.reshape(tuple(w.shape) + (1,) * (ndim - w.ndim)) if ndim > w.ndim else w


def _check_labels(ops, name, y_true, y_pred, axis=-1, ignore_class=None):
    """Integer class labels of shape ``y_pred``'s without its class ``axis``, checked against the
    class count (a label equal to ``ignore_class`` may lie outside it)."""
    batch = _shape_without(y_pred.shape, axis)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true.reshape(y_true.shape[:-1])
    if tuple(y_true.shape) != batch:
        raise ValueError(f"{name} expects integer labels of shape {batch} for y_pred of shape "
                         f"{tuple(y_pred.shape)}, received y_true of shape {tuple(y_true.shape)}")
    labels = y_true.astype("int64", copy=False)
    if y_true.dtype.kind == "f" and bool((labels != y_true).any()):
        raise ValueError(f"{name} expects integer class labels, received non-integer values.")
    checked = labels if ignore_class is None else labels[labels != ignore_class]
    classes = y_pred.shape[axis]
    if checked.size and (int(checked.min()) < 0 or int(checked.max()) >= classes):
        raise ValueError(f"{name} labels must lie in [0, {classes - 1}] for {classes} classes, received "
                         f"values from {int(checked.min())} to {int(checked.max())}")
    return labels


def _shape_without(shape, axis):
    axis = axis % len(shape) if -len(shape) <= axis < len(shape) else len(shape) - 1
    return tuple(shape[:axis]) + tuple(shape[axis + 1:])


def _values_shape(loss, y_pred):
    """The shape of ``loss``'s per-sample values for ``y_pred``: without its reduced axis."""
    return _shape_without(tuple(y_pred.shape), getattr(loss, "axis", -1))


def along_axis(forward):
    """``_forward`` of a loss with Keras's ``axis`` argument, reducing that axis of ``y_pred``
    (and of ``y_true``, unless it holds sparse labels): the axis is moved last for ``forward``
    and the gradient moved back, as TensorFlow transposes it."""
    def wrapped(loss, ops, y_true, y_pred, need_grad):
        axis = loss.axis
        if not -y_pred.ndim <= axis < y_pred.ndim:
            raise ValueError(f"{type(loss).__name__}: axis={axis!r} is out of range for y_pred of rank {y_pred.ndim}")
        axis %= y_pred.ndim
        if axis == y_pred.ndim - 1:
            return forward(loss, ops, y_true, y_pred, need_grad)
        xp = ops.xp
        if not loss.sparse_labels:
            y_true = xp.moveaxis(y_true, axis, -1)
        values, grad = forward(loss, ops, y_true, xp.moveaxis(y_pred, axis, -1), need_grad)
        if grad is not None:
            grad = xp.ascontiguousarray(xp.moveaxis(grad, -1, axis))
        return values, grad
    wrapped.__doc__ = forward.__doc__
    return wrapped


class AddedLossesOnly(Loss):
    """What ``compile(loss=None)`` trains on: no compiled loss, so the model's loss is only what
    its layers add (``add_loss``: layers/added_losses.py), and ``y`` is not needed. Its value is 0
    and its gradient with respect to the output is 0."""

    name = "loss"
    takes_no_targets = True

    @classmethod
    def checked(cls, metrics, weighted_metrics):
        """compile(loss=None)'s loss; metrics need targets, so there are none (Keras allows loss=None for
        models that add losses)."""
        if metrics or weighted_metrics:
            raise ValueError("compile(loss=None) trains on the losses the model's layers add (add_loss) and takes no "
                             f"targets, so it takes no metrics either; received metrics={metrics!r}"
                             f"{'' if not weighted_metrics else f', weighted_metrics={weighted_metrics!r}'}.")
        return cls()

    def compute(self, ops, y_true, y_pred, sample_weight=None):
        return ops.zeros((), y_pred.dtype), ops.zeros(y_pred.shape, y_pred.dtype)

    def batch_losses(self, ops, y_true, y_pred, sample_weight, batch_size):
        return [0.0] * ((y_pred.shape[0] + batch_size - 1) // batch_size)

    def get_config(self):
        return None
