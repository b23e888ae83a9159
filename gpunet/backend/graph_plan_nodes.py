"""The layer calls `GraphPlan` (graph_plan.py) runs, each as a node over numbered tensors.

Each node reads its inputs' values from ``val`` (a list indexed by tensor number) and puts its
output there, in buffers of the batch size's `Buffers`; its backward takes the gradient of its
output and hands one to each input through `Buffers.give`: the first gradient a tensor receives is
kept as it is (an Add hands the same array to each of its inputs, a Concatenate a column view of
its own), any later one is added into the tensor's own buffer, so no array a node handed on is
ever written to. The arithmetic is the layer path's (backend/base.py's dense_forward and
dense_backward, the merge layers'), in preallocated buffers.
"""
import numpy

from ..layers import masking
from .graph_flow import forward_marked

_dot, _add, _subtract, _multiply, _maximum, _greater, _copyto, _reduce = (
    numpy.dot, numpy.add, numpy.subtract, numpy.multiply, numpy.maximum, numpy.greater, numpy.copyto,
    numpy.add.reduce)


class Buffers:
    """Every array one batch size needs: per tensor its own gradient buffer (`own`, made on first use:
    a sequence's length may be known only then), per node what its `Node.allocate` made; ``grads``
    the gradients received in the current step."""

    def __init__(self, plan, rows):
        dtype = plan.dtype
        self.rows, self.fixed, self.dtype = rows, plan.fixed, dtype  # fixed: the tensors that take no gradient
        self._own = [None] * len(plan.shapes)
        self.val = [None] * len(plan.shapes)
        self.grads = [None] * len(plan.shapes)
        self.node = [node.allocate(rows, dtype) for node in plan.nodes]
        self.masks = {}  # the current step's masks, by tensor (an Embedding(mask_zero=True)'s, ...)
        self.scale = numpy.empty((), dtype)  # the fused output gradient's 1 / n, before sample weights

    def give(self, t, g):
        """Hand the gradient ``g`` to tensor ``t`` (nothing for the model's inputs and what only they make:
        graph_flow.constant_tensors)."""
        if self.fixed[t]:
            return
        have = self.grads[t]
        if have is None:
            self.grads[t] = g
            return
        own = self.own(t, have.shape)
        _add(have, g, out=own)  # (``have`` may be another tensor's: never written in place)
        self.grads[t] = own

    def own(self, t, shape):
        """Tensor ``t``'s own gradient buffer, of ``shape``."""
        own = self._own[t]
        if own is None or own.shape != shape:
            own = self._own[t] = numpy.empty(shape, self.dtype)
        return own


class Node:
    """One layer call: ``ins`` and ``out`` are tensor numbers (the model's inputs come first and take no
    gradient); ``k`` is the node's index in the plan, ``width`` its output's features."""

    def __init__(self, k, ins, out, width):
        self.k, self.ins, self.out, self.width = k, ins, out, width

    def allocate(self, rows, dtype):
        return None


class DenseNode(Node):
    """A Dense layer: ``val[out] = act(val[in] @ kernel + bias)``; with ``fused`` the output layer
    of a fused sigmoid + binary cross-entropy step, left linear here (the plan computes the rest)."""

    def __init__(self, k, ins, out, layer, ops, fused=False):
        super().__init__(k, ins, out, layer.units)
        self.layer, self.adds = layer, False  # adds: a shared layer's call that adds its weight gradients
        self.w, self.b = layer.kernel.value, None if layer.bias is None else layer.bias.value
        self.wt = self.w.T
        self.gw, self.gb = layer.kernel.grad, None if layer.bias is None else layer.bias.grad
        act = layer.activation
        self.act, self.params, self.ops = ("linear" if fused else act.name), act.params, ops
        self.relu = self.act == "relu" and not self.params
        self.units = self.w.shape[1]
        self.zero = None
        self.activity = layer.activity_regularizer  # (NumPy's graph step takes it: graph_plan.node_kind)

    def allocate(self, rows, dtype):
        self.zero = numpy.zeros((), dtype)
        return (numpy.empty((rows, self.units), dtype), numpy.empty((rows, self.units), dtype),
                numpy.empty((rows, self.units), bool), [None])  # z, dz, relu's mask, the activation's output

    def forward(self, b, val):
        z, _, _, y = b.node[self.k]
        _dot(val[self.ins[0]], self.w, out=z)
        if self.b is not None:
            _add(z, self.b, out=z)
        if self.relu:  # in place: relu(z) > 0 exactly where z > 0, all its backward needs
            _maximum(z, self.zero, out=z)
            val[self.out] = z
        elif self.act == "linear":
            val[self.out] = z
        else:
            val[self.out] = y[0] = self.ops.activation_forward(self.act, z, self.params)
        if self.activity is not None:  # (its penalty in the step's, as the layer path adds it: graph_run.py)
            out = val[self.out]
            b.penalty += self.ops.to_scalar(self.activity(out)) / out.shape[0]
            self.layer._activity_output = out  # (a data-parallel fit's padding step reads it)

    def backward(self, b, val, g):
        z, dz, mask, y = b.node[self.k]
        if self.activity is not None:  # (the penalty's gradient over the rows, at the output: g may be None)
            out = val[self.out]
            penalty = self.activity.gradient(out) / out.shape[0]
            g = penalty if g is None else g + penalty
        if self.relu:
            _greater(z, self.zero, out=mask)
            _multiply(g, mask, out=dz)
        elif self.act == "linear":
            dz = g
        else:
            dz = self.ops.activation_backward(self.act, g, z, y[0], self.params)
        self.backward_dz(b, val, dz)

    def backward_dz(self, b, val, dz):
        """From the gradient with respect to the pre-activation."""
        t = self.ins[0]
        if self.adds:
            _add(self.gw, _dot(val[t].T, dz), out=self.gw)
            if self.gb is not None:
                _add(self.gb, _reduce(dz, axis=0), out=self.gb)
        else:
            _dot(val[t].T, dz, out=self.gw)
            if self.gb is not None:
                _reduce(dz, axis=0, out=self.gb)
        if b.fixed[t]:
            return
        if b.grads[t] is None:  # (the usual case: straight into the tensor's own buffer)
            b.grads[t] = _dot(dz, self.wt, out=b.own(t, (b.rows, self.wt.shape[1])))
        else:
            b.give(t, _dot(dz, self.wt))


