"""Built-in layers without kernels of their own inside the GPU step plans: the chain's step
(gpu_step.py) and forward plan (gpu_forward.py), the graph's step (gpu_graph_step.py) and forward
plan (gpu_graph_forward.py).

Keras's text classifiers are Dense stacks after an ``Embedding`` and a pooling or a ``Flatten``
(the TensorFlow text classification tutorial's ``Embedding``, ``Dropout``,
``GlobalAveragePooling1D``, ``Dense``; Keras 2's word-embedding example's ``Embedding``,
``Flatten``, ``Dense``); other models put a ``Reshape``, a ``PReLU`` or a ``UnitNormalization``
between Dense layers, or an ``Activation`` where the plans cannot fold it into the layer before it
(after a ``Dropout``, say). Any of them used to send the whole model layer by layer on a GPU: every
Dense layer as CuPy operations, the loss read on the host each step, no CUDA graph.

In the step such a layer runs its own forward and backward, the layer path's code (so the same
values, and the same draws for a SpatialDropout), as `Between` entries: its CuPy operations
allocate, so they run between the captured graphs of the step's launches, on the plan's stream.
Its output, and the gradient with respect to its input, are copied into the step's buffers, which
the launches around it read; the Dense layers, the loss and the optimizer keep their kernels.
The chain takes the `own_layer_types` below (trainable, if they have weights; no mask made; their
shapes known); the graph plans any layer graph_plan.node_kind calls "Layer" (a Dot, a Multiply, a
preprocessing layer, a frozen layer, a nested model of built-in layers, a call with ``training=``, a
Lambda, a layer of your own: layers/user_terms.py; the losses and metrics it adds go to the plan's
step_terms.StepTerms), at an output only where the model has one, and hand masks from call to call
(`Masks`) where they go only between such calls. A Sequential the chain refuses is a graph of calls
too: the graph plans take it (models/engine.py).
"""
import math

from .gpu_graphs import Between
from .graph_flow import forward_marked, tape_inputs


def own_layer_types():
    """The layer types (these exactly: a subclass may do more) the step runs by their own code."""
    from ..layers.advanced_activations import FOLDABLE, PReLU
    from ..layers.core import Activation, Flatten, Identity, Reshape
    from ..layers.embedding import Embedding
    from ..layers.layer_normalization import UnitNormalization
    from ..layers.pooling import GlobalAveragePooling1D, GlobalMaxPooling1D
    from ..layers.regularization import SpatialDropout1D, SpatialDropout2D, SpatialDropout3D
    from ..layers.reshaping import Permute, RepeatVector
    # (an Activation or LeakyReLU, ... that cannot be folded into the layer before it: after a Dropout, say)
    return (Embedding, Flatten, Reshape, Identity, RepeatVector, Permute, GlobalAveragePooling1D, GlobalMaxPooling1D,
            UnitNormalization, PReLU, SpatialDropout1D, SpatialDropout2D, SpatialDropout3D, Activation) + FOLDABLE


def plannable(layer, dtype, training=True):
    """Whether the step (or, not ``training``, the forward plan) runs ``layer`` (of an `own_layer_types`
    type) by its own code: no mask made, its shapes known past the batch, its weights of the plan's
    ``dtype`` (and trainable, for the step)."""
    from ..layers import masking
    shapes = (layer.input_shape, layer.output_shape) if layer.built else (None, None)
    if any(s is None or any(d is None for d in s[1:]) for s in shapes) or masking.makes_mask(layer):
        return False
    if layer.weights and training and not layer.trainable:
        return False
    return all(w.value.dtype == dtype for w in layer.weights)


class OwnEntry:
    """A layer the step runs by its own forward and backward: ``in_shape`` and ``out_shape`` per sample."""

    def __init__(self, layer):
        self.layer = layer
        self.in_shape, self.out_shape = tuple(layer.input_shape[1:]), tuple(layer.output_shape[1:])
        self.width = math.prod(self.in_shape)  # (the model's input width, when the layer comes first)

    def forward(self, x, out):
        """The entry writing ``layer(x)`` (training) into ``out``."""
        return Between(forward_call(self.layer, x, out, True))

    def backward(self, out_grad, x_grad):
        """The entry writing the layer's weight gradients and, unless ``x_grad`` is None (the model's
        input), the gradient with respect to its input, from ``out_grad``."""
        return Between(_backward_call(self.layer, out_grad, [x_grad], False))


