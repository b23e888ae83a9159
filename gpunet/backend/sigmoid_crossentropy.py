"""Sigmoid + binary cross-entropy fused for NumPy's plans (dense_plan.py, graph_plan.py): the gradient with
respect to the logits is ``(p - y) / n``, 0 where the loss clips ``p``, what the chain rule through the clipped
loss and the sigmoid gives without either backward pass."""
import numpy

from ..losses.crossentropy import BinaryCrossentropy

_minimum, _putmask, _add, _subtract, _multiply = numpy.minimum, numpy.putmask, numpy.add, numpy.subtract, numpy.multiply
_negative, _exp, _reciprocal, _logical_or, _less, _greater = (numpy.negative, numpy.exp, numpy.reciprocal,
                                                              numpy.logical_or, numpy.less, numpy.greater)


def fuses_sigmoid_crossentropy(loss, activation):
    """Whether an output of ``activation`` (a name) and ``loss`` take `sigmoid_crossentropy_gradient`."""
    return (type(loss) is BinaryCrossentropy and not loss.from_logits and not loss.label_smoothing
            and activation == "sigmoid" and loss.reduction != "mean_with_sample_weight")


def sigmoid_crossentropy_gradient(plan, z, p, y, sw, dz, low, high, scale):
    """A sigmoid output's values into ``p`` and binary cross-entropy's gradient with respect to its
    pre-activation ``z`` into ``dz`` (see the module docstring); ``low``, ``high``: boolean buffers
    of p's shape; ``scale``: 1 / n over the outputs. ``plan`` holds the constants (DensePlan's)."""
    # sigmoid as the backend computes it, 1 / (1 + exp(-z)), with -z clamped (no overflow)
    _negative(z, out=p)
    _minimum(p, plan.exp_max, out=p)
    _exp(p, out=p)
    _add(p, plan.one, out=p)
    _reciprocal(p, out=p)
    _subtract(p, y, out=dz)
    _less(p, plan.eps, out=low)  # the loss clips p to [eps, 1 - eps]: no gradient there
    _greater(p, plan.one_minus_eps, out=high)
    _logical_or(low, high, out=low)
    _putmask(dz, low, plan.zero)
    if sw is not None:
        _multiply(dz, sw.reshape((-1,) + (1,) * (dz.ndim - 1)), out=dz)
    _multiply(dz, scale, out=dz)
    return dz
