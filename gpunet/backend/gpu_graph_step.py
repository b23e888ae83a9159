"""One GPU training step of a `GpuGraphPlan` (gpu_graph_plan.py): its buffers and entries.

`GraphStep` lays out, once per (rows, stride), what a step of a functional graph runs: the batch
gather (and, for several inputs, each input's columns copied out), each call's forward in graph
order (a Dense layer: gpu_step.forward_entries, its folded activation layer with it; a
BatchNormalization or LayerNormalization layer: gpu_batch_norm.py's or gpu_layer_norm.py's launch;
an activation layer of its own: its input copied, then bias_act in place; a Dropout layer: step.cu's
kernel; a merge: an `Elementwise` entry; any other built-in layer: its own code between graphs), each
output's loss kernel (several: each its targets' columns, its epoch outputs), each call's backward
(gpu_step.backward_entries; a Dropout multiplies by its mask; a merge hands its gradient on), the
regularizers, the optimizer's update and the constraints. `Gradients` (gpu_graph_gradients.py)
decides, from the graph alone, which gradient a tensor keeps as handed and which are added into a
buffer of its own; no gradient flows to the inputs and what only they make with no trainable
weights (graph_flow.constant_tensors: a frozen base model's calls run no backward).
"""
import copy

import numpy

from . import cuda_kernels as K
from . import gpu_batch_norm as BN
from . import gpu_layer_norm as LN
from . import step_kernels as S
from .gpu_elementwise import Elementwise, add_into, copy_into, merge_into, multiply_into
from .gpu_graph_gradients import Gradients
from .gpu_graphs import Between
from .gpu_own_layers import Masks, own_backward, own_forward
from .gpu_step import DenseEntry, _keep, backward_entries, forward_entries, generic_loss_entries, gradient_average


