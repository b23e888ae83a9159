"""Keras's legacy HDF5 layout (``model.save("x.h5")`` / ``save_weights("x.h5")``), read and write.

Layout, as tf.keras 2 writes it::

    /                      attrs model_config, training_config, keras_version, backend
    /model_weights         attrs layer_names, backend, keras_version
    /model_weights/<layer> attrs weight_names = ["<layer>/kernel:0", ...]
    /model_weights/<layer>/<layer>/kernel:0
    /optimizer_weights     attrs weight_names = ["Adam/iter:0", "Adam/dense/kernel/m:0", ...]

A weights-only file is the ``model_weights`` group at the root. gpunet adds
attributes Keras ignores: ``gpunet_format_version``, ``gpunet_version``, and on
each group of datasets ``gpunet_sum64`` (one checksum per dataset, in the order
of ``weight_names``, so flipped bits are caught). Names are escaped (`escape`),
which makes gpunet's optimizer names ``<opt>/<layer>/<weight>/<slot>:0``
unambiguous: optimizer state is matched by parameter path, never by position.
One checksum attribute per group (not per dataset) keeps 5,000-layer saves fast.
Name lists too long for one HDF5 attribute are split Keras's way
(``layer_names0``, ``layer_names1``, ...) and read back whole.
"""
import json

import numpy as np

from .h5_store import (FileLayer, attr, FileWeight, check_json_sums, checksums, gpunet_version_of,
                       json_attr, put_json, stamp, text, text_list, write_arrays)

HDF5_OBJECT_HEADER_LIMIT = 64512  # Keras's constant: below HDF5's 64 KB header message limit


