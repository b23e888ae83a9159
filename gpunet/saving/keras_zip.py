"""Keras 3's formats: the ``.keras`` zip archive and the ``.weights.h5`` layout, read and write.

A ``.keras`` file is a zip (stored, not compressed) of ``config.json`` (the
Keras 3 model config with ``compile_config``), ``metadata.json`` and
``model.weights.h5``. That weights file (also what Keras 3's ``save_weights``
writes to ``*.weights.h5``) addresses objects by attribute path, not by name::

    /layers/<snake_class>[_k]/vars/0, 1, ...   attrs name = the layer's name (Keras >= 3.?)
    /optimizer/vars/0, 1, ...                  iteration, learning_rate, slots in Keras 3 order
    /vars                                      the model's own (none for Sequential)

Layer keys count classes in model order (``dense``, ``dense_1``, ``batch_normalization``);
the InputLayer is not a layer there. tf.keras 2.13 wrote ``_layer_checkpoint_dependencies``
instead of ``layers``; both are read.
"""
import contextlib
import io
import json
import re
import zipfile

import h5py
from . import file_guards, limits, h5_store as h5s
from .keras3_modes import NAMES_KEY

CONFIG_NAME, METADATA_NAME, WEIGHTS_NAME = "config.json", "metadata.json", "model.weights.h5"
_MEMBERS = (CONFIG_NAME, METADATA_NAME, WEIGHTS_NAME)
_NAMED_VARS = ("idf_weights",)  # (Keras 3's IntegerLookup keeps its tf-idf weights under a name)
_MAX_EXPANSION = 100  # deflate of real configs and weights stays far below this ratio


def to_snake_case(name):
    """Keras 3's ``naming.to_snake_case`` (keys of the weights layout)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def layer_keys(layers):
    """Keras 3's keys for a model's layers: class name in snake case, numbered per class."""
    return keys_for_classes(type(layer).__name__ for layer in layers)


def keys_for_classes(class_names):
    """`layer_keys` from class names (``["Dense", "Dense"]`` -> ``["dense", "dense_1"]``)."""
    used, keys = {}, []
    for class_name in class_names:
        base = to_snake_case(class_name)
        if base in used:
            used[base] += 1
            keys.append(f"{base}_{used[base]}")
        else:
            used[base] = 0
            keys.append(base)
    return keys


# ---- the weights layout -------------------------------------------------------------------------
def write_weights(h5, model_name, layers, optimizer=None, meta=None, gpunet_version="0", own=(), attrs=()):
    """Write the Keras 3 layout.

    ``layers``: ``[(key, layer_name, [host_array, ...], children[, attrs])]`` where ``children`` is None, or
    for a nested model the same list for its layers (written under ``layers/<key>/layers/...``, as Keras 3
    does), and ``attrs`` the same list for the layers a layer of your own holds (keyed by path, written in its
    group: saving/keras3_attrs.py); None for a subclassed model, whose own weights are ``own`` (the root
    ``vars``) and its layers ``attrs``; ``optimizer``: ``(name, [(array, path, slot)])`` or None; ``meta``:
    gpunet attributes to add (``{"gpunet_rng": ..., "gpunet_optimizer": ...}``).
    """
    root = h5.create_group("vars")
    root.attrs["name"] = model_name
    h5s.write_arrays(root, [(str(i), array) for i, array in enumerate(own)])
    if layers is not None:
        _write_layers(h5.create_group("layers"), layers)
    for entry in attrs:
        _write_entry(h5.create_group(entry[0]), entry)
    if optimizer is not None:
        opt_name, entries = optimizer
        vars_ = h5.create_group("optimizer").create_group("vars")
        vars_.attrs["name"] = opt_name
        h5s.write_arrays(vars_, [(str(i), array) for i, (array, _, _) in enumerate(entries)])
        # Which parameter and slot each positional array is: gpunet restores by path.
        vars_.attrs["gpunet_slots"] = json.dumps([[path, slot] if path else None
                                                   for _, path, slot in entries]).encode("utf-8")
    h5s.stamp(h5, gpunet_version)
    sums = {}
    for key, value in (meta or {}).items():
        if value is not None:
            h5s.put_json(h5, key, value, sums)
    h5.attrs["gpunet_attr_crc"] = json.dumps(sums).encode("utf-8")


def _write_layers(group, layers):
    for entry in layers:
        _write_entry(group.create_group(entry[0]), entry)


def _write_entry(layer_group, entry):
    _, name, arrays, children, *attrs = entry
    vars_ = layer_group.create_group("vars")
    vars_.attrs["name"] = name
    # (an array may come keyed: ``(name, array)``, where Keras 3 names it: IntegerLookup's idf_weights)
    h5s.write_arrays(vars_, [a if isinstance(a, tuple) else (str(i), a) for i, a in enumerate(arrays)])
    if children is not None:
        _write_layers(layer_group.create_group("layers"), children)
    for sub in attrs[0] if attrs else ():
        _write_entry(layer_group.create_group(sub[0]), sub)  # (a path: its containers' groups come with it)


def is_v3_weights(h5):
    """True for Keras 3's layout (and tf.keras 2.13's variant of it)."""
    return "layers" in h5 or "_layer_checkpoint_dependencies" in h5 or (
        "vars" in h5 and "layer_names" not in h5.attrs and "model_weights" not in h5)


def _vars(group):
    """The datasets of a ``vars`` group in numeric order (then those Keras 3 names: `_NAMED_VARS`)."""
    keys = sorted(group.keys(), key=lambda k: (not k.isdigit(), len(k), k))
    if any(not k.isdigit() and k not in _NAMED_VARS for k in keys):
        raise ValueError(f"unexpected entries in {group.name}: {keys[:5]}")
    sums = h5s.checksums(group, len(keys))
    return [h5s.FileWeight(f"{group.name}/{k}", group[k], c) for k, c in zip(keys, sums)]


def read_weights(h5):
    """The `FileLayer` list of a Keras 3 weights file's ``layers`` (``name`` None where the file has no
    names; a subclassed model's are `read_attrs`)."""
    h5s.gpunet_version_of(h5)
    h5s.check_json_sums(h5)
    layers = _layers_group(h5)
    return _read_layers(layers, depth=0) if layers is not None else []


