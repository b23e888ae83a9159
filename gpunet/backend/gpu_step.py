"""One GPU training step of a `GpuPlan` (gpu_plan.py): its buffers and its launches.

A `Step` is built once per (rows, stride) and holds, in order, what one step runs:
the batch gather; per layer its forward (a Dense layer: one launch, or a cuBLAS GEMM and
a bias+activation launch; a Dropout, BatchNormalization or LayerNormalization layer: one
launch; LayerNormalization two backward; an Embedding, a pooling, ...: its own code between
graphs, gpu_own_layers.py); the loss
kernel; per layer in reverse its backward; the regularizers' gradients; the gradient average
of a data-parallel run (if any); gradient clipping and weight decay; the optimizer's update;
the constraints. Entries are `cuda_kernels.Launch` tuples or, for cuBLAS and
collectives, callables; a step of launches (and collectives, run between graphs) can be
captured as CUDA graphs, one with a cuBLAS call cannot.
"""
import math

from . import cuda_kernels as K
from . import dense_launch as DL
from . import gpu_batch_norm as BN
from . import gpu_layer_norm as LN
from . import step_kernels as S
from .gpu_fused_step import fused_step_launch
from .gpu_graphs import Between
from .gpu_own_layers import OwnEntry
from ..layers.noise import AlphaDropout, GaussianDropout, GaussianNoise

# the noise layers the steps draw themselves (noise_forward; an AlphaDropout without noise_shape)
NOISES = (GaussianNoise, GaussianDropout, AlphaDropout)


class DenseEntry:
    """A Dense layer as the plan runs it: ``folded``, a `layer_stack.Folded` (the layer and the
    activation it applies); ``spec``: that activation's kernel form."""

    def __init__(self, folded, spec):
        layer = self.layer = folded.layer
        self.w, self.b = layer.kernel.value, None if layer.bias is None else layer.bias.value
        self.dw, self.db = layer.kernel.grad, None if layer.bias is None else layer.bias.grad
        self.spec, self.units = spec, self.w.shape[1]
        self.source = folded.source


class DropoutEntry:
    """A Dropout layer (rate > 0) as the plan runs it; ``salt`` tells its masks from others'."""

    def __init__(self, layer, salt):
        self.rate, self.salt = layer.rate, salt
        self.source = (layer, layer.rate, layer.noise_shape)


class NoiseEntry:
    """A GaussianNoise, GaussianDropout or AlphaDropout layer as the plan runs it (``mode``: step.cu
    noise_forward's; ``active``: it changes its input, where a stddev of 0 or a rate outside (0, 1)
    is the identity; ``multiplicative``: its gradient is multiplied by what the forward kept);
    ``salt`` tells its draws from other layers'."""

    def __init__(self, layer, salt):
        self.mode = S.NOISE_MODES[type(layer).__name__]
        self.multiplicative = self.mode != 0
        value = float(layer.stddev) if self.mode == 0 else layer.rate
        self.active = value > 0.0 if self.mode == 0 else 0.0 < value < 1.0
        # (GaussianDropout's stddev; the others' value as the kernel takes it: a stddev, AlphaDropout's rate)
        self.value = math.sqrt(value / (1.0 - value)) if self.mode == 1 and self.active else value
        self.salt, self.source = salt, (layer, value)

    def changed(self):
        """Whether the layer's stddev or rate is no longer what the plan was built with."""
        layer = self.source[0]
        return (float(layer.stddev) if self.mode == 0 else layer.rate) != self.source[1]


