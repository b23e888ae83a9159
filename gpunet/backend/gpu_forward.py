"""`GpuForward`: inference for a stack of Dense layers on the CuPy backend (predict, evaluate).

One launch per layer per batch (two for a softmax output: the GEMM, then the row
softmax), every batch's output written straight into its rows of one output array:
no per-layer allocations, no concatenation, no host read until the caller asks.
The same kernels as training (`dense_launch.dense_forward_launch`), each layer with
its own activation.
"""
from contextlib import nullcontext

from . import cuda_kernels as K

from . import dense_launch as DL
from .gpu_step import workspace
from .layer_stack import as_rows, dense_stack, same_stack, takes_rows


def build_gpu_forward(model):
    """A `GpuForward` for ``model`` (built) on a CuPy backend, or None where the layer path runs."""
    from .cupy_backend import CupyBackend
    ops = model.ops
    if not isinstance(ops, CupyBackend) or not takes_rows(model._layers):
        return None
    stack = _stack(model)
    if not stack:
        return None
    dtype = stack[0].layer.kernel.value.dtype
    if dtype not in K.KERNEL_DTYPES:
        return None
    specs = []
    for entry in stack:
        layer, act = entry.layer, entry.activation
        if layer.kernel.value.dtype != dtype or layer.activity_regularizer is not None:
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
        self.sources = [e.source for e in stack]  # (kernel, bias, activation, folded Activation layer)
        self.units = self.sources[-1][0].shape[1]  # the model's output width
        self._buffers = {}
        self.count = len(model._layers)

    def matches(self, model):
        return (model.ops is self.ops and len(model._layers) == self.count
                and same_stack(_stack(model), self.sources))

    def accepts(self, x):
        width = self.sources[0][0].shape[0]  # the first layer's input: a row per sample, whatever x's shape
        return x.ndim >= 2 and x.shape[0] * width == x.size and x.dtype == self.dtype

    def run(self, x, out, batch_size, stream=None):
        """Every batch of ``x`` (n, K), or (n, ...) of K values a sample, through the layers into
        ``out`` (n, units), on ``stream``."""
        x = as_rows(x)
        with stream if stream is not None else nullcontext():
            for lo in range(0, x.shape[0], batch_size):
                hi = min(x.shape[0], lo + batch_size)
                for launch in self.launches(x[lo:hi], out[lo:hi]):
                    self.ops.launch(launch)

    def launches(self, x, out):
        """The launches of one batch (x and out contiguous row blocks)."""
        rows, sm = x.shape[0], self.ops.sm_count
        hidden, workspaces = self._allocate(rows)
        plans, a = [], x
        for i, ((w, b, _, _), spec) in enumerate(zip(self.sources, self.specs)):
            y = out if i == len(self.specs) - 1 else hidden[i]
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
            hidden = [xp.empty((rows, s[0].shape[1]), dtype=self.dtype) for s in self.sources[:-1]]
            workspaces = [workspace(self, DL.forward_workspace(rows, s[0].shape[1], s[0].shape[0], self.dtype, sm))
                          for s in self.sources]
            got = self._buffers[rows] = (hidden, workspaces)
        return got


def _stack(model):
    """The model's Dense layers with their activations (Activation layers folded in), Dropout
    being the identity in inference; None where another layer needs the layer path."""
    from ..layers.core import Dropout
    return dense_stack([l for l in model._layers if type(l) is not Dropout])