def read_own(h5):
    """The file's root ``vars``: a subclassed model's own weights (none for other models)."""
    return _vars(h5["vars"]) if isinstance(h5.get("vars"), h5py.Group) else []


def read_attrs(h5):
    """The layers under the root's attributes, keyed by path (a subclassed model's: saving/keras3_attrs.py)."""
    return _read_attrs(h5, 0, ("vars", "optimizer"))


def _layers_group(group):
    for name in ("layers", "_layer_checkpoint_dependencies"):  # the second: tf.keras 2.13
        if name in group:
            return group[name]
    return None


def _read_layers(root, depth):
    return [_read_node(_group(root, key), key, depth) for key in root.keys()]


def _group(parent, key):
    group = parent[key]
    if not isinstance(group, h5py.Group):
        raise ValueError(f"{group.name} is not a group")
    return group


def _read_node(group, key, depth):
    if depth > 64:
        raise ValueError(f"{group.name}: models nested more than 64 deep")
    vars_ = group.get("vars")
    name = h5s.text(h5s.attr(vars_, "name")) if vars_ is not None and "name" in vars_.attrs else None
    inner = _layers_group(group)
    children = _read_layers(inner, depth + 1) if isinstance(inner, h5py.Group) else None
    attrs = _read_attrs(group, depth + 1)
    return h5s.FileLayer(name, key, _vars(vars_) if vars_ is not None else [], children, attrs=attrs or None)


def _read_attrs(group, depth, skip=("vars", "layers", "_layer_checkpoint_dependencies"), prefix=""):
    """The layers under ``group``'s attribute groups (saving/keras3_attrs.py), keyed by path: a group with
    ``vars`` is a layer, one without a container of them."""
    if depth > 64:
        raise ValueError(f"{group.name}: layers nested more than 64 deep")
    nodes = []
    for key in group.keys():
        sub = group[key]
        if key in skip or not isinstance(sub, h5py.Group):  # (a dataset there is no layer of Keras 3's walk)
            continue
        if "vars" in sub:
            nodes.append(_read_node(sub, prefix + key, depth + 1))
        else:
            nodes += _read_attrs(sub, depth + 1, (), prefix + key + "/")
    return nodes


def read_optimizer(h5):
    """``(named, positional, optimizer_name)``: gpunet-tagged arrays as ``[(name, FileWeight, path, slot)]``,
    else the arrays in order for positional matching."""
    if "optimizer" not in h5 or "vars" not in h5["optimizer"]:
        return [], None, None
    vars_ = h5["optimizer"]["vars"]
    name = h5s.text(h5s.attr(vars_, "name")) if "name" in vars_.attrs else None
    items = _vars(vars_)
    if "gpunet_slots" in vars_.attrs:
        tags = limits.parse_json(h5s.text(h5s.attr(vars_, "gpunet_slots")), f"{vars_.name} gpunet_slots")
        if not isinstance(tags, list) or len(tags) != len(items):
            raise ValueError(f"{vars_.name}: gpunet_slots does not list the {len(items)} arrays")
        named = [(w.name, w, *(tag if tag else (None, None))) for w, tag in zip(items, tags)]
        return named, None, name
    return [], items, name