class Step:
    """The buffers and launches of ``rows`` samples a step in an epoch of batches of ``stride``;
    ``x_batch``: the buffer a streamed epoch brings each batch's x in (None: the epoch's x)."""

    def __init__(self, plan, rows, stride, x_batch=None):
        xp, dtype, sm = plan.ops.xp, plan.dtype, plan.ops.sm_count
        empty = lambda shape, dt=dtype: xp.empty(shape, dtype=dt)  # noqa: E731
        self.rows, self.stride = rows, stride
        # gpu_graphs.GraphRunner's: captured segments, eager runs, segments of UNROLL steps (False: refused)
        self.graphs, self.eager_runs, self.unrolled = None, 0, None
        self.masks = []  # each Dropout layer's (rows, width) mask, in forward order
        self.x_batch = x_batch  # streamed: the buffer that holds each batch's x
        self.sources = empty((4,), "uint64")  # where the gather reads x, y, sw, order: see point_at
        self.point_at(plan)
        fused = fused_step_launch(plan, self, rows, stride, None if x_batch is None else 0)
        if fused is not None:  # a small model: the whole step in one launch, its buffers in shared memory
            self.entries, self.launches, self.capturable = [fused], 1, True
            return
        self.xb, self.yb = empty((rows, plan.width)), empty((rows, plan.y_width))
        self.swb = empty((rows,)) if plan.weighted else None
        entries = [S.plan_batch_gather(self.sources, self.xb, self.yb, self.swb, plan.state, rows, stride, sm,
                                       None if x_batch is None else 0)]
        # forward; `grad` is the buffer that will hold the gradient with respect to `a`
        # (None for the model's input, whose gradient nobody needs)
        a, grad, done = self.xb, None, []
        for entry in plan.sequence:
            if isinstance(entry, DropoutEntry):
                out, mask = empty(a.shape), empty(a.shape)
                entries.append(S.plan_dropout_forward(a, out, mask, entry.rate, plan.state, entry.salt, sm))
                self.masks.append(mask)
                done.append((entry, grad, mask))
                a = out  # the gradient with respect to out lands in `grad`, then is masked in place
                continue
            if isinstance(entry, NoiseEntry):  # (added noise: the gradient passes unchanged, no backward)
                out, mask = empty(a.shape), empty(a.shape) if entry.multiplicative else None
                entries.append(S.plan_noise_forward(a, out, mask, entry.value, entry.mode, plan.state, entry.salt, sm))
                if mask is not None:
                    done.append((entry, grad, mask))  # (multiplied: the gradient too, as Dropout's)
                a = out
                continue
            if isinstance(entry, OwnEntry):  # (its own code between the graphs: gpu_own_layers.py)
                x_in = a.reshape((rows,) + entry.in_shape)
                out = empty((rows,) + entry.out_shape)
                entries.append(entry.forward(x_in, out))
                if grad is None and not entry.layer.trainable_weights:  # (a Reshape on the input: no backward)
                    a = out
                    continue
                out_grad = empty((rows,) + entry.out_shape)
                done.append((entry, None if grad is None else grad.reshape(x_in.shape), out_grad))
                a, grad = out, out_grad
                continue
            if isinstance(entry, (BN.NormEntry, LN.LayerNormEntry)):
                kernels = LN if isinstance(entry, LN.LayerNormEntry) else BN
                out, xhat = empty((rows, entry.units)), empty((rows, entry.units))
                inv = empty((rows,) if kernels is LN else (entry.units,))  # (statistics per row, or per column)
                keep = _keep(entry.spec, out.shape, empty)
                entries.append(kernels.forward_launch(entry, a, out, xhat, inv, keep, sm))
                out_grad = empty(out.shape)
                done.append((entry, grad, xhat, inv, keep, out, out_grad))
                a, grad = out, out_grad
                continue
            out = empty((rows, entry.units))
            keep = _keep(entry.spec, out.shape, empty)
            entries += forward_entries(plan, a, entry, out, keep)
            out_grad = empty(out.shape)
            done.append((entry, a, grad, keep, out, out_grad))
            a, grad = out, out_grad
        if plan.loss_kernel.generic:
            y = self.yb.reshape((rows,) + plan.y_tail)
            entries += generic_loss_entries(plan, plan.loss_kernel, plan.loss, a, y, self.swb, grad, plan.outputs,
                                            stride, sm)
        else:
            entries.append(S.plan_loss_grad(plan.loss_kernel, a, self.yb, self.swb, plan.outputs, grad, plan.state,
                                            stride, plan.eps, plan.loss_kernel.scale(rows), sm))
        for record in reversed(done):  # backward
            if isinstance(record[0], OwnEntry):
                entry, x_grad, out_grad = record
                entries.append(entry.backward(out_grad, x_grad))
                continue
            if isinstance(record[0], (DropoutEntry, NoiseEntry)):
                _, g, mask = record
                if g is not None:
                    entries.append(S.plan_dropout_backward(g, mask, sm))
                continue
            if isinstance(record[0], BN.NormEntry):
                entry, x_grad, xhat, inv, keep, out, out_grad = record
                entries.append(BN.backward_launch(entry, out_grad, xhat, inv, keep, out, x_grad))
                continue
            if isinstance(record[0], LN.LayerNormEntry):  # (two launches: column sums, then rows)
                entry, x_grad, xhat, inv, keep, out, out_grad = record
                entries += LN.backward_launches(entry, out_grad, xhat, inv, keep, out, x_grad, sm)
                continue
            entry, x, x_grad, keep, out, out_grad = record
            if plan.regs is not None:  # an activity regularizer's gradient, once out_grad is complete
                entries += plan.regs.activity_launches(entry.layer, out, out_grad, plan.state)
            entries += backward_entries(plan, out_grad, x, entry, keep, out, x_grad)
        if plan.regs is not None:  # the regularizers' gradients, before any averaging (as the layer path)
            entries += plan.regs.launches(plan.state)
        entries += gradient_average(plan)
        entries += plan.optimizer.launches(plan.ops, plan.table, plan.state[1:2])
        if plan.constraints is not None:  # projected after the update, as the layer path does
            entries += plan.constraints.launches(plan.eps)
        self.entries = entries
        self.launches = sum(1 for e in entries if isinstance(e, K.Launch))
        # launches and collectives only: no cuBLAS call, which CuPy refuses inside a capture
        self.capturable = all(isinstance(e, (K.Launch, Between)) for e in entries)


    def point_at(self, plan):
        """Make the step's gather read the plan's current epoch data (on the plan's stream, before
        the step runs): a step built, or captured, for one epoch's arrays serves the next one's."""
        x = plan.x if self.x_batch is None else self.x_batch
        plan._write(self.sources, S.source_addresses(x, plan.y_src, plan.sw_src, plan.order))


