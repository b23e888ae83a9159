"""Whole-model and weights files: ``save_model``/``load_model``, ``save_weights``/``load_weights``.

Formats, chosen by content when reading (never by extension):

* ``.h5`` / anything else: Keras's legacy HDF5 layout (`hdf5_legacy`), which tf.keras 2 and Keras 3 read;
* ``.keras``: Keras 3's zip archive (`keras_zip`); ``*.weights.h5`` for weights: Keras 3's weights layout.

Every array is written once, contiguous, uncompressed, little-endian, from host
memory (one device-to-host copy); files hold no pickles and no device information.
Writes are atomic (`files.atomic_path`). Loading checks every shape before it
assigns anything, so a failed load changes nothing. Nested models (a Sequential used as a
layer) are written in each layout the way Keras writes them (`model_state`).
"""
import contextlib
import logging

import numpy as np

from . import config as _config, files, h5_store, hdf5_legacy, keras3_config, keras_zip, model_state, optimizer_state
from . import keras3_assets, optimizer_names, readers
from .keras3_modes import reading_file, reading_gpunet_archive
from .errors import CorruptModelFileError, SavingError
from .training_config import compile_from_file, keras3_compile_config, training_config
from .weight_matching import LoadReport, first_layer_input_shape, input_shape_for, match_weights

log = logging.getLogger("gpunet.saving")
_FORMATS = {"h5": "h5", "hdf5": "h5", "keras": "keras"}

__all__ = ["save_model", "load_model", "save_weights", "load_weights", "load_optimizer_state", "LoadReport"]


def _version():
    from .. import __version__
    return __version__


def _format(filepath, save_format, weights):
    if save_format is not None:
        fmt = _FORMATS.get(str(save_format).lower())
        if fmt is None:
            raise ValueError(f"Unknown save_format {save_format!r}: gpunet writes 'h5' (Keras's HDF5 layout) or "
                             f"'keras' ({'Keras 3 weights layout' if weights else 'Keras 3 .keras archive'}).")
        return fmt
    name = files.describe(filepath).lower() if files.is_path(filepath) else ""
    if weights:
        return "keras" if name.endswith(".weights.h5") else "h5"
    return "keras" if name.endswith(".keras") else "h5"


# ---- saving ------------------------------------------------------------------------------------------
def save_model(model, filepath, overwrite=True, include_optimizer=True, save_format=None, **kwargs):
    """Save architecture, weights, training config, optimizer state and the random state.

    Args:
        model: a gpunet model.
        filepath: str or os.PathLike (missing folders are created), an open ``h5py.File``,
            or a writable binary file object (``io.BytesIO``).
        overwrite: if False and the path exists, raise FileExistsError (never prompts).
        include_optimizer: also save the optimizer's config and state (for resuming).
        save_format: "h5" or "keras"; by default ".keras" paths get a Keras 3 archive, others HDF5.

    Example::

        model.save("my_model.h5"); model = load_model("my_model.h5")
    """
    _no_kwargs("save_model", kwargs)
    fmt = _format(filepath, save_format, weights=False)
    by_hand = None if model.built else first_layer_input_shape(model)
    if by_hand is not None:  # (its layers built by hand)
        model.build(by_hand)
    if fmt == "keras" and not model.built:
        raise ValueError(f"Model '{model.name}' is not built yet: it has no weights to save. Call it on data, fit "
                         "it, or build(input_shape) first.")
    model_state.ready(model)
    model_state.check_unique_paths(model)
    cfg = _config.model_to_config(model, keras3=fmt == "keras")
    model_config = {k: v for k, v in cfg.items() if k not in ("keras_version", "backend")}
    training = training_config(model) if include_optimizer else None
    with_opt = include_optimizer and model.optimizer is not None
    meta = {"gpunet_rng": model_state.rng_state(model),
            "gpunet_optimizer": optimizer_state.scalar_state(model.optimizer) if with_opt else None}
    host = model_state.host_reader(model)
    slots = with_opt and model._params is not None
    if fmt == "keras":
        compile_config = keras3_compile_config(training, model)
        if include_optimizer and keras3_config.overrides(model, "get_compile_config"):  # (your model's hook)
            compile_config = model.get_compile_config()
        archive_config = keras3_config.keras3_config(model_config, compile_config, model)
        layers, own, attrs = model_state.keras3_root(model, host)
        opt = (model.optimizer.name, optimizer_state.keras3_vars(model)) if slots else None

        def fill(h5):
            keras_zip.write_weights(h5, model.name, layers, opt, meta, _version(), own, attrs)
        _write_archive(filepath, overwrite, archive_config, keras3_config.metadata(_version()), fill)
        return
    meta.update(model_config=model_config, training_config=training, keras_version=cfg["keras_version"],
                backend=cfg["backend"])
    layers = model_state.legacy_layers(model, host)
    entries = optimizer_state.h5_entries(model) if slots else []
    with files.atomic_h5(filepath, overwrite) as h5:
        hdf5_legacy.write_model_file(h5, meta, layers, entries, _version())


