"""The BatchNormalization and LayerNormalization layers between two Dense layers of NumPy's fused
step (dense_plan.py), each with the activation folded after it, run through the layer's own
training forward and backward: the very arithmetic of the layer path, inside the plan's step."""
from ..layers.layer_normalization import LayerNormalization
from ..layers.normalization import BatchNormalization

NORMS = (BatchNormalization, LayerNormalization)  # the normalization layers NumPy's plan takes


def plannable(entry, dtype):
    """Whether the plan runs a `layer_stack.FoldedNorm`: trainable (a frozen BatchNormalization
    normalizes with its moving statistics), over rows' features, of the plan's dtype, its folded activation
    not a user's."""
    layer = entry.layer
    return (layer.trainable and layer.axis in (-1, 1, [1]) and len(layer.input_shape or ()) == 2
            and layer.activity_regularizer is None and not entry.activation.custom
            and all(w.value.dtype == dtype for w in layer.weights))


def forward(ops, norms, h):
    """The training forward of ``norms`` (FoldedNorm entries, in order) on a hidden layer's output
    ``h``: ((entry, normalized, activated) per layer, the last output)."""
    chain = []
    for entry in norms:
        normalized = entry.layer.forward(h, training=True)
        act = entry.activation
        h = normalized if act.name == "linear" else ops.activation_forward(act.name, normalized, act.params)
        chain.append((entry, normalized, h))
    return chain, h


def backward(ops, chain, g):
    """``g``, the gradient of the chain's last output, back through it: each activation, then each
    layer's own backward (which writes its gamma and beta gradients)."""
    for entry, normalized, h in reversed(chain):
        act = entry.activation
        if act.name != "linear":
            g = ops.activation_backward(act.name, g, normalized, h, act.params)
        g = entry.layer.backward(g)
    return g
