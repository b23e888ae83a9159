"""Weight regularization and constraints inside the GPU step plan: Keras's ``kernel_regularizer``
and ``bias_regularizer`` in their L1L2, L1 and L2 forms (the ones Keras code uses), and the
MaxNorm, NonNeg, UnitNorm and MinMaxNorm constraints along axis 0 (`StepConstraints`).

Each regularized weight adds one launch to the step (kernels/step.cu's ``reg_grad``), after
the backward pass and before the optimizer's update, as the layer path adds the gradient
(gpunet/models/engine.py). Its penalty, which Keras adds to each batch's loss, is summed per
block into the step's row of a (steps, blocks) device array; the epoch's tally sums each row
in a fixed order and reads the rows once (`StepPenalties.values`), so no step waits on the host.
Other regularizers (orthogonal, a user's own) leave the model to the layer path.

A hidden Dense layer's ``activity_regularizer`` (L1L2 and its forms again: the sparse
autoencoder's ``activity_regularizer=l1(1e-5)``) is the same launch over the layer's output and
the gradient with respect to it, with the factors divided by the batch's rows: Keras adds
``regularizer(output) / batch size`` to the loss, so its gradient is the regularizer's over the
rows. It runs in the backward pass, once that gradient is complete and before the layer's own
backward reads it; its penalty goes to the same per-step rows as the weights'.
"""
from . import cuda_kernels as K
from . import step_kernels as S


def regularized_weights(model):
    """``[(weight, l1, l2)]`` for the model's regularized weights, or None when one of them has
    a regularizer the kernel does not compute (then the layer path trains the model)."""
    found = []
    for w in model._regularized:
        if not _computed(w.regularizer):
            return None
        found.append((w, w.regularizer.l1, w.regularizer.l2))
    return found


def activity_regularized(layers, last=None):
    """``[(layer, l1, l2)]`` for ``layers`` with an activity regularizer, or None when one of them
    is not a Dense layer other than ``last`` (the output's, whose gradient the loss kernel gives
    before its activation), or its regularizer is not one the kernel computes."""
    from ..layers.core import Dense
    found = []
    for layer in layers:
        r = getattr(layer, "activity_regularizer", None)
        if r is None:
            continue
        if type(layer) is not Dense or layer is last or not _computed(r):
            return None
        found.append((layer, r.l1, r.l2))
    return found


def _computed(r):
    """Whether the reg_grad kernel computes regularizer ``r``: L1L2 or a form of it, its own arithmetic."""
    from ..regularizers import L1L2
    return isinstance(r, L1L2) and type(r).__call__ is L1L2.__call__ and type(r).gradient is L1L2.gradient