def gradient_average(plan):
    """Under gpunet.distribute (several ranks), the entry averaging the flat gradient over the ranks
    between the backward pass and the update (a collective: between two captured graphs); else none."""
    reduce = getattr(plan.model.optimizer, "allreduce_gradients", None)
    return [] if reduce is None else [Between(lambda: reduce(plan.model._grads))]


def generic_loss_entries(plan, kernel, loss, a, y, swb, grad, outputs, stride, sm, weight=1.0):
    """A loss without a kernel: ``kernel`` (the MSE kernel, reading the outputs ``a`` as its targets)
    copies them into the epoch's ``outputs`` at the batch's place (which only the device knows: the
    step may run in a graph-free loop of many) and zeroes ``grad``; then (a `Between` entry: the
    step's launches before and after it are captured) ``loss``'s own ``compute`` on the batch's
    targets ``y`` (their shape as loaded) and weights gives the gradient, as the layer path's does;
    times ``weight``, an output's loss weight where the model has several."""
    copy = S.plan_loss_grad(kernel, a, a, None, outputs, grad, plan.state, stride, plan.eps, 1.0, sm)

    def loss_gradient():
        g = loss.compute(plan.ops, y, a, swb)[1]
        grad[...] = g if weight == 1.0 else g * weight
    # run between two captured graphs (its CuPy operations allocate, which a capture must not), on
    # the plan's stream: the launches before and after it are still captured and replayed
    return [copy, Between(loss_gradient)]


def _keep(spec, shape, empty):
    """The buffer the forward fills for an activation's backward: its mask, its input z, or None."""
    return {"mask": lambda: empty(shape, "uint8"), "z": lambda: empty(shape)}.get(spec.keep, lambda: None)()


def workspace(plan, shapes):
    """Zeroed buffers for the Dense kernels' split partials and counters (they leave them zeroed)."""
    return [plan.ops.xp.zeros(shape, dtype=dtype) for shape, dtype in shapes]


def forward_entries(plan, x, layer, y, keep):
    ops = plan.ops
    M, Kd, N = x.shape[0], x.shape[1], layer.units
    mask = keep if layer.spec.keep == "mask" else None
    z = keep if layer.spec.keep == "z" else None
    if ops._fused(M, N, Kd, True, itemsize=x.itemsize):
        ws = workspace(plan, DL.forward_workspace(M, N, Kd, plan.dtype, ops.sm_count))
        return ([DL.dense_forward_launch(x, layer.w, layer.b, y, z, mask, layer.spec, ops.sm_count, ws)]
                + _softmax(layer.spec, y, ops.sm_count))
    entries = [lambda: ops._matmul(x, layer.w, out=y)]
    if layer.b is not None or layer.spec.code != K.ACT_CODES["linear"]:
        entries.append(K.plan_bias_act(y, layer.b, z, mask, layer.spec, ops.sm_count))
    return entries + _softmax(layer.spec, y, ops.sm_count)


def _softmax(spec, y, sm_count):
    """A softmax layer's row softmax, in place after its (linear) Dense launch."""
    return [K.plan_softmax_forward(y, y, sm_count)] if spec.softmax else []


def backward_entries(plan, dy, x, layer, keep, y, dx):
    ops = plan.ops
    M, Kd, N = x.shape[0], x.shape[1], layer.units
    spec, entries = layer.spec, []
    if spec.softmax:  # dz = y (dy - sum(dy y)) in place (a row reduction: its own launch), then linear
        entries.append(K.plan_softmax_backward(dy, y, dy, ops.sm_count))
        spec = K.activation_spec("linear", {})
    mask = keep if spec.keep == "mask" else None
    z = keep if spec.keep == "z" else None
    y = y if spec.needs_y else None
    need = (layer.dw is not None, layer.db is not None, dx is not None)
    if ops._fused(M, N, Kd, False, need, x.itemsize):
        ws = workspace(plan, DL.backward_workspace(M, N, Kd, plan.dtype, ops.sm_count, *need))
        return entries + [DL.dense_backward_launch(dy, x, layer.w, z, y, mask, layer.dw, layer.db, dx, spec,
                                                   ops.sm_count, ws)]
    return entries + [lambda: ops._cublas_backward(dy, x, layer.w, z, y, mask, layer.dw, layer.db, dx, spec)]
