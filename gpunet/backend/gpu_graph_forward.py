"""`GpuGraphForward`: predict and evaluate for a functional model that is not a chain (a residual
connection, several inputs side by side, an ensemble's average) on the CuPy backend, the graph
counterpart of gpu_forward.py's `GpuForward`.

Why: layer by layer, each call of such a model is a few CuPy launches plus the graph walk's
bookkeeping in Python, every batch. Here a batch is: its inputs' columns copied apart (several
inputs), each Dense layer one launch of the training kernels (two with a softmax), an activation
layer folded into the Dense or BatchNormalization layer before it (gpu_graph_folds.folded_activations)
or one launch of its own over a copy, a BatchNormalization layer one launch with its moving
statistics, a LayerNormalization layer one row launch, a merge one CuPy elementwise operation into
a buffer of the plan's, the output written straight into its rows of one output array; Dropout and
the noise layers are the identity, as in inference; any other built-in layer (an Embedding, a Dot,
a pooling, a call with ``training=``) its own forward in the call's mode, between the launches. No
host read until the caller asks; evaluate's loss and metrics are computed from the outputs once
(models/plan_inference.py), as for a chain.

A nested model of built-in layers runs its own forward, as the other layers without kernels, and
so do the calls a mask goes between (an ``Embedding(mask_zero=True)`` to a ``GlobalAveragePooling1D``:
`Masks`), a Lambda, the ops on symbolic tensors and a layer of your own (for evaluate, each batch's
losses and metrics it adds: step_terms.py); one holding an activity regularizer (or a nested model
holding it: layers/user_terms.py), a mask reaching any other call, or activity regularizers send the
model to the layer path. Several outputs are
packed side by side in the output array, as the layer path packs them.
"""
from contextlib import nullcontext

import numpy

from . import cuda_kernels as K
from . import dense_launch as DL
from . import gpu_batch_norm as BN
from . import gpu_layer_norm as LN
from .gpu_forward import _identity_in_inference
from .gpu_graph_folds import _MERGES, activation_of, folded_activations, norm_entry
from .gpu_elementwise import copy_into, merge_into
from .gpu_own_layers import Masks, own_inference
from .step_terms import terms_for
from .gpu_step import workspace
from .graph_flow import masked_tensors
from .graph_plan import graph_of, node_kind, plan_sources, same_sources

_IDENTITY = "Identity"
_NORM_KINDS = {"BatchNormalization": BN, "LayerNormalization": LN}  # each kind's inferable and inference_launch


def build_gpu_graph_forward(model):
    """A `GpuGraphForward` for the functional ``model`` (built) on a CuPy backend, or None where
    the layer path must run (see the module docstring)."""
    from .cupy_backend import CupyBackend
    graph = graph_of(model)
    if not isinstance(model.ops, CupyBackend) or graph is None:
        return None
    inputs, nodes, outputs, _ = graph
    if (getattr(model, "_loss_tensors", None) or getattr(model, "_metric_tensors", None)
            or any(len(t.shape) != 2 or t.shape[1] is None for t in inputs + outputs)):
        return None
    kinds = [inference_kind(n) for n in nodes]
    dense = [n for n, k in zip(nodes, kinds) if k == "Dense"]
    masked = masked_tensors(nodes, outputs, inference_kind, training=False)
    if None in kinds or not dense or masked is None:
        return None
    dtype = dense[0].layer.kernel.value.dtype
    if dtype not in K.KERNEL_DTYPES:
        return None
    folds = folded_activations(nodes, outputs)
    folded = {id(a) for a in folds.values()}
    for node, kind in zip(nodes, kinds):
        if id(node) in folded:
            continue
        if kind in _NORM_KINDS:
            if not _NORM_KINDS[kind].inferable(norm_entry(node, folds), dtype):
                return None
        elif kind in ("Dense", "Activation"):
            act = activation_of(node, folds) if kind == "Dense" else node.layer.activation
            if K.activation_spec(act.name, act.params) is None or (
                    kind == "Dense" and any(w.value.dtype != dtype for w in node.layer.weights)):
                return None
    return GpuGraphForward(model, graph, kinds, folds, dtype, masked)


