"""Keras 3's weights layout for a subclassed model and for a layer of your own that holds layers.

Keras 3 saves such an object's own variables in its ``vars`` group and walks its attributes for the
layers they hold (`attribute_layers`): each under the attribute's name (``encoder/vars``), a list, tuple
or dict of them under ``<attribute>/<class in snake case>`` numbered per class (``blocks/dense_1``), in
the attributes' sorted order with private ones (``_x``) last, each layer once (where it is first met,
depth first). A subclassed model's own weights are the file's root ``vars`` (models/own_weights.py). A
Sequential or functional model keeps its layers under ``layers/<key>`` (keras_zip.py) as before.

gpunet wrote a layer of your own with all its weights (its sublayers' too) in its ``vars``, and a
subclassed model's layers under ``layers/<class key>``: those files still load.
"""
from ..layers.base import Layer

_SKIP = ("_layers",)  # (a model's list of what it runs: its call holder, or a Sequential's layers)


def by_attributes(layer):
    """Whether Keras 3 keeps ``layer``'s sublayers under its attributes: a layer of your own (its ``call``
    on the tape), a subclassed model, or a built-in layer that says so (``_keras3_by_attributes``:
    SpectralNormalization's wrapped layer)."""
    return (getattr(layer, "_uses_call", False) or is_subclassed(layer)
            or getattr(type(layer), "_keras3_by_attributes", False))


def is_subclassed(model):
    return getattr(type(model), "_builds_on_call", False) and not getattr(model, "_is_graph", False)


def own_weights(layer):
    """The weights ``layer`` made itself, as Keras 3 keeps them in its ``vars``: trainable, then the rest (a
    built-in layer's ``keras3_own_weights()`` where Keras 3 keeps others there too)."""
    if hasattr(layer, "keras3_own_weights"):
        return layer.keras3_own_weights()
    if is_subclassed(layer):
        own = layer.__dict__.get("_own_weights", [])
    else:
        own = [w for w in layer._weights if w.layer is layer]
    return [w for w in own if w.trainable] + [w for w in own if not w.trainable]


def attribute_layers(obj, seen):
    """``(path, layer)`` for each layer ``obj``'s attributes hold, in Keras 3's order and with its paths,
    skipping those in ``seen`` (ids: met already) and adding the others as they are handed out: the
    caller walks each one's own attributes before the next (depth first, as Keras 3 saves)."""
    attrs = dict(vars(obj))
    if is_subclassed(obj):  # (Keras 3 walks its Model's ``layers`` property too: what is not met before it)
        attrs.setdefault("layers", obj.layers)
    for attr in sorted(attrs, key=lambda a: "~" + a if a.startswith("_") else a):
        if attr not in _SKIP and attr not in getattr(type(obj), "_keras3_skip", ()):
            yield from _layers_in(attr, attrs[attr], seen)


def _layers_in(path, value, seen):
    if isinstance(value, Layer):
        if id(value) not in seen:
            seen.add(id(value))
            yield path, value
        return
    if not isinstance(value, (list, tuple, dict)):
        return
    used = {}
    for item in value.values() if isinstance(value, dict) else value:
        if isinstance(item, Layer):
            yield from _layers_in(f"{path}/{_unique(_snake(type(item).__name__), used)}", item, seen)
        elif isinstance(item, (list, tuple, dict)):
            yield from _layers_in(f"{path}/{_unique('container', used)}", item, seen)


def _unique(name, used):
    """Keras 3's ``_get_unique_name``: ``dense``, ``dense_1``, ``dense_2``..."""
    if name in used:
        used[name] += 1
        return f"{name}_{used[name]}"
    used[name] = 0
    return name


def _snake(name):
    from .keras_zip import to_snake_case
    return to_snake_case(name)


def stored(node):
    """Whether a file's node (a `FileLayer`) holds any weight, in its own ``vars`` or below."""
    return bool(node.weights) or any(stored(n) for n in (node.attrs or ())) or any(
        stored(n) for n in (node.children or ()))


def pair_attributes(obj, nodes, seen, pair, owner):
    """Each layer ``obj``'s attributes hold (`attribute_layers`) with the file's node at its path among
    ``nodes``, by ``pair(layer, node)`` (which walks that layer's own attributes before the next: depth
    first). Raises ValueError naming what only the model or only the file has."""
    table = {node.key: node for node in nodes}
    missing = []
    for path, layer in attribute_layers(obj, seen):
        node = table.pop(path, None)
        if node is not None and stored(node):
            pair(layer, node)
        elif layer.weights:
            missing.append(f"{layer.name} ({path})")
    extra = [key for key, node in table.items() if stored(node)]
    if missing or extra:
        raise ValueError(f"The weights file does not fit '{owner}': its layers with no weights in the file: "
                         f"{missing}; in the file but not the model's: {extra}. Keras 3 keeps a subclassed "
                         "model's layers (and a layer of your own's) under the attributes that hold them.")


def fits(model, attrs):
    """Whether a subclassed model's attributes find their layers in a file's root attributes ``attrs``: else
    the file may be one gpunet wrote with them all under ``layers/<class key>`` (then matched so); a file
    with other attributes that does not fit says so when paired."""
    try:
        pair_attributes(model, attrs, set(), lambda layer, node: None, model.name)
    except ValueError:
        return not attrs or not all(node.key.startswith("layers/") for node in attrs)
    return True