def own_forward(node, ins, out, masks=None, terms=None):
    """The graph step's entry writing a layer call's output (``node``'s, of graph_plan.node_kind "Layer")
    into ``out``, from its inputs' buffers ``ins``, in the mode of the call (``training=``, else True);
    ``masks``: the step's `Masks`, for a call that makes, takes or hands on a mask; ``terms``: the plan's
    step_terms.StepTerms, where the losses and metrics a layer of your own adds go."""
    return Between(_call_forward(node, ins, out, True if node.training is None else node.training, masks, terms))


def own_backward(node, g, dxs):
    """The graph step's entry running a layer call's backward from ``g``: its weight gradients, and each
    input's gradient into ``dxs`` (None where that input is the model's: no gradient)."""
    return Between(_backward_call(node.layer, g, dxs, node.as_list))


def own_inference(node, ins, out, masks=None, terms=None):
    """The graph forward plan's entry (a callable) writing a layer call's output into ``out`` in the
    call's mode (``training=``, else inference); ``masks``: the batch's `Masks`; ``terms``: `own_forward`'s."""
    return _call_forward(node, ins, out, bool(node.training), masks, terms)


def _call_forward(node, ins, out, training, masks, terms):
    """A callable writing a graph call's output into ``out`` in ``training`` mode, by way of ``masks``
    where the call makes, takes or hands on a mask, the losses it adds into ``terms``."""
    if masks is not None and masks.involve(node):
        return masks.forward_call(node, ins[0], out, training, terms)
    return forward_call(node.layer, ins if node.as_list else ins[0], out, training, tape_inputs(node), terms)


class Masks:
    """The masks a graph's own-code calls hand each other in a step or a batch (an
    ``Embedding(mask_zero=True)``'s to a ``GlobalAveragePooling1D``, through a Dropout, say), by tensor;
    ``masked``: the ids of the tensors that carry one (graph_flow.masked_tensors)."""

    def __init__(self, masked):
        self.masked, self.values = masked, {}

    def involve(self, node):
        """Whether ``node`` (one input) makes, takes or hands on a mask."""
        return id(node.inputs[0]) in self.masked or id(node.output) in self.masked

    def forward_call(self, node, x, out, training, terms=None):
        """A callable writing the call's output into ``out`` as the layer path runs it with masks
        (layers/masking.py's forward), keeping the mask it hands on for the calls after it."""
        from ..layers import masking
        layer, key_in, key_out = node.layer, id(node.inputs[0]), id(node.output)
        takes, hands_on = key_in in self.masked, key_out in self.masked
        data = tape_inputs(node)

        def run():
            y, mask = forward_marked(layer, data, masking.forward, layer, x, self.values[key_in] if takes else None,
                                     training, terms=terms)
            if hands_on:
                self.values[key_out] = mask
            out[...] = y
        return run


def forward_call(layer, args, out, training, data=None, terms=None):
    """A callable writing ``layer.forward(args, training)`` into the buffer ``out`` (``data``: a tape layer's
    inputs that are the model's own, graph_flow.tape_inputs; ``terms``: where the losses it adds go)."""
    def run():
        out[...] = forward_marked(layer, data, layer.forward, args, training, terms=terms)
    return run


def _backward_call(layer, g, dxs, as_list):
    """A callable running ``layer.backward(g)``: its weight gradients, and its inputs' gradients into
    ``dxs`` (a list, one per input when ``as_list``; None where no gradient is wanted)."""
    need = any(d is not None for d in dxs)

    def run():
        got = layer.backward(g, need)
        if need:
            for d, into in zip(got if as_list else [got], dxs):
                if into is not None:
                    into[...] = d
    return run
