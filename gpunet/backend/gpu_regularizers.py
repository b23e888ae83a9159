"""Weight regularization and constraints inside the GPU step plan: Keras's ``kernel_regularizer``
and ``bias_regularizer`` in their L1L2, L1 and L2 forms (the ones Keras code uses), and the
MaxNorm, NonNeg, UnitNorm and MinMaxNorm constraints along axis 0 (`StepConstraints`).

Each regularized weight adds one launch to the step (kernels/step.cu's ``reg_grad``), after
the backward pass and before the optimizer's update, as the layer path adds the gradient
(gpunet/models/engine.py). Its penalty, which Keras adds to each batch's loss, is summed per
block into the step's row of a (steps, blocks) device array; the epoch's tally sums each row
in a fixed order and reads the rows once (`StepPenalties.values`), so no step waits on the host.
Other regularizers (orthogonal, a user's own) leave the model to the layer path.
"""
from . import cuda_kernels as K
from . import step_kernels as S


def regularized_weights(model):
    """``[(weight, l1, l2)]`` for the model's regularized weights, or None when one of them has
    a regularizer the kernel does not compute (then the layer path trains the model)."""
    from ..regularizers import L1L2
    found = []
    for w in model._regularized:
        r = w.regularizer
        if not isinstance(r, L1L2) or type(r).__call__ is not L1L2.__call__ or type(r).gradient is not L1L2.gradient:
            return None
        found.append((w, r.l1, r.l2))
    return found


class StepPenalties:
    """The regularized weights of a plan, their launches, and the epoch's per-step penalties."""

    def __init__(self, ops, regs):
        self.ops, self.regs, self.cols, width = ops, regs, [], 0
        for w, _, _ in regs:
            self.cols.append(width)
            width += S.reg_blocks(w.value.size, ops.sm_count)
        self.width = width
        self.partial = None  # (steps, width): each step's per-block penalty sums
        self._source = _source(regs)

    def matches(self, model):
        """Whether the model's regularized weights and factors are still these."""
        regs = regularized_weights(model)
        return regs is not None and _source(regs) == self._source

    def refresh(self, model):
        """Take in new factors of the same weights' regularizers (a callback's change); True when
        they changed, and the steps must be built again."""
        regs = regularized_weights(model)
        if regs is None or _source(regs) == self._source or _weights(regs) != _weights(self.regs):
            return False
        self.regs, self._source = regs, _source(regs)
        return True

    def ensure(self, steps):
        """Room for ``steps`` steps' rows; True when the buffer was replaced (steps built with the
        old one must be built again: their launches point at it)."""
        if self.partial is not None and self.partial.shape[0] >= steps:
            return False
        dtype = self.regs[0][0].value.dtype
        self.partial = self.ops.xp.zeros((max(steps, 1), self.width), dtype=dtype)
        return True

    def launches(self, state):
        """The step's launches: one per regularized weight (its gradient and its penalty's partials)."""
        return [S.plan_reg_grad(w.value, w.grad, l1, l2, self.partial, state, col, self.ops.sm_count)
                for (w, l1, l2), col in zip(self.regs, self.cols)]

    def values(self, count):
        """The penalties of the epoch's first ``count`` steps, as Python floats (one device read)."""
        if count <= 0:
            return []
        return [float(v) for v in self.ops.to_host(self.partial[:count].sum(axis=1))]


def _weights(entries):
    return [id(entry[0]) for entry in entries]


def _source(regs):
    return [(id(w), id(w.value), id(w.regularizer), l1, l2) for w, l1, l2 in regs]


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
