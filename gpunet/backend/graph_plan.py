"""`GraphPlan`: the training step of a functional model that is not a chain (a residual connection,
a wide-and-deep model, several inputs side by side) on the NumPy backend, in the manner of
dense_plan.py.

Why: layer by layer, such a model pays for the graph walk as much as for the arithmetic (a residual
8-12-12-1 MLP at batch 10: some 115 us a step on 2 cores, against 26 for the same-sized chain on
the fused step). The plan numbers the graph's tensors once, keeps every value and gradient in
buffers made once per batch size, and runs each call's arithmetic (the layer path's own, see
graph_plan_nodes.py) in graph order and back; a sigmoid output with binary cross-entropy takes the
fused gradient of dense_plan.py. The epoch's outputs are kept, so loss and metrics are computed once
an epoch (`EpochTally`), as for a chain.

Dense layers (trainable, built-in activations), the activation layers, Dropout, and Add, Subtract,
Average and Concatenate over 2-D tensors run in the plan's own buffers; any other built-in layer
(BatchNormalization, Embedding, Multiply, a frozen Dense, a call with ``training=``, ...), and a nested
model of built-in layers (a transfer-learning base model), runs by its own forward and backward inside
the step, with the masks an ``Embedding(mask_zero=True)`` or ``Masking`` hands such calls (as the layer
path hands them on); no gradient flows to what only the inputs make through layers without trainable
weights (a frozen base runs its forward only): graph_flow.py. The model's inputs and outputs have one
feature axis each (several are packed side by side: the inputs read from x, the outputs written for
the loss over them, models/multi_output.py, each output taking its columns of the gradient). A layer
called more than once (a Siamese network's shared Dense) is a Dense layer whose calls add their weight
gradients. No other shared layer, no activity regularizer but a Dense call's (added as the layer path adds
it; not on a layer of your own, nor one it holds, nor in a nested model: layers/user_terms.py), no loss or
metric added to the model itself, no mask reaching a layer that runs in the plan's buffers (or the
output): those train layer by layer, as before.
A Lambda, the ops on symbolic tensors (tf.keras 2's TFOpLambda) and any other layer of your own run by
their own code on the tape; the losses and metrics such a layer's call adds go to each step's loss and
the model's metrics (step_terms.py).
"""
import numpy

from .base import Backend
from .dense_plan import _FLOATS, DensePlan
from .sigmoid_crossentropy import fuses_sigmoid_crossentropy, sigmoid_crossentropy_gradient
from .graph_flow import constant_tensors, masked_tensors, nested_plannable, step_kinds, tape_inputs, users_layer
from .graph_plan_nodes import ActivationNode, Buffers, ConcatNode, DenseNode, DropoutNode, LayerNode, MergeNode
from .layer_stack import loss_settings
from .step_terms import terms_for

_MERGES = ("Add", "Subtract", "Average")


def build_graph_plan(model):
    """A `GraphPlan` for ``model`` (compiled and packed): a functional model, or a Sequential one the
    chain's plan does not take (an Embedding, a frozen layer, a Dense without bias, ...); None where
    the layer path must run (see the module docstring)."""
    ops, params, graph = model.ops, model._params, graph_of(model)
    if (ops.xp is not numpy or type(ops).dense_forward is not Backend.dense_forward
            or type(ops).dense_backward is not Backend.dense_backward or graph is None):
        return None
    inputs, nodes, outputs, _ = graph
    if params is None or params.dtype not in _FLOATS or any(len(t.shape) != 2 or t.shape[1] is None for t in outputs):
        return None  # (several outputs: packed side by side, 2-D each)
    if (any(getattr(model, name, None) for name in ("_copied", "_loss_tensors", "_metric_tensors"))
            or any(sum(n.layer is layer for n in nodes) > 1 for layer in model._activity)):  # (a shared one's penalty)
        return None
    kinds = [_kind(node) for node in nodes]
    if any(len(t.shape) != 2 for t in inputs) or None in kinds or "Dense" not in kinds:
        return None  # (without a Dense layer of its own the step would save nothing)
    if masked_tensors(nodes, outputs, _kind) is None:
        return None
    if not shares_dense_only(nodes, kinds):
        return None
    return GraphPlan(model)


