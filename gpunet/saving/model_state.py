"""What a model holds, gathered for a file: weights as host arrays (in each layout's structure) and
the random generators' state; and the random state restored on load.

Nested models (a Sequential used as a layer) are walked into: Keras's HDF5 layout keeps one
group per top-level layer (a nested model's weights in it, trainable first, named after their
own layer), Keras 3's layout one group per layer at every level.
"""
import numpy as np

from . import keras3_attrs
from .keras_zip import layer_keys
from .weight_matching import hdf5_layers, keras3_weights, legacy_order, sublayers


def ready(model):
    """Make sure the flat parameter buffer is current when there is an optimizer to save: packed when
    compiled, and packed again when another model (a nested or shared layer trained on its own)
    took the weights into its buffer since."""
    current = getattr(model, "_packing_current", None)
    if model._params is not None and current is not None and not current():
        model._invalidate()
    if model.optimizer is not None and model.built and model._params is None:
        model._pack()


def host_reader(model):
    """A function giving any weight's value as a host (NumPy) array. Packed trainable weights come from
    one host copy of the flat buffer (one device transfer on the GPU, no copy at all on the CPU)."""
    flat = model.ops.to_host(model._params) if model._params is not None else None
    offsets = {path: (off, shape) for path, off, shape in model._layout} if flat is not None else {}

    def host(w):
        if w.path in offsets:
            off, shape = offsets[w.path]
            return flat[off:off + int(np.prod(shape, dtype=np.int64))].reshape(shape)
        return w.layer.ops.to_host(w.value)
    return host


def check_unique_paths(model):
    """Every weight path must be unique (layer names are unique across nested models); a nested
    model changed after it was added could break that, and a file must never mix two weights up."""
    seen, twice = set(), []
    for w in model.weights:
        if w.path in seen:
            twice.append(w.path)
        seen.add(w.path)
    if twice:
        raise ValueError(f"Model '{model.name}' has several weights named {sorted(set(twice))}: layer names must "
                         "be unique across the model and the models nested in it; rename the layers.")


def legacy_layers(model, host):
    """``[(layer_name, [(owner_layer_name, weight_name, host_array)])]`` for Keras's HDF5 layout."""
    return [(layer.name, [(w.layer.name, w.name, host(w)) for w in legacy_order(layer)]) for layer in hdf5_layers(model)]


def legacy_top(model, host):
    """``[(model_name, weight_name, host_array)]``: a subclassed model's own weights for ``top_level_model_weights``."""
    return [(model.name, w.name, host(w)) for w in keras3_attrs.own_weights(model)]


def keras3_root(model, host):
    """``(layers, own, attrs)`` for keras_zip.write_weights: a Sequential's or functional model's layers
    (`keras3_layers`), or a subclassed model's own weights and the layers its attributes hold."""
    if not keras3_attrs.is_subclassed(model):
        return keras3_layers(model.layers, host), (), ()
    seen = set()
    return (None, [host(w) for w in keras3_attrs.own_weights(model)],
            [_keras3_entry(path, layer, host, seen) for path, layer in keras3_attrs.attribute_layers(model, seen)])


def keras3_layers(layers, host, seen=None):
    """``[(key, layer_name, [host_array], children[, attrs])]`` for Keras 3's layout (children: a nested
    model's layers; attrs: a layer of your own's or a subclassed model's, saving/keras3_attrs.py)."""
    seen = set() if seen is None else seen
    return [_keras3_entry(key, layer, host, seen) for key, layer in zip(layer_keys(layers), layers)]


def _keras3_entry(key, layer, host, seen):
    seen.add(id(layer))
    if keras3_attrs.by_attributes(layer):  # (each attribute's layer written whole before the next: depth first)
        attrs = [_keras3_entry(path, sub, host, seen) for path, sub in keras3_attrs.attribute_layers(layer, seen)]
        return key, layer.name, [host(w) for w in keras3_attrs.own_weights(layer)], None, attrs
    inner = sublayers(layer)
    if inner is not None:
        return key, layer.name, [], keras3_layers(inner, host, seen)
    return key, layer.name, [_keyed(w, host) for w in keras3_weights(layer)], None


def _keyed(w, host):
    """``w``'s host array, keyed ``(name, array)`` where Keras 3 keeps it under a name (``keras3_key``)."""
    key = getattr(w, "keras3_key", None)
    return (key, host(w)) if key else host(w)


def all_layers(layers):
    """Every layer, those inside nested models included (depth first)."""
    for layer in layers:
        yield layer
        inner = sublayers(layer)
        if inner is not None:
            yield from all_layers(inner)


def rng_state(model):
    from ..backend import random as _random
    layers = {l.name: l._generator.bit_generator.state for l in all_layers(model.layers)
              if getattr(l, "_generator", None) is not None}
    seeds = {key: g._generator.bit_generator.state for key, g in _seed_generators(model)}
    return {"global": _random.get_state(), "layers": layers, **({"seed_generators": seeds} if seeds else {})}


def _seed_generators(model):
    """``(layer name/attribute, SeedGenerator)`` for the `gpunet.random.SeedGenerator`s the model's layers hold
    (the Keras 3 guide's Sampling layer keeps one): their state is saved, so a resumed fit draws on as before."""
    from ..random import SeedGenerator
    from .keras3_assets import layer_paths
    for path, layer in layer_paths(model):  # (every layer, those a layer of your own holds too, by its place)
        for attr, value in sorted(vars(layer).items()):
            if isinstance(value, SeedGenerator):
                yield f"{path}/{attr}", value


def restore_rng(model, state):
    from ..backend import random as _random
    saved_layers = state.get("layers", {})
    for layer in all_layers(model.layers):
        saved = saved_layers.get(layer.name)
        if saved is not None and getattr(layer, "_generator", None) is not None:
            layer._generator.bit_generator.state = saved
    saved_seeds = state.get("seed_generators", {})
    for key, g in _seed_generators(model):
        if key in saved_seeds:
            g._generator.bit_generator.state = saved_seeds[key]
    if state.get("global") is not None:
        _random.set_state(state["global"])
