"""`build_gpu_plan`: whether a model trains through `GpuPlan` (gpu_plan.py) on the CuPy backend,
and the plan's kernels for it (the loss kernel, the optimizer's fused update), decided once from
the model's layers, loss, optimizer, regularizers and constraints."""
from . import cuda_kernels as K
from . import gpu_batch_norm as BN
from . import gpu_layer_norm as LN
from . import step_kernels as S
from .gpu_optimizer import step_optimizer
from .gpu_own_layers import plannable as own_plannable
from .gpu_plan import OWN, GpuPlan
from .gpu_step import NOISES
from .gpu_regularizers import activity_regularized, constrained_weights, regularized_weights
from .layer_stack import FoldedNorm, dense_entries, dense_stack, takes_rows
from .norm_chain import NORMS


def build_gpu_plan(model):
    """A `GpuPlan` for ``model`` (compiled and packed) on a CuPy backend, or None where the chain's
    step cannot run (then the graph step may: gpu_graph_plan.py; else the layer path): a layer other
    than Dense (over rows), Dropout, GaussianNoise, GaussianDropout, AlphaDropout (neither Dropout one
    with a ``noise_shape``), BatchNormalization and LayerNormalization
    (layer_stack.py; gpu_batch_norm.py and gpu_layer_norm.py for which qualify) and the layers the step
    runs by their own code (gpu_own_layers.py: Embedding, Flatten, Reshape, the 1-D global poolings,
    ...); an activity regularizer on another layer than a hidden Dense one, a regularizer or
    constraint without a kernel (gpu_regularizers.py), an activation without a kernel, float16. A loss
    without a kernel of its own runs its ``compute`` inside the step (step_kernels.generic_loss_kernel),
    an optimizer without a fused update its own ``apply`` (gpu_optimizer.py)."""
    from ..layers.core import Dropout
    from .cupy_backend import CupyBackend
    ops, params, layers = model.ops, model._params, model._layers
    if not isinstance(ops, CupyBackend) or params is None or not layers:
        return None
    if params.dtype not in K.KERNEL_DTYPES or not takes_rows(layers):
        return None
    regs = regularized_weights(model)  # L1 / L2 kernel and bias regularizers: a launch each (gpu_regularizers.py)
    cons = constrained_weights(model)  # MaxNorm, NonNeg, UnitNorm, MinMaxNorm: likewise
    # an Activation layer after a linear Dense or a BatchNormalization layer: folded into it
    stack = dense_stack(layers, passthrough=(Dropout,) + NOISES + OWN, normalization=NORMS, prelude=True, activity=True)
    if stack is None:
        return None
    dense = dense_entries(stack)
    if not dense or dense[-1] is not stack[-1]:
        return None  # dropout on the output: left to the layer path
    activity = activity_regularized(layers, dense[-1].layer)
    if regs is None or cons is None or activity is None or (
            (regs or activity) and getattr(model.optimizer, "allreduce_gradients", None) is not None):
        return None  # (a data-parallel run's padding step tallies penalties on the host: the layer path)
    for entry in stack:
        if type(entry) in OWN:
            if not own_plannable(entry, params.dtype):
                return None
        elif isinstance(entry, Dropout) or type(entry) in NOISES:
            if getattr(entry, "noise_shape", None) is not None:  # (a mask shared along axes: the layer path)
                return None
        elif isinstance(entry, FoldedNorm):
            if not (LN.plannable if LN.is_layer_norm(entry) else BN.plannable)(entry, params.dtype):
                return None
        elif (not entry.layer.trainable or entry.layer.kernel.value.dtype != params.dtype
              or len(entry.layer.input_shape) != 2):  # (a Dense layer over a sequence's steps: the layer path)
            return None
    *hidden, last = dense
    if any(K.activation_spec(e.activation.name, e.activation.params) is None for e in hidden):
        return None
    act = last.activation
    loss = S.loss_kernel(act.name, act.params, model._loss_fn) or S.generic_loss_kernel(model._loss_fn)
    if loss is None or (loss.fused is None and K.activation_spec(act.name, act.params) is None):
        return None  # (a softmax output with another loss: a softmax launch each way around the loss kernel)
    # A data-parallel wrapper (gpunet.distribute) hands over the optimizer it wraps, and
    # averages the gradients between the backward pass and the update.
    inner = getattr(model.optimizer, "inner", model.optimizer)
    opt = step_optimizer(inner, params, model._grads, ops.sm_count)
    if not opt.ready(ops):
        return None
    return GpuPlan(model, loss, opt, stack, regs, cons, activity)
