"""Which weight in a file goes into which weight of a model, and the `LoadReport` saying so.

Three ways to match, as Keras does them:

* Keras 2 layout, ``by_name=False``: the layers that have weights, in order (topological);
* Keras 3 layout, ``by_name=False``: by key (class name + count: ``dense_1``), as Keras 3 does;
* ``by_name=True``: by layer name (transfer learning), whatever the layout.

A nested model (a Sequential used as a layer) is one layer at its level. Inside it, Keras 3's
layout matches its layers by key again; Keras's HDF5 layout stores its weights in one group,
trainable first, named ``<inner layer>/<weight>``: they are matched by those names when they
all fit, else by position (Keras's way).

Nothing is read or assigned here: the caller reads every matched array once
all shapes have been checked, so a mismatch never leaves a half-loaded model.
"""
from . import keras3_attrs, limits
from .keras3_attrs import own_weights
from .load_report import LoadReport
from .hdf5_legacy import unescape
from .h5_store import FileLayer
from .keras_zip import layer_keys

# Layers whose output shape equals their input shape (an input shape can be seen through them).
_SHAPE_PRESERVING = ("Dropout", "Activation", "LeakyReLU", "ReLU", "ELU", "Softmax", "ThresholdedReLU",
                     "ActivityRegularization", "GaussianNoise", "GaussianDropout", "AlphaDropout", "SpatialDropout1D",
                     "SpatialDropout2D", "SpatialDropout3D")


def sublayers(layer):
    """The layers of a nested model (a Sequential used as a layer), else None."""
    return layer.layers if getattr(type(layer), "_nests_layers", False) else None


def legacy_order(layer):
    """The order of a layer's weights in Keras's HDF5 layout: trainable first (for a nested model,
    the trainable weights of all its layers, then all the others), as Keras writes and reads them."""
    return layer.trainable_weights + layer.non_trainable_weights


def keras3_weights(layer):
    """The weights Keras 3's layouts hold for ``layer``: all but those Keras 3 keeps elsewhere
    (Discretization's quantile summary: Keras 3 has its boundaries in the config)."""
    return [w for w in layer.weights if getattr(w, "in_keras3", True)]


def match_weights(model, file_layers, by_name=False, skip_mismatch=False, reshape=False, v3=False, own=(),
                  attrs=None):
    """``(pairs, report)``: ``pairs`` is ``[(Weight, FileWeight, target_shape)]``; ``own``: the file's
    weights of the model itself (a subclassed model's), matched by position; ``attrs``: a Keras 3 file's
    layers under its root's attributes, where a subclassed model's are (saving/keras3_attrs.py; gpunet wrote
    them as ``file_layers`` before, which load as they did where the attributes do not fit).

    Raises ValueError naming layer, weight and both shapes on a mismatch (unless
    ``skip_mismatch``), and naming the layers that differ when the structures do not fit.
    """
    report = LoadReport()
    layers = model.layers if v3 else hdf5_layers(model)
    if by_name:
        if v3 and any(fl.name is None for fl in file_layers if fl.weights):
            raise ValueError("This Keras 3 weights file records no layer names (written by an older Keras): "
                             "load it with by_name=False, which matches layers by class and position.")
        table = {fl.name: fl for fl in file_layers if keras3_attrs.stored(fl)}
        couples = []
        for layer in layers:
            weights = keras3_weights(layer) if v3 else layer.weights
            fl = table.pop(layer.name, None) if weights else None
            if fl is None:
                report.missing_in_file.extend(w.path for w in weights)
            else:
                couples.append((layer, fl))
        report.unexpected_in_file.extend(f"{fl.name}/{fw.short}" for fl in table.values() for fw in fl.weights)
    elif v3 and attrs is not None and keras3_attrs.is_subclassed(model) and keras3_attrs.fits(model, attrs):
        couples = None  # (paired below, as the model's attributes hold its layers)
    elif v3:
        couples = _v3_couples(model.name, layers, file_layers)
    else:
        mine = [layer for layer in layers if layer.weights]
        theirs = [fl for fl in file_layers if fl.weights]
        if len(mine) != len(theirs):
            mine_names = [layer.name for layer in mine]
            their_names = [fl.name for fl in theirs]
            raise ValueError(
                f"You are trying to load a weight file with {len(theirs)} layers with weights into model "
                f"'{model.name}', which has {len(mine)} layers with weights. Only in the model: "
                f"{[n for n in mine_names if n not in their_names]}; only in the file: "
                f"{[n for n in their_names if n not in mine_names]} (model: {mine_names}; file: {their_names}).")
        couples = list(zip(mine, theirs))
    pairs, seen = [], set()  # (seen: layers met already in Keras 3's walk, written once)

    def pair(layer, fl):
        _pair(layer, fl, pairs, report, skip_mismatch, reshape, seen=seen)
    if couples is None:
        keras3_attrs.pair_attributes(model, attrs, seen, pair, model.name)
    for layer, fl in couples or ():
        seen.add(id(layer))
        pair(layer, fl)
    mine = own_weights(model)
    if mine or own:
        _pair(model, FileLayer(model.name, "top_level_model_weights", list(own)), pairs, report, skip_mismatch,
              reshape, mine)
    report.loaded = [w.path for w, _, _ in pairs]
    return pairs, report


