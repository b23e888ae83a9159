"""The compile settings in a file: Keras 2's ``training_config`` and Keras 3's ``compile_config``.

Written as Keras 2 writes it: ``{"loss", "metrics", "weighted_metrics", "loss_weights",
"optimizer_config": {"class_name", "config"}}``. Read from tf.keras 2 (nested metric lists,
``MeanMetricWrapper`` dicts, ``Custom>Adam``), Keras 3 (``module``/``registered_name`` keys,
``"optimizer"`` instead of ``"optimizer_config"``) and gpunet. A name that cannot be
resolved raises an error naming it and the two ways out: ``custom_objects`` or ``compile=False``.
"""
import logging

from . import optimizer_layouts
from ..models.multi_output import is_config as _is_object_config
from .errors import UnknownObjectError

log = logging.getLogger("gpunet.saving")

# Loss aliases written under their full names: Keras 3's HDF5 loader cannot rebuild the short ones
# ("Could not deserialize 'keras.metrics.mse'", even from its own files); every Keras reads these.
_LOSS_NAMES = {"mse": "mean_squared_error", "MSE": "mean_squared_error", "mae": "mean_absolute_error",
               "MAE": "mean_absolute_error", "mape": "mean_absolute_percentage_error",
               "MAPE": "mean_absolute_percentage_error", "msle": "mean_squared_logarithmic_error",
               "MSLE": "mean_squared_logarithmic_error", "kld": "kl_divergence", "KLD": "kl_divergence",
               "kullback_leibler_divergence": "kl_divergence", "logcosh": "log_cosh"}


def training_config(model):
    """Keras 2's ``training_config`` for a compiled model, or None when it is not compiled."""
    from .. import losses, optimizers
    args = model._compile_args
    if model.optimizer is None or args is None:
        return None

    def one_loss(value):
        if value is None or _is_object_config(value):
            return value
        if isinstance(value, str):
            return _LOSS_NAMES.get(value, value)
        return losses.serialize(losses.get(value))
    loss = args["loss"]
    optimizer = optimizers.serialize(model.optimizer)
    # tf.keras 2 rebuilds "Adam" as its legacy optimizer, which rejects weight_decay even as None.
    optimizer["config"] = {k: v for k, v in optimizer["config"].items() if not (k == "weight_decay" and v is None)}
    if isinstance(loss, (list, tuple)):  # several outputs: as the user gave them, a list or a dict
        loss = [one_loss(v) for v in loss]
    elif isinstance(loss, dict) and not _is_object_config(loss):
        loss = {k: one_loss(v) for k, v in loss.items()}
    elif isinstance(loss, (str, dict)):
        loss = one_loss(loss)
    elif getattr(model._loss_fn, "takes_no_targets", False):
        loss = None  # compile(loss=None): the model's added losses only
    else:
        loss = losses.serialize(model._loss_fn)
    if getattr(model, "_multi_out", False):  # already serialized, one list per output
        metrics, weighted = _per_output_lists(model, False), _per_output_lists(model, True) or None
    else:
        metrics = [_serialized_metric(m) for m in args.get("metrics") or []]
        weighted = [_serialized_metric(m) for m in args.get("weighted_metrics") or []] or None
    return {"loss": loss,
            "metrics": metrics,
            "weighted_metrics": weighted,
            "loss_weights": args.get("loss_weights"),
            "optimizer_config": optimizer}


