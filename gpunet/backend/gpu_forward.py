"""`GpuForward`: inference for a stack of Dense layers on the CuPy backend (predict, evaluate).

One launch per layer per batch (two for a softmax output: the GEMM, then the row
softmax), or for a small model one launch for all the rows (gpu_fused_forward.py), every
batch's output written straight into its rows of one output array:
no per-layer allocations, no concatenation, no host read until the caller asks.
The same kernels as training (`dense_launch.dense_forward_launch`), each layer with
its own activation; a BatchNormalization layer is one elementwise launch with its
moving statistics (gpu_batch_norm.inference_launch), a LayerNormalization layer one row launch
(gpu_layer_norm.inference_launch); Dropout and the noise layers are left out; an Embedding, a
pooling, a Reshape, ... (gpu_own_layers.py) runs its own forward between the launches. A Dense layer's
activity regularizer is nothing to predict; for evaluate, which adds its penalty to each batch's
loss as Keras does, ``run`` computes it from the layer's output after each batch (CuPy operations,
read once with the epoch's other values).
"""
import math
from contextlib import nullcontext

from . import cuda_kernels as K

from . import dense_launch as DL
from . import gpu_batch_norm as BN
from . import gpu_layer_norm as LN
from .norm_chain import NORMS
from .gpu_fused_forward import build_fused_forward
from .gpu_own_layers import forward_call, plannable as own_plannable
from .gpu_plan import OWN
from .gpu_step import workspace
from .layer_stack import Folded, as_rows, dense_stack, input_prelude, run_prelude, same_prelude, same_stack, takes_rows


def build_gpu_forward(model):
    """A `GpuForward` for ``model`` (built) on a CuPy backend, or None where the layer path runs."""
    from .cupy_backend import CupyBackend
    ops = model.ops
    if not isinstance(ops, CupyBackend) or not takes_rows(model._layers):
        return None
    stack = _stack(model)
    dense = [e for e in stack or () if isinstance(e, Folded)]
    if not dense:
        return None
    dtype = dense[0].layer.kernel.value.dtype
    if dtype not in K.KERNEL_DTYPES:
        return None
    if type(stack[-1]) in OWN:
        return None  # (the outputs the caller allocates are rows of the last Dense or normalization layer)
    specs = []
    for entry in stack:
        if type(entry) in OWN:  # (its own forward, between the launches: gpu_own_layers.py)
            if not own_plannable(entry, dtype, training=False):
                return None
            specs.append(None)
            continue
        layer, act = entry.layer, entry.activation
        if not isinstance(entry, Folded):
            if not (LN.inferable if LN.is_layer_norm(entry) else BN.inferable)(entry, dtype):
                return None
        elif layer.kernel.value.dtype != dtype or len(layer.input_shape) != 2:
            return None
        spec = K.activation_spec(act.name, act.params)
        if spec is None:
            return None
        specs.append(spec)
    return GpuForward(model, stack, specs, dtype)