def hdf5_layers(model):
    """The layers Keras's HDF5 layout lists: ``model.layers``, and for a functional model that calls a nested
    model's layer directly (the VAE's loss on its encoder's ``z_mean``) that layer again, as tf.keras 2 does."""
    return getattr(model, "_ordered", None) or model.layers


def _v3_couples(owner, layers, file_layers):
    """Keras 3's layout: ``layers`` and the file's layers paired by key (class name + count)."""
    table = {fl.key: fl for fl in file_layers}
    couples, missing = [], []
    for key, layer in zip(layer_keys(layers), layers):
        fl = table.pop(key, None)
        weights = keras3_weights(layer)
        if weights and (fl is None or not keras3_attrs.stored(fl)):
            missing.append(f"{layer.name} ({key})")
        elif weights:
            couples.append((layer, fl))
        elif fl is not None and keras3_attrs.stored(fl):
            table[key] = fl
    extra = [key for key, fl in table.items() if keras3_attrs.stored(fl)]
    if missing or extra:
        raise ValueError(f"The weights file does not fit model '{owner}': model layers with no weights "
                         f"in the file: {missing}; layers in the file the model does not have: {extra}. "
                         "Keras 3 weights files match layers by class and position; use by_name=True to "
                         "match layer names.")
    return couples


def _by_owner(weights, stored, escaped):
    """``weights`` in the file's order when the file's names (``<inner layer>/<weight>``) name each one
    of them, so that a nested model frozen differently still loads right; None otherwise."""
    table = {(w.layer.name, w.name): w for w in weights}
    out = []
    for fw in stored:
        parts = fw.name.split(":", 1)[0].split("/")
        if len(parts) < 2:
            return None
        key = (unescape(parts[-2]), unescape(parts[-1])) if escaped else (parts[-2], parts[-1])
        w = table.pop(key, None)
        if w is None:
            return None
        out.append(w)
    return out


def _pair(layer, fl, pairs, report, skip_mismatch, reshape, weights=None, seen=None):
    """``layer``'s weights (``weights``: these of it only) paired with the file's layer ``fl``'s."""
    if weights is None and fl.attrs and keras3_attrs.by_attributes(layer):  # (Keras 3: its own, then attributes')
        seen = set() if seen is None else seen
        _pair(layer, FileLayer(fl.name, fl.key, fl.weights), pairs, report, skip_mismatch, reshape,
              own_weights(layer))
        keras3_attrs.pair_attributes(layer, fl.attrs, seen, lambda sub, node: _pair(
            sub, node, pairs, report, skip_mismatch, reshape, seen=seen), layer.name)
        return
    inner = None if weights is not None else sublayers(layer)
    label = fl.name or fl.key
    if fl.children is not None and inner is not None:  # Keras 3 layout: the nested model's layers by key
        for sub, child in _v3_couples(layer.name, inner, fl.children):
            _pair(sub, child, pairs, report, skip_mismatch, reshape)
        return
    if fl.children is not None:
        if skip_mismatch:
            report.shape_mismatch.extend((w.path, w.shape, None) for w in layer.weights)
            return
        raise ValueError(f"Layer '{layer.name}' is a {type(layer).__name__}, the file's layer '{label}' is a "
                         f"nested model with layers {[c.name or c.key for c in fl.children]}.")
    if weights is None:
        weights = legacy_order(layer) if inner is not None else layer.weights
    stored = fl.weights
    if len(weights) != len(stored):
        if skip_mismatch:
            report.shape_mismatch.extend((w.path, w.shape, None) for w in weights)
            return
        names = [w.path if inner is not None else w.name for w in weights]
        raise ValueError(f"Layer '{layer.name}' has {len(weights)} weights {names}, the file's "
                         f"layer '{label}' has {len(stored)}: {[fw.name for fw in stored]}.")
    if inner is not None:
        weights = _by_owner(weights, stored, fl.escaped) or weights
    for w, fw in zip(weights, stored):
        if tuple(fw.shape) == tuple(w.shape):
            pairs.append((w, fw, w.shape))
        elif reshape and limits.count(fw.shape) == limits.count(w.shape):
            pairs.append((w, fw, w.shape))
            report.reshaped.append(w.path)
        elif getattr(w, "resizable", False) and len(fw.shape) == len(w.shape) and fw.shape[:-1] == w.shape[:-1]:
            pairs.append((w, fw, tuple(fw.shape)))  # state whose length is the file's (layers/categorical.py)
        elif skip_mismatch:
            report.shape_mismatch.append((w.path, tuple(w.shape), tuple(fw.shape)))
        else:
            hint = " (reshape=True needs the same number of values)" if reshape else ""
            where = f"'{w.layer.name}' (in nested model '{layer.name}')" if inner is not None else f"'{layer.name}'"
            raise ValueError(f"Shape mismatch in layer {where} for weight '{w.name}': the model expects "
                             f"shape {tuple(w.shape)}, the file's weight '{fw.name}' (layer '{label}') has shape "
                             f"{tuple(fw.shape)}{hint}. Pass skip_mismatch=True to skip it.")


