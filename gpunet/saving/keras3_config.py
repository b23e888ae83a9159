"""Keras 3's ``config.json`` and ``metadata.json`` for a ``.keras`` archive, from gpunet's Keras 2
Sequential config (the archive itself and its weights: keras_zip.py)."""
import datetime

from . import h5_store as h5s
from .keras3_modes import KERAS2_FILE_NAMES, KERAS3_MEANINGS, NAMES_KEY, NAMES_KERAS3

KERAS3_NAMES = {v: k for k, v in KERAS3_MEANINGS.items()}  # gpunet's name for a Keras 3 function: Keras 3's

KERAS3_VERSION = "3.0.0"  # the schema gpunet writes: Keras 3's, readable by every 3.x
_OBJECT_MODULES = {"initializer": "keras.initializers", "regularizer": "keras.regularizers",
                   "constraint": "keras.constraints"}
# tf.keras 2 arguments that Keras 3 renamed (gpunet's layers take both names).
_RENAMED = {"LeakyReLU": {"alpha": "negative_slope"}}


def _policy(dtype):
    if isinstance(dtype, dict):
        return dtype
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": dtype or "float32"},
            "registered_name": None}


def _object(key, value):
    from ..activations import VALID_NAMES
    named = key.endswith("activation") and isinstance(value, str)
    if named and value in KERAS3_NAMES:
        return KERAS3_NAMES[value]  # (gpunet's "keras3_hard_sigmoid" is Keras 3's "hard_sigmoid")
    if named and value in KERAS2_FILE_NAMES:
        # Keras 2's function of a name Keras 3 gave another: Keras 3 computing its own would differ silently, so
        # the file names it as a function Keras 3 must be given (custom_objects={"keras2_hard_sigmoid": ...}).
        name = KERAS2_FILE_NAMES[value]
        return {"class_name": "function", "config": name, "registered_name": name}
    if key == "activation" and isinstance(value, str) and value not in VALID_NAMES:
        # A user's function: Keras 3 resolves a plain string only among its built-ins, a function
        # reference through custom_objects / its registry (no module: nothing for it to import).
        return {"class_name": "function", "config": value.rsplit(">", 1)[-1], "registered_name": value}
    for suffix, module in _OBJECT_MODULES.items():
        if key.endswith(suffix) and isinstance(value, dict) and "class_name" in value and "module" not in value:
            return {"module": module, "class_name": value["class_name"], "config": value.get("config", {}),
                    "registered_name": None}
    return value


def overrides(obj, method):
    """Whether a class of your own (not gpunet's) defines ``method`` for ``obj``: Keras 3's saving hooks
    (``get_build_config``, ``compile_from_config``, ...) and ``compile``."""
    owner = next((k for k in type(obj).__mro__ if method in k.__dict__), None)
    return owner is not None and not owner.__module__.startswith("gpunet.")


def keras3_config(model_config, compile_config=None, model=None):
    """Keras 3's config (``config.json``) from a Keras 2 Sequential or Functional config dict of
    ``model`` (a functional model's call records give the tensors' shapes Keras 3's nodes name)."""
    cls = model_config.get("class_name")
    if cls == "Functional":
        out = _keras3_functional(model_config["config"], model)
    elif cls == "Sequential":
        out = _keras3_sequential(model_config["config"], model)
    else:  # a subclass of Model built from a graph (models/functional_subclass.py): its own class and config
        inner = model_config["config"]
        out = _keras3_functional(inner, model) if "input_layers" in inner else {"config": inner}
        out.update(module=model_config.get("module"), class_name=cls,
                   registered_name=model_config.get("registered_name") or cls)
        if "input_layers" not in inner:  # (Keras 3 builds a model from this before loading its weights)
            several = getattr(model, "_in_layout", None) and getattr(model, "_in_kind", None) in (list, tuple)
            out["build_config"] = {"input_shape": [list(t.shape) for t in model._inputs] if several
                                   else list(model.input_shape)}
            if overrides(model, "get_build_config"):  # (Keras 3's hook, in a model of your own)
                out["build_config"] = model.get_build_config()
    if compile_config is not None:
        out["compile_config"] = compile_config
    return out