class GraphStep:
    """The buffers and entries of ``rows`` samples a step in an epoch of batches of ``stride``
    (``x_batch``: a streamed epoch's batch buffer), for a `GpuGraphPlan`."""

    def __init__(self, plan, rows, stride, x_batch=None):
        xp, dtype, sm = plan.ops.xp, plan.dtype, plan.ops.sm_count
        empty = lambda shape, dt=dtype: xp.empty(shape, dtype=dt)  # noqa: E731
        self.rows, self.stride, self.x_batch = rows, stride, x_batch
        self.graphs, self.eager_runs, self.unrolled = None, 0, None
        self.masks = []  # each Dropout layer's mask, in forward order
        self.sources = empty((4,), "uint64")
        self.point_at(plan)
        self.xb, self.yb = empty((rows, plan.width)), empty((rows, plan.y_width))
        self.swb = empty((rows,)) if plan.weighted else None
        entries = [S.plan_batch_gather(self.sources, self.xb, self.yb, self.swb, plan.state, rows, stride, sm,
                                       None if x_batch is None else 0)]
        inputs, nodes, outputs, layout = plan.graph
        val, edges = {}, numpy.cumsum([0] + [t.shape[1] for t in inputs]).tolist()
        for t, lo, hi in zip(inputs, edges[:-1], edges[1:]):
            if len(inputs) == 1:
                val[id(t)] = self.xb
                continue
            part = val[id(t)] = empty((rows, hi - lo))  # (the kernels read contiguous rows)
            entries.append(Elementwise(copy_into(xp, part, self.xb[:, lo:hi])))
        records, folded = [], {id(a) for a in plan.folds.values()}
        masks = Masks(plan.masked) if plan.masked else None  # (the step's masks, between own-code calls)
        for node in nodes:  # forward
            if id(node) in folded:
                continue  # (its Dense layer applies it: that layer's output is this node's)
            kind, ins = plan.kinds[id(node)], [val[id(t)] for t in node.inputs]
            output = plan.folds[id(node)].output if id(node) in plan.folds else node.output
            if id(node) in plan.norm_entries:
                entry = plan.norm_entries[id(node)]
                kernels = LN if isinstance(entry, LN.LayerNormEntry) else BN
                out, xhat = empty((rows, entry.units)), empty((rows, entry.units))
                inv = empty((rows,) if kernels is LN else (entry.units,))  # (statistics per row, or per column)
                keep = _keep(entry.spec, out.shape, empty)
                entries.append(kernels.forward_launch(entry, ins[0], out, xhat, inv, keep, sm))
                records.append((node, output, entry, (xhat, inv, keep)))
            elif id(node) in plan.noise_entries:  # (GaussianDropout's draws kept: its backward multiplies by them)
                noise = plan.noise_entries[id(node)]
                if not noise.active:  # (a stddev or rate of 0: the identity)
                    val[id(output)] = ins[0]
                    records.append((node, output, "Identity", None))
                    continue
                out, mask = empty(ins[0].shape), empty(ins[0].shape) if noise.multiplicative else None
                entries.append(S.plan_noise_forward(ins[0], out, mask, noise.value, noise.mode, plan.state, noise.salt,
                                                    sm))
                records.append((node, output, "Dropout" if mask is not None else "Identity", mask))
            elif kind == "Dense":
                entry = plan.entries[id(node)]
                out = empty((rows, entry.units))
                keep = _keep(entry.spec, out.shape, empty)
                entries += forward_entries(plan, ins[0], entry, out, keep)
                records.append((node, output, entry, keep))
            elif node is plan.loss_activation:  # (the loss kernel applies it: it reads the activation's input)
                val[id(output)] = ins[0]
                records.append((node, output, "Identity", None))
                continue
            elif kind == "Activation":  # (not folded: its input copied, then activated in place)
                act = node.layer.activation
                spec = K.activation_spec(act.name, act.params)
                out = empty(ins[0].shape)
                keep = None if spec.softmax else _keep(spec, out.shape, empty)
                if spec.softmax:  # (the row softmax: its backward reads its output)
                    entries.append(K.plan_softmax_forward(ins[0], out, sm))
                else:
                    entries.append(Elementwise(copy_into(xp, out, ins[0])))
                    entries.append(K.plan_bias_act(out, None, keep if spec.keep == "z" else None,
                                                   keep if spec.keep == "mask" else None, spec, sm))
                records.append((node, output, spec, keep))
            elif kind == "Dropout":
                drop = plan.dropout_entries.get(id(node))
                if drop is None:  # (rate 0: the identity)
                    val[id(output)] = ins[0]
                    records.append((node, output, "Identity", None))
                    continue
                out, mask = empty(ins[0].shape), empty(ins[0].shape)
                entries.append(S.plan_dropout_forward(ins[0], out, mask, drop.rate, plan.state, drop.salt, sm))
                self.masks.append(mask)
                records.append((node, output, "Dropout", mask))
            elif kind == "Layer":  # (its own forward between the graphs: gpu_own_layers.py)
                out = empty((rows,) + tuple(output.shape[1:]))
                entries.append(own_forward(node, ins, out, masks, plan.terms if id(node) in plan.adding else None))
                records.append((node, output, "Layer", None))
            else:
                out = empty((rows, output.shape[1]))
                entries.append(Elementwise(merge_into(xp, kind, ins, out)))
                records.append((node, output, kind, None))
            val[id(output)] = out
        grads = Gradients(xp, empty, entries, plan.constant)  # (no gradient flows to these)
        widths = plan.target_widths
        for i, (out_t, lo, width) in enumerate(zip(outputs, numpy.cumsum([0] + widths).tolist(), widths)):
            y = self.yb if len(outputs) == 1 else empty((rows, width))  # (several: their columns apart)
            if y is not self.yb:
                entries.append(Elementwise(copy_into(xp, y, self.yb[:, lo:lo + width])))
            sw = self.swb
            if plan.weight_columns:  # (weights per output: its column, after the targets')
                sw = empty((rows,))
                entries.append(Elementwise(copy_into(xp, sw, self.yb[:, sum(widths) + i])))
            # (the gradient is as wide as the output: sparse targets are one column)
            grad = grads.own(out_t, (rows, out_t.shape[1]))
            epoch_out = plan.output_parts[i] if plan.output_parts else plan.outputs
            if plan.loss_kernels[i].generic:  # (in their shape as loaded; several: as MultiOutputLoss.target_part)
                tail = plan.y_tail if y is self.yb else () if plan.loss_kernels[i].sparse else (width,)
                entries += generic_loss_entries(plan, plan.loss_kernels[i], plan.output_losses[i], val[id(out_t)],
                                                y.reshape((rows,) + tail), sw, grad, epoch_out, stride, sm,
                                                plan.loss_weights[i])
                continue
            entries.append(S.plan_loss_grad(plan.loss_kernels[i], val[id(out_t)], y, sw, epoch_out, grad,
                                            plan.state, stride, plan.eps,
                                            plan.loss_kernels[i].scale(rows, plan.loss_weights[i]), sm))
        written = set()  # the shared Dense layers whose weight gradients a later call has written
        for node, output, what, keep in reversed(records):  # backward: each call once its output's gradient is whole
            g = grads.of.get(id(output))
            if g is None:
                continue
            if isinstance(what, DenseEntry):
                if what.spec.softmax and not grads.is_own(output, g):  # (worked on in place)
                    g = grads.owned_copy(output, g)
                t = node.inputs[0]
                dx = grads.target(t, (rows, t.shape[1]))
                adds = id(what.dw) in written
                written.add(id(what.dw))
                into = _shadow(what, empty) if adds else what  # (an earlier call of a shared layer: added after)
                entries += backward_entries(plan, g, val[id(t)], into, keep, val[id(output)], dx)
                if adds:
                    entries += [Elementwise(add_into(xp, what.dw, into.dw, what.dw))] + (
                        [] if what.db is None else [Elementwise(add_into(xp, what.db, into.db, what.db))])
                grads.written(t, dx)
            elif isinstance(what, (BN.NormEntry, LN.LayerNormEntry)):
                t = node.inputs[0]
                dx = grads.target(t, (rows, t.shape[1]))
                if isinstance(what, LN.LayerNormEntry):
                    entries += LN.backward_launches(what, g, *keep, val[id(output)], dx, sm)
                else:
                    entries.append(BN.backward_launch(what, g, *keep, val[id(output)], dx))
                grads.written(t, dx)
            elif isinstance(what, K.ActSpec):
                dz = empty(g.shape)
                if what.softmax:
                    entries.append(K.plan_softmax_backward(g, val[id(output)], dz, sm))
                else:
                    entries.append(K.plan_act_backward_db(g, keep if what.keep == "z" else None,
                                                          val[id(output)] if what.needs_y else None,
                                                          keep if what.keep == "mask" else None, dz, None, what, 1))
                grads.give(node.inputs[0], dz)
            elif what == "Layer":  # (its own backward between the graphs, into buffers handed on)
                dxs = [None if id(t) in grads.inputs else empty((rows,) + tuple(t.shape[1:])) for t in node.inputs]
                entries.append(own_backward(node, g, dxs))
                for t, dx in zip(node.inputs, dxs):
                    if dx is not None:
                        grads.give(t, dx)
            elif what == "Identity":
                grads.give(node.inputs[0], g)
            elif what == "Dropout":  # g times the mask: the dropout kernel's arithmetic, into a buffer of its own
                masked = empty(g.shape)
                entries.append(Elementwise(multiply_into(xp, g, keep, masked)))
                grads.give(node.inputs[0], masked)
            else:
                grads.merge_backward(what, node.inputs, g)
        if plan.regs is not None:
            entries += plan.regs.launches(plan.state)
        entries += gradient_average(plan)  # (several ranks: before the update, as the chain's step)
        entries += plan.optimizer.launches(plan.ops, plan.table, plan.state[1:2])
        if plan.constraints is not None:
            entries += plan.constraints.launches(plan.eps)
        self.entries = entries
        self.launches = sum(1 for e in entries if isinstance(e, K.Launch))
        # launches and elementwise operations (and a loss's compute between graphs) only: no cuBLAS call,
        # which CuPy refuses inside a capture
        self.capturable = all(isinstance(e, (K.Launch, Elementwise, Between)) for e in entries)

    def point_at(self, plan):
        """See gpu_step.Step.point_at."""
        x = plan.x if self.x_batch is None else self.x_batch
        plan._write(self.sources, S.source_addresses(x, plan.y_src, plan.sw_src, plan.order))


def _shadow(entry, empty):
    """``entry`` with weight gradients of its own: a shared layer's earlier call, whose gradients
    are added to those its later call wrote (the layer path sums them over its calls)."""
    shadow = copy.copy(entry)
    shadow.dw = empty(entry.dw.shape)
    shadow.db = None if entry.db is None else empty(entry.db.shape)
    return shadow
