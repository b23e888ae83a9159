"""What ``gpunet inspect FILE`` and ``gpunet convert SRC DST`` do (the argparse side is gpunet/cli.py)."""
import os

from . import file_guards, files, h5_store, keras_zip, limits
from .errors import CorruptModelFileError
from .readers import contents as _contents, reading as _reading

_ARCHITECTURE_SUFFIXES = (".json", ".yaml", ".yml")


def _entries(config):
    inner = (config or {}).get("config")
    entries = inner if isinstance(inner, list) else (inner or {}).get("layers", []) if isinstance(inner, dict) else []
    return [e for e in entries if isinstance(e, dict) and e.get("class_name") != "InputLayer"]


def _ordered(layers, config, v3):
    """Keras 3 files list layers alphabetically by key; the config gives the model's order."""
    if not v3 or config is None:
        return layers
    keys = keras_zip.keys_for_classes(e.get("class_name", "") for e in _entries(config))
    rank = {key: i for i, key in enumerate(keys)}
    return sorted(layers, key=lambda layer: rank.get(layer.key, len(rank)))


def inspect(path):
    """A human-readable description of a saved file: format, who wrote it, layers with their
    weight shapes, parameter count, training config and whether optimizer state is present.

    Raises FileNotFoundError or `CorruptModelFileError` (naming the problem) for bad files.
    """
    with files.open_source(path) as src:
        size = src.size if files.is_path(path) else None
        with _contents(src, whole_model=False) as c, _reading(src):
            lines = [f"File: {src.name}" + (f" ({size} bytes)" if size is not None else "")]
            training = c["training_config"]() if "training_config" in c else None
            if src.kind == "zip":
                kind = "Keras 3 .keras archive (config.json + model.weights.h5)"
            elif c.get("v3"):
                kind = "Keras 3 weights layout (.weights.h5)"
            elif c.get("config") is not None:
                kind = "Keras HDF5, legacy layout (whole model: config, weights" + (
                    ", training config)" if training else ")")
            else:
                kind = "Keras HDF5, legacy layout (weights only)"
            lines.append(f"Format: {kind}")
            lines.append(f"Written by: {_writer(src, c)}")
            config = c.get("config")
            if config is not None:
                inner = config.get("config")
                name = inner.get("name") if isinstance(inner, dict) else None
                lines.append(f"Model: {config.get('class_name', '?')}" + (f" '{name}'" if name else ""))
            classes = {(e.get("config") or {}).get("name"): e.get("class_name") for e in _entries(config)}
            lines.append("Layers:")
            total = 0
            for layer in _ordered(c["layers"], config, c.get("v3")):
                shapes = [tuple(int(d) for d in w.shape) for w in layer.weights]
                count = sum(limits.count(s) for s in shapes)  # Python ints: (2**40, 2**40) is 2**80
                total += count
                label = layer.name if layer.name is not None else layer.key
                cls = classes.get(layer.name) or (layer.key if c.get("v3") else None)
                lines.append(f"  {label}" + (f" ({cls})" if cls and cls != label else "")
                             + f": {', '.join(str(s) for s in shapes) or 'no weights'}; {count:,} params")
            lines.append(f"Total params: {total:,}")
            if training:
                opt = training.get("optimizer_config") or training.get("optimizer")
                opt_name = opt.get("class_name") if isinstance(opt, dict) else opt
                lines.append(f"Training config: loss={training.get('loss')!r}, metrics={training.get('metrics')!r}, "
                             f"optimizer={opt_name}")
            lines.append("Optimizer state: " + _optimizer_summary(c))
    return "\n".join(lines)


def _writer(src, c):
    h5 = src.h5
    if h5 is not None and "gpunet_version" in h5.attrs:
        version = h5_store.text(h5_store.attr(h5, "gpunet_version"))
        keras = h5_store.text(h5_store.attr(h5, "keras_version")) if "keras_version" in h5.attrs else None
        return f"gpunet {version} (format {h5_store.gpunet_version_of(h5)})" + (
            f", Keras {keras} schema" if keras else "")
    if c.get("gpunet_version"):
        return f"gpunet {c['gpunet_version']} (Keras 3 schema)"
    if h5 is not None and "keras_version" in h5.attrs:
        backend = h5_store.text(h5_store.attr(h5, "backend")) if "backend" in h5.attrs else "?"
        return f"Keras {h5_store.text(h5_store.attr(h5, 'keras_version'))} (backend {backend})"
    if c.get("keras_version"):
        return f"Keras {c['keras_version']}"
    return "unknown (no version attributes)"