# ---- name lists ---------------------------------------------------------------------------------
def save_attributes(group, name, strings):
    """Store a list of strings as ``name`` or, past Keras's header limit, as ``name0``, ``name1``...

    Written as UTF-8 bytes (fixed length), which every Keras version decodes.
    """
    data = np.array([s.encode("utf-8") for s in strings], dtype=bytes) if strings else np.zeros((0,), "S1")
    too_long = [s for s in strings if len(s.encode("utf-8")) > HDF5_OBJECT_HEADER_LIMIT]
    if too_long:
        raise ValueError(f"a name longer than {HDF5_OBJECT_HEADER_LIMIT} bytes cannot be saved: {too_long[0][:80]!r}...")
    chunks = max(1, -(-data.nbytes // HDF5_OBJECT_HEADER_LIMIT))
    parts = np.array_split(data, chunks)
    while any(p.nbytes > HDF5_OBJECT_HEADER_LIMIT for p in parts):
        chunks += 1
        parts = np.array_split(data, chunks)
    if chunks == 1:
        group.attrs[name] = data
        return
    for i, part in enumerate(parts):
        group.attrs[f"{name}{i}"] = part


def load_attributes(group, name):
    """The list saved by `save_attributes` (or by Keras), whole or in chunks; [] when absent."""
    if name in group.attrs:
        return text_list(attr(group, name))
    out, i = [], 0
    while f"{name}{i}" in group.attrs:
        out.extend(text_list(attr(group, f"{name}{i}")))
        i += 1
    return out


def has_attributes(group, name):
    return name in group.attrs or f"{name}0" in group.attrs


# ---- names --------------------------------------------------------------------------------------
def escape(name):
    """A layer or weight name as one HDF5 path component ('/' and ':' cannot appear there)."""
    out = name.replace("%", "%25").replace("/", "%2F").replace(":", "%3A")
    return out.replace(".", "%2E") if set(out) == {"."} else out


def unescape(name):
    return name.replace("%2E", ".").replace("%3A", ":").replace("%2F", "/").replace("%25", "%")


# ---- weights (model_weights group or a weights-only file) -------------------------------------
def write_weights(group, layers, keras_version, backend, top=()):
    """Write ``layers`` in Keras's layout: ``[(layer_name, [(weight_name, host_array)])]``, where a weight
    may also be ``(owner_layer_name, weight_name, host_array)``: a nested model's weights are named after
    their own layer, ``<nested>/<inner>/kernel:0``, as tf.keras 2 writes them. ``top``: a subclassed model's
    own weights, ``[(model_name, weight_name, host_array)]``, in ``top_level_model_weights``."""
    save_attributes(group, "layer_names", [escape(name) for name, _ in layers])
    group.attrs["backend"] = backend.encode("utf-8")
    group.attrs["keras_version"] = keras_version.encode("utf-8")
    # Keras sorts groups by name so that names sharing a prefix are created in order.
    for name, weights in sorted(layers, key=lambda item: escape(item[0])):
        g = group.create_group(escape(name))
        items = [w if len(w) == 3 else (name, *w) for w in weights]
        names = [f"{escape(owner)}/{escape(wname)}:0" for owner, wname, _ in items]
        save_attributes(g, "weight_names", names)
        write_arrays(g, [(wname, array) for wname, (_, _, array) in zip(names, items)])
    own = group.create_group("top_level_model_weights")
    names = [f"{escape(owner)}/{escape(wname)}:0" for owner, wname, _ in top]
    save_attributes(own, "weight_names", names)
    write_arrays(own, [(wname, array) for wname, (_, _, array) in zip(names, top)])


def read_top(group):
    """The `FileWeight` list of ``top_level_model_weights`` (a subclassed model's own weights; none: [])."""
    own = group.get("top_level_model_weights")
    if own is None or not has_attributes(own, "weight_names"):
        return []
    names = load_attributes(own, "weight_names")
    return [FileWeight(w, own[w], c) for w, c in zip(names, checksums(own, len(names)))]


def read_weights(group, escaped):
    """The `FileLayer` list of a legacy weights group (``escaped``: the file is gpunet's)."""
    if not has_attributes(group, "layer_names"):
        raise ValueError("no 'layer_names' attribute: not a Keras weights group")
    layers = []
    for key in load_attributes(group, "layer_names"):
        if key not in group:
            raise ValueError(f"layer {key!r} is listed in layer_names but has no group")
        g = group[key]
        names = load_attributes(g, "weight_names")
        weights = [FileWeight(w, g[w], c) for w, c in zip(names, checksums(g, len(names)))]
        layers.append(FileLayer(unescape(key) if escaped else key, key, weights, escaped=escaped))
    return layers


# ---- optimizer weights ------------------------------------------------------------------------------
def write_optimizer(h5, entries):
    """``entries``: list of ``(keras_name, array, param_path or None, slot or None)``, in order.
    gpunet's names already say path and slot (see `gpunet_slot_of`)."""
    group = h5.create_group("optimizer_weights")
    save_attributes(group, "weight_names", [name for name, _, _, _ in entries])
    write_arrays(group, [(name, array) for name, array, _, _ in entries])


def gpunet_slot_of(name):
    """``(param_path, slot)`` from gpunet's escaped ``<opt>/<layer>/<weight>/<slot>:0``, else (None, None)."""
    parts = name.split(":", 1)[0].split("/")
    if len(parts) != 4:
        return None, None
    return f"{unescape(parts[1])}/{unescape(parts[2])}", parts[3]


def read_optimizer(h5, escaped):
    """``[(name, FileWeight, param_path or None, slot or None)]`` from ``optimizer_weights``
    (paths and slots only for gpunet's files, ``escaped``; Keras's names are parsed later)."""
    if "optimizer_weights" not in h5:
        return []
    group = h5["optimizer_weights"]
    names = load_attributes(group, "weight_names")
    out = []
    for name, checksum in zip(names, checksums(group, len(names))):
        param, slot = gpunet_slot_of(name) if escaped else (None, None)
        out.append((name, FileWeight(name, group[name], checksum), param, slot))
    return out


# ---- whole files --------------------------------------------------------------------------------------
def write_model_file(h5, meta, layers, optimizer_entries, gpunet_version):
    """Write a whole model. ``meta``: ``{"model_config", "training_config" (or None),
    "keras_version", "backend", "gpunet_rng", "gpunet_optimizer" (or None)}``."""
    sums = {}
    put_json(h5, "model_config", meta["model_config"], sums)
    for key in ("training_config", "gpunet_rng", "gpunet_optimizer"):
        if meta.get(key) is not None:
            put_json(h5, key, meta[key], sums)
    h5.attrs["keras_version"] = meta["keras_version"].encode("utf-8")
    h5.attrs["backend"] = meta["backend"].encode("utf-8")
    stamp(h5, gpunet_version)
    h5.attrs["gpunet_attr_crc"] = json.dumps(sums).encode("utf-8")
    write_weights(h5.create_group("model_weights"), layers, meta["keras_version"], meta["backend"])
    if optimizer_entries:
        write_optimizer(h5, optimizer_entries)


def _training_config(h5):
    check_json_sums(h5, ("training_config",))
    return json_attr(h5, "training_config")


def read_model_file(h5):
    """Everything in a legacy whole-model file, arrays left in the file until read."""
    gpunet = gpunet_version_of(h5) is not None
    check_json_sums(h5, ("model_config", "gpunet_rng", "gpunet_optimizer"))
    if "model_config" not in h5.attrs:
        if has_attributes(h5, "layer_names"):
            raise ValueError("no model_config: this is a weights-only file; build the model and call "
                             "model.load_weights() instead")
        raise ValueError("no model_config attribute: not a Keras/gpunet model file")
    if "model_weights" not in h5:
        raise ValueError("missing 'model_weights' group")
    return {
        "config": json_attr(h5, "model_config"),
        "training_config": lambda: _training_config(h5),  # read only when compiling
        "keras_version": text(attr(h5, "keras_version", b"1")),
        "gpunet": gpunet,
        "rng": json_attr(h5, "gpunet_rng"),
        "optimizer_meta": json_attr(h5, "gpunet_optimizer"),
        "layers": read_weights(h5["model_weights"], gpunet),
        "own": read_top(h5["model_weights"]),
        "optimizer": read_optimizer(h5, gpunet),
        "optimizer_positional": None,
        "v3": False,
    }