# ---- the archive --------------------------------------------------------------------------------------
def write_archive(fileobj, config, meta, write_h5):
    """Write a ``.keras`` archive to ``fileobj``; ``write_h5(h5)`` fills ``model.weights.h5``."""
    buffer = io.BytesIO()
    with h5py.File(buffer, "w", libver=("v108", "v108")) as h5:
        write_h5(h5)
    with zipfile.ZipFile(fileobj, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        zf.writestr(METADATA_NAME, json.dumps(meta))
        zf.writestr(CONFIG_NAME, json.dumps(config))
        zf.writestr(WEIGHTS_NAME, buffer.getbuffer())


def _check_members(zf):
    """Exactly the members gpunet reads, each once: a second ``config.json`` would be the one zipfile
    reads while unzip and scanners show the first; anything else has no business in the archive."""
    names = zf.namelist()
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"the archive holds {twice} more than once: refused (which copy is read "
                         f"depends on the reader)")
    if CONFIG_NAME not in names:
        raise ValueError(f"the archive has no {CONFIG_NAME} (members: {names[:10]})")
    unexpected = [n for n in names if n not in _MEMBERS and not n.startswith("assets/")]
    if unexpected:
        raise ValueError(f"unexpected archive member(s) {unexpected[:10]}: a .keras archive holds only "
                         f"{list(_MEMBERS)} and Keras 3's assets/")


def _member(zf, name):
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise ValueError(f"the archive has no {name} (members: {zf.namelist()[:10]})") from None
    if info.compress_type != zipfile.ZIP_STORED and info.file_size > _MAX_EXPANSION * max(info.compress_size, 1):
        raise ValueError(f"{name} would expand {info.compress_size} bytes to {info.file_size}: refused")
    if name != WEIGHTS_NAME:
        limits.check_text_size(info.file_size, f"archive member {name}")
    return zf.read(name)  # zipfile checks the CRC-32 of what it reads, and stops at the declared size


def _json_member(zf, name):
    raw = _member(zf, name)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{name} is not valid JSON (not UTF-8: {exc.reason} at byte {exc.start})") from None
    return limits.parse_json(text, name)


@contextlib.contextmanager
def open_archive(fileobj, name="<archive>"):
    """Yield ``(config, metadata, h5, assets)`` of a ``.keras`` archive; ``h5`` is its open weights file,
    ``assets`` Keras 3's ``assets/`` files (saving/keras3_assets.py)."""
    from .keras3_assets import read as read_assets
    with zipfile.ZipFile(fileobj, "r") as zf:
        _check_members(zf)
        config = _json_member(zf, CONFIG_NAME)
        meta = _json_member(zf, METADATA_NAME) if METADATA_NAME in zf.namelist() else {}
        weights = io.BytesIO(_member(zf, WEIGHTS_NAME))
        assets = read_assets(zf)
    if not isinstance(config, dict):
        raise ValueError(f"{CONFIG_NAME} holds a {type(config).__name__}, not a model config")
    with h5py.File(weights, "r") as h5:
        file_guards.check_links(h5, f"{name}, member {WEIGHTS_NAME}")
        yield config, meta, h5, assets


def read_archive_contents(config, meta, h5, assets=None):
    """The same dict as `hdf5_legacy.read_model_file`, from an open archive."""
    if not isinstance(meta, dict):
        meta = {}
    version = meta.get("gpunet_format_version")
    if isinstance(version, int) and version > h5s.FORMAT_VERSION:
        raise ValueError(f"saved with gpunet {meta.get('gpunet_version')} (file format {version}); this gpunet "
                         f"reads format {h5s.FORMAT_VERSION} and older: upgrade gpunet")
    named, positional, opt_name = read_optimizer(h5)
    return {
        "config": config,
        "training_config": lambda: config.get("compile_config") or None,
        "keras_version": str(meta.get("keras_version", "3")),
        "gpunet": h5s.gpunet_version_of(h5) is not None,
        "gpunet_version": meta.get("gpunet_version"),
        "activation_names": meta.get(NAMES_KEY),
        "layers": read_weights(h5),
        "own": read_own(h5),
        "attrs": read_attrs(h5),
        "rng": h5s.json_attr(h5, "gpunet_rng"),
        "optimizer_meta": h5s.json_attr(h5, "gpunet_optimizer"),
        "optimizer": named,
        "optimizer_positional": positional,
        "optimizer_name": opt_name,
        "v3": True,
        "assets": assets or {},
    }
