"""Masks in a Sequential model, by tf.keras 2.21's rules: what a mask does at each layer.

An ``Embedding(mask_zero=True)`` makes a mask, True where its input index is not 0 (padding), and so
does a ``Masking`` layer (True where a step holds a value other than its ``mask_value``). The
model's forward pass (models/engine.py) hands it on from layer to layer with `forward`:

* layers that tf.keras 2 lets a mask through unchanged (``supports_masking`` and the default
  ``compute_mask``: Dense, Activation, Dropout, BatchNormalization, the noise and
  advanced activation layers, ActivityRegularization, SpatialDropout), and any layer whose own
  ``supports_masking`` attribute is True (a user's layer, as Keras's default ``compute_mask``),
  compute as without it and pass it on (BatchNormalization in training takes its batch statistics over the
  unmasked steps, as tf.keras 2.21's);
* a layer of your own whose ``call`` takes a ``mask`` gets its input's mask there (None where there is
  none), and one that defines ``compute_mask`` hands on what that returns (and may start a mask from
  none: the masking guide's ``CustomEmbedding``), as tf.keras 2 calls them;
* ``GlobalAveragePooling1D`` takes it: the mean over the unmasked steps (and no gradient to the
  padded ones); the mask ends there;
* every other layer drops it, as tf.keras 2 does, silently: Flatten, Reshape, Permute, RepeatVector,
  Lambda, GlobalMaxPooling1D (its maximum covers the padded steps too);
* where tf.keras would use the mask in a way gpunet does not implement, NotImplementedError: Softmax;
* a nested model (Sequential or functional, one input) takes its input's mask on through its layers by
  these rules, and its output carries what its last layer hands on, as in tf.keras 2.
"""
import functools
import inspect

# tf.keras 2.21's layers with supports_masking=True and the default compute_mask, by gpunet class name
_PASSING = ("Dense", "Activation", "Dropout", "BatchNormalization", "GaussianNoise", "GaussianDropout",
            "AlphaDropout", "LeakyReLU", "ReLU", "ELU", "ThresholdedReLU", "PReLU", "ActivityRegularization",
            "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D")
_WHY = {"Softmax": "tf.keras adds a large negative number to the masked entries first"}


@functools.lru_cache(maxsize=None)
def _classes(names):
    from .. import layers  # looked up at first use: the layer modules stay free to import this one
    return tuple(getattr(layers, name) for name in names)


@functools.lru_cache(maxsize=None)
def _call_takes_mask(cls):
    """``mask`` among ``call``'s arguments, or ``**kwargs`` (tf.keras 2 passes the mask to either)."""
    try:
        params = inspect.signature(cls.call).parameters
    except (TypeError, ValueError):
        return False
    return "mask" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _refuse(layer, why):
    return NotImplementedError(f"Layer '{layer.name}' ({type(layer).__name__}) receives the mask of an "
                               f"Embedding(mask_zero=True) or Masking layer before it, and {why}: gpunet does not "
                               "implement that. Use mask_zero=False, or put a layer that drops the mask (e.g. Flatten) or "
                               "takes it (GlobalAveragePooling1D) before it.")


def forward(layer, x, mask, training):
    """``layer``'s output for ``x`` whose mask is ``mask`` (None, or a boolean (batch, steps) array),
    and the mask after it. The model calls this only where there is a mask, or a layer makes one."""
    if getattr(layer, "_nests_layers", False):  # a nested model: its layers take the mask on, by these rules
        return layer.forward_and_mask(x, training, mask)
    if _users_mask_code(layer):  # (its call takes the mask, or its compute_mask says what goes on)
        layer._in_mask = mask  # (user_code.tape_forward puts it on the call's input tensor)
        try:
            y = layer.forward(x, training)
        finally:
            layer._in_mask = None
        return y, layer._call_mask
    if getattr(layer, "_mask_aware", False):  # Embedding, GlobalAveragePooling1D, Masking
        both = getattr(layer, "forward_and_mask", None)  # (a layer whose forward makes its mask anyway)
        if both is not None:
            return both(x, training, mask)
        return layer.forward(x, training, mask=mask), layer.compute_mask(x, mask)
    if getattr(layer, "_reads_mask", False):  # BatchNormalization: its statistics over the unmasked steps
        return layer.forward(x, training, mask=mask), (mask if _passes(layer, training) else None)
    passes = _passes(layer, training)
    return layer.forward(x, training), (mask if passes else None)


