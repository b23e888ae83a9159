"""Keras 3's ``gradient_accumulation_steps=n``: each call of ``apply`` adds its gradients into an accumulator
and only every n-th call updates the weights, with the mean of the n gradients; ``iterations`` counts those
updates (Keras 3's ``iterations`` property, which Adam's bias correction and the moving average read), while a
learning-rate schedule reads the count of calls (Keras 3's ``_iterations``, as it does), which files keep (Keras 3's
``iteration`` variable) so a resume lands mid-accumulation exactly where it stopped.

The accumulator is a slot (``"gradient_accumulator"``, after the moving average's and before the optimizer's
own, Keras 3's order), so it is saved, resumed and moved between devices like the others. Such an optimizer
takes the layer path's step on the GPU (its own ``apply`` between the step's graphs), not the fused update."""


class GradientAccumulationMixin:
    """Mixed into `Optimizer` (base.py)."""

    def _init_accumulation(self, steps, cls):
        if steps and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 2):
            raise ValueError(f"{cls}: `gradient_accumulation_steps` must be an integer >= 2. Received: "
                             f"gradient_accumulation_steps={steps!r}")
        self.gradient_accumulation_steps = steps or None
        self._accumulated = 0  # calls since the last update

    @property
    def _accumulation_slots(self):
        return ("gradient_accumulator",) if self.gradient_accumulation_steps else ()

    @property
    def _iteration_count(self):
        """Every ``apply`` call so far (what files keep): ``iterations`` itself without accumulation."""
        steps = self.gradient_accumulation_steps
        return self.iterations * steps + self._accumulated if steps else self.iterations

    def _set_iteration_count(self, count):
        steps = self.gradient_accumulation_steps
        self.iterations, self._accumulated = divmod(int(count), steps) if steps else (int(count), 0)

    def _accumulate(self, params, grads):
        """The gradients to update with (the mean of the last ``n`` calls'), or None where this call only
        accumulates (the moving average still follows, as Keras 3's does on every call)."""
        accumulator = self._slots["gradient_accumulator"]
        if self._accumulated + 1 < self.gradient_accumulation_steps:
            accumulator += grads
            self._accumulated += 1
            self._learning_rate.follow(self._iteration_count)
            if self.use_ema:
                self._ema_step(params, self.iterations + 1)
            return None
        out = self._abuf
        if out is None or out.shape != grads.shape or out.dtype != grads.dtype:
            out = self._abuf = self.ops.empty(grads.shape, grads.dtype)
        out[...] = grads
        out += accumulator
        out /= self.gradient_accumulation_steps  # (Keras 3's (g + acc) / steps, bit for bit)
        accumulator[...] = 0
        self._accumulated = 0
        return out

    def _accumulation_config(self):
        steps = self.gradient_accumulation_steps
        return {"gradient_accumulation_steps": steps} if steps else {}  # (tf.keras 2 knows no such key)
