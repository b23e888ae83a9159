"""`DensePlan`: the training step of a stack of Dense layers on the NumPy backend, fused.

Why: at small batches a step costs per-call overhead, not arithmetic. The Pima MLP
(8-12-8-1, batch 10, 221 parameters) needs some 40 NumPy calls a step at 0.3 to 1 us
each, and the layer-by-layer path adds as many again: fresh temporaries, a bias add
and a bias sum per layer, Python floats NumPy must convert on every call, the loss
values and metrics of every batch. The plan instead

- folds each bias into its kernel. Kernel (K, N) and bias (N,) are adjacent in the
  flat parameter buffer, so ``[kernel; bias]`` is one (K+1, N) view, and each layer's
  input is kept with a trailing column of ones: one matmul gives ``x @ kernel + bias``,
  and in the backward pass one matmul gives the kernel and bias gradients together;
- writes every intermediate into buffers made once per batch size, and passes
  constants as 0-d arrays of the working dtype;
- fuses a sigmoid output with binary cross-entropy: the gradient with respect to the
  logits is ``(p - y) / n``, 0 where the loss clips ``p`` (what the chain rule through
  the clipped loss and the sigmoid gives, without either backward pass);
- keeps the epoch's outputs (``outputs``), so that the loss values and metrics are
  computed once per epoch (`EpochTally`) unless a callback wants them per batch;
- applies a Dropout between Dense layers in place, or on the input (into a copy of the batch:
  Keras's "dropout on the visible layer"), drawing its masks as the layer path does;
- runs a BatchNormalization between Dense layers (with the activation folded after it) through
  the layer's own forward and backward, so a Keras ``Dense(64)``, ``BatchNormalization()``,
  ``Activation('relu')`` stack keeps the fused step (a Dropout may follow it, not precede it);
- adds a Dense layer's ``activity_regularizer`` (Keras's blog's sparse autoencoder,
  ``Dense(32, activation='relu', activity_regularizer=l1(1e-5))``) as the layer path does: the
  penalty of the layer's output over the batch's rows in the step's loss (`penalties`), its
  gradient over the rows added to the output's before the activation's backward.

It computes what the layer path computes up to rounding (the folded bias is summed in
another order). fit and train_on_batch both use it, so runs stay repeatable bit for bit.
"""
import numpy

from .. import backend as B
from . import norm_chain as NC
from .base import Backend
from .dense_plan_buffers import BatchBuffers, DenseLayerView
from .layer_stack import (Folded, FoldedNorm, as_rows, dense_entries, dense_stack, input_prelude, loss_settings,
                          run_prelude, same_prelude, same_stack, takes_rows)
from .sigmoid_crossentropy import fuses_sigmoid_crossentropy, sigmoid_crossentropy_gradient
from ..layers.core import Dropout

_FLOATS = (numpy.dtype("float32"), numpy.dtype("float64"))
# Bound once: a step makes some 30 of these calls, each a little cheaper without the attribute lookup.
_dot, _maximum, _copyto, _add, _multiply, _greater = (numpy.dot, numpy.maximum, numpy.copyto, numpy.add, numpy.multiply,
                                                      numpy.greater)


def build_plan(model):
    """A `DensePlan` for ``model`` (compiled and packed), or None where the layer path must run:
    another backend or kernels, a layer other than Dense, Dropout and BatchNormalization between
    Dense layers (an Activation layer right after a linear Dense or a BatchNormalization is folded
    into it, a leading Flatten reads rows: layer_stack.py), no bias, a frozen layer, an activity
    regularizer on another layer than a Dense one, a user's activation, float16."""
    ops, params = model.ops, model._params
    if (ops.xp is not numpy or type(ops).dense_forward is not Backend.dense_forward
            or type(ops).dense_backward is not Backend.dense_backward):
        return None
    layers = model._layers
    if not layers or params is None or params.dtype not in _FLOATS or not takes_rows(layers):
        return None
    offsets = {path: offset for path, offset, _ in model._layout}
    stack = _stack(layers)
    if stack is None or not dense_entries(stack) or not _between(stack):
        return None  # (no Dense layer at all: the layer path)
    for entry in stack:
        if isinstance(entry, FoldedNorm) and not NC.plannable(entry, params.dtype):
            return None
    for entry in dense_entries(stack):
        layer = entry.layer
        if layer.bias is None or entry.activation.custom:  # a user's activation runs on the tape: the layer path
            return None
        kernel = offsets.get(layer.kernel.path)
        if kernel is None or offsets.get(layer.bias.path) != kernel + layer.kernel.value.size:
            return None
    return DensePlan(model, offsets, stack)


