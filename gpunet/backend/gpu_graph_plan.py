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
several calls are CuPy elementwise operations into the plan's buffers (gpu_elementwise.py: no
allocation, so they are captured with the kernels). Where capture fails the step runs eagerly
(gpu_graphs.py warns once).

It takes Dense layers (trainable, activations with a kernel; an activation layer right after a
linear one folded into it, as the chain's plans fold one), activation layers elsewhere (after a merge,
the ResNet pattern: a bias+activation launch each way over a copy; a softmax: the row-softmax launch
each way; as the output, the loss kernel's when it fuses that activation), BatchNormalization and
LayerNormalization (gpu_batch_norm.py's and gpu_layer_norm.py's launches, an activation layer after
it folded in likewise), Dropout (the chain plan's kernel, salts
and seeds: the same masks), GaussianNoise and GaussianDropout (the chain plan's noise_forward), and
those merges over 2-D tensors; any other built-in layer (an Embedding, a Multiply, a Dot, a pooling,
a call with ``training=``, ...) and a layer of your own (the losses and metrics it adds: step_terms.py)
by its own forward and backward between the step's graphs (gpu_own_layers.py); the output a Dense layer
whose activation and loss have a loss kernel, a merge (an ensemble's Average: the loss kernel over it as
a linear output), a layer run by its own code (a recommender's Dot, a layer of your own: likewise) or,
for several outputs (models/multi_output.py's packed loss), each a Dense layer
or a merge that no other layer reads, with a loss of its own (each its loss kernel, or its own
compute where none has it, Huber's among them; the packed targets split by their widths, a sparse
label one column; the epoch's outputs
packed when read); no shared layer but a Dense one (a Siamese network's:
its earlier calls' weight gradients go to buffers of their own, then are added to what its last call
wrote, `GraphStep`); the weights' regularizers, constraints and the optimizer as the chain's plan
takes them. Anything else trains layer by layer. A Sequential whose layers the chain's plan does not
take (a frozen layer, a lookup layer, a Dense over a sequence's steps) is a graph of calls too, and
trains here when this plan takes it (models/engine.py).
"""
from . import cuda_kernels as K
from . import gpu_batch_norm as BN
from . import gpu_layer_norm as LN
from . import step_kernels as S
from .gpu_optimizer import step_optimizer
from .gpu_plan import GpuPlan
from .gpu_regularizers import constrained_weights, regularized_weights
from .gpu_graph_outputs import SeveralOutputs
from .gpu_graph_step import GraphStep
from .gpu_step import DenseEntry, DropoutEntry, NoiseEntry
from .gpu_graph_folds import _MERGES, activation_of, folded_activations, is_noise, is_norm, norm_entry, _pairs
from .graph_flow import constant_tensors, masked_tensors, step_kinds
from .graph_plan import graph_of, node_kind, plan_sources, salt, same_sources, shares_dense_only
from .layer_stack import _LINEAR, Folded
from .step_terms import TermsInPenalties, terms_for

def build_gpu_graph_plan(model):
    """A `GpuGraphPlan` for the functional ``model`` (compiled and packed) on a CuPy backend, or None
    where the layer path must run (see the module docstring)."""
    from .cupy_backend import CupyBackend
    ops, params, graph = model.ops, model._params, graph_of(model)
    if not isinstance(ops, CupyBackend) or params is None or graph is None or params.dtype not in K.KERNEL_DTYPES:
        return None
    inputs, nodes, outputs, _ = graph
    if (model._activity or getattr(model, "_copied", None)
            or getattr(model, "_loss_tensors", None) or getattr(model, "_metric_tensors", None)
            or any(len(t.shape) != 2 or t.shape[1] is None for t in inputs + outputs)):
        return None
    if not shares_dense_only(nodes, [node_kind(n) for n in nodes]):
        return None  # (a shared Dense layer's calls' weight gradients are added: GraphStep)
    if masked_tensors(nodes, outputs, node_kind) is None:
        return None  # (masks go between calls run by their own code only)
    folds = folded_activations(nodes, outputs, training=True)
    ends = {id(n): n for n in folds.values()}  # the activation nodes folded into the Dense before them
    lasts = output_nodes(nodes, outputs, folds)  # (an output Activation folded: its Dense)
    kinds = step_kinds(nodes, constant_tensors(inputs, nodes), params.dtype)  # (a frozen first Dense: "Dense")
    for node in nodes:
        kind = kinds[id(node)]
        if is_norm(node, training=True):
            entry = norm_entry(node, folds)
            if not (LN.plannable if LN.is_layer_norm(entry) else BN.plannable)(entry, params.dtype):
                return None
            continue
        if is_noise(node):  # (GaussianNoise, GaussianDropout, AlphaDropout: step.cu's noise_forward)
            continue
        if kind == "Layer":  # (an Embedding, a Multiply, a pooling, ...: its own code, between graphs)
            if not own_node(node, params.dtype, outputs if len(outputs) > 1 else ()):  # (one output: may be its)
                return None
            continue
        if kind == "Activation" and id(node) not in ends:  # (after a merge, say: a launch of its own)
            if K.activation_spec(node.layer.activation.name, node.layer.activation.params) is None:
                return None
            continue
        if kind not in ("Dense", "Dropout") + _MERGES and id(node) not in ends:
            return None
        if kind == "Dense":
            act = activation_of(node, folds)
            if node.layer.kernel.value.dtype != params.dtype or (
                    all(node is not l for l in lasts) and K.activation_spec(act.name, act.params) is None):
                return None
    kernels = output_kernels(model, nodes, outputs, lasts, folds)
    if kernels is None:
        return None
    regs, cons = regularized_weights(model), constrained_weights(model)
    if regs is None or cons is None or (regs and getattr(model.optimizer, "allreduce_gradients", None) is not None):
        return None
    opt = step_optimizer(getattr(model.optimizer, "inner", model.optimizer), params, model._grads, ops.sm_count)
    if not opt.ready(ops):
        return None
    return GpuGraphPlan(model, kernels, opt, regs, cons)


def own_node(node, dtype, outputs):
    """Whether the step runs ``node`` (graph_plan.node_kind's "Layer": another built-in layer, a layer of your
    own) by the layer's own forward and backward between its graphs (gpu_own_layers.py): not one of
    ``outputs``, its shapes known past the batch, its trainable weights of the plan's ``dtype``."""
    layer = node.layer
    if any(node.output is t for t in outputs) or not layer.built:
        return False
    if any(d is None for t in node.inputs + [node.output] for d in t.shape[1:]):
        return False
    return all(w.value.dtype == dtype for w in layer.trainable_weights)


def output_nodes(nodes, outputs, folds):
    """Each output's last node the plan runs: the Dense layer an output activation layer is folded into."""
    pairs = _pairs(nodes, folds)
    return [next((d for d, a in pairs if a is t.node), t.node) for t in outputs]


def output_kernels(model, nodes, outputs, lasts, folds):
    """Each output's loss kernel (its activation and loss; a loss no kernel computes: the generic
    one), or None where one is missing. One output made by a layer run by its own code: the loss over its
    values as a linear output's. Several outputs (models/multi_output.py's packed loss): each a Dense layer
    or a merge, read by no other layer, with a loss of its own."""
    from ..models.multi_output import MultiOutputLoss
    several = len(outputs) > 1
    losses = model._loss_fn.losses if isinstance(model._loss_fn, MultiOutputLoss) else [model._loss_fn]
    if len(losses) != len(outputs):
        return None
    read = {id(t) for n in nodes for t in n.inputs}
    kernels = []
    for last, t, loss in zip(lasts, outputs, losses):
        if node_kind(last) in _MERGES:  # (an ensemble's Average, say: the loss kernel over the merged, linear output)
            act = _LINEAR
        elif node_kind(last) == "Activation" and not several:  # (after a merge: the loss kernel applies it, or it
            act = last.layer.activation                         # runs as any other)
        elif node_kind(last) == "Layer" and not several and not (is_norm(last, True) or is_noise(last)):
            act = _LINEAR  # (a layer of your own, a Dot, ...: its own code, then the loss kernel as a linear one's)
        elif node_kind(last) != "Dense":
            return None  # (the loss kernel takes the output layer's activation)
        else:
            act = activation_of(last, folds)
        # a loss without a kernel: its compute between the kernels
        kernel = None if loss is None else S.loss_kernel(act.name, act.params, loss) or S.generic_loss_kernel(loss)
        if several and kernel is not None and kernel.kind == S.HUBER:  # (Huber's delta is followed for a
            kernel = S.generic_loss_kernel(loss)                      # model's one loss: gpu_plan_follow.py)
        if kernel is None or (kernel.fused is None and K.activation_spec(act.name, act.params) is None):
            return None
        if several and id(t) in read:
            return None
        kernels.append(kernel)
    return kernels


class MergedOutput:
    """The model's output when a merge makes it: what the plan reads of an output layer (its width)."""

    def __init__(self, units):
        self.units = units


class GpuGraphPlan(TermsInPenalties, SeveralOutputs, GpuPlan):
    """A functional graph's GPU training step: GpuPlan's epochs, data and graphs, `GraphStep`'s steps;
    several outputs' targets, weights and epoch outputs: `SeveralOutputs`; the losses layers of your own
    add: `TermsInPenalties`."""

    is_graph_plan = True
    step_class = GraphStep

    def __init__(self, model, loss_kernels, optimizer, regs=(), cons=()):
        self.loss_kernels = loss_kernels  # one per output (the first is GpuPlan's ``loss_kernel``)
        self.output_parts, self._packed = None, True  # several outputs: each one's epoch outputs (below)
        super().__init__(model, loss_kernels[0], optimizer, [], regs, cons)
        self._sources = plan_sources(model)
        # each output's gradient scale: its loss weight (models/multi_output.py's MultiOutputLoss)
        self.loss_weights = list(model._loss_fn.weights) if len(loss_kernels) > 1 else [1.0]
        self.output_losses = list(model._loss_fn.losses) if len(loss_kernels) > 1 else [model._loss_fn]
        # each output's columns of the packed targets (io_packing.py's: a sparse label is one column)
        self.target_widths = [1 if k.sparse else t.shape[1] for k, t in zip(loss_kernels, graph_of(model)[2])]

    def _take(self, model, stack, loss_kernel):
        """The graph's Dense layers as `DenseEntry`s (``entries`` by node; ``layers``, the output's last;
        ``folds``: the activation nodes folded into them) and its Dropout layers (``dropouts``)."""
        inputs, nodes, outputs, layout = self.graph = graph_of(model)
        self.folds = folds = folded_activations(nodes, outputs, training=True)
        self.masked = masked_tensors(nodes, outputs, node_kind)  # (tensors with a mask, between own-code calls)
        self.constant = constant_tensors(inputs, nodes)  # (the tensors no gradient flows to: GraphStep)
        self.kinds = step_kinds(nodes, self.constant, self.dtype)  # (what the step runs each call as)
        self.terms, self.adding = terms_for(model, nodes, self.dtype)  # (the losses layers of your own add)
        lasts = output_nodes(nodes, outputs, folds)
        kernel_of = {id(n): k for n, k in zip(lasts, self.loss_kernels)}
        self.entries = {}
        for n in nodes:
            if self.kinds[id(n)] == "Dense":
                folded = folds.get(id(n))
                act = activation_of(n, folds)
                spec = _spec(act, kernel_of.get(id(n)))
                self.entries[id(n)] = DenseEntry(Folded(n.layer, act, None if folded is None else folded.layer), spec)
        self.output_entries = [self.entries.get(id(n)) or MergedOutput(t.shape[1]) for n, t in zip(lasts, outputs)]
        # (several outputs: packed side by side in ``outputs``, as the layer path packs them)
        self.output_entry = self.output_entries[0] if len(outputs) == 1 else MergedOutput(
            sum(t.shape[1] for t in outputs))
        # an output activation layer after a merge whose activation the loss kernel fuses (sigmoid with
        # binary cross-entropy, say): the loss kernel takes its input, and its gradient is its input's
        last = lasts[0]
        self.loss_activation = last if node_kind(last) == "Activation" and loss_kernel.fused else None
        self.dropout_entries = {id(n): DropoutEntry(n.layer, salt(model, n.layer))
                                for n in nodes if node_kind(n) == "Dropout" and n.layer.rate}  # (the chain's salts)
        self.dropouts = list(self.dropout_entries.values())
        self.noise_entries = {id(n): NoiseEntry(n.layer, salt(model, n.layer))
                              for n in nodes if is_noise(n)}
        self.noises = list(self.noise_entries.values())
        self.norm_entries = {}
        for n in nodes:
            if is_norm(n, training=True):
                entry = norm_entry(n, folds)
                kind = LN.LayerNormEntry if LN.is_layer_norm(entry) else BN.NormEntry
                spec = K.activation_spec(entry.activation.name, entry.activation.params)
                self.norm_entries[id(n)] = kind(entry, spec)
        self.norms = list(self.norm_entries.values())  # (a momentum or epsilon changed: GpuPlan rebuilds the steps)
        self.prelude, self._others = [], []
        self.sequence = [self.entries[id(n)] for n in nodes if id(n) in self.entries]
        self.layers = [e for e in self.sequence if all(e is not o for o in self.output_entries)] + [self.output_entry]
        self.width = sum(t.shape[1] for t in inputs)

    def matches(self, model):
        """Whether the model still is what the plan was built for (see graph_plan.GraphPlan.matches)."""
        return (self._same_setup(model) and same_sources(plan_sources(model), self._sources)
                and not any(e.changed() for e in self.noises))


def _spec(act, loss_kernel):
    """The activation a Dense layer's kernels apply: the output layer's is the loss kernel's where it fuses it."""
    if loss_kernel is not None and loss_kernel.fused:
        return K.activation_spec("linear", {})
    return K.activation_spec(act.name, act.params)
