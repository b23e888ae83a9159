"""BatchNormalization inside the GPU step plan (kernels/batch_norm.cu).

Keras MLPs put a BatchNormalization between a Dense layer and its activation (``Dense(64)``,
``BatchNormalization()``, ``Activation('relu')``) or after it. Without this the whole model would
leave the plan for the layer path: some twenty CuPy launches per normalization layer and step, and
no CUDA graph. In the plan a BatchNormalization layer is one launch forward (the batch's column
statistics, the moving averages, the normalization, gamma and beta, and the activation folded after
it) and one backward (dgamma, dbeta and dx, through that activation), computed as
gpunet/layers/normalization.py computes them in training mode.

A frozen layer (``trainable=False``: Keras 2.1+ then normalizes with the moving statistics), or one
over an axis other than the features', leaves the model to the layer path, as does a model that
ends in a BatchNormalization layer (the loss kernel follows a Dense layer).
"""
import numpy

from . import cuda_kernels as K
from .layer_stack import FoldedNorm


class NormEntry:
    """A BatchNormalization layer as the plan runs it: ``folded``, a `layer_stack.FoldedNorm`;
    ``spec``: the kernel form of the activation after it."""

    def __init__(self, folded, spec):
        layer = folded.layer
        self.layer, self.spec, self.source = layer, spec, folded
        self.units = layer.moving_mean.value.shape[0]
        self.gamma = None if layer.gamma is None else layer.gamma.value
        self.beta = None if layer.beta is None else layer.beta.value
        self.dgamma = None if layer.gamma is None else layer.gamma.grad
        self.dbeta = None if layer.beta is None else layer.beta.grad
        self.moving_mean, self.moving_var = layer.moving_mean.value, layer.moving_variance.value
        self.baked = (layer.momentum, layer.epsilon)  # what the launches carry

    def changed(self):
        """Whether momentum or epsilon changed since the launches were built (then they are rebuilt)."""
        now = (self.layer.momentum, self.layer.epsilon)
        if now == self.baked:
            return False
        self.baked = now
        return True


def plannable(entry, dtype):
    """Whether a `FoldedNorm` can run in the plan: trainable, over the last axis of rows, its
    weights of the plan's dtype, its activation one the kernels have (softmax excepted); not
    synchronized over several ranks (its statistics need collectives: the layer path)."""
    from ..distribute.batch_stats import synchronized_world
    return inferable(entry, dtype) and entry.layer.trainable and synchronized_world(entry.layer) is None


def inferable(entry, dtype):
    """Whether a `FoldedNorm` can run in the forward plan (predict, evaluate): over the last axis of
    rows, its weights of the plan's dtype, its activation one the kernels have (softmax excepted).
    Frozen or not: inference always normalizes with the moving statistics."""
    layer = entry.layer
    if (not isinstance(entry, FoldedNorm) or type(layer).__name__ != "BatchNormalization" or layer.axis not in (-1, 1)
            or len(layer.input_shape or ()) != 2):
        return False  # (the kernels are BatchNormalization's)
    weights = [w for w in (layer.gamma, layer.beta, layer.moving_mean, layer.moving_variance) if w is not None]
    if any(w.value.dtype != dtype for w in weights) or layer.activity_regularizer is not None:
        return False
    spec = K.activation_spec(entry.activation.name, entry.activation.params)
    return spec is not None and not spec.softmax


def inference_launch(entry, spec, x, y, sm_count):
    """``y = act(normalized x)`` with the layer's moving statistics (``y`` may be ``x``)."""
    layer, t = entry.layer, x.dtype.type
    value = lambda w: None if w is None else w.value  # noqa: E731
    return K.Launch("step", K._kernel("bn_inference", x.dtype), K._grid_stride(x.size, sm_count),
                    (K.ELEMENTWISE_BLOCK, 1, 1),
                    (x, y, K._ptr(value(layer.gamma)), K._ptr(value(layer.beta)), layer.moving_mean.value,
                     layer.moving_variance.value, numpy.int64(x.size), numpy.int32(x.shape[1]), t(layer.epsilon))
                    + K._act_args(spec, x.dtype))


def _block(rows):
    """bn_forward's and bn_backward's block: 8 thread rows, or 32 for a tall batch (the block walks
    every row of its 32 columns, so more rows in flight hide more memory latency)."""
    return (32, 32 if rows >= 256 else 8, 1)


def forward_launch(entry, x, y, xhat, inv, keep, sm_count):
    """The training forward of ``x`` (rows, units) into ``y``, keeping ``xhat`` and ``inv`` (units,)
    for the backward, and what the activation's backward reads (``keep``: its mask or z)."""
    M, N = x.shape
    t, layer = x.dtype.type, entry.layer
    mask = keep if entry.spec.keep == "mask" else None
    z = keep if entry.spec.keep == "z" else None
    return K.Launch("step", K._kernel("bn_forward", x.dtype), (K.cdiv(N, 32), 1, 1), _block(M),
                    (x, y, xhat, inv, K._ptr(entry.gamma), K._ptr(entry.beta), entry.moving_mean, entry.moving_var,
                     K._ptr(z), K._ptr(mask), numpy.int32(M), numpy.int32(N), t(layer.momentum),
                     t(1 - layer.momentum), t(layer.epsilon)) + K._act_args(entry.spec, x.dtype))


def backward_launch(entry, dy, xhat, inv, keep, y, dx):
    """dgamma, dbeta (into the layer's gradients) and, unless ``dx`` is None (the model's input),
    the gradient with respect to the layer's input, from ``dy``, the gradient of its activated output."""
    M, N = dy.shape
    mask = keep if entry.spec.keep == "mask" else None
    z = keep if entry.spec.keep == "z" else None
    y = y if entry.spec.needs_y else None
    return K.Launch("step", K._kernel("bn_backward", dy.dtype), (K.cdiv(N, 32), 1, 1), _block(M),
                    (dy, xhat, inv, K._ptr(entry.gamma), K._ptr(entry.dgamma), K._ptr(entry.dbeta), K._ptr(dx),
                     K._ptr(z), K._ptr(y), K._ptr(mask), numpy.int32(M), numpy.int32(N))
                    + K._act_args(entry.spec, dy.dtype))