def _write_archive(filepath, overwrite, config, meta, fill):
    if files.is_path(filepath):
        with files.atomic_path(filepath, overwrite) as tmp, open(tmp, "wb") as fh:
            keras_zip.write_archive(fh, config, meta, fill)
    elif hasattr(filepath, "write") and not hasattr(filepath, "attrs"):
        with files.atomic_stream(filepath) as buffer:
            keras_zip.write_archive(buffer, config, meta, fill)
    else:
        raise TypeError(f"A .keras archive is written to a path or a binary file object, not "
                        f"{type(filepath).__name__}; use save_format='h5' for an h5py.File.")


def save_weights(model, filepath, overwrite=True, save_format=None, **kwargs):
    """Save the weights only.

    ``*.weights.h5`` paths (or ``save_format="keras"``) get Keras 3's weights layout, which
    Keras 3 and tf.keras 2.13+ require for that name; everything else Keras 2's HDF5 layout
    (``layer_names``, ``<layer>/<layer>/kernel:0``). Same targets as `save_model`.
    """
    _no_kwargs("save_weights", kwargs)
    fmt = _format(filepath, save_format, weights=True)
    model_state.ready(model)
    model_state.check_unique_paths(model)
    host = model_state.host_reader(model)
    if fmt == "keras":
        layers, own, attrs = model_state.keras3_root(model, host)
        opt = None
        if model.optimizer is not None and model._params is not None:
            opt = (model.optimizer.name, optimizer_state.keras3_vars(model))
        meta = {"gpunet_optimizer": optimizer_state.scalar_state(model.optimizer) if opt else None,
                "gpunet_rng": model_state.rng_state(model)}  # (BackupAndRestore resumes a subclassed model from it)
        with files.atomic_h5(filepath, overwrite) as h5:
            keras_zip.write_weights(h5, model.name, layers, opt, meta, _version(), own, attrs)
        return
    with files.atomic_h5(filepath, overwrite) as h5:
        hdf5_legacy.write_weights(h5, model_state.legacy_layers(model, host), _config.KERAS_VERSION,
                                  _config.BACKEND, model_state.legacy_top(model, host))
        hdf5_legacy.stamp(h5, _version())


def _no_kwargs(func, kwargs, ignored=()):
    unknown = sorted(k for k in kwargs if k not in ignored)
    if unknown:
        raise TypeError(f"{func}() got unexpected keyword argument(s) {unknown}")


# ---- reading --------------------------------------------------------------------------------------
def _no_initializers():
    """gpunet.layers.base.skip_initializers() where the layers provide it (random initial values of a
    big model take longer to draw than the file takes to read)."""
    from ..layers import base
    skip = getattr(base, "skip_initializers", None)
    return skip() if skip is not None else contextlib.nullcontext()


def load_weights(model, filepath, by_name=False, skip_mismatch=False, reshape=False, **kwargs):
    """Load weights saved by gpunet or Keras (any of its layouts) into ``model``; returns a `LoadReport`.

    Args:
        filepath: path, os.PathLike, h5py File/Group or binary file object (format read from content).
        by_name: match layers by name (transfer learning) instead of by position.
        skip_mismatch: skip weights whose shape differs (listed in ``report.shape_mismatch``)
            instead of raising ValueError; applies with and without ``by_name``.
        reshape: Keras 2's option: a weight with the right number of values but another shape
            is reshaped to fit.

    Every shape is checked before any weight is assigned: a failed load changes nothing.
    An unbuilt model is built first, from the input shape in the file (config or first weight).

    Example::

        report = model.load_weights("weights.h5", by_name=True)
        print(report.missing_in_file)
    """
    _no_kwargs("load_weights", kwargs)
    with files.open_source(filepath) as src, readers.contents(src, whole_model=False) as contents:
        with readers.naming(src.name, "model_weights"):
            if not model.built:
                model.build(input_shape_for(model, contents, by_name))
            pairs, report = match_weights(model, contents["layers"], by_name, skip_mismatch, reshape,
                                          v3=contents["v3"], own=contents.get("own", []),
                                          attrs=contents.get("attrs"))
        with readers.naming(src.name, "assets"):
            loads = keras3_assets.prepare(model, contents.get("assets"))
        with readers.reading(src):
            arrays = [fw.read() for _, fw, _ in pairs]
    with readers.naming(src.name, "assets"):
        keras3_assets.assign_then_load(pairs, arrays, loads)
    report.source = src.name
    report.log(log)
    return report


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True, strict=False, **kwargs):
    """Load a model saved by gpunet or Keras (legacy ``.h5`` or ``.keras``; format read from content).

    Returns the model compiled (loss, metrics, optimizer config and state) when the file has a
    training config and ``compile`` is True; ``compile=False`` never reads the training config.
    The random generator state saved by gpunet is restored last, so training resumes exactly.
    ``safe_mode`` is accepted for Keras 3 compatibility; gpunet never runs code from a file.
    Layer arguments gpunet does not know give a warning listing them, or with ``strict=True`` an error.
    """
    _no_kwargs("load_model", kwargs)
    with files.open_source(filepath) as src, readers.contents(src, whole_model=True) as contents:
        if contents["config"] is None:
            raise CorruptModelFileError(src.name, "no model config: this is a weights-only file; build the model "
                                        "and call model.load_weights()")
        zipped = src.kind == "zip"
        with _no_initializers(), readers.naming(src.name, "config.json" if zipped else "model_config"), \
                reading_gpunet_archive(zipped and contents.get("gpunet", False)), reading_file(contents):
            # every weight is overwritten from the file: no initial values are drawn
            model = _config.model_from_config(contents["config"], custom_objects, strict)
        training = None
        if compile:
            with readers.reading(src):
                training = contents["training_config"]()
        if training is not None:
            with readers.naming(src.name, "compile_config" if zipped else "training_config"):
                if not isinstance(training, dict):
                    raise TypeError(f"expected a JSON object, found {type(training).__name__}")
                if training:
                    compile_from_file(model, training, custom_objects, contents, zipped)
        with readers.naming(src.name, "model_weights"):
            if not model.built and any(layer.weights for layer in contents["layers"]):
                model.build(input_shape_for(model, contents, False))
            pairs, _ = match_weights(model, contents["layers"], False, False, False, v3=contents["v3"],
                                     own=contents.get("own", []), attrs=contents.get("attrs"))
        with readers.reading(src):
            for w, fw, shape in pairs:
                if isinstance(w.value, np.ndarray) and tuple(w.value.shape) == tuple(fw.shape):
                    fw.read_into(w.value)  # straight into the new model's memory: no extra copy
                else:
                    w.assign(fw.read().reshape(shape))
            if training and model.optimizer is not None:
                _restore_optimizer(model, contents, pairs, strict=True, name=src.name)
        with readers.naming(src.name, "assets"):
            for load in keras3_assets.prepare(model, contents.get("assets")):
                load()  # (after the weights, as Keras 3 loads them: tf-idf's weights are there)
    if contents.get("rng") is not None:
        with readers.naming(src.name, "gpunet_rng"):
            model_state.restore_rng(model, contents["rng"])
    return model


