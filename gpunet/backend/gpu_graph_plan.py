"""`GpuGraphPlan`: the GPU training step of a functional model that is not a chain (a residual
connection, a wide-and-deep model, several inputs side by side), the counterpart of gpu_plan.py's
chain step and of graph_plan.py's NumPy step.

Why: layer by layer, such a model's step on a GPU is some 5 to 10 CuPy launches a layer plus the
graph walk in Python, every step. The plan instead builds the step once per batch size as a fixed
list of entries over buffers of its own (`GraphStep`), as gpu_step.Step does for a chain: the batch
gather, each Dense layer's forward (gpunet's kernel, or cuBLAS and a bias+activation launch, as the
backend's dispatch rule says), the merges, the loss kernel (the output layer's activation and the
loss gradient), each layer's backward, the optimizer's fused update; the same launches every step,
so the step is captured as a CUDA graph and replayed (gpu_graphs.py), and the loss and metrics are
tallied once an epoch (`EpochTally`).

The merges (Add, Subtract, Average, Concatenate) and the gradients' sums where a tensor feeds
several calls are CuPy elementwise operations into the plan's buffers (`Elementwise` entries: no
allocation, so they are captured with the kernels). Where capture fails the step runs eagerly
(gpu_graphs.py warns once).

It takes Dense layers (trainable, activations with a kernel) and those merges over 2-D tensors, the
output a Dense layer whose activation and loss have a loss kernel; one output, no shared layer, no
call with ``training=``; the weights' regularizers, constraints and the optimizer as the chain's
plan takes them. Anything else trains layer by layer.
"""
from . import cuda_kernels as K
from . import step_kernels as S
from .gpu_optimizer import StepOptimizer
from .gpu_plan import GpuPlan
from .gpu_regularizers import constrained_weights, regularized_weights
from .gpu_graph_step import GraphStep
from .gpu_step import DenseEntry
from .graph_plan import _kind, _sources, graph_of
from .layer_stack import Folded

_MERGES = ("Add", "Subtract", "Average", "Concatenate")


def build_gpu_graph_plan(model):
    """A `GpuGraphPlan` for the functional ``model`` (compiled and packed) on a CuPy backend, or None
    where the layer path must run (see the module docstring)."""
    from .cupy_backend import CupyBackend
    ops, params, graph = model.ops, model._params, graph_of(model)
    if not isinstance(ops, CupyBackend) or params is None or graph is None or params.dtype not in K.KERNEL_DTYPES:
        return None
    inputs, nodes, outputs, _ = graph
    if (len(outputs) != 1 or model._activity or getattr(model, "_shared", None)
            or getattr(model, "_loss_tensors", None) or getattr(model, "_metric_tensors", None)
            or any(len(t.shape) != 2 or t.shape[1] is None for t in inputs)):
        return None
    for node in nodes:
        kind = _kind(node)
        if kind not in ("Dense",) + _MERGES:
            return None
        if kind == "Dense":
            act = node.layer.activation
            if node.layer.kernel.value.dtype != params.dtype or (
                    node is not outputs[0].node and K.activation_spec(act.name, act.params) is None):
                return None
    last = outputs[0].node
    if _kind(last) != "Dense":
        return None  # (the loss kernel takes the output layer's activation)
    act = last.layer.activation
    loss = S.loss_kernel(act.name, act.params, model._loss_fn)
    if loss is None or (loss.fused is None and K.activation_spec(act.name, act.params) is None):
        return None
    regs, cons = regularized_weights(model), constrained_weights(model)
    if regs is None or cons is None or (regs and getattr(model.optimizer, "allreduce_gradients", None) is not None):
        return None
    opt = StepOptimizer(getattr(model.optimizer, "inner", model.optimizer), params, model._grads, ops.sm_count)
    if not opt.ready(ops):
        return None
    return GpuGraphPlan(model, loss, opt, regs, cons)


class GpuGraphPlan(GpuPlan):
    """A functional graph's GPU training step: GpuPlan's epochs, data and graphs, `GraphStep`'s steps."""

    is_graph_plan = True
    step_class = GraphStep

    def __init__(self, model, loss_kernel, optimizer, regs=(), cons=()):
        super().__init__(model, loss_kernel, optimizer, [], regs, cons)
        self._sources = _sources(model)

    def _take(self, model, stack, loss_kernel):
        """The graph's Dense layers as `DenseEntry`s (``entries`` by node; ``layers``, the output's last)."""
        inputs, nodes, outputs, layout = self.graph = graph_of(model)
        last = outputs[0].node
        self.output_entry = DenseEntry(Folded(last.layer, last.layer.activation), _spec(last.layer, loss_kernel))
        self.entries = {id(n): self.output_entry if n is last else DenseEntry(Folded(n.layer, n.layer.activation),
                                                                              _spec(n.layer, None))
                        for n in nodes if _kind(n) == "Dense"}
        self.prelude, self.dropouts, self.norms, self._others = [], [], [], []
        self.sequence = [self.entries[id(n)] for n in nodes if id(n) in self.entries]
        self.layers = [e for e in self.sequence if e is not self.output_entry] + [self.output_entry]
        self.width = sum(t.shape[1] for t in inputs)

    def matches(self, model):
        """Whether the model still is what the plan was built for (see graph_plan.GraphPlan.matches)."""
        now = _sources(model)
        return (model._params is self.params and model._loss_fn is self.loss and model.ops is self.ops
                and model.optimizer.apply == self.apply and len(now) == len(self._sources)
                and all(all(a is b or (type(a) is float and a == b) for a, b in zip(s, t))
                        for s, t in zip(now, self._sources))
                and (self.regs.matches(model) if self.regs is not None else not model._regularized)
                and (self.constraints.matches(model) if self.constraints is not None else not model._constrained))


def _spec(layer, loss_kernel):
    """The activation the layer's kernels apply: the output layer's is the loss kernel's where it fuses it."""
    act = layer.activation
    if loss_kernel is not None and loss_kernel.fused:
        return K.activation_spec("linear", {})
    return K.activation_spec(act.name, act.params)
