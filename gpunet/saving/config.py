"""Model configs: gpunet → Keras's ``{"class_name", "config"}`` dict, and any Keras spelling → gpunet model.

Read: Keras 2.0 (the Sequential ``config`` is a list of layers), tf.keras / Keras 2
(``batch_input_shape``, InputLayer entry or none), Keras 3 (``batch_shape``,
``module``/``registered_name``/``build_config``/``compile_config`` keys, dtype-policy
dicts, ``module`` inside initializer dicts), with or without the
``keras_version``/``backend`` wrapper; a ``Sequential`` entry among the layers is a
nested model. How a built-in layer's keys become arguments is in `layer_kwargs`.
"""
import numbers

import numpy as np

from . import config_safety, keras3_attrs, keras3_config, keras3_modes, limits, registry
from ..layers.naming import reserve_name
from .errors import InvalidConfigError, SavingError
from .layer_kwargs import normalize_layer_config
from .weight_matching import check_kernels
from .functional_config import functional_from_config

# Written in every config. Keras readers only test whether the version starts with "1"
# (Keras 1 weight conversion); "2.15.0" says "Keras 2 schema", which is what
# Sequential.get_config() emits. "tensorflow" because Keras 2.0-2.2 flip convolution
# kernels when the saving backend differs from theirs and is "theano"-like; gpunet's
# weight layouts are TensorFlow's.
KERAS_VERSION = "2.15.0"
BACKEND = "tensorflow"


_SUBCLASSED = ("Model '{name}' is a subclassed model: its architecture is Python code, which Keras 2's formats "
               "(.h5, JSON, YAML) cannot hold (tf.keras 2 refuses too). Save it to a .keras file (Keras 3's format "
               "keeps its class's name and its constructor's arguments; load_model(path, custom_objects={{"
               "'{cls}': {cls}}}) makes it again), or its weights with save_weights() and rebuild it in code.")


def model_to_config(model, keras3=False):
    """``{"class_name", "config", "keras_version", "backend", "module"}`` for ``model``, in plain JSON values.

    ``config`` is ``model.get_config()``. ``"module": "keras"`` makes Keras 3's
    ``model_from_json`` find ``Sequential``; the layer entries carry no ``module`` so
    that Keras 3 reads them with its Keras 2 reader (which accepts ``batch_input_shape``). A subclassed
    model's config is for Keras 3's archive only (``keras3``); elsewhere NotImplementedError says so.
    """
    if not hasattr(model, "get_config"):
        raise TypeError(f"model_to_config expects a gpunet model, received {type(model).__name__}: {model!r}")
    if not keras3 and keras3_attrs.is_subclassed(model):
        raise NotImplementedError(_SUBCLASSED.format(name=model.name, cls=type(model).__name__))
    _refuse_nameless_functions(model)
    from .keras3_modes import writing_keras3
    with writing_keras3(keras3):  # (Keras 3's archive writes the ops its own way: saving/keras3_ops.py)
        inner = to_plain(model.get_config(), "config")
    _annotate(inner, list(getattr(model, "layers", [])))
    cls = type(model)
    from ..models.sequential import Sequential
    from ..models.functional import Functional
    out = {"class_name": cls.__name__, "config": inner, "keras_version": KERAS_VERSION, "backend": BACKEND,
           "module": cls.__module__}
    if cls in (Sequential, Functional):  # where Keras 3 finds the class (tf.keras 2 reads the class name alone)
        out["module"] = "keras" if cls is Sequential else "keras.src.models.functional"
    if cls is Functional:
        out["registered_name"] = None
    elif cls is not Sequential:
        out["registered_name"] = registry.get_registered_name(cls)
    return out


def _refuse_nameless_functions(model):
    """A lambda or functools.partial activation would be saved as "<lambda>" or "partial", which
    no load can resolve (Keras writes such files): refuse before anything is written."""
    for layer in getattr(model, "layers", []):
        act = getattr(layer, "activation", None)
        if getattr(act, "nameless", False):
            raise ValueError(f"Layer {layer.name!r} ({type(layer).__name__}) has the activation {act.fn!r}, which has no "
                             "name a saved model can refer to (a lambda or functools.partial): define it with def "
                             "(def my_activation(x): ...) and load with custom_objects={'my_activation': "
                             "my_activation}, or decorate it with @gpunet.utils.register_serializable().")
        if hasattr(layer, "layers"):
            _refuse_nameless_functions(layer)