def _restore_optimizer(model, contents, pairs, strict, name):
    model_state.ready(model)
    meta = contents.get("optimizer_meta")
    if meta is not None and not isinstance(meta, dict):
        raise CorruptModelFileError(name, f"gpunet_optimizer: expected a JSON object, found {type(meta).__name__}")
    try:
        found = _optimizer_items(model, contents, pairs)
        if not found and meta is None:
            return []
        state, restored = optimizer_state.build_state(model, found, meta, strict=strict)
        model.optimizer.set_state(state)
    except (ValueError, TypeError) as exc:
        if isinstance(exc, h5_store.DamagedData):
            raise
        if contents.get("optimizer_inferred"):
            log.warning("%s: the optimizer state in the file does not fit %s built with default arguments "
                        "(the file has no optimizer config); it starts fresh: %s", name, model.optimizer, exc)
            return []
        raise SavingError(f"Could not restore the optimizer state saved in {name!r}: {exc}. Load with "
                          f"compile=False, or compile again, to start with a fresh optimizer.") from None
    return restored


def _optimizer_items(model, contents, pairs):
    if contents.get("optimizer_positional"):
        return optimizer_state.positional(model, contents["optimizer_positional"])
    table = optimizer_names.aliases([(fw.name, w.path) for w, fw, _ in pairs])
    table = optimizer_state.saved_paths(model, contents.get("optimizer") or [], table)
    found = []
    for name, fw, param, slot in contents.get("optimizer") or []:
        if param is not None:  # gpunet's own layout: the file's parameter path (a layer renamed: matched by position)
            found.append(("slot", (table.get(param, param), slot), fw))
        else:
            kind, value = optimizer_names.parse_name(name, model.optimizer, table)
            if kind is not None:
                found.append((kind, value, fw))
    return found


def load_optimizer_state(model, filepath, strict=False, by_name=True):
    """Restore optimizer state (slots by parameter path, iterations, learning rate) from a file saved by
    gpunet or Keras into the compiled ``model``, matching layers by name (``by_name=False``: by
    position, as `load_weights` does by default: the same architecture, other layer names).

    With ``strict=False`` parameters the file does not cover keep their current slot values (a model
    rebuilt with extra or re-frozen layers). Returns the parameter paths restored.
    """
    if model.optimizer is None:
        raise RuntimeError("load_optimizer_state needs a compiled model (call model.compile first).")
    with files.open_source(filepath) as src, readers.contents(src, whole_model=False) as contents:
        with readers.naming(src.name, "model_weights"):
            pairs, _ = match_weights(model, contents["layers"], by_name, by_name, False, v3=contents["v3"],
                                     own=contents.get("own", []), attrs=contents.get("attrs"))
        with readers.reading(src):
            return _restore_optimizer(model, contents, pairs, strict=strict, name=src.name)