def _stack(layers):
    """The plan's `dense_stack` of ``layers`` (a Dense layer's activity regularizer taken)."""
    return dense_stack(layers, passthrough=(Dropout,), normalization=NC.NORMS, prelude=True, activity=True)


def _between(stack):
    """Whether every Dropout (its whole input dropped, noise_shape None) sits between two Dense
    layers or before the first, and every BatchNormalization between two Dense layers, the
    normalizations of a gap before its dropouts: dropout on the output, and normalization on the
    input or the output, are left to the layer path."""
    dense = [i for i, e in enumerate(stack) if isinstance(e, Folded)]
    for i, e in enumerate(stack):
        if isinstance(e, Folded):
            continue
        first = isinstance(e, Dropout) and i < dense[0]
        if not (first or dense[0] < i < dense[-1]) or (isinstance(e, Dropout) and e.noise_shape is not None):
            return False
        if isinstance(e, FoldedNorm) and isinstance(stack[i - 1], Dropout):
            return False
    return True


class DensePlan:
    """A model's fused training step (see the module docstring). ``load`` the data of an
    epoch, then ``step(lo, hi)`` per batch; ``outputs[lo:hi]`` keeps each batch's outputs."""

    _penalized, _activity_penalty = False, 0.0  # (GraphPlan's steps: no activity regularizer)

    def __init__(self, model, offsets, stack):
        self.model, self.ops, self.loss = model, model.ops, model._loss_fn
        self.params, self.grads = model._params, model._grads
        self.dtype = self.params.dtype
        self.prelude = input_prelude(model._layers)  # Normalization/Rescaling run over x as it is loaded
        self.layers = [DenseLayerView(e, self.params, self.grads, offsets[e.layer.kernel.path]) for e in dense_entries(stack)]
        # the Dropout layers after each hidden layer, drawing their masks as the layer path does (in
        # model order, a batch at a time, from the same generators; a rate of 0 draws nothing)
        self.others = [e for e in stack if not isinstance(e, Folded)]  # Dropout layers and FoldedNorm, in order
        self.dropouts, self.drops = [e for e in stack if isinstance(e, Dropout)], [[] for _ in self.layers]
        self._rates = [(d.rate, d.noise_shape) for d in self.dropouts]
        self.norms = [[] for _ in self.layers]  # each hidden layer's BatchNormalization layers (FoldedNorm)
        self.input_drops = []  # Dropout layers on the model's input
        below = -1  # the Dense layer a Dropout or BatchNormalization follows
        for e in stack:
            if isinstance(e, Folded):
                below += 1
            elif isinstance(e, FoldedNorm):
                self.norms[below].append(e)
            elif e.rate:
                (self.drops[below] if below >= 0 else self.input_drops).append(e)
        for layer, norms in zip(self.layers, self.norms):
            layer.relu = layer.relu and not norms  # the in-place relu reads z; a normalization sits between
        self._dropping = any(self.drops)
        self._normalizing = any(self.norms)
        loss, last = self.loss, self.layers[-1]
        self.out_units = last.units
        self._loss_settings = loss_settings(loss)
        # each Dense layer's activity regularizer (None for most), and whether any is there
        self.activity = [e.layer.activity_regularizer for e in dense_entries(stack)]
        self._dense = [e.layer for e in dense_entries(stack)]
        self._penalized = any(r is not None for r in self.activity)
        self.fused = fuses_sigmoid_crossentropy(loss, last.act) and self.activity[-1] is None
        self.apply = model.optimizer.apply
        self._epoch_state()

    def _epoch_state(self):
        """The epoch's data (`load`), the step's penalties, the buffers per batch size, and the
        constants of the working dtype."""
        self.x = self.y = self.sw = self.outputs = None
        self.penalties = []
        self._buffers = {}
        d = self.dtype
        self.zero, self.one = numpy.zeros((), d), numpy.ones((), d)
        # -z is clamped here before exp: sigmoid(z) < 1e-38 below it, far under the loss's clip
        self.exp_max = numpy.array(numpy.floor(numpy.log(numpy.finfo(d).max)), d)
        self.eps, self.one_minus_eps = numpy.empty((), d), numpy.empty((), d)

    def matches(self, model):
        """Whether the model still is what the plan was built for (same layers, weight
        arrays, activations, loss and optimizer); else it must be built again."""
        stack = _stack(model._layers)
        return (model._params is self.params and model._loss_fn is self.loss
                and same_prelude(model._layers, self.prelude)
                and loss_settings(self.loss) == self._loss_settings
                and model.optimizer.apply == self.apply
                and same_stack(stack, [p.source for p in self.layers], self.others)
                and [(d.rate, d.noise_shape) for d in self.dropouts] == self._rates
                and all(e.layer.activity_regularizer is r for e, r in zip(dense_entries(stack), self.activity)))

    def accepts(self, x, y, sample_weight=None):
        """Every shape the layer path accepts (GpuPlan's is narrower)."""
        return True

    def load(self, x, y, sample_weight, order=None, batch_size=None):
        """Copy the samples (rows ``order`` when given: the epoch's shuffle) into the plan's
        buffers, x beside a column of ones; forget the previous epoch's penalties."""
        x = as_rows(run_prelude(self.prelude, x))  # a model with a leading Flatten: each sample one row
        n, width = x.shape[0], x.shape[1]
        if self.x is None or self.x.shape[0] != n or self.y.shape[1:] != y.shape[1:] or self.y.dtype != y.dtype:
            self.x = numpy.ones((n, width + 1), self.dtype)
            self.y = numpy.empty(y.shape, y.dtype)
            self.outputs = numpy.empty((n, self.out_units), self.dtype)
        self.sw = None if sample_weight is None else numpy.empty(sample_weight.shape, sample_weight.dtype)
        for src, dst in ((x, self.x[:, :width]), (y, self.y), (sample_weight, self.sw)):
            if src is None:
                continue
            if order is None:
                dst[...] = src
                continue
            # take into a strided out= goes through a temporary the size of out: in chunks of
            # rows it stays in cache (twice as fast for MNIST-sized data)
            rows = max(1, 65536 // max(1, dst[:1].size))
            for lo in range(0, n, rows):
                numpy.take(src, order[lo:lo + rows], axis=0, out=dst[lo:lo + rows])
        eps = B.epsilon()  # read per epoch, as the loss reads it per call
        self.eps[()], self.one_minus_eps[()] = eps, 1.0 - eps
        self.penalties = []

    def step(self, lo, hi):
        """Train on loaded samples ``lo:hi``: forward, gradient, backward, optimizer step."""
        b = self._buffers.get(hi - lo) or self._allocate(hi - lo)
        x = a = self.x[lo:hi] if not self.input_drops else self._drop_input(b, self.x[lo:hi])
        zero, ops = self.zero, self.ops
        masks = [()] * len(self.layers) if self._dropping else None  # each hidden layer's dropout masks
        chains = [()] * len(self.layers) if self._normalizing else None  # each one's normalizations
        self._activity_penalty = 0.0
        for i, layer, z, out, nxt in b.forward:  # hidden layers, into the next one's input
            _dot(a, layer.w, out=z)
            if layer.relu:  # z becomes relu(z), contiguous then copied (faster than writing out directly)
                _maximum(z, zero, out=z)
                if self._penalized:
                    self._penalize(i, z)
                _copyto(out, z)
            else:
                b.y[i] = ops.activation_forward(layer.act, z, layer.params)
                h = b.y[i]
                if self._penalized:
                    self._penalize(i, h)
                if chains and self.norms[i]:
                    chains[i], h = NC.forward(ops, self.norms[i], h)
                _copyto(out, h)
            if masks:
                masks[i] = [ops.dropout_mask(out.shape, d.rate, self.dtype, d._generator) for d in self.drops[i]]
                for m in masks[i]:
                    _multiply(out, m, out=out)
            a = nxt
        dz = self._output_gradient(b, a, lo, hi)
        for layer, a, da, i in b.backward:
            _dot(a.T, dz, out=layer.g)
            _dot(dz, layer.kernel_t, out=da)
            for m in masks[i] if masks else ():  # through the dropout of the layer below's output
                _multiply(da, m, out=da)
            below = self.layers[i]
            if chains and chains[i]:
                da = NC.backward(ops, chains[i], da)
            if self.activity[i] is not None:  # (the gradient over the rows of the layer's output: z, or y)
                _add(da, self.activity[i].gradient(b.z[i] if below.relu else b.y[i]) / da.shape[0], out=da)
            if below.relu:  # da * (z > 0), as the reference: a NaN in da or z stays NaN (putmask would not)
                _greater(b.z[i], zero, out=b.mask[i])
                _multiply(da, b.mask[i], out=da)
                dz = da
            else:
                dz = ops.activation_backward(below.act, da, b.z[i], b.y[i], below.params)
        _dot(x.T, dz, out=self.layers[0].g)
        self._update()

    def _penalize(self, i, y):
        """Layer ``i``'s activity penalty on its output ``y`` into the step's, as the layer path adds it."""
        if self.activity[i] is not None:
            self._activity_penalty += self.ops.to_scalar(self.activity[i](y)) / y.shape[0]
            self._dense[i]._activity_output = y  # (a data-parallel fit's padding step reads it: distribute/sharding.py)

    def _update(self):
        """The step's regularizer penalties (and their gradients), the optimizer's update, the constraints."""
        model = self.model
        if model._regularized or self._penalized:  # (the layer path's sum: the activity penalties, then the weights')
            self.penalties.append(self._activity_penalty + model._weight_penalty(True))
        self.apply(self.params, self.grads)
        for w in model._constrained:
            w.value[...] = w.constraint(w.value)

    def _drop_input(self, b, x):
        """The batch ``x`` (ones in its last column) through the input's Dropout layers, into the
        batch buffer ``b.xin`` (the epoch's copy stays whole), masks drawn as the layer path draws them."""
        xin, rows = b.xin, b.xin[:, :-1]
        _copyto(xin, x)
        for d in self.input_drops:
            _multiply(rows, self.ops.dropout_mask(rows.shape, d.rate, self.dtype, d._generator), out=rows)
        return xin

    def _output_gradient(self, b, a, lo, hi):
        """The last layer's forward from its input ``a`` into ``outputs[lo:hi]``, and the
        loss gradient with respect to its pre-activation."""
        layer, z, p = self.layers[-1], b.z[-1], self.outputs[lo:hi]
        _dot(a, layer.w, out=z)
        sw = None if self.sw is None else self.sw[lo:hi]
        if not self.fused:
            y = self.ops.activation_forward(layer.act, z, layer.params)
            _copyto(p, y)
            dy = self.loss.compute(self.ops, self.y[lo:hi], p, sw)[1]
            if self.activity[-1] is not None:
                self._penalize(len(self.layers) - 1, y)
                dy = dy + self.activity[-1].gradient(y) / dy.shape[0]
            return self.ops.activation_backward(layer.act, dy, z, p, layer.params)
        return sigmoid_crossentropy_gradient(self, z, p, self.y[lo:hi], sw, b.dz[-1], b.clipped, b.mask[-1], b.scale)

    def _allocate(self, size):
        if len(self._buffers) >= 4:  # fit needs two sizes (full and last batch); keep a few, not every size seen
            del self._buffers[next(iter(self._buffers))]
        b = self._buffers[size] = BatchBuffers(self, size)
        return b
