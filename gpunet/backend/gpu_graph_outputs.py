"""What a `GpuGraphPlan` (gpu_graph_plan.py) does for a model with several outputs
(models/multi_output.py's packed loss): which columns of the packed targets each output's loss kernel
reads, its sample weights, and the epoch's outputs.

Each loss kernel writes its own epoch outputs (a row pitch of its output's width); what `EpochTally`
reads, ``outputs``, is packed from them when read after new steps. Sample weights come as one array
for every output, or one column per output (fit's list or dict of weights): those columns are loaded
after the targets' (one buffer, gathered with them each step) and each output's loss kernel reads its
column (gpu_graph_step.py).
"""
import numpy


class SeveralOutputs:
    """Mixed into `GpuGraphPlan`, after its ``loss_kernels``, ``output_losses``, ``target_widths`` and
    ``graph`` are set."""

    weight_columns = 0  # sample weights per output: their number (after the targets' columns); else 0

    def _target_columns(self):
        """Each output's loss kernel, loss and columns of the packed targets (gpu_plan_follow.py: read
        before every run of steps)."""
        if getattr(self, "_columns", None) is None:
            edges = numpy.cumsum([0] + self.target_widths).tolist()
            self._columns = list(zip(self.loss_kernels, self.output_losses, edges[:-1], edges[1:]))
        return self._columns

    def accepts(self, x, y, sample_weight=None):
        """GpuPlan's; for several outputs, the packed targets as wide as their columns together, and
        sample weights one per sample or one column per output."""
        if len(self.loss_kernels) == 1:
            return super().accepts(x, y, sample_weight)
        n = x.shape[0]
        weights_fit = sample_weight is None or sample_weight.ndim == 1 or (
            sample_weight.ndim == 2 and sample_weight.shape[1] == len(self.loss_kernels))
        return (n > 0 and y.shape[0] == n and y.ndim == 2 and y.shape[1] == sum(self.target_widths)
                and x.ndim == 2 and x.shape[1] == self.width and weights_fit)

    def load(self, x, y, sample_weight, order=None, batch_size=None, streamed_rows=None):
        per_output = sample_weight is not None and sample_weight.ndim == 2
        self.weight_columns = sample_weight.shape[1] if per_output else 0
        if per_output:  # (the weights' columns after the targets': gathered with them)
            y = self._with_weights(y, sample_weight)
        super().load(x, y, None if per_output else sample_weight, order, batch_size, streamed_rows)
        if per_output:  # what EpochTally reads: each output's weights in training order
            self.sw = sample_weight if self.order is None else self.ops.xp.take(sample_weight, self.order, axis=0)
        if len(self.loss_kernels) > 1 and (self.output_parts is None
                                           or self.output_parts[0].shape[0] != self._outputs.shape[0]):
            rows = self._outputs.shape[0]
            self.output_parts = [self.ops.xp.empty((rows, t.shape[1]), dtype=self.dtype) for t in self.graph[2]]
            self._steps.clear()  # (the steps' loss kernels point at the parts)
        self._packed = False

    def _with_weights(self, y, sample_weight):
        """``y`` and the weights' columns side by side, in a buffer of the plan's refilled each load."""
        n, width = y.shape[0], y.shape[1] + sample_weight.shape[1]
        buf = self._converted.get("targets+weights")
        if buf is None or buf.shape != (n, width):
            buf = self._converted["targets+weights"] = self.ops.xp.empty((n, width), dtype=self.dtype)
        buf[:, :y.shape[1]] = y
        buf[:, y.shape[1]:] = sample_weight
        return buf

    def step(self, *args, **kwargs):
        super().step(*args, **kwargs)
        self._packed = False

    def run_steps(self, *args, **kwargs):
        super().run_steps(*args, **kwargs)
        self._packed = False

    @property
    def outputs(self):
        if self.output_parts is not None and not self._packed:
            lo = 0
            for part in self.output_parts:
                self.ops.xp.copyto(self._outputs[:, lo:lo + part.shape[1]], part)
                lo += part.shape[1]
            self._packed = True
        return self._outputs

    @outputs.setter
    def outputs(self, value):
        self._outputs = value
