"""A model's layers as the fused plans run them: Dense layers, each with the activation it applies.

Keras 2 code often gives an activation its own layer, ``Dense(64)`` then ``Activation('relu')``
(the Sequential guide's first example). The plans (dense_plan.py on NumPy, gpu_plan.py and
gpu_forward.py on CuPy) fold such an Activation layer into the Dense layer before it, when that
layer's own activation is linear: the pair computes exactly what ``Dense(64, activation='relu')``
computes, so it trains and predicts on the same fast path instead of layer by layer. Keras 2's
advanced activation layers (``LeakyReLU(0.1)``, ``ReLU(max_value=...)``, ``ELU``, ``Softmax``,
``ThresholdedReLU``) fold the same way, as the activation with parameters they compute
(``layer.activation``: leaky_relu with alpha 0.1, ...). Likewise a
leading ``Flatten`` (the TensorFlow beginner tutorial's ``Flatten(input_shape=(28, 28))``) is the
plans' own view of each sample as one row, and a Flatten of rows is the identity.

Leading ``Normalization`` and ``Rescaling`` layers (the TensorFlow regression tutorial's
``Sequential([normalizer, Dense(64, 'relu'), ...])``) have no trainable weights and keep the
input's shape: the plans that take them (``dense_stack(..., prelude=True)``) run them over the
data as it is loaded (`input_prelude`, `run_prelude`), by the layers' own forward, so each sample
gets the values the layer path would give it, and train the Dense stack after them.
"""
from .. import activations
from ..layers.advanced_activations import FOLDABLE as _ADVANCED
from ..layers.core import Activation, Dense, Flatten
from ..layers.normalization import BatchNormalization

_LINEAR = activations.get("linear")
_ACTIVATION_LAYERS = (Activation,) + _ADVANCED  # layers that apply an activation alone: ``layer.activation``


class Folded:
    """A Dense ``layer`` and the ``activation`` the plans apply after it: its own, or that of
    the Activation layer ``folded`` into it (None when nothing was folded)."""

    __slots__ = ("layer", "activation", "folded")

    def __init__(self, layer, activation, folded=None):
        self.layer, self.activation, self.folded = layer, activation, folded

    @property
    def source(self):
        """What a plan built from this entry depends on (compared by identity in ``matches``)."""
        layer = self.layer
        return layer.kernel.value, None if layer.bias is None else layer.bias.value, self.activation, self.folded


class FoldedNorm:
    """A BatchNormalization (or, in NumPy's plan, LayerNormalization) ``layer`` and the ``activation``
    the plans apply after it (that of
    an Activation layer ``folded`` into it, else linear). Equal to another for the same layers
    with the same settings: a plan built from one serves a model whose stack has the other."""

    __slots__ = ("layer", "activation", "folded", "settings")

    def __init__(self, layer, activation=_LINEAR, folded=None):
        self.layer, self.activation, self.folded = layer, activation, folded
        axis = layer.axis
        self.settings = (layer.trainable, getattr(layer, "momentum", None), layer.epsilon, layer.center, layer.scale,
                         tuple(axis) if isinstance(axis, list) else axis)

    def __eq__(self, other):
        return (type(other) is FoldedNorm and self.layer is other.layer and self.activation is other.activation
                and self.folded is other.folded and self.settings == other.settings)

    __hash__ = None


def input_prelude(layers):
    """The leading Normalization and Rescaling layers of ``layers`` (these exact types, built,
    shape-preserving): what a plan runs over its input before the Dense stack."""
    from ..layers.preprocessing import Normalization, Rescaling
    prelude = []
    for layer in layers:
        if (type(layer) not in (Normalization, Rescaling) or not layer.built or layer.input_shape is None
                or tuple(layer.output_shape) != tuple(layer.input_shape) or layer.activity_regularizer is not None):
            break
        prelude.append(layer)
    return prelude


def same_prelude(layers, prelude):
    """Whether ``layers``' `input_prelude` is ``prelude`` (the same layer objects): a plan's check."""
    now = input_prelude(layers)
    return len(now) == len(prelude) and all(a is b for a, b in zip(now, prelude))


def run_prelude(prelude, x):
    """``x`` through the `input_prelude` layers, in inference mode (``x`` itself when there are none)."""
    for layer in prelude:
        x = layer.forward(x, False)
    return x