def _annotate(inner, layers):
    """Registered user layers also record "package>name" (Keras 3's key), which finds the class even
    when it was registered under a name other than its __name__; nested models say they are Keras's
    Sequential (``"module": "keras"``, which Keras 3 needs), and their layers are annotated too."""
    from ..models.sequential import Sequential
    from ..models.functional import Functional
    entries = inner.get("layers", []) if isinstance(inner, dict) else []
    for entry, layer in zip(entries[len(entries) - len(layers):], layers):
        if type(layer) in (Sequential, Functional):
            entry["module"] = "keras" if type(layer) is Sequential else "keras.src.models.functional"
            _annotate(entry["config"], list(layer.layers))
            continue
        registered = registry.get_registered_name(type(layer))
        if registered != type(layer).__name__:
            entry.setdefault("registered_name", registered)
        if keras3_config.overrides(layer, "get_build_config"):  # (Keras 3's hook; tf.keras 2.13+ writes it too)
            entry["build_config"] = to_plain(layer.get_build_config(), "build_config")


def to_plain(value, path="config"):
    """``value`` with NumPy/CuPy scalars and arrays, tuples and config objects turned into JSON values.

    CuPy arrays are recognized by duck typing (``tolist``/``dtype``) so that cupy is never imported.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real) and not hasattr(value, "dtype"):
        return float(value)
    if isinstance(value, dict):
        return {_plain_key(k, path): to_plain(v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, type):
        return registry.serialize_object(value)  # a class (np.float32, a user class): its name
    if isinstance(value, np.dtype):
        return value.name
    if hasattr(value, "dtype") and callable(getattr(value, "tolist", None)):
        return to_plain(value.tolist(), path)  # NumPy scalar or array, CuPy array: tolist() is host data
    if callable(getattr(value, "item", None)):
        return to_plain(value.item(), path)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8")
    if hasattr(value, "get_config") or callable(value):
        return to_plain(registry.serialize_object(value), path)
    raise TypeError(f"Cannot save the config value at {path}: object of type {type(value).__name__} "
                    f"({value!r}) is not JSON serializable; get_config() must return plain values.")


def _plain_key(key, path):
    if isinstance(key, str):
        return key
    if hasattr(key, "item"):
        key = key.item()
    if isinstance(key, (int, float, bool, str)):
        return str(key)
    raise TypeError(f"Cannot save the config at {path}: dict key {key!r} of type {type(key).__name__} "
                    f"is not a string.")


def model_from_config(config, custom_objects=None, strict=False):
    """Rebuild an uncompiled model from a ``{"class_name", "config"}`` dict written by gpunet or any Keras.

    A built-in layer's config keys that gpunet does not know (written by a newer Keras, say) are
    dropped with a warning that lists them; ``strict=True`` makes them a TypeError instead.
    """
    if not isinstance(config, dict):
        raise TypeError(f"model_from_config expects a dict with 'class_name' and 'config', received "
                        f"{type(config).__name__}" + (" (a list: wrap it as {'class_name': 'Sequential', "
                                                     "'config': [...]})" if isinstance(config, list) else ""))
    missing = [k for k in ("class_name", "config") if k not in config]
    if missing:
        raise InvalidConfigError(f"A model config needs the keys 'class_name' and 'config'; missing {missing} "
                                   f"(keys found: {sorted(map(str, config))}).")
    version = str(config.get("keras_version", ""))
    if version.startswith("1."):
        raise InvalidConfigError(f"This config was written by Keras {version}: Keras 1 configs "
                                   f"(output_dim=, init=...) are not supported; load it with Keras 2 and re-save.")
    config_safety.check_safe(config, "the model config", custom_objects)
    class_name, module = config["class_name"], config.get("module")
    from ..models.sequential import Sequential
    from ..models.functional import Functional
    if class_name in ("Model", "Functional") and registry.get_registered_object(class_name, custom_objects) is None:
        cls = Functional
    else:
        cls = registry.resolve(class_name, "model", module, config.get("registered_name"), custom_objects,
                               where="the model config")
    with registry.custom_object_scope(custom_objects or {}), keras3_modes.reading_config(config):
        if cls is Sequential:
            model = sequential_from_inner_config(config["config"], custom_objects, strict)
        elif cls is Functional:
            model = functional_from_config(config["config"], custom_objects, strict)
        else:
            model = cls.from_config(config["config"])
    _build_from_config(model, config.get("build_config"))
    return model


def _build_from_config(obj, build_config):
    """``obj.build_from_config`` (Keras 3's hook; by default a build from the recorded input shape), once the
    file's shapes pass the limits; nothing for an object already built."""
    if not isinstance(build_config, dict) or getattr(obj, "built", True):
        return
    shape = build_config.get("input_shape")
    if isinstance(shape, list) and shape and all(isinstance(s, list) for s in shape):  # (several inputs)
        shape = [tuple(limits.check_shape(s, f"build_config.input_shape[{k}]")) for k, s in enumerate(shape)]
    elif shape:
        shape = tuple(limits.check_shape(shape, "build_config.input_shape"))  # (a tuple: one input's shape)
    overridden = keras3_config.overrides(obj, "build_from_config")
    if shape or overridden:
        obj.build_from_config({**build_config, "input_shape": shape} if shape else build_config)


def sequential_from_inner_config(inner, custom_objects=None, strict=False, _depth=0):
    """A `Sequential` from its inner config: ``{"name", "layers", ...}`` or a Keras 2.0 list of layers.
    Layers that are themselves Sequential configs become nested models."""
    from ..models.sequential import Sequential
    if _depth > 64:
        raise InvalidConfigError("Models nested more than 64 deep: refused.")
    if isinstance(inner, list):
        entries, inner = inner, {}
    elif isinstance(inner, dict):
        entries = inner.get("layers")
        if not isinstance(entries, list):
            raise InvalidConfigError(f"A Sequential config needs a 'layers' list, received "
                                       f"{type(entries).__name__} (keys found: {sorted(map(str, inner))}).")
    else:
        raise InvalidConfigError(f"A Sequential config must be a dict or a list of layers, received "
                                   f"{type(inner).__name__}.")
    model = Sequential(name=inner.get("name"))
    reserve_name(model.name)  # a name read from a file is taken: later layers skip it
    for index, entry in enumerate(entries):
        layer = layer_from_entry(entry, custom_objects, index=index, strict=strict, _depth=_depth)
        _check_kernel_size(model, layer)
        model.add(layer)
    if inner.get("trainable") is False:
        model.trainable = False
    shape = inner.get("build_input_shape")
    if not model.built and isinstance(shape, (list, tuple)) and shape:
        model.build(limits.check_shape(shape, "build_input_shape"))
    return model


def _check_kernel_size(model, layer):
    """A layer with ``units`` (Dense) allocates width x units values when it is added to a built model:
    refused here, before the allocation, when that is more than `limits.ConfigLimits.max_weight_values`."""
    shape = model.output_shape if model.built and model.layers else (
        model.input_shape if model.built else getattr(layer, "batch_input_shape", None))
    if isinstance(shape, tuple) and shape:
        check_kernels([layer], shape)


def layer_from_entry(entry, custom_objects=None, index=None, strict=False, _depth=0):
    """One layer from a ``{"class_name", "config", ...}`` entry; built-in layers get normalized kwargs.
    A ``Sequential`` entry becomes a nested model."""
    at = f"layer {index}" if index is not None else "a layer"
    if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict):
        raise InvalidConfigError(f"Each layer entry must be a dict with 'class_name' and a 'config' dict; "
                                   f"{at} is {str(entry)[:200]!r}.")
    config = entry["config"]
    where = f"{at} {config.get('name')!r}" if config.get("name") is not None else at
    config_safety.check_safe(entry, where, custom_objects)
    class_name = entry.get("class_name")
    user = registry.get_registered_object(entry.get("registered_name") or class_name, custom_objects)
    if class_name in ("Functional", "Model") and user is None:
        if _depth > 64:
            raise InvalidConfigError("Models nested more than 64 deep: refused.")
        return functional_from_config(config, custom_objects, strict, _depth + 1)
    if class_name == "Sequential" and user is None and registry.library_module(entry.get("module")):
        return sequential_from_inner_config(config, custom_objects, strict, _depth + 1)
    cls = registry.resolve(class_name, "layer", entry.get("module"), entry.get("registered_name"),
                           custom_objects, where=where)
    builtin = registry.builtin_layer_classes().get(class_name) is cls
    kwargs = normalize_layer_config(cls, config, custom_objects, where, strict) if builtin else dict(config)
    try:
        layer = cls.from_config(kwargs)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, SavingError) or type(exc) not in (TypeError, ValueError):
            raise
        raise type(exc)(f"Cannot rebuild {where} ({class_name}): {exc}") from exc
    if keras3_config.overrides(layer, "build_from_config"):  # (a layer of your own's Keras 3 hook)
        _build_from_config(layer, entry.get("build_config"))
    reserve_name(getattr(layer, "name", None))
    return layer
