"""What a `GpuPlan` (gpu_plan.py) takes in between two steps: what a callback changed in the
optimizer or the model since the last step, applied from the next step on, as the layer path
applies it. Values the steps read from device tables (the learning rate, the momentum) are
rewritten there; values the launches bake in (the optimizer's other hyperparameters and slots, a
BatchNormalization layer's momentum or epsilon, Keras's epsilon, Huber's delta, a regularizer's
factors, a constraint's bounds) mean building the steps again (and capturing them anew); a loss's
label smoothing means smoothing the epoch's targets again (the steps read them where they are).
"""
import copy

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
            self.loss_kernel, changed = copy.copy(self.loss_kernel), True
            self.loss_kernel.delta = delta
        if B.epsilon() != self.eps:
            self.eps, changed = B.epsilon(), True
        if changed:
            self._steps.clear()
        if self._y_plain is not None and self._smoothings() != self._smoothing:  # the steps read new targets
            with self._stream():
                self.y_src = self._smoothed_targets(self._y_plain)
                for built in self._steps.values():
                    built.point_at(self)

    # ---- label smoothing: the cross-entropies' loss kernels read smoothed targets -----------------
    def _target_columns(self):
        """``[(loss kernel, loss, first column, end column)]`` of the targets the steps read."""
        return [(self.loss_kernel, self.loss, 0, self.y_width)]

    def _smoothings(self):
        return tuple(kernel.smoothing_of(loss) for kernel, loss, _, _ in self._target_columns())

    def _smoothed_targets(self, y):
        """The targets ``y`` (n, columns) the loss kernels read: where a loss smooths its labels
        (Keras's label smoothing of a binary or categorical cross-entropy: the plain loss of
        smoothed targets), smoothed into a buffer of the plan's, refilled each load (the caller's
        array untouched; `EpochTally` reads it, the loss smoothing it itself); else ``y``."""
        self._y_plain, self._smoothing = y, self._smoothings()
        if not any(self._smoothing):
            return y
        buf = self._converted.get("smoothed")
        if buf is None or buf.shape != y.shape:
            buf = self._converted["smoothed"] = self.ops.xp.empty(y.shape, dtype=y.dtype)
        buf[...] = y  # (the columns no loss smooths: another output's, weights per output)
        for (kernel, _, lo, hi), smoothing in zip(self._target_columns(), self._smoothing):
            if smoothing:
                S.smooth_targets(self.ops.xp, kernel, smoothing, y[:, lo:hi], buf[:, lo:hi])
        return buf
