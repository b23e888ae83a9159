"""`GpuPlan`: the training step of a stack of Dense layers on the CuPy backend, as one
fixed list of kernel launches (the CuPy counterpart of dense_plan.py).

Why: on a GPU a small step costs launches, not arithmetic (the Pima MLP's step was
some 60 CuPy launches, 587 us on an H200, for 4.5 us of launch floor each). The plan

- allocates every buffer once per batch size, and computes the step's launches once, as
  plain Python data (`cuda_kernels.Launch`): the tests run the same list through the
  kernels' CPU emulation and count it;
- runs a step as: the batch gather (step.cu), one launch per Dense layer forward, the
  loss kernel (the output activation, the loss's gradient and the model's outputs in
  one launch), one launch per Dense layer backward, and the optimizer's fused update:
  2 L + 3 launches for L layers, none of which the host waits for;
- keeps the batch's position, and the per-step optimizer scalars, in device memory, so
  the same launches can be captured once as a CUDA graph and replayed (gpu_graphs.py);
- keeps the epoch's outputs on the device; the loss and metrics are computed from them
  once per epoch (`EpochTally`), or per step when a callback asks for batch logs.

A layer whose GEMMs run faster on cuBLAS (the backend's dispatch rule) runs there, at
the cost of a few more launches and of capture: CuPy refuses cuBLAS inside a capture.
A model small enough for one block's shared memory runs each step as a single launch
(gpu_fused_step.py) with the same buffers, tables and bookkeeping. Which models a plan takes:
gpu_plan_build.py.
"""
from contextlib import nullcontext

import numpy

from . import cuda_kernels as K
from . import gpu_batch_norm as BN
from . import gpu_layer_norm as LN
from . import step_kernels as S
from .gpu_plan_follow import FollowChanges
from .gpu_graphs import GraphRunner
from .gpu_regularizers import StepConstraints, StepPenalties, activity_regularized
from .gpu_own_layers import OwnEntry, own_layer_types
from .gpu_step import NOISES, DenseEntry, DropoutEntry, NoiseEntry, Step
from .norm_chain import NORMS
from .layer_stack import (Folded, FoldedNorm, dense_stack, input_prelude, loss_settings, run_prelude, same_prelude,
                          same_stack)

OWN = own_layer_types()  # the layers the step runs by their own code (gpu_own_layers.py)


