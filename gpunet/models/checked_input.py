"""fit/evaluate/predict's once-per-call check of a model's input (layers/model_input.py).

``with checked_input(model, xs, val_x):`` around a call's batches checks each array once, whole,
with the model's first layer's ``check_model_input`` (Embedding: the indices), before the first
batch, so a bad value fails the call before any step changes a weight; inside the block that layer
skips its per-batch check. Where the first layer has no such hook, or its input is not the model's
input as it is, the block only hides any outer call's trust and each batch is checked as before.
``checked_input(model)`` (no arrays) is that for calls whose batches come one by one (a generator,
train_on_batch): there is no whole x to check.
"""
from .. import backend as B
from ..backend.upload import is_host_data, transport_for
from ..layers import model_input
from .engine import EngineMixin


def checked_input(model, *arrays):
    """Check ``arrays`` (the call's x, and its validation x where it has one; None skipped) for the
    first layer, now; returns the context manager that trusts that layer for the call's batches."""
    layer = _first_checking_layer(model) if arrays else None
    if layer is not None:
        host = B.resolve("numpy") if transport_for(model.ops) is not None else None
        for x in arrays:
            if x is not None:
                # streamed data stays on the host: checked there (no upload, no device read)
                layer.check_model_input(host if host is not None and is_host_data(x) else model.ops, x)
    return model_input.trusting(layer)


def _first_checking_layer(model):
    """The layer that receives the model's input unchanged and checks it (``check_model_input``),
    or None: only a model whose forward hands x to ``_layers[0]`` as it is (a Sequential; a
    graph model overrides ``_forward``), and only a layer used once in it (a second use, nested
    models' included, would see other data)."""
    if getattr(type(model), "_forward", None) is not EngineMixin._forward:
        return None
    layers = getattr(model, "_layers", None)
    if not layers or not callable(getattr(layers[0], "check_model_input", None)):
        return None
    first = layers[0]
    return first if _uses(model, first) == 1 else None


def _uses(model, layer):
    """How many times ``layer`` appears in ``model``, nested models' layers included."""
    count = 0
    for inner in getattr(model, "_layers", ()):
        count += (inner is layer) + _uses(inner, layer)
    return count
