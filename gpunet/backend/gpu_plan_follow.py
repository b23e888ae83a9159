"""What a `GpuPlan` (gpu_plan.py) takes in between two steps: what a callback changed in the
optimizer or the model since the last step, applied from the next step on, as the layer path
applies it. Values the steps read from device tables (the learning rate, the momentum) are
rewritten there; values the launches bake in (the optimizer's other hyperparameters and slots, a
BatchNormalization layer's momentum or epsilon, Keras's epsilon, Huber's delta, a regularizer's
factors, a constraint's bounds) mean building the steps again (and capturing them anew).
"""
from .. import backend as B
from . import step_kernels as S


class FollowChanges:
    """Mixed into `GpuPlan`: ``_follow_optimizer`` and ``_follow_model``, called before each run of steps."""

    def _follow_optimizer(self):
        """Take in what a callback changed since the last step: the optimizer's learning rate or
        momentum (the table from this step on is rewritten), another of its hyperparameters or a
        BatchNormalization layer's momentum or epsilon (the steps, which bake it in, are rebuilt)."""
        if self.optimizer.baked() != self._baked:
            self._baked = self.optimizer.baked()
            self._steps.clear()
            self._per_step = None  # and the tables rewritten: the weight-decay factors may be new
        if self.norms and [e for e in self.norms if e.changed()]:  # a callback set a layer's momentum or epsilon
            self._steps.clear()
        if self.optimizer.per_step() != self._per_step:
            with self._stream():
                self._write_table(self._next, self.table.shape[0] - self._next)

    def _follow_model(self):
        """Take in what a batch callback changed in the model since the last step, from the next
        step on as the layer path does: Keras's epsilon, Huber's delta, a regularizer's factors or a
        constraint's bounds (the steps, which bake them in, are rebuilt). Other changes (another
        regularizer class, the loss's kind) take effect at the next epoch, through `matches`."""
        changed = self.regs is not None and self.regs.refresh(self.model)
        changed = (self.constraints is not None and self.constraints.refresh(self.model)) or changed
        delta = getattr(self.loss, "delta", 0.0)
        if delta != self.loss_kernel.delta and self.loss_kernel.kind == S.HUBER:
            self.loss_kernel, changed = S.LossKernel(S.HUBER, None, delta), True
        if B.epsilon() != self.eps:
            self.eps, changed = B.epsilon(), True
        if changed:
            self._steps.clear()