def _keras3_functional(inner, model):
    """Keras 3's functional config: each call as ``{"args": [<tensor> or [<tensor>, ...]], "kwargs": {...}}``,
    a tensor as ``{"class_name": "__keras_tensor__", "config": {"shape", "dtype", "keras_history"}}``, a
    nested model's calls counted from 0 (tf.keras 2 counts them from 1)."""
    from ..models.graph import call_indices
    from .functional_config import nests
    from .op_layers import OP_CLASSES
    by_name = _layers_by_name(model)
    added = [e["name"] for e in inner["layers"] if e.get("class_name") in ("AddLoss", "AddMetric")]
    if added:
        raise NotImplementedError(f"Model '{model.name}' holds an added loss or metric ({added[0]}): Keras 3's "
                                  ".keras format has no AddLoss or AddMetric layer. Save it as .h5 or JSON/YAML "
                                  "(tf.keras 2's format), or save its weights.")
    index = call_indices(model)
    tensors = {}  # (layer, tf.keras 2's call number) -> Keras 3's tensor
    for node in [t.node for t in model._inputs] + model._nodes:
        k = index[id(node)]
        for i, out in enumerate(node.outputs):
            tensors[(node.layer.name, k + nests(node.layer), i)] = {
                "class_name": "__keras_tensor__", "config": {"shape": list(out.shape), "dtype": out.dtype,
                                                             "keras_history": [node.layer.name, k, i]}}

    def args(call):
        refs = [tensors[(ref[0], ref[1], ref[2])] for ref in call]
        return [refs if len(refs) > 1 else refs[0]]

    def kwargs(call):  # (training=, and a layer's other arguments: a tensor as Keras 3's tensor dict)
        given = dict(call[0][3]) if call and len(call[0]) > 3 else {}
        def tensor(v):
            return tensors[tuple(v)] if isinstance(v, list) and len(v) == 3 and tuple(v) in tensors else None

        def value(v):  # (a tensor, a list of tensors: an RNN's initial_state, or a constant)
            if tensor(v) is not None:
                return tensor(v)
            if isinstance(v, list) and v and all(tensor(r) is not None for r in v):
                return [tensor(r) for r in v]
            return v
        return {k: value(v) for k, v in given.items()}
    layers = []
    for entry in inner["layers"]:
        cls, cfg = entry["class_name"], dict(entry.get("config", {}))
        if cls in OP_CLASSES:  # an op on symbolic tensors: Keras 3's own entry (saving/keras3_ops.py)
            layers.append(_keras3_op(by_name[entry["name"]], model, index, tensors))
            continue
        if cls == "Sequential":  # a nested model
            layer = _keras3_sequential(cfg, model.get_layer(entry["name"]))
        elif cls in ("Functional", "Model"):
            layer = _keras3_functional(cfg, model.get_layer(entry["name"]))
        else:
            layer = _keras3_layer(cls, cfg, entry.get("registered_name"), by_name.get(entry["name"]))
        layer.update(name=entry["name"], inbound_nodes=[{"args": args(call), "kwargs": kwargs(call)}
                                                        for call in entry["inbound_nodes"]])
        layers.append(layer)

    def refs(key):
        if isinstance(inner[key], dict):  # (a dict of inputs or outputs, kept as Keras 3 writes it)
            return {k: tensors[tuple(ref[:3])]["config"]["keras_history"] for k, ref in inner[key].items()}
        out = [tensors[(ref[0], ref[1], ref[2])]["config"]["keras_history"] for ref in inner[key]]
        return out if len(out) > 1 else out[0]  # Keras 3 writes one input or output unlisted
    config = {"name": inner["name"], "trainable": inner.get("trainable", True), "layers": layers,
              "input_layers": refs("input_layers"), "output_layers": refs("output_layers")}
    return {"module": "keras.src.models.functional", "class_name": "Functional", "registered_name": None,
            "config": config}


def _layers_by_name(model):
    """``{name: layer}`` of ``model``'s layers (empty without a model), made once per config: a lookup
    per entry through the list would make saving a model of many layers quadratic."""
    return {layer.name: layer for layer in getattr(model, "layers", ())}


