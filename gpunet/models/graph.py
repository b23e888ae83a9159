"""The layer graph of a functional `Model`: which layer calls lead from its inputs to its outputs,
in the order Keras lists them (tf.keras 2's ``_map_graph_network``: by decreasing depth, ties in
the order a depth-first walk back from the outputs first meets each layer)."""
from ..backend.io_packing import layout_of
from ..layers.input_layer import InputLayer
from ..layers.symbolic import KerasTensor, nodes_of


def dict_keys(tensors, what):
    """The keys of a dict of model inputs or outputs (strings, as tf.keras 2 and Keras 3 take them), in its
    order; None for a tensor or a list of them."""
    if not isinstance(tensors, dict):
        return None
    if not tensors or not all(isinstance(k, str) for k in tensors):
        raise TypeError(f"Model {what} given as a dict need string keys and at least one tensor, received keys "
                        f"{list(tensors)}")
    return list(tensors)


def in_key_order(items, keys):
    """``items`` (in the sorted ``keys``' order: tf.nest's, a model's inputs' or outputs') as a dict in the order of
    ``keys`` themselves, the dict's a model was made from."""
    by_key = dict(zip(sorted(keys), items))
    return {k: by_key[k] for k in keys}


def as_tensor_list(tensors, what):
    """``tensors`` (one KerasTensor, or a list/tuple of them) as a list; a clear TypeError otherwise."""
    items = list(tensors) if isinstance(tensors, (list, tuple)) else [tensors]
    for t in items:
        if not isinstance(t, KerasTensor):
            raise TypeError(f"Model {what} must be symbolic tensors from Input() or from calling a layer on one, "
                            f"received {type(t).__name__}: {t!r}")
    if not items:
        raise ValueError(f"Model {what} are empty: give at least one tensor.")
    return items


def map_graph(inputs, outputs):
    """The nodes from ``inputs`` to ``outputs``, ordered by decreasing depth (a valid order to run them).

    Raises ValueError for an input that is not an ``Input()``, a cycle, or an output that needs a
    tensor the inputs do not give ("graph disconnected", as Keras says)."""
    for t in inputs:
        node = t.node
        if not isinstance(node.layer, InputLayer):
            raise ValueError(f"Model inputs must come from gpunet.Input(); {t!r} is the output of layer "
                             f"'{node.layer.name}' ({type(node.layer).__name__}).")
    finished, in_progress, order, first_seen = set(), set(), [], {}

    def visit(tensor):
        node = tensor.node
        if id(node) in finished:
            return
        if id(node) in in_progress:
            raise ValueError(f"Tensor {tensor!r} from layer '{node.layer.name}' is part of a cycle.")
        first_seen.setdefault(id(node.layer), len(first_seen))
        in_progress.add(id(node))
        for t in node.inputs:
            visit(t)
        in_progress.discard(id(node))
        finished.add(id(node))
        order.append(node)

    for t in outputs:
        visit(t)
    input_nodes = {id(t.node) for t in inputs}
    for node in order:  # every input of the model is an Input(); every Input() met must be a model input
        if node.is_input and id(node) not in input_nodes:
            raise ValueError(f"Graph disconnected: cannot obtain value for tensor {node.output!r} at layer "
                             f"'{node.layer.name}': pass it in the model's inputs. The model's inputs are "
                             f"{[t.node.layer.name for t in inputs]}.")
    depth = {}
    for node in reversed(order):
        d = depth.setdefault(id(node), 0)
        for t in node.inputs:
            depth[id(t.node)] = max(depth.get(id(t.node), 0), d + 1)
    for t in inputs:  # an input no output depends on still belongs to the model
        if id(t.node) not in depth:
            depth[id(t.node)] = 0
            order.append(t.node)
            first_seen.setdefault(id(t.node.layer), -1)
    nodes = sorted(order, key=lambda n: (-depth[id(n)], first_seen.get(id(n.layer), -1)))
    layer_depth, layers = {}, {}
    for node in nodes:  # a layer called several times (a shared layer) sits at its deepest call
        key = id(node.layer)
        layer_depth[key] = max(layer_depth.get(key, 0), depth[id(node)])
        layers[key] = node.layer
    ordered = sorted(layers.values(), key=lambda l: (-layer_depth[id(l)], first_seen.get(id(l), -1)))
    return nodes, ordered


def packed_layout(tensors, what):
    """``[(offset, width, shape)]`` of several inputs or outputs packed side by side (functional_io.py).
    Shapes of unknown lengths (a sequence's steps) get an open layout, ``(None, None, shape)`` each, which the
    arrays of each call settle: the inputs' in functional_io.py's ``_pack_x``, the outputs' in graph_run.py."""
    if any(d is None for t in tensors for d in t.shape[1:]):
        return [(None, None, tuple(t.shape[1:])) for t in tensors]
    return layout_of([t.shape[1:] for t in tensors])


def call_indices(model):
    """``{id(node): k}``: each call's index among its layer's calls in ``model`` (in the order they
    were made), what Keras's configs and summaries name a call by (``dense[1][0]``)."""
    mine = {id(n) for n in model._nodes} | {id(t.node) for t in model._inputs}
    out = {}
    layers = {id(l): l for l in model.layers}
    layers.update((id(n.layer), n.layer) for n in model._nodes)  # (a nested model's layer called here too)
    for layer in layers.values():
        for k, node in enumerate(n for n in nodes_of(layer) if id(n) in mine):
            out[id(node)] = k
    return out