def inference_kind(node):
    """What the forward plan runs ``node`` as ("Dense", a normalization layer's class name, "Activation", a merge,
    or the identity), or None where the layer path must run it."""
    from ..layers.core import Dense
    from ..layers.layer_normalization import LayerNormalization
    from ..layers.normalization import BatchNormalization
    kind = node_kind(node)
    if kind is None or kind in ("Dense", "Activation") + _MERGES:
        return kind
    if any(d is None for t in node.inputs + [node.output] for d in t.shape[1:]):
        return None
    layer = type(node.layer)
    if node.training is None and all(len(t.shape) == 2 for t in node.inputs + [node.output]):
        if kind == "Dropout" or layer in _identity_in_inference():
            return _IDENTITY
        if layer is Dense and not node.layer.activation.custom:  # (frozen: training takes it layer by layer)
            return "Dense"
        if layer in (BatchNormalization, LayerNormalization):
            return layer.__name__
    # any other built-in layer, a call with training= (a Dropout that keeps dropping), tensors other
    # than rows: the layer's own forward in the call's mode, between the launches (gpu_own_layers.py)
    return "Layer"


class GpuGraphForward:
    """``run(x, out, batch_size)``: ``out[:] = model(x)`` batch by batch (device arrays; several
    inputs packed side by side in ``x``)."""

    activity = ()  # (a graph with activity regularizers: the layer path)

    def __init__(self, model, graph, kinds, folds, dtype, masked=()):
        self.model, self.ops, self.dtype, self.graph = model, model.ops, dtype, graph
        self.masked = masked  # (the tensors that carry a mask between own-code calls: graph_flow.masked_tensors)
        inputs, nodes, outputs, _ = graph
        self.widths = [t.shape[1] for t in inputs]
        self.units = sum(t.shape[1] for t in outputs)  # (several outputs: packed side by side, as the layer path's)
        self._sources = plan_sources(model)
        self._buffers = {}
        self.terms, self.adding = terms_for(model, nodes, dtype)  # (what layers of your own add: evaluate's)
        # (node, kind, the tensor it writes, what it runs: an activation spec, or a BatchNormalization's
        # (entry, spec)) in graph order; an activation layer folded into the layer before is that layer's
        folded = {id(a) for a in folds.values()}
        self.calls = []
        for node, kind in zip(nodes, kinds):
            if id(node) in folded:
                continue
            output = folds[id(node)].output if id(node) in folds else node.output
            what = None
            if kind == "Dense":
                act = activation_of(node, folds)
                what = K.activation_spec(act.name, act.params)
            elif kind in _NORM_KINDS:
                entry = norm_entry(node, folds)
                what = (entry, K.activation_spec(entry.activation.name, entry.activation.params))
            elif kind == "Activation":
                what = K.activation_spec(node.layer.activation.name, node.layer.activation.params)
            self.calls.append((node, kind, output, what))

    def matches(self, model):
        """Whether the model still is what the plan was built for: the same calls, layers, weight
        arrays and activations (the weights' values are read at each launch)."""
        return model.ops is self.ops and same_sources(plan_sources(model), self._sources)

    def accepts(self, x):
        return x.ndim == 2 and x.shape[1] == sum(self.widths) and x.dtype == self.dtype

    def run(self, x, out, batch_size, stream=None, penalties=None):
        """Every batch of ``x`` (n, inputs' widths) through the graph into ``out`` (n, units), on ``stream``
        (``penalties``: GpuForward.run's list, where each batch's losses that layers of your own added go; a
        graph plan has no activity regularizer)."""
        if self.terms is not None:
            self.terms.reset()
            self.terms.log_metrics = penalties is not None  # (evaluate's run logs them; predict's does not)
        with stream if stream is not None else nullcontext():
            x = self.ops.xp.ascontiguousarray(x)  # (the kernels read rows as laid out)
            for lo in range(0, x.shape[0], batch_size):
                hi = min(x.shape[0], lo + batch_size)
                for entry in self.entries(x[lo:hi], out[lo:hi]):
                    if isinstance(entry, K.Launch):
                        self.ops.launch(entry)
                    else:
                        entry()
                if penalties is not None and self.terms is not None:  # (the batch's added losses: evaluate's)
                    penalties.append(self.terms.values[-1])

    def entries(self, x, out):
        """One batch's launches and elementwise operations, in order (x and out contiguous rows)."""
        inputs, _, outputs, _ = self.graph
        xp, rows, sm = self.ops.xp, x.shape[0], self.ops.sm_count
        buffers = self._allocate(rows)
        entries, val = [], {}
        if len(inputs) == 1:
            val[id(inputs[0])] = x
        else:
            for t, lo in zip(inputs, numpy.cumsum([0] + self.widths).tolist()):
                val[id(t)] = buffers[id(t)]
                entries.append(copy_into(xp, val[id(t)], x[:, lo:lo + t.shape[1]]))
        final = outputs[0] if len(outputs) == 1 else None  # (one output: written straight into ``out``)
        masks = Masks(self.masked) if self.masked else None  # (the batch's masks, between own-code calls)
        for node, kind, output, what in self.calls:
            ins = [val[id(t)] for t in node.inputs]
            if kind == _IDENTITY:
                val[id(output)] = ins[0]
                continue
            y = out if output is final else buffers[id(output)]
            if kind == "Dense":
                layer = node.layer
                b = None if layer.bias is None else layer.bias.value
                entries.append(DL.dense_forward_launch(ins[0], layer.kernel.value, b, y, None, None, what, sm,
                                                       buffers[id(node)]))
                if what.softmax:
                    entries.append(K.plan_softmax_forward(y, y, sm))
            elif kind in _NORM_KINDS:
                entries.append(_NORM_KINDS[kind].inference_launch(*what, ins[0], y, sm))
            elif kind == "Activation":
                if what.softmax:
                    entries.append(K.plan_softmax_forward(ins[0], y, sm))
                else:
                    entries += [copy_into(xp, y, ins[0]), K.plan_bias_act(y, None, None, None, what, sm)]
            elif kind == "Layer":
                entries.append(own_inference(node, ins, y, masks, self.terms if id(node) in self.adding else None))
            else:
                entries.append(merge_into(xp, kind, ins, y))
            val[id(output)] = y
        lo = 0
        for t in outputs:  # (several outputs, an input or an identity's output: copied into their columns)
            if val[id(t)] is not out:
                entries.append(copy_into(xp, out[:, lo:lo + t.shape[1]], val[id(t)]))
            lo += t.shape[1]
        return entries

    def _allocate(self, rows):
        """Each inner tensor's buffer and each Dense call's workspace for batches of ``rows``, by id."""
        got = self._buffers.get(rows)
        if got is not None:
            return got
        if len(self._buffers) >= 4:
            del self._buffers[next(iter(self._buffers))]
        inputs, _, outputs, _ = self.graph
        xp, sm, got = self.ops.xp, self.ops.sm_count, {}
        empty = lambda t: xp.empty((rows,) + tuple(t.shape[1:]), dtype=self.dtype)  # noqa: E731
        if len(inputs) > 1:
            got.update((id(t), empty(t)) for t in inputs)
        for node, kind, output, _ in self.calls:
            if kind == _IDENTITY:
                continue
            if len(outputs) > 1 or output is not outputs[0]:  # (one output is written into the caller's array)
                got[id(output)] = empty(output)
            if kind == "Dense":
                k, n = node.layer.kernel.value.shape
                got[id(node)] = workspace(self, DL.forward_workspace(rows, n, k, self.dtype, sm))
        self._buffers[rows] = got
        return got
