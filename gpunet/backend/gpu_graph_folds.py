"""How the GPU graph plans (gpu_graph_plan.py's step, gpu_graph_forward.py's forward plan) see a graph's
calls: which activation layers fold into the Dense or normalization layer before them, which calls are
normalization or noise layers run by their launches, and the merges they run into their buffers."""
from . import cuda_kernels as K
from .graph_plan import node_kind
from .gpu_step import NOISES
from .layer_stack import _LINEAR, FoldedNorm

_MERGES = ("Add", "Subtract", "Average", "Concatenate")


def is_noise(node):
    """Whether ``node`` calls a GaussianNoise, GaussianDropout or AlphaDropout layer (these types exactly;
    an AlphaDropout without noise_shape) over rows, in the mode fit gives it."""
    return (type(node.layer) in NOISES and node.training is None and getattr(node.layer, "noise_shape", None) is None
            and all(len(t.shape) == 2 for t in node.inputs + [node.output]))


def folded_activations(nodes, outputs, training=False):
    """``{id(Dense node): Activation node}``: an activation layer (Activation, LeakyReLU, ...) right
    after a linear Dense layer (or a normalization layer: `is_norm`) whose output nothing else reads,
    folded into it as the chain's plans fold one (layer_stack.py); Keras 2's ``Dense(64)(x)`` then
    ``Activation('relu')``."""
    readers = {}
    for node in nodes:
        for t in node.inputs:
            readers[id(t)] = readers.get(id(t), 0) + 1
    folds = {}
    for node in nodes:
        src = node.inputs[0].node if node.inputs else None
        act = getattr(node.layer, "activation", None)
        linear = src is not None and (is_norm(src, training) or node_kind(src) == "Dense"
                                      and src.layer.activation.name == "linear"
                                      and not src.layer.activation.custom)
        if (node_kind(node) == "Activation" and linear
                and readers.get(id(src.output)) == 1 and all(src.output is not t for t in outputs)
                and K.activation_spec(act.name, act.params) is not None):
            folds[id(src)] = node
    return folds


def _pairs(nodes, folds):
    return [(n, folds[id(n)]) for n in nodes if id(n) in folds]


def activation_of(node, folds):
    """The activation a Dense or BatchNormalization node applies: its own, or the one folded into it."""
    folded = folds.get(id(node))
    return (folded or node).layer.activation if folded is not None or not is_norm(node) else _LINEAR


def is_norm(node, training=False):
    """Whether ``node`` calls a BatchNormalization or LayerNormalization layer over 2-D tensors in
    the mode fit gives it, which the plans run by their normalization launches: in the ``training``
    step, a trainable one (a frozen one runs by its own code there, gpu_own_layers.py; in the forward
    plan, a frozen one's launches are a trainable one's)."""
    from .norm_chain import NORMS
    return (type(node.layer) in NORMS and node.training is None and (node.layer.trainable or not training)
            and all(len(t.shape) == 2 for t in node.inputs + [node.output]))


def norm_entry(node, folds):
    """A normalization node as gpu_batch_norm.py or gpu_layer_norm.py runs it (its folded activation with it)."""
    folded, act = folds.get(id(node)), activation_of(node, folds)
    return FoldedNorm(node.layer, act, None if folded is None else folded.layer)