def shares_dense_only(nodes, kinds):
    """Whether each layer called more than once (a Siamese network's shared embedding) runs as a Dense
    layer (``kinds``: `node_kind` of each node) at every call: the plans add such a layer's weight
    gradients over its calls; any other shared layer takes the layer path."""
    calls = [id(n.layer) for n in nodes]
    return all(kind == "Dense" for key, kind in zip(calls, kinds) if calls.count(key) > 1)


def graph_of(model):
    """``(inputs, nodes, outputs, packed input layout)``: a functional model's graph, a subclassed model's
    traced ``call``, or a built Sequential's chain of calls on its symbolic tensors; None where there is none."""
    if getattr(model, "_is_graph", False):
        return model._inputs, model._nodes, model._outputs, model._in_layout
    traced = getattr(model, "_plan_graph", None)  # (a subclassed model: its call traced, models/call_trace.py)
    if traced is not None:
        return traced()
    tensors = getattr(model, "_chain_tensors", None)
    if not tensors or len(tensors) != len(model._layers) + 1:
        return None
    return tensors[:1], [t.node for t in tensors[1:]], tensors[-1:], None


def salt(model, layer):
    """A Dropout or noise layer's random stream in a model's plans: from its position among the model's
    layers (a subclassed model's: among the layers its traced call calls) and its seed."""
    layers = model._layers
    if not any(l is layer for l in layers):
        layers = list({id(n.layer): n.layer for n in graph_of(model)[1]}.values())
    return next(k for k, l in enumerate(layers) if l is layer) * 7919 + (layer.seed or 0)


def node_kind(node, activity=False):
    """What the plan runs ``node`` as (a node kind of graph_plan_nodes.py), or None where it cannot; with
    ``activity`` (NumPy's graph step, for the model's own calls) a Dense layer's activity regularizer is taken."""
    kind = _node_kind(node, activity)
    regularized = getattr(node.layer, "activity_regularizer", None) is not None
    return None if regularized and kind != "Dense" else kind


def _kind(node):  # (`node_kind` for the model NumPy's graph step plans: a Dense layer's activity regularizer taken)
    return node_kind(node, activity=True)


def _node_kind(node, activity):
    from ..layers import masking
    from ..layers.advanced_activations import FOLDABLE
    from ..layers.core import Activation, Dense, Dropout
    from ..layers.merge import Add, Average, Subtract
    from ..layers.merge_concat import Concatenate
    from ..layers.user_terms import added_terms
    layer, kind = node.layer, type(node.layer)
    if ((getattr(layer, "activity_regularizer", None) is not None and not (activity and kind is Dense))
            or node.call_args is not None or node.several is not None):
        return None
    if users_layer(layer):  # (its call on the tape; an activity regularizer in it: the layer path)
        return None if "other" in added_terms(layer) else "Layer"
    if masking.makes_mask(layer):
        return "Layer"  # (an Embedding(mask_zero=True), a Masking: where its mask may go, graph_flow.masked_tensors)
    if not kind.__module__.startswith("gpunet.layers."):  # (a nested model of built-in layers: its own code)
        return "Layer" if nested_plannable(layer) else None
    if node.training is not None or not over_rows(node):
        return "Layer"
    if kind is Dense and (layer.trainable and not layer.activation.custom and layer.kernel.grad is not None
                          and layer.kernel.value.dtype == layer.kernel.grad.dtype):
        return "Dense"
    if (kind is Activation or kind in FOLDABLE) and not layer.activation.custom:
        return "Activation"
    if kind is Dropout and layer.noise_shape is None:
        return "Dropout"
    if kind in (Add, Subtract, Average) and node.as_list and len({tuple(t.shape) for t in node.inputs}) == 1:
        return kind.__name__
    if kind is Concatenate and node.as_list and layer.axis in (-1, 1):
        return "Concatenate"
    return "Layer"


def over_rows(node):
    """Whether every tensor of the call is rows of known width (batch, features)."""
    return all(len(t.shape) == 2 and t.shape[1] is not None for t in node.inputs + [node.output])