class GpuForward:
    """``run(x, out, batch_size)``: ``out[:] = model(x)`` batch by batch (device arrays)."""

    def __init__(self, model, stack, specs, dtype):
        self.model, self.ops, self.specs, self.dtype = model, model.ops, specs, dtype
        self.stack = stack  # Folded Dense layers and FoldedNorm BatchNormalization layers
        self.sources = [e.source for e in stack if isinstance(e, Folded)]  # (kernel, bias, activation, Activation)
        self.norms = [e for e in stack if not isinstance(e, Folded)]
        self.widths = [_width(stack[0], 0)] + [_width(e, 1) for e in stack]  # each entry's input, then output
        self.units = self.widths[-1]  # the model's output width
        self._buffers = {}
        self.count = len(model._layers)
        self.prelude = input_prelude(model._layers)  # Normalization/Rescaling run over x first
        self.fused = build_fused_forward(self)  # a small model: every row in one launch
        # the Dense layers with an activity regularizer: (their place in the stack, the layer)
        self.activity = [(i, e.layer) for i, e in enumerate(stack)
                         if isinstance(e, Folded) and e.layer.activity_regularizer is not None]
        self._regularizers = _regularizers(model)

    def matches(self, model):
        return (model.ops is self.ops and len(model._layers) == self.count
                and same_prelude(model._layers, self.prelude)
                and same_stack(_stack(model), self.sources, self.norms) and _regularizers(model) == self._regularizers)

    def accepts(self, x):
        width = self.widths[0]  # the first layer's input: a row per sample, whatever x's shape
        return x.ndim >= 2 and x.shape[0] * width == x.size and x.dtype == self.dtype

    def run(self, x, out, batch_size, stream=None, penalties=None):
        """Every batch of ``x`` (n, K), or (n, ...) of K values a sample, through the layers into
        ``out`` (n, units), on ``stream``; with a list ``penalties``, each batch's activity penalty
        (a 0-d device array: the regularizers' penalties over the batch's rows) appended to it."""
        with stream if stream is not None else nullcontext():
            # (the kernels read rows as laid out: a column slice of another output, say, is copied first)
            x = self.ops.xp.ascontiguousarray(as_rows(run_prelude(self.prelude, x)))
            if penalties is not None and self.activity:
                for lo in range(0, x.shape[0], batch_size):  # (the hidden outputs of each batch are needed)
                    penalties.append(self._batch_penalty(x[lo:lo + batch_size], out[lo:lo + batch_size]))
                return
            if self.fused is not None:  # rows are independent: batches need not be launches
                if x.shape[0]:
                    self.ops.launch(self.fused.launch(x, out))
                return
            for lo in range(0, x.shape[0], batch_size):
                self._run_batch(x[lo:lo + batch_size], out[lo:lo + batch_size])

    def _run_batch(self, x, out):
        for launch in self.launches(x, out):
            launch() if callable(launch) else self.ops.launch(launch)  # (a callable: a layer's own forward)

    def _batch_penalty(self, x, out):
        """One batch through the layers, then its activity penalty, as the layer path adds it:
        each regularizer's penalty on its layer's output over the batch's rows."""
        self._run_batch(x, out)
        hidden, total = self._allocate(x.shape[0])[0], 0.0
        for i, layer in self.activity:
            y = out if i == len(self.specs) - 1 else hidden[i]
            total = total + layer.activity_regularizer(y) / x.shape[0]
        return total

    def launches(self, x, out):
        """The launches of one batch (x and out contiguous row blocks)."""
        rows, sm = x.shape[0], self.ops.sm_count
        hidden, workspaces = self._allocate(rows)
        plans, a = [], x
        for i, (entry, spec) in enumerate(zip(self.stack, self.specs)):
            y = out if i == len(self.specs) - 1 else hidden[i]
            if spec is None:  # a layer's own forward (a callable: `run` calls it in order)
                plans.append(forward_call(entry, a.reshape((rows,) + tuple(entry.input_shape[1:])),
                                          y.reshape((rows,) + tuple(entry.output_shape[1:])), False))
                a = y
                continue
            if not isinstance(entry, Folded):
                plans.append((LN if LN.is_layer_norm(entry) else BN).inference_launch(entry, spec, a, y, sm))
                a = y
                continue
            w, b = entry.source[:2]
            # inference: no z and no mask kept for a backward pass (null pointers)
            plans.append(DL.dense_forward_launch(a, w, b, y, None, None, spec, sm, workspaces[i]))
            if spec.softmax:
                plans.append(K.plan_softmax_forward(y, y, sm))
            a = y
        return plans

    def _allocate(self, rows):
        got = self._buffers.get(rows)
        if got is None:
            if len(self._buffers) >= 4:
                del self._buffers[next(iter(self._buffers))]
            xp, sm = self.ops.xp, self.ops.sm_count
            hidden = [xp.empty((rows, n), dtype=self.dtype) for n in self.widths[1:-1]]
            workspaces = [workspace(self, DL.forward_workspace(rows, n, k, self.dtype, sm))
                          if isinstance(e, Folded) else None
                          for e, k, n in zip(self.stack, self.widths, self.widths[1:])]
            got = self._buffers[rows] = (hidden, workspaces)
        return got


def _stack(model):
    """The model's Dense, BatchNormalization and LayerNormalization layers with their activations (Activation layers
    folded in), leaving out the layers that are the identity in inference (Dropout, the noise
    layers); None where another layer needs the layer path."""
    skipped = _identity_in_inference()
    # (one with an activity regularizer is kept: its penalty enters evaluate's loss, and dense_stack refuses it)
    kept = [l for l in model._layers if type(l) not in skipped or getattr(l, "activity_regularizer", None) is not None]
    return dense_stack(kept, passthrough=OWN, normalization=NORMS, prelude=True, activity=True)


def _regularizers(model):
    return [id(getattr(layer, "activity_regularizer", None)) for layer in model._layers]


def _identity_in_inference():
    """The layer types whose inference output is their input: these types exactly (a subclass
    may do more in inference)."""
    from ..layers.core import Dropout
    from ..layers.noise import AlphaDropout, GaussianDropout, GaussianNoise
    from ..layers.regularization import SpatialDropout1D, SpatialDropout2D, SpatialDropout3D
    return (Dropout, GaussianNoise, GaussianDropout, AlphaDropout, SpatialDropout1D, SpatialDropout2D,
            SpatialDropout3D)


def _width(entry, side):
    """An entry's input (``side`` 0) or output (1) width (a layer run by its own code: its values per sample)."""
    if isinstance(entry, Folded):
        return entry.layer.kernel.value.shape[side]
    if type(entry) in OWN:
        return math.prod((entry.output_shape if side else entry.input_shape)[1:])
    return entry.layer.input_shape[-1]  # (a normalization keeps the width)

