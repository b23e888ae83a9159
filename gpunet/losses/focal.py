"""Focal crossentropies (Lin et al., 2018, https://arxiv.org/abs/1708.02002), as tf.keras 2.21
computes them (``tf_keras/src/losses.py`` and ``backend.py``).

Unlike gpunet's `BinaryCrossentropy` (Keras 3's ``log(clip(p))``), `BinaryFocalCrossentropy`
keeps tf.keras 2's ``log(clip(p) + eps)``: at probabilities of exactly 0 or 1 the two differ by
``log(2)``, and the focal losses exist in gpunet to reproduce tf.keras models' values. The focal
factor is taken from the unclipped ``y_pred`` (or its sigmoid), as tf.keras does, so it keeps a
gradient where the clip removes the crossentropy's.

On a GPU the binary loss without label smoothing has a loss kernel of its own
(kernels/focal_loss.cu, `backend.step_kernels.loss_kernel`); the step plan runs the others' ``compute``
between its kernels (`step_kernels.generic_loss_kernel`), and on NumPy the fused step does likewise.
"""
import numbers
import warnings

from .. import backend as B
from ..backend.fp_quiet import fp_quiet
from .base import Loss, along_axis
from .crossentropy import _check_axis, _mean_last


def _real(owner, name, value):
    """``value`` as a float, or a ValueError naming the argument (tf.keras fails later, inside TensorFlow)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{owner}: {name} must be a real number, received {value!r} "
                         f"of type {type(value).__name__}")
    return float(value)


def _alpha(owner, alpha):
    """A float, or a list of floats (one per class: tf.keras multiplies it into the last axis)."""
    if hasattr(alpha, "tolist") and not isinstance(alpha, numbers.Real):  # an array of weights
        alpha = alpha.tolist()
    if isinstance(alpha, (list, tuple)):
        if not alpha:
            raise ValueError(f"{owner}: alpha must be a number or a list of one number per class, received []")
        return [_real(owner, "each value of alpha", a) for a in alpha]
    return _real(owner, "alpha (a number or a list of one number per class)", alpha)


class BinaryFocalCrossentropy(Loss):
    """Binary crossentropy scaled by the focal factor ``(1 - p_t) ** gamma``, averaged over ``axis``.

    ``p_t = y * p + (1 - y) * (1 - p)`` is the probability given to the label (``p = sigmoid(z)``
    when ``from_logits=True``), so confident right answers weigh less. ``gamma=0`` gives the plain
    crossentropy (tf.keras 2's form: ``log(clip(p) + eps)``). With ``apply_class_balancing`` each
    value is also weighted ``alpha`` where ``y = 1`` and ``1 - alpha`` where ``y = 0``.
    ``label_smoothing`` squeezes the labels towards 0.5 first: ``y * (1 - ls) + 0.5 * ls``::

        loss = BinaryFocalCrossentropy(gamma=3.0, from_logits=True)
        loss([[0, 1], [0, 0]], [[-18.6, 0.51], [2.94, -12.8]])   # 0.647
    """

    name = "binary_focal_crossentropy"

    def __init__(self, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0,
                 axis=-1, reduction="auto", name="binary_focal_crossentropy"):
        super().__init__(reduction, name)
        owner = type(self).__name__
        self.apply_class_balancing = bool(apply_class_balancing)
        self.alpha = _real(owner, "alpha", alpha)
        self.gamma = _real(owner, "gamma", gamma)
        self.from_logits = bool(from_logits)
        self.label_smoothing = _real(owner, "label_smoothing", label_smoothing)
        self.axis = _check_axis(axis)

    @along_axis
    def _forward(self, ops, y_true, y_pred, need_grad):
        xp = ops.xp
        dt = y_pred.dtype.type  # constants of y_pred's type: float32 rounds as TensorFlow's float32 ops do
        y = y_true
        if self.label_smoothing:
            ls = dt(self.label_smoothing)
            y = y * (dt(1.0) - ls) + dt(0.5) * ls
        not_y = 1.0 - y
        s = ops.sigmoid(y_pred) if self.from_logits else y_pred
        p_t = y * s
        p_t += not_y * (1.0 - s)
        miss = 1.0 - p_t  # 1 - p_t, the focal factor's base
        focal = xp.power(miss, dt(self.gamma))
        eps = B.epsilon()
        if self.from_logits:  # tf.nn.sigmoid_cross_entropy_with_logits, in its order of operations
            z = y_pred
            bce = xp.maximum(z, 0) - z * y
            bce += xp.log1p(xp.exp(-xp.abs(z)))
        else:
            c = xp.minimum(xp.maximum(y_pred, eps), 1.0 - eps)
            bce = y * xp.log(c + eps)
            bce += not_y * xp.log((1.0 - c) + eps)
            xp.negative(bce, out=bce)
        values = focal * bce
        weight = None
        if self.apply_class_balancing:
            weight = y * dt(self.alpha) + not_y * (dt(1.0) - dt(self.alpha))
            values = weight * values
        grad = None
        if need_grad:
            if self.from_logits:
                dbce = s - y
            else:  # the clip passes no gradient outside [eps, 1 - eps] (TensorFlow's clip_by_value)
                dbce = not_y / ((1.0 - c) + eps) - y / (c + eps)
                dbce *= (y_pred >= eps) & (y_pred <= 1.0 - eps)
            grad = focal * dbce
            if self.gamma:  # gamma = 0: no focal term (TensorFlow's pow gradient makes 0 * 0 ** -1 = NaN there)
                with fp_quiet(xp, divide="ignore", invalid="ignore"):  # (NumPy's 0 ** negative)
                    # d focal / ds = gamma * miss ** (gamma - 1) * (1 - 2y): unbounded where miss = 0 and
                    # gamma < 1, a true infinity in probability space (NaN or inf, as TensorFlow gives)
                    dfocal = xp.power(miss, dt(self.gamma - 1.0))
                    dfocal *= dt(self.gamma) * (1.0 - 2.0 * y)
                    if self.from_logits:
                        # times s (1 - s), which reaches 0 first: a saturated sigmoid's limit is 0, not
                        # TensorFlow's inf * 0 = NaN (which would end training at gamma < 1)
                        dfocal *= s * (1.0 - s)
                        dfocal = xp.where(miss > 0, dfocal, 0.0)
                    grad += dfocal * bce
            if weight is not None:
                grad *= weight
            grad *= 1.0 / y_pred.shape[-1]
        return _mean_last(xp, values), grad

    def get_config(self):
        """tf.keras 2's config: ``reduction``, ``name``, then the loss's own arguments."""
        config = super().get_config()
        config.update(apply_class_balancing=self.apply_class_balancing, alpha=self.alpha, gamma=self.gamma,
                      from_logits=self.from_logits, label_smoothing=self.label_smoothing, axis=self.axis)
        return config


class CategoricalFocalCrossentropy(Loss):
    """``sum(alpha * (1 - q) ** gamma * -y * log(q))`` over ``axis``, for one-hot (or soft) labels ``y``.

    ``q`` is ``y_pred`` normalized to sum to 1 over ``axis`` (after a softmax when
    ``from_logits=True``) and clipped to ``[eps, 1 - eps]``. ``alpha`` is a number or one
    weight per class; as in tf.keras a list multiplies the last axis, whatever ``axis`` is.
    ``label_smoothing`` mixes the labels with the uniform distribution over the last axis::

        loss = CategoricalFocalCrossentropy()
        loss([[0., 1., 0.], [0., 0., 1.]], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]])   # 0.2332
    """

    name = "categorical_focal_crossentropy"

    def __init__(self, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1, reduction="auto",
                 name="categorical_focal_crossentropy"):
        super().__init__(reduction, name)
        owner = type(self).__name__
        self.alpha = _alpha(owner, alpha)
        self.gamma = _real(owner, "gamma", gamma)
        self.from_logits = bool(from_logits)
        self.label_smoothing = _real(owner, "label_smoothing", label_smoothing)
        self.axis = _check_axis(axis)

    def _alpha_array(self, ops, y_pred):
        dt = y_pred.dtype.type
        if not isinstance(self.alpha, list):
            return dt(self.alpha)
        classes = y_pred.shape[-1]
        if len(self.alpha) not in (1, classes):
            raise ValueError(f"{type(self).__name__}: alpha has {len(self.alpha)} values but y_pred's last axis has "
                             f"{classes} (y_pred.shape={tuple(y_pred.shape)}): expected one value per class.")
        return ops.asarray(self.alpha, dtype=y_pred.dtype)

    # Not `along_axis`: tf.keras multiplies a list alpha, and takes the smoothing's class count, along
    # the last axis even when ``axis`` is another; the reductions below follow ``axis`` in place.
    def _forward(self, ops, y_true, y_pred, need_grad):
        xp = ops.xp
        dt = y_pred.dtype.type
        if not -y_pred.ndim <= self.axis < y_pred.ndim:
            raise ValueError(f"{type(self).__name__}: axis={self.axis!r} is out of range for y_pred of rank "
                             f"{y_pred.ndim}")
        ax = self.axis % y_pred.ndim
        if y_pred.shape[-1] == 1:
            warnings.warn("In loss categorical_focal_crossentropy, expected y_pred.shape to be (batch_size, "
                          f"num_classes) with num_classes > 1. Received: y_pred.shape={tuple(y_pred.shape)}. "
                          "Consider using 'binary_crossentropy' if you only have 2 classes.", SyntaxWarning,
                          stacklevel=3)
        alpha = self._alpha_array(ops, y_pred)
        y = y_true
        if self.label_smoothing:
            ls = dt(self.label_smoothing)
            y = y * (dt(1.0) - ls) + ls / dt(y_true.shape[-1])
        s = ops.softmax(y_pred, axis=ax) if self.from_logits else y_pred
        total = s.sum(axis=ax, keepdims=True)
        q = s / total
        eps = B.epsilon()
        c = xp.clip(q, eps, 1.0 - eps)
        log_c = xp.log(c)
        cce = -y * log_c
        miss = 1.0 - c
        weighted = xp.power(miss, dt(self.gamma)) * alpha
        values = (weighted * cce).sum(axis=ax)
        grad = None
        if need_grad:
            # d/dc of alpha * (1 - c) ** gamma * -y log(c); the clip passes nothing outside [eps, 1 - eps]
            dc = -(y / c) * weighted
            if self.gamma:
                dc -= (dt(self.gamma) * xp.power(miss, dt(self.gamma - 1.0)) * alpha) * cce
            dc *= (q >= eps) & (q <= 1.0 - eps)
            # through q = s / sum(s): the normalization's own gradient included, as TensorFlow's tape has it
            grad = dc - (dc * q).sum(axis=ax, keepdims=True)
            grad /= total
            if self.from_logits:
                grad = ops.softmax_backward(grad, None, s, axis=ax)
        return values, grad

    def get_config(self):
        """tf.keras 2's config: ``reduction``, ``name``, then the loss's own arguments."""
        config = super().get_config()
        config.update(alpha=self.alpha, gamma=self.gamma, from_logits=self.from_logits,
                      label_smoothing=self.label_smoothing, axis=self.axis)
        return config

