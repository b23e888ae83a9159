"""The ``assets/`` of a Keras 3 ``.keras`` archive: files a layer keeps beside its weights, under the same
path as its weights group (``assets/layers/integer_lookup/vocabulary.txt``: an adapted lookup layer's
vocabulary, one token per line, the special tokens first).

Keras 3 hands each layer its folder after the weights are loaded (``load_assets``); gpunet does the same
for the layers that read assets (``read_keras3_assets(files)``, given ``{file name: bytes}``, returning the
names it read and the function that sets what they hold, run after the weights). The archive's members
are read into memory, never extracted, so no member name reaches the file system. An asset no layer of the
model reads is refused by name: the model would lack what the file holds (gpunet writes an adapted
vocabulary in the layer's config, which Keras 3 reads too).
"""
from . import limits
from .keras3_attrs import attribute_layers, by_attributes, is_subclassed
from .keras_zip import layer_keys
from .weight_matching import sublayers

PREFIX = "assets/"
_MAX_FILES = 10_000


def read(zf):
    """``{path under assets/: bytes}`` of an open archive (its folders' own entries left out)."""
    names = [n for n in zf.namelist() if n.startswith(PREFIX) and not n.endswith("/")]
    if len(names) > _MAX_FILES:
        raise ValueError(f"the archive holds {len(names)} assets, more than {_MAX_FILES}: refused")
    found = {}
    for name in names:
        info = zf.getinfo(name)
        limits.check_text_size(info.file_size, f"archive member {name}")
        if info.compress_type != 0 and info.file_size > 100 * max(info.compress_size, 1):
            raise ValueError(f"{name} would expand {info.compress_size} bytes to {info.file_size}: refused")
        found[name[len(PREFIX):]] = zf.read(name)
    return found


def layer_paths(model):
    """``(path, layer)`` for every layer where Keras 3's layout keeps it: ``layers/<key>`` (a nested model's
    under ``layers/<key>/layers/...``), a subclassed model's and a layer of your own's under their attributes
    (saving/keras3_attrs.py), in the order Keras 3 walks them."""
    found, seen = [], set()

    def visit(path, layer):
        seen.add(id(layer))
        found.append((path, layer))
        if by_attributes(layer):
            for sub_path, sub in attribute_layers(layer, seen):
                visit(f"{path}/{sub_path}", sub)
            return
        inner = sublayers(layer)
        for key, sub in zip(layer_keys(inner), inner) if inner is not None else ():
            visit(f"{path}/layers/{key}", sub)

    if is_subclassed(model):
        for path, layer in attribute_layers(model, seen):
            visit(path, layer)
    else:
        for key, layer in zip(layer_keys(model.layers), model.layers):
            visit(f"layers/{key}", layer)
    return found


def prepare(model, assets):
    """The loads of the layers that read assets, each layer's files read and checked already: functions to
    run once the weights are in (Keras 3 loads assets after them). Refuses the assets no layer reads."""
    if not assets:
        return []
    used, loads = set(), []
    for path, layer in layer_paths(model):
        read = getattr(layer, "read_keras3_assets", None)
        files = {name[len(path) + 1:]: data for name, data in assets.items() if name.startswith(path + "/")}
        if read is not None and files:
            names, load = read(files)
            used.update(f"{path}/{name}" for name in names)
            loads += [load] if load is not None else []
    unused = sorted(set(assets) - used)
    if unused:
        raise ValueError(f"assets no layer of model '{model.name}' reads: {[PREFIX + n for n in unused[:10]]} "
                         "(Keras 3 keeps an adapted lookup layer's vocabulary there; gpunet reads IntegerLookup's)")
    return loads


def assign_then_load(pairs, arrays, loads):
    """Assign ``arrays`` to the ``pairs``' weights, then run the assets' ``loads``; where one fails, the
    weights go back to what they were (a failed load_weights changes nothing)."""
    before = [w.layer.ops.copy(w.value) for w, _, _ in pairs] if loads else ()
    for (w, _, shape), array in zip(pairs, arrays):
        w.assign(array.reshape(shape))
    try:
        for load in loads:
            load()
    except Exception:
        for (w, _, _), value in zip(pairs, before):
            w.assign(value)
        raise