def carries_mask(layer, masked, training):
    """Whether ``layer``'s output carries a mask, its input carrying one (``masked``) or not: the rule
    `forward` follows, known before running (the fused steps check with it where masks go); raises
    forward's NotImplementedError where it would, and for a nested model that a mask enters or leaves (the
    layer path runs it, mask and all, by `forward`; the fused steps leave such a model to it)."""
    if getattr(layer, "_nests_layers", False):
        raise NotImplementedError(f"Model '{layer.name}': the fused steps do not run masks through a nested model.")
    if getattr(layer, "_mask_aware", False):
        return makes_mask(layer)  # (an Embedding or Masking makes its own; GlobalAveragePooling1D ends it)
    if own_compute_mask(layer):
        return True  # (what it returns is known only when it runs: it may be None)
    return masked and _passes(layer, training)


def own_compute_mask(layer):
    """Whether ``layer`` is a layer of your own that defines ``compute_mask`` (tf.keras 2 then calls it
    for the mask its output carries)."""
    return getattr(layer, "_uses_call", False) and _defines_compute_mask(type(layer))


@functools.lru_cache(maxsize=None)
def _defines_compute_mask(cls):
    from .base import Layer
    return getattr(cls, "compute_mask", Layer.compute_mask) is not Layer.compute_mask


def takes_mask(layer):
    """Whether ``layer``'s ``call`` takes a ``mask`` argument (tf.keras 2 then passes the input's)."""
    return getattr(layer, "_uses_call", False) and _call_takes_mask(type(layer))


def _users_mask_code(layer):
    return (takes_mask(layer) or own_compute_mask(layer)) and not getattr(layer, "_nests_layers", False)


def mask_after(layer, inputs, mask, training):
    """The mask a layer of your own hands on, called on tape tensor ``inputs`` with ``mask``: what its
    ``compute_mask`` returns (a boolean array, or None) where it defines one (tf.keras 2 calls it
    whenever the layer supports masking, as defining it says), else the input's where it passes masks on."""
    if own_compute_mask(layer):
        from ..autodiff.tensor import value_of
        out = layer.compute_mask(inputs, mask)
        if out is None:
            return None
        out = value_of(out)
        if isinstance(out, (list, tuple)):
            raise NotImplementedError(f"Layer '{layer.name}' ({type(layer).__name__}): compute_mask returned "
                                      f"{len(out)} masks; gpunet hands on one mask per call.")
        out = layer.ops.asarray(out)
        return out if out.dtype == bool else out.astype(bool)
    return mask if mask is not None and _passes(layer, training) else None


def _passes(layer, training):
    """Whether a layer that is not mask-aware hands its input's mask on (else drops it); raises where
    gpunet does not implement what tf.keras does with it."""
    for name, cls in zip(_WHY, _classes(tuple(_WHY))):
        if isinstance(layer, cls):
            raise _refuse(layer, _WHY[name])
    passes = getattr(layer, "supports_masking", None)
    return isinstance(layer, _classes(_PASSING)) if passes is None else bool(passes)


def makes_masks(layers):
    """Whether any of ``layers`` (nested models' included) makes a mask."""
    for layer in layers:
        if makes_mask(layer) or makes_masks(getattr(layer, "_layers", ())):
            return True
    return False


def makes_mask(layer):
    """Whether ``layer`` may start a mask: an ``Embedding(mask_zero=True)``, a ``Masking`` layer, a layer of
    your own that defines ``compute_mask``."""
    return bool(getattr(layer, "mask_zero", False) or getattr(layer, "_makes_mask", False)
                or own_compute_mask(layer)
                or (getattr(layer, "_nests_layers", False) and makes_masks(getattr(layer, "_layers", ()))))