class MergeNode(Node):
    """Add, Subtract or Average over inputs of one shape."""

    def __init__(self, k, ins, out, width, kind):
        super().__init__(k, ins, out, width)
        self.kind, self.n = kind, len(ins)

    def allocate(self, rows, dtype):
        return numpy.empty((rows, self.width), dtype), numpy.array(1.0 / self.n, dtype)

    def forward(self, b, val):
        y, inv = b.node[self.k]
        if self.kind == "Subtract":
            _subtract(val[self.ins[0]], val[self.ins[1]], out=y)
        else:
            _add(val[self.ins[0]], val[self.ins[1]], out=y)
            for t in self.ins[2:]:
                _add(y, val[t], out=y)
            if self.kind == "Average":
                _multiply(y, inv, out=y)
        val[self.out] = y

    def backward(self, b, val, g):
        _, inv = b.node[self.k]
        if self.kind == "Average":
            g = g * inv
        b.give(self.ins[0], g)
        if self.kind == "Subtract":
            b.give(self.ins[1], -g)
            return
        for t in self.ins[1:]:
            b.give(t, g)


class ConcatNode(Node):
    """Concatenate along the features: each input a column block of the output."""

    def __init__(self, k, ins, out, widths):
        super().__init__(k, ins, out, sum(widths))
        edges = numpy.cumsum([0] + list(widths)).tolist()
        self.blocks = list(zip(edges[:-1], edges[1:]))

    def allocate(self, rows, dtype):
        return numpy.empty((rows, self.blocks[-1][1]), dtype)

    def forward(self, b, val):
        y = b.node[self.k]
        for t, (lo, hi) in zip(self.ins, self.blocks):
            _copyto(y[:, lo:hi], val[t])
        val[self.out] = y

    def backward(self, b, val, g):
        for t, (lo, hi) in zip(self.ins, self.blocks):
            b.give(t, g[:, lo:hi])


class DropoutNode(Node):
    """Dropout (rate > 0, no noise_shape): its mask drawn as the layer draws it."""

    def __init__(self, k, ins, out, width, layer, ops):
        super().__init__(k, ins, out, width)
        self.layer, self.ops = layer, ops

    def allocate(self, rows, dtype):
        return numpy.empty((rows, self.width), dtype), [None]

    def forward(self, b, val):
        y, mask = b.node[self.k]
        a = val[self.ins[0]]
        mask[0] = self.ops.dropout_mask(a.shape, self.layer.rate, a.dtype, self.layer._generator)
        _multiply(a, mask[0], out=y)
        val[self.out] = y

    def backward(self, b, val, g):
        b.give(self.ins[0], g * b.node[self.k][1][0])


class ActivationNode(Node):
    """An activation layer of its own (Activation, LeakyReLU, ReLU, ...)."""

    def __init__(self, k, ins, out, width, layer, ops):
        super().__init__(k, ins, out, width)
        act = layer.activation
        self.act, self.params, self.ops = act.name, act.params, ops

    def allocate(self, rows, dtype):
        return [None]

    def forward(self, b, val):
        y = b.node[self.k]
        val[self.out] = y[0] = self.ops.activation_forward(self.act, val[self.ins[0]], self.params)

    def backward(self, b, val, g):
        b.give(self.ins[0], self.ops.activation_backward(self.act, g, val[self.ins[0]], b.node[self.k][0],
                                                         self.params))


class LayerNode(Node):
    """Any other built-in layer (BatchNormalization, Embedding, Multiply, a frozen Dense, ...), run by
    its own forward and backward, as the layer path runs it; ``training``: the mode of its calls
    (a call's own ``training=``, else True); ``need``: whether any of its inputs takes a gradient."""

    masked = None  # (whether its input takes a mask, whether its output hands one on): graph_flow.masked_tensors
    data = None  # (a tape layer's inputs that are the model's own: graph_flow.tape_inputs)
    terms = None  # (the plan's step_terms.StepTerms, where the losses a layer of your own adds go)

    def __init__(self, k, ins, out, layer, as_list, training, need):
        super().__init__(k, ins, out, None)
        self.layer, self.as_list, self.training, self.need = layer, as_list, training, need

    def forward(self, b, val):
        forward_marked(self.layer, self.data, self._forward, b, val, terms=self.terms)

    def _forward(self, b, val):
        args = [val[t] for t in self.ins]
        if self.masked is None:
            val[self.out] = self.layer.forward(args if self.as_list else args[0], self.training)
            return
        takes, hands_on = self.masked
        val[self.out], mask = masking.forward(self.layer, args[0], b.masks[self.ins[0]] if takes else None,
                                              self.training)
        if hands_on:
            b.masks[self.out] = mask

    def backward(self, b, val, g):
        dx = self.layer.backward(g, self.need)
        if self.need:
            for t, d in zip(self.ins, dx if self.as_list else [dx]):
                b.give(t, d)