def config_input_shape(config):
    """The batch input shape recorded in a Keras 2 or 3 model config, or None."""
    if not isinstance(config, dict):
        return None
    shape = (config.get("build_config") or {}).get("input_shape")
    inner = config.get("config")
    if shape is None and isinstance(inner, dict):
        shape = inner.get("build_input_shape")
    entries = inner if isinstance(inner, list) else (inner or {}).get("layers", []) if isinstance(inner, dict) else []
    if shape is None and entries and isinstance(entries[0], dict):
        first = entries[0].get("config") or {}
        shape = first.get("batch_input_shape") or first.get("batch_shape")
    if not isinstance(shape, (list, tuple)) or not shape:
        return None
    return limits.check_shape(shape, "the model's input shape")


def input_shape_for(model, contents, by_name):
    """The input shape to build an unbuilt ``model`` with, from a file's config or first weight; the
    kernels that building would allocate are checked against `limits` first."""
    shape = _input_shape_for(model, contents, by_name)
    check_kernels(model.layers, shape)
    return shape


def check_kernels(layers, shape):
    """Refuse, before anything is allocated, a Dense chain whose kernels building from ``shape`` would
    make larger than `limits.ConfigLimits.max_weight_values` (units and the input width come from a file)."""
    width = shape[-1] if shape and isinstance(shape[-1], int) else None
    for layer in layers:
        inner = sublayers(layer)
        if inner is not None:
            check_kernels(inner, (None, width))
            width = next((l.units for l in reversed(inner) if isinstance(getattr(l, "units", None), int)), width)
            continue
        units = getattr(layer, "units", None)
        if isinstance(units, int):
            if width is not None:
                limits.check_weight_shape((width, units), f"layer {layer.name!r}: the kernel")
            width = units
        elif type(layer).__name__ not in _SHAPE_PRESERVING + ("BatchNormalization",):
            return  # Flatten, Reshape...: the width after it is not known here


def first_layer_input_shape(model):
    """The input shape a model's first layer was built for by hand (``layer.build(input_shape=(8,))``, as
    Keras 3's saving guide does before putting it in a Sequential), the batch axis added; else None."""
    layers = getattr(model, "layers", None) or []
    shape = layers[0].input_shape if layers and layers[0].built else None
    if not isinstance(shape, tuple) or not shape:
        return None
    return shape if shape[0] is None else (None,) + shape


def _input_shape_for(model, contents, by_name):
    shape = config_input_shape(contents.get("config"))
    if shape is not None:
        return shape
    layers = model.layers
    lead = 0
    while lead < len(layers) and type(layers[lead]).__name__ in _SHAPE_PRESERVING:
        lead += 1
    first = layers[lead] if lead < len(layers) else None
    if first is not None and type(first).__name__ in ("Dense", "BatchNormalization"):
        stored = [fl for fl in contents["layers"] if fl.weights]
        if by_name:
            stored = [fl for fl in stored if fl.name == first.name]
        elif contents.get("v3"):
            key = layer_keys(layers)[lead]
            stored = [fl for fl in stored if fl.key == key]
        if stored and len(stored[0].weights[0].shape) >= 1:
            width = stored[0].weights[0].shape[0]
            return (None, limits.check_dim(width, f"the input width of the file's weight {stored[0].weights[0].name!r}"))
    built = first_layer_input_shape(model)
    if built is not None:  # a first layer the file's build_config built (Keras 3's hook)
        return built
    raise ValueError(f"Model '{model.name}' is not built and the file does not record its input shape: call "
                     "model.build(input_shape), e.g. model.build((None, 8)), before load_weights().")
