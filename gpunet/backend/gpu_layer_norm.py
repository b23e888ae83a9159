"""LayerNormalization inside the GPU step plan (kernels/layer_norm.cu).

Modern Keras MLPs put a LayerNormalization between Dense layers (``Dense(256)``,
``LayerNormalization()``, ``Activation('gelu')``). Without this the whole model would train layer by
layer on a GPU: some twenty CuPy launches per normalization layer and step, and no CUDA graph. In
the plan the layer is one launch forward (each row's mean and variance, the normalization, gamma and
beta, and the activation folded after it) and two backward (gamma's and beta's gradients as column
sums over the batch, then the input's gradient as row sums), computed as
gpunet/layers/layer_normalization.py computes them.

The plan takes a trainable layer over the features of 2-D rows (``axis=-1``), its weights of the
plan's dtype, an activation with a kernel after it (softmax excepted); not the one-launch step's
(mlp_step has no stage for it: gpu_fused_norm.stages), nor the graph plan's. predict and evaluate
run it in the forward plan (gpu_forward.py) with the same forward launch, keeping nothing.
"""
import numpy

from . import cuda_kernels as K
from .gpu_batch_norm import _block
from .layer_stack import FoldedNorm


class LayerNormEntry:
    """A LayerNormalization layer as the plan runs it: ``folded``, a `layer_stack.FoldedNorm`;
    ``spec``: the kernel form of the activation after it."""

    def __init__(self, folded, spec):
        layer = folded.layer
        self.layer, self.spec, self.source = layer, spec, folded
        self.gamma = None if layer.gamma is None else layer.gamma.value
        self.beta = None if layer.beta is None else layer.beta.value
        self.dgamma = None if layer.gamma is None else layer.gamma.grad
        self.dbeta = None if layer.beta is None else layer.beta.grad
        self.units = layer.input_shape[-1]
        self.baked = layer.epsilon  # what the launches carry

    def changed(self):
        """Whether epsilon changed since the launches were built (then they are rebuilt)."""
        if self.layer.epsilon == self.baked:
            return False
        self.baked = self.layer.epsilon
        return True


def is_layer_norm(entry):
    """Whether a `FoldedNorm` holds a LayerNormalization layer (this type exactly: a subclass may do more)."""
    from ..layers.layer_normalization import LayerNormalization
    return isinstance(entry, FoldedNorm) and type(entry.layer) is LayerNormalization


def plannable(entry, dtype):
    """Whether the training plan runs a `FoldedNorm` of a LayerNormalization layer: trainable and
    `inferable`."""
    return entry.layer.trainable and inferable(entry, dtype)


def inferable(entry, dtype):
    """Whether the plans run a `FoldedNorm` of a LayerNormalization layer (the forward plan: frozen
    or not, inference computes the same): over the features of rows, without an activity
    regularizer, its weights of the plan's dtype, its activation one the kernels have (softmax
    excepted)."""
    layer = entry.layer
    if (not is_layer_norm(entry) or list(layer.axis) not in ([1], [-1]) or len(layer.input_shape or ()) != 2
            or layer.activity_regularizer is not None):
        return False
    if any(w.value.dtype != dtype for w in layer.weights):
        return False
    spec = K.activation_spec(entry.activation.name, entry.activation.params)
    return spec is not None and not spec.softmax


def inference_launch(folded, spec, x, y, sm_count):
    """``y = act(normalized x)`` (``y`` may be ``x``) for the forward plan (predict, evaluate)."""
    return forward_launch(LayerNormEntry(folded, spec), x, y, None, None, None, sm_count)


def forward_launch(entry, x, y, xhat, inv, keep, sm_count):
    """The forward of ``x`` (rows, units) into ``y``, keeping ``xhat`` and ``inv`` (rows,) for the
    backward (None: inference), and what the activation's backward reads (``keep``: its mask or z)."""
    M, N = x.shape
    mask = keep if entry.spec.keep == "mask" else None
    z = keep if entry.spec.keep == "z" else None
    return K.Launch("step", K._kernel("ln_forward", x.dtype), K._row_grid(M, sm_count), (32, 8, 1),
                    (x, y, K._ptr(xhat), K._ptr(inv), K._ptr(entry.gamma), K._ptr(entry.beta), K._ptr(z), K._ptr(mask),
                     numpy.int32(M), numpy.int32(N), x.dtype.type(entry.layer.epsilon))
                    + K._act_args(entry.spec, x.dtype))


def backward_launches(entry, dy, xhat, inv, keep, y, dx, sm_count):
    """dgamma, dbeta (into the layer's gradients; no launch without either) and, unless ``dx`` is
    None (the model's input), the gradient with respect to the layer's input, from ``dy``, the
    gradient of its activated output."""
    M, N = dy.shape
    mask = keep if entry.spec.keep == "mask" else None
    z = keep if entry.spec.keep == "z" else None
    y = y if entry.spec.needs_y else None
    act = K._act_args(entry.spec, dy.dtype)
    launches = []
    if entry.dgamma is not None or entry.dbeta is not None:
        launches.append(K.Launch("step", K._kernel("ln_param_grads", dy.dtype), (K.cdiv(N, 32), 1, 1), _block(M),
                                 (dy, xhat, K._ptr(entry.dgamma), K._ptr(entry.dbeta), K._ptr(z), K._ptr(y),
                                  K._ptr(mask), numpy.int32(M), numpy.int32(N)) + act))
    if dx is not None:
        launches.append(K.Launch("step", K._kernel("ln_backward", dy.dtype), K._row_grid(M, sm_count), (32, 8, 1),
                                 (dy, xhat, inv, K._ptr(entry.gamma), dx, K._ptr(z), K._ptr(y), K._ptr(mask),
                                  numpy.int32(M), numpy.int32(N)) + act))
    return launches