def _keras3_layer(cls, cfg, registered_name, layer=None):
    """One layer's Keras 3 entry, its input shape dropped unless it is an InputLayer (Keras 3's
    layers take theirs from the InputLayer before them). A ``layer`` whose Keras 3 config differs
    from its tf.keras 2 one (the preprocessing layers' state and dtype) gives it by ``keras3_config``."""
    shape = cfg.pop("batch_input_shape", None) or cfg.pop("batch_shape", None)
    if cls == "InputLayer":
        cfg = {"batch_shape": list(shape), "dtype": cfg.get("dtype") or "float32", "sparse": False,
               "ragged": False, "name": cfg["name"]}
    else:
        if hasattr(layer, "keras3_config"):
            cfg = layer.keras3_config(cfg)
        for key in ("layer", "backward_layer", "cell"):  # a wrapper's layer(s), an RNN's cell: the same attributes
            inner = cfg.get(key)
            if isinstance(inner, dict) and "class_name" in inner:
                cfg[key] = _keras3_layer(inner["class_name"], dict(inner.get("config", {})),
                                         inner.get("registered_name"), getattr(layer, key, None))
        if isinstance(cfg.get("cells"), list):  # StackedRNNCells'
            held = getattr(layer, "cells", None) or [None] * len(cfg["cells"])
            cfg["cells"] = [_keras3_layer(c["class_name"], dict(c.get("config", {})), c.get("registered_name"), h)
                            for c, h in zip(cfg["cells"], held)]
        renamed = _RENAMED.get(cls, {})
        cfg = {renamed.get(k, k): _object(k, v) for k, v in cfg.items()}
        cfg["dtype"] = _policy(cfg.get("dtype"))
    if registered_name is None and layer is not None and not type(layer).__module__.startswith("gpunet."):
        registered_name = cls  # (a class of your own: Keras 3 finds it in custom_objects by this name)
    out = {"module": "keras.layers", "class_name": cls, "config": cfg, "registered_name": registered_name}
    if hasattr(layer, "keras3_build_config"):  # (a built-in whose Keras 3 build config is its own)
        out["build_config"] = layer.keras3_build_config()
    elif layer is not None and overrides(layer, "get_build_config"):  # (a layer of your own's Keras 3 hook)
        from .config import to_plain
        out["build_config"] = to_plain(layer.get_build_config(), "build_config")
    return out


def _keras3_op(layer, model, index, tensors):
    """Keras 3's entry for the op layer ``layer`` (called once) of ``model``; ``tensors``: Keras 3's tensor
    entries by tf.keras 2's reference (``index``: the nodes' call numbers)."""
    from .functional_config import nests
    from .keras3_ops import entry
    node = next(n for n in model._nodes if n.layer is layer)
    refs = [(t.node.layer.name, index[id(t.node)] + nests(t.node.layer), t._keras_history.tensor_index)
            for t in node.inputs]
    return entry(layer, [tensors[r] for r in refs])


def _keras3_sequential(inner, model=None):
    entries = inner if isinstance(inner, list) else inner.get("layers", [])
    layers, input_shape, by_name = [], None, _layers_by_name(model)
    for entry in entries:
        cls, cfg = entry["class_name"], dict(entry.get("config", {}))
        if cls == "Sequential":  # a nested model
            layers.append(_keras3_sequential(cfg, model.get_layer(cfg["name"]) if model is not None else None))
            continue
        if cls in ("Functional", "Model"):
            layers.append(_keras3_functional(cfg, model.get_layer(cfg["name"])))
            continue
        shape = cfg.get("batch_input_shape") or cfg.get("batch_shape")
        if cls != "InputLayer" and shape is not None and input_shape is None:
            layers.append(_keras3_layer("InputLayer", {"batch_input_shape": shape, "dtype": "float32",
                                                       "name": cfg["name"] + "_input"}, None))
        if shape is not None and input_shape is None:
            input_shape = list(shape)
        layers.append(_keras3_layer(cls, cfg, entry.get("registered_name"), by_name.get(cfg.get("name"))))
    if input_shape is None and isinstance(inner, dict) and inner.get("build_input_shape"):
        input_shape = list(inner["build_input_shape"])  # built by fit/build without an input shape
    name = inner.get("name", "sequential") if isinstance(inner, dict) else "sequential"
    out = {"module": "keras", "class_name": "Sequential", "registered_name": None,
           "config": {"name": name, "trainable": inner.get("trainable", True) if isinstance(inner, dict) else True,
                      "dtype": _policy("float32"), "layers": layers}}
    if input_shape is not None:
        out["config"]["build_input_shape"] = input_shape
        out["build_config"] = {"input_shape": input_shape}
    return out


def metadata(gpunet_version):
    return {"keras_version": KERAS3_VERSION, "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
            "gpunet_version": gpunet_version, "gpunet_format_version": h5s.FORMAT_VERSION, NAMES_KEY: NAMES_KERAS3}