def plan_sources(model):
    """What a plan built for ``model`` depends on, node by node (compared by identity in ``matches``)."""
    graph = graph_of(model)
    out = []
    for node in graph[1] if graph is not None else ():
        layer = node.layer
        kernel, bias = getattr(layer, "kernel", None), getattr(layer, "bias", None)
        out.append((node, layer, layer.trainable, getattr(kernel, "value", None), getattr(bias, "value", None),
                    getattr(layer, "activation", None), getattr(layer, "rate", None),
                    getattr(layer, "activity_regularizer", None)))
    return out


def same_sources(now, then):
    """Whether two `plan_sources` lists name the same calls, layers, arrays, activations and rates."""
    return len(now) == len(then) and all(all(a is b or (type(a) is float and a == b) for a, b in zip(s, t))
                                         for s, t in zip(now, then))


class GraphPlan(DensePlan):
    """A functional model's fused training step (see the module docstring): ``load`` an epoch's data,
    then ``step(lo, hi)`` per batch; ``outputs[lo:hi]`` keeps each batch's outputs."""

    is_graph_plan = True  # (a functional model's, of any graph: models/functional.py)

    def __init__(self, model):
        ops = model.ops
        self.model, self.ops, self.loss = model, ops, model._loss_fn
        self.params, self.grads, self.dtype = model._params, model._grads, model._params.dtype
        self.prelude, self.input_drops = [], []
        self.apply = model.optimizer.apply
        self._loss_settings = loss_settings(self.loss)
        inputs, nodes, outputs, layout = graph_of(model)
        layout = layout or [(0, inputs[0].shape[1], None)]
        self.in_cols = [(off, width) for off, width, *_ in layout]
        self.n_inputs = len(inputs)
        number = {id(t): i for i, t in enumerate(inputs)}
        self.shapes = [tuple(t.shape[1:]) for t in inputs]  # each tensor's, after the batch axis
        constant, masked = constant_tensors(inputs, nodes), masked_tensors(nodes, outputs, _kind)
        kinds = step_kinds(nodes, constant, self.dtype, _kind)  # (a frozen Dense only the inputs reach: a DenseNode)
        self.fixed = [True] * len(inputs)  # per tensor: whether it takes no gradient (graph_flow.constant_tensors)
        out_tensor = outputs[0]
        producer = out_tensor.node.layer
        self.fused = (len(outputs) == 1 and node_kind(out_tensor.node) == "Dense" and not producer.activation.params
                      and fuses_sigmoid_crossentropy(self.loss, producer.activation.name))  # (none with a penalty)
        # the losses (and metrics) layers of your own add in their calls: each step's sum (step_terms.py)
        self.terms, adding = terms_for(model, nodes, self.dtype)
        self.nodes = []
        for node in nodes:
            kind, layer = kinds[id(node)], node.layer
            ins = [number[id(t)] for t in node.inputs]
            if kind == "Dropout" and not layer.rate:
                number[id(node.output)] = ins[0]  # (Dropout(0) is the identity)
                continue
            k, out, width = len(self.nodes), len(self.shapes), node.output.shape[-1]
            if kind == "Layer":
                need = not all(self.fixed[t] for t in ins)
                made = LayerNode(k, ins, out, layer, node.as_list, True if node.training is None else node.training,
                                 need)
                made.data = tape_inputs(node)
                made.terms = self.terms if id(node) in adding else None
                if id(node.inputs[0]) in masked or id(node.output) in masked:  # (its mask in and out: Buffers.masks)
                    made.masked = (id(node.inputs[0]) in masked, id(node.output) in masked)
            elif kind == "Dense":
                made = DenseNode(k, ins, out, layer, ops, fused=self.fused and node is out_tensor.node)
            elif kind == "Activation":
                made = ActivationNode(k, ins, out, width, layer, ops)
            elif kind == "Dropout":
                made = DropoutNode(k, ins, out, width, layer, ops)
            elif kind == "Concatenate":
                made = ConcatNode(k, ins, out, [self.shapes[t][-1] for t in ins])
            else:
                made = MergeNode(k, ins, out, width, kind)
            self.nodes.append(made)
            number[id(node.output)] = out
            self.shapes.append(tuple(node.output.shape[1:]))
            self.fixed.append(id(node.output) in constant)
        # a shared Dense layer's weight gradients: the first of its calls the backward pass reaches (the
        # last called) writes them, the others add theirs, as the layer path sums them from zero
        written = set()
        for made in reversed(self.nodes):
            if isinstance(made, DenseNode):
                made.adds = id(made.layer) in written
                written.add(id(made.layer))
        self.out = number[id(out_tensor)]
        self.outs = [number[id(t)] for t in outputs]  # several: side by side in ``outputs`` (and the targets)
        edges = numpy.cumsum([0] + [self.shapes[t][-1] for t in self.outs]).tolist()
        self.out_cols = list(zip(self.outs, edges[:-1], edges[1:]))
        self.out_units = edges[-1]
        self._last = [n for n in self.nodes if n.out == self.out]
        self._penalized = any(getattr(n, "activity", None) is not None for n in self.nodes)
        self._backward = [n for n in reversed(self.nodes) if not (self.fused and n.out == self.out)]
        self._sources = plan_sources(model)
        self._epoch_state()

    def matches(self, model):
        """Whether the model still is what the plan was built for (same calls, layers, weight arrays,
        activations and rates, loss and optimizer); else it must be built again."""
        return (model._params is self.params and model._loss_fn is self.loss
                and loss_settings(self.loss) == self._loss_settings and model.optimizer.apply == self.apply
                and same_sources(plan_sources(model), self._sources))

    def step(self, lo, hi):
        """Train on loaded samples ``lo:hi``: forward, gradient, backward, optimizer step."""
        b = self._buffers.get(hi - lo) or self._allocate(hi - lo)
        val, grads, x = b.val, b.grads, self.x[lo:hi]
        for i, (off, width) in enumerate(self.in_cols):  # (a width of None: one input, the whole row)
            val[i] = x[:, off:off + width] if width is not None else x[:, :-1]
        b.penalty = 0.0  # (the Dense calls' activity penalties, in graph order: graph_plan_nodes.DenseNode)
        for node in self.nodes:
            node.forward(b, val)
        self._activity_penalty = b.penalty
        grads[:] = b.none
        p, y = self.outputs[lo:hi], self.y[lo:hi]
        sw = None if self.sw is None else self.sw[lo:hi]
        if self.fused:
            self._last[0].backward_dz(b, val, sigmoid_crossentropy_gradient(self, val[self.out], p, y, sw, *b.fused))
        elif len(self.outs) == 1:
            numpy.copyto(p, val[self.out])
            grads[self.out] = self.loss.compute(self.ops, y, p, sw)[1]
        else:  # (the packed outputs' loss: models/multi_output.py; each output its columns of the gradient)
            for t, lo_col, hi_col in self.out_cols:
                numpy.copyto(p[:, lo_col:hi_col], val[t])
            dy = self.loss.compute(self.ops, y, p, sw)[1]
            for t, lo_col, hi_col in self.out_cols:
                b.give(t, dy[:, lo_col:hi_col])
        for node in self._backward:
            g = grads[node.out]
            if g is not None or getattr(node, "activity", None) is not None:
                node.backward(b, val, g)
        self._update()

    def _update(self):
        """DensePlan's, and the step's added losses in its penalty (`EpochTally` adds it to the batch's loss)."""
        super()._update()
        if self.terms is not None:
            added = float(self.terms.values.pop())
            if self.model._regularized or self._penalized:
                self.penalties[-1] += added
            else:
                self.penalties.append(added)

    def _allocate(self, size):
        if len(self._buffers) >= 4:  # fit needs two sizes (full and last batch); keep a few, not every size seen
            del self._buffers[next(iter(self._buffers))]
        b = self._buffers[size] = Buffers(self, size)
        b.none = [None] * len(self.shapes)
        if self.fused:
            shape = (size, self.out_units)
            b.fused = (numpy.empty(shape, self.dtype), numpy.empty(shape, bool), numpy.empty(shape, bool), b.scale)
            b.scale[()] = self.loss._scale(size, None, None) / self.out_units
        return b