def dense_stack(layers, passthrough=(), normalization=False, prelude=False, activity=False):
    """``layers`` as the plans run them: a `Folded` per Dense layer, an Activation layer (or an
    advanced activation layer: LeakyReLU, ReLU, ...) that directly follows a Dense layer with a
    linear activation folded into it, and layers whose type is in ``passthrough`` (Dropout, for
    the training plan) kept as they are; with
    ``normalization`` (the GPU training plan) a `FoldedNorm` per BatchNormalization layer, an
    Activation layer right after it folded in likewise. None when any other layer is there (an
    Activation after anything else, say), or where any layer has an activity regularizer (its
    penalty and gradient are the layer path's): the layer path runs it. With ``prelude`` the
    `input_prelude` layers are left out (the caller runs them over its input). ``normalization``
    may also name the normalization layer types to take (NumPy's plan takes LayerNormalization
    too, by the layer's own code; the GPU plans' kernels are BatchNormalization's). With ``activity``
    (the GPU training plan: gpu_regularizers.py) a Dense layer's activity regularizer is the caller's
    to take or refuse (no Activation layer is folded into such a layer: it regularizes its own output)."""
    norms = (BatchNormalization,) if normalization is True else tuple(normalization or ())
    stack = []
    for layer in layers[len(input_prelude(layers)):] if prelude else layers:
        kind = type(layer)
        if getattr(layer, "activity_regularizer", None) is not None and not (activity and kind is Dense):
            return None
        if kind is Dense:
            stack.append(Folded(layer, layer.activation))
        elif kind in norms:
            stack.append(FoldedNorm(layer))
        elif kind in _ACTIVATION_LAYERS and _foldable(stack[-1] if stack else None, layer):
            stack[-1] = type(stack[-1])(stack[-1].layer, layer.activation, layer)
        elif kind is Flatten and (not stack or len(layer.input_shape or ()) == 2) and layer.reads_rows(
                len(layer.input_shape or ())):
            continue  # the plans read each sample as one row already
        elif kind in passthrough:
            stack.append(layer)
        else:
            return None
    return stack


def takes_rows(layers):
    """Whether the model's input reaches its first Dense layer as rows of features: 2-D input,
    or any input through a leading Flatten (the plans then read each sample as one row)."""
    first = layers[0] if layers else None
    return first is not None and (len(first.input_shape or ()) == 2 or (
        type(first) is Flatten and first.reads_rows(len(first.input_shape or ()))))


def as_rows(x):
    """``x`` (samples first) as a 2-D array of one row per sample: a view where ``x`` is contiguous."""
    return x if x.ndim == 2 else x.reshape(x.shape[0], -1)


def _foldable(previous, layer):
    return (isinstance(previous, (Folded, FoldedNorm)) and previous.folded is None
            and previous.activation.name == "linear" and not previous.activation.custom
            and not previous.activation.params
            and layer.activity_regularizer is None and previous.layer.activity_regularizer is None)


def loss_settings(loss):
    """What a plan bakes in of its compiled loss: its config (label smoothing, reduction,
    from_logits, Huber's delta, ...), compared by `matches` so that a loss changed in place
    rebuilds the plan; several outputs' (models/multi_output.py): each one's, and their weights."""
    if isinstance(getattr(loss, "losses", None), list):
        return [None if l is None else loss_settings(l) for l in loss.losses], list(loss.weights)
    try:
        return loss.get_config()
    except Exception:  # noqa: BLE001 - a user's loss whose config fails: compared by identity alone
        return None


def dense_entries(stack):
    """The `Folded` entries of a stack, in order."""
    return [e for e in stack if isinstance(e, Folded)]


def same_stack(stack, sources, others=None):
    """Whether ``stack`` (a model's current `dense_stack`, or None) is the one a plan was built
    from: its Dense entries' ``sources`` in order and, when given, the ``others`` it kept."""
    if stack is None:
        return False
    dense = dense_entries(stack)
    if len(dense) != len(sources) or not all(
            all(a is b for a, b in zip(e.source, s)) for e, s in zip(dense, sources)):
        return False
    return others is None or [e for e in stack if not isinstance(e, Folded)] == others