class GpuPlan(FollowChanges):
    """A model's GPU training step. ``load`` an epoch's data, then ``step(lo, hi)`` per batch;
    ``outputs[lo:hi]`` holds each batch's outputs (on the device) for `EpochTally`."""

    step_class = Step  # (gpu_graph_plan.GpuGraphPlan's: GraphStep)
    noises = ()  # the chain's GaussianNoise / GaussianDropout / AlphaDropout entries (`_take`)

    def __init__(self, model, loss_kernel, optimizer, stack, regs=(), cons=(), activity=()):
        self.model, self.ops, self.loss = model, model.ops, model._loss_fn
        self.loss_kernel, self.optimizer = loss_kernel, optimizer
        self._loss_settings = loss_settings(self.loss)
        self.params, self.dtype = model._params, model._params.dtype
        self._take(model, stack, loss_kernel)
        self.apply = model.optimizer.apply
        xp = self.ops.xp
        self.state = xp.zeros((3,), dtype="int64")  # step.cu: [next batch, current batch, dropout seed]
        self.table = None  # per-step optimizer scalars of the epoch: (steps, optimizer.table_width)
        # x, y_src, sw_src: the data the gather reads; y, sw: the epoch's targets and weights in
        # training order, and outputs the model's outputs, which EpochTally reads
        self.x = self.y_src = self.sw_src = self.order = self.outputs = self.y = self.sw = None
        # weight regularizers and hidden Dense layers' activity regularizers (gpu_regularizers.py)
        self.regs = StepPenalties(self.ops, regs, activity, self.dtype) if regs or activity else None
        self.constraints = StepConstraints(self.ops, cons) if cons else None
        self.weighted = False
        self.y_width, self.y_tail = 1, (1,)
        self._steps = {}
        self._graphs = GraphRunner(self.ops)
        self.stream = self._graphs.stream
        self.eps = 1e-7
        self._next = 0
        self._per_step, self._baked = None, optimizer.baked()
        self._order_buf, self._layout, self._converted = None, None, {}
        self._y_plain, self._smoothing = None, ()  # the loaded targets before label smoothing (gpu_plan_follow.py)

    def _take(self, model, stack, loss_kernel):
        """The plan's layers from ``stack`` (layer_stack.dense_stack's): ``sequence``, ``layers`` (the
        Dense ones, the output last), ``dropouts``, ``norms``, and the input ``width``."""
        self.prelude = input_prelude(model._layers)  # Normalization/Rescaling run over x as it is loaded
        self.sequence = []  # DenseEntry / DropoutEntry / NoiseEntry in model order (Dropout(0) left out)
        self.noises = []  # every GaussianNoise, GaussianDropout and AlphaDropout layer's NoiseEntry (active or not)
        for entry in stack:  # layer_stack.dense_stack's: Folded Dense layers, FoldedNorm and Dropout layers
            if isinstance(entry, FoldedNorm):
                act = entry.activation
                kind = LN.LayerNormEntry if LN.is_layer_norm(entry) else BN.NormEntry
                self.sequence.append(kind(entry, K.activation_spec(act.name, act.params)))
                continue
            if type(entry) in OWN:  # (an Embedding, a pooling, a Reshape, ...: its own code, between graphs)
                self.sequence.append(OwnEntry(entry))
                continue
            if not isinstance(entry, Folded):
                salt = model._layers.index(entry) * 7919 + (entry.seed or 0)  # (the model position it always had)
                if type(entry) in NOISES:
                    self.noises.append(NoiseEntry(entry, salt))
                    if self.noises[-1].active:
                        self.sequence.append(self.noises[-1])
                elif entry.rate:
                    self.sequence.append(DropoutEntry(entry, salt))
                continue
            act = entry.activation
            fused = loss_kernel.fused and entry is stack[-1]  # the loss kernel activates it
            spec = K.activation_spec("linear", {}) if fused else K.activation_spec(act.name, act.params)
            self.sequence.append(DenseEntry(entry, spec))
        self.layers = [e for e in self.sequence if isinstance(e, DenseEntry)]
        self.dropouts = [e for e in self.sequence if isinstance(e, DropoutEntry)]
        self.norms = [e for e in self.sequence if isinstance(e, (BN.NormEntry, LN.LayerNormEntry))]
        self._others = [e for e in stack if not isinstance(e, Folded)]  # Dropout, noise, own-code layers, FoldedNorm
        first = self.sequence[0] if self.sequence else None
        self.width = first.width if isinstance(first, OwnEntry) else self.layers[0].w.shape[0]

    # ---- what fit sees ----------------------------------------------------------------------------
    @property
    def penalties(self):
        """The regularizers' penalty of each step trained so far this epoch, as `EpochTally` adds
        them to the batch losses ([] without regularizers)."""
        return [] if self.regs is None else self.regs.values(self._next)

    def step_penalty(self):
        """The regularizers' penalty of the step just trained, a device scalar (no read), or None."""
        return None if self.regs is None else self.regs.partial[self._next - 1].sum()

    def matches(self, model):
        """Whether the model is still what the plan was built for (see DensePlan.matches)."""
        from ..layers.core import Dropout
        stack = dense_stack(model._layers, passthrough=(Dropout,) + NOISES + OWN, normalization=NORMS, prelude=True,
                            activity=True)
        return (self._same_setup(model) and same_prelude(model._layers, self.prelude)
                and same_stack(stack, [p.source for p in self.layers], self._others)
                and all(e.source[1:] == (e.source[0].rate, e.source[0].noise_shape) for e in self.dropouts)
                and not any(e.changed() for e in self.noises))

    def _same_setup(self, model):
        """What every GPU step plan depends on beyond its layers: arrays, loss (and its settings: label
        smoothing, Huber's delta, ...), backend, optimizer, regularizers and constraints."""
        return (model._params is self.params and model._loss_fn is self.loss and model.ops is self.ops
                and loss_settings(self.loss) == self._loss_settings and model.optimizer.apply == self.apply
                and (self.regs.matches(model) if self.regs is not None
                     else not model._regularized and activity_regularized(model._layers) == [])
                and (self.constraints.matches(model) if self.constraints is not None else not model._constrained))

    def accepts(self, x, y, sample_weight=None):
        """Whether arrays of these shapes fit the kernels (else the layer path runs, and reports
        any mismatch as the loss does); sample weights one per sample (not one column per output)."""
        n = x.shape[0]
        if n == 0 or y.shape[0] != n or x.ndim < 2 or int(numpy.prod(x.shape[1:])) != self.width:
            return False  # (more than 2-D: a leading Flatten's input, read as rows)
        if sample_weight is not None and sample_weight.ndim != 1:
            return False  # (weights per output: the layer path)
        width = 1 if y.ndim == 1 else int(numpy.prod(y.shape[1:]))
        return width == (1 if self.loss_kernel.sparse else self.layers[-1].units)

    def load(self, x, y, sample_weight, order=None, batch_size=None, streamed_rows=None):
        """The epoch's data (device arrays, used in place) and shuffle ``order`` (host indices or
        None); resets the batch position and writes the epoch's optimizer scalars. Streamed
        (``x`` None, ``streamed_rows`` samples): each `step` brings its batch of x, and y and
        sample_weight are already in the epoch's order."""
        from .. import backend as B
        xp = self.ops.xp
        n = streamed_rows if x is None else x.shape[0]
        batch_size = batch_size or n
        steps = -(-n // batch_size)
        self._graphs.wait_for_current()
        with self._stream():
            # The steps' launches point at these buffers: same sources, same buffers (no rebuild,
            # no recapture); the order is copied into a buffer of its own each epoch.
            x_src = None if x is None else self._resident("x", run_prelude(self.prelude, x), (n, self.width))
            y_src = self._resident("y", y, (n, -1))
            sw_src = None if sample_weight is None else self._resident("sw", sample_weight, (n,))
            self.weighted, self.y_width = sw_src is not None, y_src.shape[1]
            y_src = self._smoothed_targets(y_src)  # (label smoothing: what the loss kernels read)
            self.y_tail = tuple(y.shape[1:])  # (a loss without a kernel sees the targets' own shape)
            if order is not None and (self._order_buf is None or self._order_buf.shape[0] != n):
                self._order_buf = xp.empty((n,), dtype="int64")
            if order is not None:
                self._write(self._order_buf, order)
            order_dev = None if order is None else self._order_buf
            # kept alive here: the steps' gathers read them through their address tables
            self.x, self.y_src, self.sw_src, self.order = x_src, y_src, sw_src, order_dev
            # steps built (and graphs captured) for the same layout serve this epoch's data, wherever
            # it lies (fit called again on fresh arrays, a rank's new shard): only their tables change;
            # the outputs hold the most samples loaded so far (a generator's batches are loaded one by
            # one, its short last batch among them, without a rebuild each time)
            layout = (self.y_width, self.y_tail, self.weighted, B.epsilon())
            if layout != self._layout or self.outputs is None or self.outputs.shape[0] < n:
                self._layout = layout
                self.outputs = xp.empty((n, self.layers[-1].units), dtype=self.dtype)
                self._steps.clear()
            for built in self._steps.values():
                built.point_at(self)
            # what EpochTally reads: the epoch's targets and weights in training order
            self.y = y if order is None else xp.take(y, order_dev, axis=0)
            self.sw = None if sample_weight is None else (
                sample_weight if order is None else xp.take(sample_weight, order_dev, axis=0))
            if self.table is None or self.table.shape[0] < steps:
                self.table = xp.empty((max(steps, 1), self.optimizer.table_width), dtype=self.dtype)  # scalars' rows
                self._steps.clear()
            if self.regs is not None and self.regs.ensure(steps, batch_size):
                self._steps.clear()
            self.eps = B.epsilon()
            self._write(self.state, [0, 0, self._dropout_seed()])
            self._write_table(0, steps)
        self._next, self._batch = 0, batch_size

    def stream_context(self):
        """The plan's stream as the current one (streamed batches are uploaded against it)."""
        return self._stream()

    def step(self, lo, hi, x_batch=None):
        """Train on the batch ``lo:hi`` of the loaded epoch (batches must come in order);
        ``x_batch``: its rows of x, when the epoch is streamed (a buffer the step reads)."""
        if lo != self._next * self._batch:
            raise RuntimeError(f"GpuPlan.step: batches run in order; expected the batch at {self._next * self._batch}, "
                               f"received {lo}:{hi}.")
        self._follow_optimizer()
        self._follow_model()
        if x_batch is not None and self.prelude:  # a streamed batch: normalized into a buffer of the plan's
            with self._stream():
                x_batch = self._resident(("prelude", x_batch.shape), run_prelude(self.prelude, x_batch),
                                         x_batch.shape)
        key = (hi - lo, self._batch, None if x_batch is None else S.address(x_batch))
        step = self._steps.get(key) or self._build(key, x_batch)
        with self._stream():
            self._graphs.run(step, self.ops.launch, replay=hi - lo == self._batch)
        self.optimizer.advance(1)
        self._next += 1

    def run_steps(self, first, count):
        """Train on ``count`` full batches from batch ``first`` on: what as many `step` calls do,
        with the same launches and values, in fewer host calls (`GraphRunner.run_many`). For
        epochs whose batches no callback looks at."""
        if first != self._next:
            raise RuntimeError(f"GpuPlan.run_steps: batches run in order; expected batch {self._next}, "
                               f"received {first}.")
        if count <= 0:
            return
        self._follow_optimizer()
        self._follow_model()
        key = (self._batch, self._batch, None)
        step = self._steps.get(key) or self._build(key)
        with self._stream():
            self._graphs.run_many(step, self.ops.launch, count)
        self.optimizer.advance(count)
        self._next += count

    def publish(self):
        """Make the caller's current stream wait for the plan's work (outputs, weights)."""
        self._graphs.publish()

    # ---- building ---------------------------------------------------------------------------------
    def _build(self, key, x_batch=None):
        if len(self._steps) >= 4:
            del self._steps[next(iter(self._steps))]
        with self._stream():
            step = self._steps[key] = self.step_class(self, key[0], key[1], x_batch)
        return step

    def _resident(self, name, array, shape):
        """``array`` as the kernels read it: C-contiguous, of the plan's dtype, ``shape``. Itself
        where it already is (no copy); else converted into a buffer of the plan's, refilled at
        every load (so an array the caller refills in place is read afresh)."""
        a = array.reshape(shape)
        if a.dtype == self.dtype and a.flags.c_contiguous:
            return a
        buf = self._converted.get(name)
        if buf is None or buf.shape != a.shape:
            buf = self._converted[name] = self.ops.xp.empty(a.shape, dtype=self.dtype)
        buf[...] = a
        return buf

    def _stream(self):
        return self.stream if self.stream is not None else nullcontext()

    def _dropout_seed(self):
        """A fresh seed per epoch for the Dropout kernels, from gpunet's generator (repeatable
        with set_random_seed); none is drawn without Dropout, so other runs' draws are unchanged."""
        if not self.dropouts and not any(e.active for e in self.noises):
            return 0
        from . import random as _random
        return int(_random.generator().integers(0, 2**62))

    _write = staticmethod(S.write_host)

    def _write_table(self, first, count):
        opt = self.optimizer.optimizer
        values = self.optimizer.scalars(opt.iterations + 1, count)
        self._per_step = self.optimizer.per_step()
        if count:
            self._write(self.table[first:first + count], values)
        if self.optimizer.write_factors(self.ops, first, count, self.table.shape[0]):
            self._steps.clear()
