"""fit/evaluate/predict's once-per-call check of a model's input (layers/model_input.py).

``with checked_input(model, xs, val_x):`` around a call's batches checks each array once, whole,
with the ``check_model_input`` of each layer that takes the model's input as it is (Embedding: the
indices; a Sequential's first layer, or in a functional model each layer called on Inputs only),
before the first batch, so a bad value fails the call before any step changes a weight; inside the
block those layers skip their per-batch check. Where no layer qualifies, the block only hides any
outer call's trust and each batch is checked as before.
``checked_input(model)`` (no arrays) is that for calls whose batches come one by one (a generator,
train_on_batch): there is no whole x to check.
"""
from .. import backend as B
from ..backend.upload import is_host_data, transport_for
from ..layers import model_input
from .engine import EngineMixin


def checked_input(model, *arrays):
    """Check ``arrays`` (the call's x, and its validation x where it has one; None skipped) for the
    layers that take the model's input as it is, now; returns the context manager that trusts those
    layers for the call's batches."""
    checks = _checking_layers(model) if arrays else []
    if checks:
        host = B.resolve("numpy") if transport_for(model.ops) is not None else None
        for x in arrays:
            if x is None:
                continue
            # streamed data stays on the host: checked there (no upload, no device read)
            ops = host if host is not None and is_host_data(x) else model.ops
            for layer, part in checks:
                layer.check_model_input(ops, part(x))
    return model_input.trusting([layer for layer, _ in checks] or None)


def _checking_layers(model):
    """``[(layer, part)]``: each layer that checks its input (``check_model_input``) and receives the
    model's input unchanged, with ``part(x)`` the columns of the call's x it receives. A Sequential:
    its first layer, used once in it (a second use, nested models' included, would see other data).
    A functional model: each such layer all of whose calls take one of the model's inputs (several
    inputs come packed side by side in x: models/functional_io.py)."""
    nodes = getattr(model, "_nodes", None)
    if nodes is not None:
        return _graph_checking_layers(model, nodes)
    if getattr(type(model), "_forward", None) is not EngineMixin._forward:
        return []
    layers = getattr(model, "_layers", None)
    if not layers or not callable(getattr(layers[0], "check_model_input", None)):
        return []
    first = layers[0]
    return [(first, lambda x: x)] if _uses(model, first) == 1 else []


def _graph_checking_layers(model, nodes):
    inputs = {id(t): i for i, t in enumerate(model._inputs)}
    calls = {}
    for node in nodes:
        if callable(getattr(node.layer, "check_model_input", None)):
            calls.setdefault(id(node.layer), (node.layer, []))[1].append(node)
    out = []
    for layer, its in calls.values():
        taken = [inputs.get(id(n.inputs[0])) if not n.as_list else None for n in its]
        if any(i is None for i in taken):
            continue  # one of its calls takes another layer's output: checked batch by batch
        for i in sorted(set(taken)):
            out.append((layer, _columns(model, i)))
    return out


def _columns(model, i):
    if not model._in_layout:
        return lambda x: x
    offset, width, shape = model._in_layout[i]
    return lambda x: x[:, offset:offset + width].reshape((x.shape[0],) + tuple(shape))


def _uses(model, layer):
    """How many times ``layer`` appears in ``model``, nested models' layers included."""
    count = 0
    for inner in getattr(model, "_layers", ()):
        count += (inner is layer) + _uses(inner, layer)
    return count