class StepPenalties:
    """The regularized weights and activity-regularized layers of a plan, their launches, and the
    epoch's per-step penalties."""

    def __init__(self, ops, regs, activity=(), dtype=None):
        self.ops, self.regs, self.activity, self.cols, width = ops, regs, activity, [], 0
        for w, _, _ in regs:
            self.cols.append(width)
            width += S.reg_blocks(w.value.size, ops.sm_count)
        self.width = self.weight_width = width  # (the activity columns follow, sized by the batch: `ensure`)
        self.activity_cols = {}  # id(layer): its first column
        self.dtype, self.stride = dtype, None
        self.partial = None  # (steps, width): each step's per-block penalty sums
        self._source = _source(regs, activity)

    def matches(self, model):
        """Whether the model's regularized weights and activity-regularized layers, and their
        factors, are still these."""
        regs, activity = regularized_weights(model), activity_regularized(model._layers)
        return regs is not None and activity is not None and _source(regs, activity) == self._source

    def refresh(self, model):
        """Take in new factors of the same weights' and layers' regularizers (a callback's change);
        True when they changed, and the steps must be built again."""
        regs, activity = regularized_weights(model), activity_regularized(model._layers)
        if (regs is None or activity is None or _source(regs, activity) == self._source
                or _weights(regs) != _weights(self.regs) or _weights(activity) != _weights(self.activity)):
            return False
        self.regs, self.activity, self._source = regs, activity, _source(regs, activity)
        return True

    def ensure(self, steps, stride):
        """Room for ``steps`` steps' rows of batches of ``stride`` rows; True when the buffer was
        replaced (steps built with the old one must be built again: their launches point at it)."""
        if self.partial is not None and self.partial.shape[0] >= steps and stride == self.stride:
            return False
        width, self.activity_cols = self.weight_width, {}
        for layer, _, _ in self.activity:  # every step of the epoch writes all of its blocks (`activity_launch`)
            self.activity_cols[id(layer)] = width
            width += S.reg_blocks(stride * layer.units, self.ops.sm_count)
        self.width, self.stride = width, stride
        self.partial = self.ops.xp.zeros((max(steps, 1), width), dtype=self.dtype)
        return True

    def launches(self, state):
        """The step's launches: one per regularized weight (its gradient and its penalty's partials)."""
        return [S.plan_reg_grad(w.value, w.grad, l1, l2, self.partial, state, col, self.ops.sm_count)
                for (w, l1, l2), col in zip(self.regs, self.cols)]

    def activity_launches(self, layer, out, out_grad, state):
        """[] or, where ``layer`` has an activity regularizer, the launch that adds its gradient over
        the batch's rows of ``out`` (the layer's output) to ``out_grad`` and writes its penalty's
        partials; on as many blocks as a full batch's (`ensure`), so every column of the row is written."""
        for held, l1, l2 in self.activity:
            if held is layer:
                rows = out.shape[0]
                return [S.plan_reg_grad(out, out_grad, l1 / rows, l2 / rows, self.partial, state,
                                        self.activity_cols[id(layer)], self.ops.sm_count,
                                        blocks=S.reg_blocks(self.stride * layer.units, self.ops.sm_count))]
        return []

    def values(self, count):
        """The penalties of the epoch's first ``count`` steps, as Python floats (one device read)."""
        if count <= 0:
            return []
        return [float(v) for v in self.ops.to_host(self.partial[:count].sum(axis=1))]


def _weights(entries):
    return [id(entry[0]) for entry in entries]


def _source(regs, activity=()):
    return ([(id(w), id(w.value), id(w.regularizer), l1, l2) for w, l1, l2 in regs]
            + [(id(layer), id(layer.activity_regularizer), l1, l2) for layer, l1, l2 in activity])


def constrained_weights(model):
    """``[(weight, mode, a, b, rate)]`` (cuda_kernels.plan_constrain's arguments) for the model's
    constrained weights, or None when a constraint has no kernel: another class or a subclass, an
    axis other than 0, a weight that is not 1-D or 2-D (then the layer path trains the model)."""
    from .. import constraints as C
    found = []
    for w in model._constrained:
        c = w.constraint
        if type(c) not in (C.MaxNorm, C.NonNeg, C.UnitNorm, C.MinMaxNorm) or w.value.ndim not in (1, 2):
            return None
        if not isinstance(c, C.NonNeg) and c.axis not in (0, [0], (0,)):
            return None
        a, b, rate = {C.MaxNorm: lambda: (c.max_value, 0.0, 1.0), C.NonNeg: lambda: (0.0, 0.0, 1.0),
                      C.UnitNorm: lambda: (0.0, 0.0, 1.0),
                      C.MinMaxNorm: lambda: (c.min_value, c.max_value, c.rate)}[type(c)]()
        found.append((w, K.CONSTRAINT_MODES[type(c).__name__], a, b, rate))
    return found


class StepConstraints:
    """The constrained weights of a plan: a launch each after the optimizer's update, as the layer
    path projects them after each step."""

    def __init__(self, ops, cons):
        self.ops, self.cons, self._source = ops, cons, _constraint_source(cons)

    def matches(self, model):
        cons = constrained_weights(model)
        return cons is not None and _constraint_source(cons) == self._source

    def refresh(self, model):
        """Take in new bounds of the same weights' constraints; True when they changed."""
        cons = constrained_weights(model)
        if cons is None or _constraint_source(cons) == self._source or _weights(cons) != _weights(self.cons):
            return False
        self.cons, self._source = cons, _constraint_source(cons)
        return True

    def launches(self, eps):
        return [K.plan_constrain(w.value, mode, a, b, rate, eps, self.ops.sm_count) for w, mode, a, b, rate in self.cons]


def _constraint_source(cons):
    return [(id(w), id(w.value), id(w.constraint), mode, a, b, rate) for w, mode, a, b, rate in cons]