def _optimizer_summary(c):
    meta = c.get("optimizer_meta") or {}
    named, positional = c.get("optimizer") or [], c.get("optimizer_positional") or []
    count = len(named) + len(positional)
    if not count and not meta:
        return "absent"
    parts = [meta["class_name"]] if meta.get("class_name") else ([c["optimizer_name"]] if c.get("optimizer_name")
                                                                 else [])
    if "iterations" in meta:
        parts.append(f"iterations {meta['iterations']}")
    parts.append(f"{count} arrays")
    return "present (" + ", ".join(parts) + ")"


def convert(src, dst, overwrite=False):
    """Convert between formats; returns the list of files written.

    The rule, by the destination's name:

    * ``*.json`` / ``*.yaml`` / ``*.yml``: the architecture as text, plus the weights beside it in
      ``<stem>.weights.h5`` (Keras 3 weights layout): ``convert model.h5 model.json`` writes
      ``model.json`` and ``model.weights.h5``;
    * ``*.keras``: a Keras 3 archive; ``*.weights.h5``: weights only (Keras 3 layout);
    * anything else (``.h5``, ``.hdf5``...): a whole model in Keras's legacy HDF5 layout.

    ``src`` is a whole-model file (HDF5 or ``.keras``, told apart by content; training config
    and optimizer state are kept), or a JSON/YAML architecture whose weights lie beside it in
    ``<stem>.weights.h5`` or ``<stem>.h5``. A file that would be written and exists already
    (the destination, or the ``<stem>.weights.h5`` of a JSON/YAML destination) raises
    FileExistsError naming it, before anything is read, unless ``overwrite`` is True.
    """
    from ..models import load_model, model_from_json, model_from_yaml
    src, dst = os.fspath(src), os.fspath(dst)
    stem_dst, ext_dst = os.path.splitext(dst)
    architecture = ext_dst.lower() in _ARCHITECTURE_SUFFIXES
    targets = [dst, stem_dst + ".weights.h5"] if architecture else [dst]
    if os.path.realpath(src) in [os.path.realpath(t) for t in targets]:  # links resolved
        raise ValueError(f"convert: source and destination are the same file: {src!r} (writing {targets})")
    existing = [t for t in targets if os.path.lexists(t)]
    if existing and not overwrite:
        raise FileExistsError(f"convert: {', '.join(repr(t) for t in existing)} already exist"
                              f"{'s' if len(existing) == 1 else ''}; pass --overwrite (overwrite=True) to replace "
                              f"{'it' if len(existing) == 1 else 'them'}")
    stem_src, ext_src = os.path.splitext(src)
    if ext_src.lower() in _ARCHITECTURE_SUFFIXES:
        text = file_guards.read_text(src, limits.current().max_config_bytes, "architecture file")
        model = (model_from_json if ext_src.lower() == ".json" else model_from_yaml)(text)
        weights = [p for p in (stem_src + ".weights.h5", stem_src + ".h5") if os.path.exists(p)]
        if not weights:
            raise FileNotFoundError(f"convert: {src!r} holds the architecture only; its weights were looked for "
                                    f"in {stem_src + '.weights.h5'!r} and {stem_src + '.h5'!r}")
        model.load_weights(weights[0])
    else:
        with files.open_source(src) as source, _contents(source, whole_model=False) as contents:
            if contents.get("config") is None:
                raise CorruptModelFileError(source.name, "weights only (no architecture): convert needs a whole "
                                            "model file, or a .json/.yaml architecture with its weights beside it")
        model = load_model(src)
    if architecture:
        text = model.to_json(indent=2) if ext_dst.lower() == ".json" else model.to_yaml()
        weights_path = targets[1]
        model.save_weights(weights_path, overwrite=overwrite)
        with files.atomic_path(dst, overwrite) as tmp, open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        return targets
    if dst.lower().endswith(".weights.h5"):
        model.save_weights(dst, overwrite=overwrite)
    else:
        model.save(dst, overwrite=overwrite)
    return [dst]