def keras3_compile_config(training, model=None):
    """Keras 3's ``compile_config`` (in ``.keras`` archives) from a Keras 2 ``training_config``, or None.
    A model with several outputs gives its metrics as compile took them, one list per output (Keras 3
    refuses a flat list there, and knows no MeanMetricWrapper)."""
    if training is None:
        return None
    optimizer = dict(training["optimizer_config"], module="keras.optimizers", registered_name=None)
    metrics, weighted = (None if training[k] is None else _keras3_metric(training[k])
                         for k in ("metrics", "weighted_metrics"))
    if getattr(model, "_multi_out", False):
        args = model._compile_args
        metrics, weighted = (None if args.get(k) is None else _keras3_metric(_as_written(args[k], len(model._outputs)))
                             for k in ("metrics", "weighted_metrics"))
    return {"optimizer": optimizer, "loss": training["loss"], "loss_weights": training["loss_weights"],
            "metrics": metrics, "weighted_metrics": weighted,
            "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False}


def _keras3_metric(entry):
    """A built-in metric class's config as Keras 3 resolves it (``"module": "keras.metrics"``:
    without it Keras 3 looks for a registered class of that name and finds none)."""
    from ..metrics import _CLASSES
    if isinstance(entry, (list, tuple)):  # a list, or one per output
        return [_keras3_metric(m) for m in entry]
    if isinstance(entry, dict) and not _is_object_config(entry):  # keyed by output name
        return {k: _keras3_metric(m) for k, m in entry.items()}
    if isinstance(entry, dict) and "module" not in entry and _CLASSES.get(entry.get("class_name")) is not None:
        return dict(entry, module="keras.metrics", registered_name=None)
    return entry


def _flatten(metrics):
    """tf.keras nests metrics per output (``[[m1, m2]]``) or keys them by output name."""
    if metrics is None:
        return []
    if isinstance(metrics, dict):
        metrics = list(metrics.values())
    if not isinstance(metrics, (list, tuple)):
        return [metrics]
    out = []
    for m in metrics:
        out.extend(_flatten(m) if isinstance(m, (list, tuple, dict)) and not _is_object_config(m) else [m])
    return out


def _serialized_metric(identifier):
    """A compile metric as a file holds it: names and config dicts as they are, objects serialized."""
    from .. import metrics as _metrics
    return identifier if isinstance(identifier, (str, dict)) else _metrics.serialize(_metrics.get(identifier))


def _as_written(ids, outputs):
    """compile's per-output metrics as a file holds them: a flat list repeated for every output,
    objects serialized (names stay names)."""
    one = _serialized_metric
    if isinstance(ids, dict):
        return {k: [one(m) for m in (v if isinstance(v, (list, tuple)) else [v])] for k, v in ids.items()}
    ids = list(ids)
    if ids and all(isinstance(v, (list, tuple)) for v in ids):
        return [[one(m) for m in v] for v in ids]
    return [[one(m) for m in ids] for _ in range(outputs)]


def _per_output_lists(model, weighted):
    """A model with several outputs: its metrics (or weighted metrics) as tf.keras 2 writes them, one
    list per output of each metric resolved and named for its output ({"class_name":
    "MeanMetricWrapper", "config": {"name": "o1_accuracy", "fn": "binary_accuracy"}}). tf.keras 2
    reads a plain ``["accuracy"]`` back without the names' prefixes, and logs 0 for it."""
    from .. import metrics as _metrics
    from ..models.multi_output import OutputMetric
    lists = [[] for _ in model._outputs]
    for m, flag in zip(model._metrics, model._metric_weighted):
        if not isinstance(m, OutputMetric) or flag != weighted:
            continue
        inner = m.metric
        if getattr(inner, "_fn_name", "") is None:  # "accuracy" before any batch: resolved from the shapes
            out = tuple(model._outputs[m._index].shape[1:])
            sparse = getattr(model._loss_fn.losses[m._index], "sparse_labels", False)
            inner.resolve_for((1,) if sparse else (1,) + out, (1,) + out)
        entry = _metrics.serialize(inner)
        if isinstance(entry, dict) and isinstance(entry.get("config"), dict):
            entry = dict(entry, config=dict(entry["config"], name=m.name))
        lists[m._index].append(entry)
    return lists if any(lists) else []


def _nested_custom(value, custom):
    """`_custom` over a model's per-output lists or dicts of losses or metrics."""
    if isinstance(value, (list, tuple)):
        return [_nested_custom(v, custom) for v in value]
    if isinstance(value, dict) and not _is_object_config(value):
        return {k: _nested_custom(v, custom) for k, v in value.items()}
    return None if value is None else _custom(value, custom)


def _name_of(identifier):
    if isinstance(identifier, dict):
        inner = identifier.get("config")
        if identifier.get("class_name") == "MeanMetricWrapper" and isinstance(inner, dict):
            return inner.get("fn") or inner.get("name")
        return inner if isinstance(inner, str) else identifier.get("class_name")
    return identifier if isinstance(identifier, str) else repr(identifier)


def _custom(identifier, custom_objects):
    """``identifier`` replaced by what ``custom_objects`` gives for its name, if anything."""
    name = _name_of(identifier)
    obj = custom_objects.get(name) if isinstance(name, str) else None
    if obj is None:
        return identifier
    if isinstance(obj, type):
        inner = identifier.get("config") if isinstance(identifier, dict) else None
        if isinstance(inner, dict):
            return obj.from_config(inner) if hasattr(obj, "from_config") else obj(**inner)
        return obj()
    return obj


def _no_nones(metrics):
    """Per-output metrics without the None that tf.keras 2 writes for an output given none (``[[None], [m]]``)."""
    if isinstance(metrics, list):
        return [_no_nones(m) for m in metrics if m is not None]
    if isinstance(metrics, dict):
        return {k: _no_nones(m) for k, m in metrics.items() if m is not None}
    return metrics


def _unresolved(kind, identifier, exc):
    name = _name_of(identifier)
    return UnknownObjectError(
        f"The file's training config uses the {kind} {name!r}, which gpunet cannot resolve ({exc}). Pass it "
        f"with custom_objects={{'{name}': ...}}, or load with compile=False to get the model without its "
        f"training configuration.")


def _inferred_optimizer(contents):
    """Keras 3 sometimes saves no optimizer in ``compile_config``; its weights file still names it."""
    name = contents.get("optimizer_name")
    cls = optimizer_layouts.class_from_keras_name(name) if name else None
    if cls is None:
        return "rmsprop"  # what Keras 3's compile() uses by default
    config = {}
    items = contents.get("optimizer_positional") or []
    if len(items) > 1 and items[1].shape == () and items[1].dtype.kind == "f":
        try:
            config["learning_rate"] = float(items[1].read())
        except (OSError, ValueError):
            pass  # keep the default; the corrupt array is reported when the state is restored
    return {"class_name": cls, "config": config}


def compile_from_training_config(model, config, custom_objects=None, contents=None):
    """Compile ``model`` as the file's training config says (loss, metrics, optimizer config)."""
    from .. import losses, metrics as _metrics, optimizers
    custom = dict(custom_objects or {})
    contents = contents if contents is not None else {}
    if getattr(model, "_multi_out", False):  # per-output losses and metrics: compile checks them
        resolved = {key: _nested_custom(config.get(key), custom) for key in ("loss", "metrics", "weighted_metrics")}
        resolved.update((key, _no_nones(resolved[key])) for key in ("metrics", "weighted_metrics"))
        loss_id = resolved["loss"]
    else:
        loss_id = _custom(config.get("loss"), custom)
        try:
            loss = losses.get(loss_id) if loss_id is not None else None  # None: compile(loss=None)
        except (ValueError, TypeError) as exc:
            raise _unresolved("loss", config.get("loss"), exc) from None
        resolved = {}
        for key in ("metrics", "weighted_metrics"):
            resolved[key] = []
            for m in _flatten(config.get(key)):
                m2 = _custom(m, custom)
                try:
                    _metrics.get(m2, loss)
                except (ValueError, TypeError) as exc:
                    raise _unresolved("metric", m, exc) from None
                resolved[key].append(m2)
    opt_config = config.get("optimizer_config") or config.get("optimizer")
    if opt_config is None:
        opt_config = _inferred_optimizer(contents)
        contents["optimizer_inferred"] = True
        log.warning("The file's compile config has no optimizer; compiling with %s as the file's weights "
                    "name it, with default arguments.", opt_config)
    if isinstance(opt_config, dict) and opt_config.get("class_name") in custom:
        optimizer = _custom(opt_config, custom)
    else:
        try:
            optimizer = optimizers.get(opt_config)
        except (ValueError, TypeError) as exc:
            raise _unresolved("optimizer", opt_config, exc) from None
    model.compile(optimizer=optimizer, loss=loss_id, metrics=resolved["metrics"],
                  weighted_metrics=resolved["weighted_metrics"] or None, loss_weights=config.get("loss_weights"))


def compile_from_file(model, config, custom_objects, contents, keras3):
    """Compile a loaded ``model`` from its file's ``config``: by the model's own ``compile_from_config`` where it
    defines one (Keras 3's hook; ``.keras`` files, whose ``compile_config`` its ``get_compile_config`` wrote), not
    at all (a warning) where it overrides ``compile`` alone, as Keras 3; else from the config."""
    from . import keras3_config, registry
    if keras3 and keras3_config.overrides(model, "compile_from_config"):
        with registry.custom_object_scope(custom_objects or {}):
            model.compile_from_config(config)
    elif keras3_config.overrides(model, "compile"):
        log.warning("%s overrides compile() and not compile_from_config(): the model is loaded uncompiled (as Keras 3 "
                    "does); define compile_from_config(config) to compile it from the file's compile config.",
                    type(model).__name__)
    else:
        compile_from_training_config(model, config, custom_objects, contents)
