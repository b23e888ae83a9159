"""Neural-network ops on tensors: activations (the Backend's own forward and backward,
so the same formulas as the built-in layers; ``gpunet.activations.relu(tensor)`` and the
others come here) and Keras 2's backend cross-entropies.

``relu`` passes no gradient at 0 (TensorFlow's subgradient), ``relu(max_value=m)``
passes it inside ``[0, m]``; the other activations are differentiable.
"""
from .. import backend as B
from .tensor import Tensor, lift, raw, result
from . import elementwise as E
from . import reductions as R


def activation(name, x, **params):
    """The Backend activation ``name`` (``"relu"``, ``"softmax"``, ...) applied to ``x``."""
    t = lift(x)
    ops = B.get_backend()
    data = t.data
    if data.dtype.kind != "f":
        data = data.astype(B.floatx())
    if data.ndim == 0:
        # The Backend's activations work in place (``xp.exp(y, out=y)``), which a 0-d array's
        # operations (NumPy scalars) refuse: K.sigmoid(K.mean(x)) runs on one value of shape (1,).
        out = ops.activation_forward(name, data.reshape(1), params)
        return result(out.reshape(()), (t, lambda g: ops.activation_backward(
            name, g.reshape(1), data.reshape(1), out, params).reshape(())))
    out = ops.activation_forward(name, data, params)
    return result(out, (t, lambda g: ops.activation_backward(name, g, data, out, params)))


def binary_crossentropy(target, output, from_logits=False):
    """Keras 2's ``K.binary_crossentropy``: elementwise (not averaged over the last axis).
    Probabilities are clipped to ``[eps, 1 - eps]`` and ``eps`` is added inside the logs, as
    tf.keras 2 does; with ``from_logits`` it is TensorFlow's stable
    ``max(x, 0) - x * z + log(1 + exp(-|x|))``."""
    if from_logits:
        # Written as tf.nn.sigmoid_cross_entropy_with_logits is, with one where for both pieces:
        # maximum(x, 0) and -abs(x) would take their subgradients (1 and 0) at x == 0 and give
        # 1 - z there instead of the derivative sigmoid(0) - z.
        x = lift(output)
        non_negative = E.greater_equal(x, 0.0)
        relu_x = E.where(non_negative, x, E.zeros_like(x))
        minus_abs = E.where(non_negative, E.negative(x), x)
        stable = E.log(E.add(1.0, E.exp(minus_abs)))
        return E.add(E.subtract(relu_x, E.multiply(x, target)), stable)
    eps = B.epsilon()
    p = E.clip(output, eps, 1.0 - eps)
    positive = E.multiply(target, E.log(E.add(p, eps)))
    negative = E.multiply(E.subtract(1.0, target), E.log(E.add(E.subtract(1.0, p), eps)))
    return E.negative(E.add(positive, negative))


def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """Keras 2's ``K.categorical_crossentropy``: ``-sum(target * log(output), axis)`` with
    ``output`` renormalized to sum to 1 and clipped to ``[eps, 1 - eps]``; with
    ``from_logits``, ``-sum(target * log_softmax(output), axis)``."""
    if from_logits:
        return E.negative(R.sum(E.multiply(target, log_softmax(output, axis=axis)), axis=axis))
    eps = B.epsilon()
    p = E.divide(output, R.sum(output, axis=axis, keepdims=True))
    p = E.clip(p, eps, 1.0 - eps)
    return E.negative(R.sum(E.multiply(target, E.log(p)), axis=axis))


def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """`categorical_crossentropy` for integer class labels ``target``."""
    out = lift(output)
    labels = raw(target)
    if labels.ndim == out.ndim and labels.shape[-1] == 1:
        labels = labels.reshape(labels.shape[:-1])
    classes = out.shape[axis]
    one_hot = B.get_backend().xp.eye(classes, dtype=out.dtype)[labels.astype("int64")]
    if axis not in (-1, out.ndim - 1):
        one_hot = B.get_backend().xp.moveaxis(one_hot, -1, axis)
    return categorical_crossentropy(one_hot, out, from_logits=from_logits, axis=axis)


def l2_normalize(x, axis=None):
    """``x / sqrt(max(sum(x ** 2, axis), 1e-12))``, as ``tf.linalg.l2_normalize`` (``axis=None``:
    all values); the floor passes no gradient to the norm where it is active."""
    squares = R.sum(E.square(x), axis=axis, keepdims=True)
    return E.divide(x, E.sqrt(E.maximum(squares, 1e-12)))


def one_hot(indices, num_classes):
    """Keras 2's ``K.one_hot``: float32 one-hot vectors along a new last axis; an index outside
    ``[0, num_classes)`` gives zeros (as ``tf.one_hot``). A constant."""
    labels = lift(indices).data.astype("int64")
    classes = B.get_backend().xp.arange(int(num_classes))
    return Tensor((labels[..., None] == classes).astype("float32"))


def log_softmax(x, axis=-1):
    return activation("log_softmax", x, axis=axis)


def loss_values(loss, y_true, y_pred):
    """The per-sample values of a gpunet `Loss` (``losses.mse(...)`` called on tensors), with the
    loss's own gradient for ``y_pred``. ``y_true`` is data: it gets no gradient."""
    truth, pred = lift(y_true), lift(y_pred)
    if truth.requires_grad:  # (the Keras guide's endpoint layer passes a layer's output as y_true)
        composed = _composed(loss, truth, pred)
        if composed is None:
            raise ValueError(f"gpunet's {loss.name} differentiates with respect to y_pred only, but y_true needs a "
                             f"gradient here; write the loss with gpunet.ops (K.*) functions instead.")
        return composed
    ops, yt, yp = loss._arrays(truth.data, pred.data)
    values, grad = loss._forward(ops, yt, yp, pred.requires_grad)
    # each value reduces y_pred over the loss's axis (the last unless it has another): the upstream
    # gradient comes back along that axis
    axis = getattr(loss, "axis", -1)

    def vjp(g):
        if g.ndim == grad.ndim - 1:
            return grad * ops.xp.expand_dims(g, axis % grad.ndim if isinstance(axis, int) else -1)
        return grad * g.reshape(tuple(g.shape) + (1,) * (grad.ndim - g.ndim))
    return result(values, (pred, vjp))


def _composed(loss, truth, pred):
    """The per-sample values of the common losses written with differentiable ops, for a ``y_true`` that
    needs a gradient too (None for the others): the same formulas as the losses' own."""
    kind, axis = type(loss).__name__, getattr(loss, "axis", -1)
    if getattr(loss, "label_smoothing", 0):
        return None
    if kind == "BinaryCrossentropy":
        return R.mean(binary_crossentropy(truth, pred, loss.from_logits), axis=axis)
    if kind == "CategoricalCrossentropy":
        return categorical_crossentropy(truth, pred, loss.from_logits, axis=axis)
    if kind in ("MeanSquaredError", "MeanAbsoluteError"):
        diff = E.subtract(pred, truth)
        return R.mean(E.square(diff) if kind == "MeanSquaredError" else E.abs(diff), axis=-1)
    return None


__all__ = ["activation", "binary_crossentropy", "categorical_crossentropy",
           "sparse_categorical_crossentropy", "l2_normalize", "one_hot", "loss_values", "Tensor"]
