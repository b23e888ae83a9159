"""Model configs: gpunet → Keras's ``{"class_name", "config"}`` dict, and any Keras spelling → gpunet model.

Read: Keras 2.0 (the Sequential ``config`` is a list of layers), tf.keras / Keras 2
(``batch_input_shape``, InputLayer entry or none), Keras 3 (``batch_shape``,
``module``/``registered_name``/``build_config``/``compile_config`` keys, dtype-policy
dicts, ``module`` inside initializer dicts), with or without the
``keras_version``/``backend`` wrapper. Keras options that gpunet has no use for are
dropped only while they hold their inert value; anything else reaches the layer
constructor, which rejects unknown keywords with a `TypeError`.
"""
import functools
import inspect
import numbers

import numpy as np

from . import registry
from .errors import InvalidConfigError, SavingError

# Written in every config. Keras readers only test whether the version starts with "1"
# (Keras 1 weight conversion); "2.15.0" says "Keras 2 schema", which is what
# Sequential.get_config() emits. "tensorflow" because Keras 2.0-2.2 flip convolution
# kernels when the saving backend differs from theirs and is "theano"-like; gpunet's
# weight layouts are TensorFlow's.
KERAS_VERSION = "2.15.0"
BACKEND = "tensorflow"

_NESTED_KINDS = (("_initializer", "initializer"), ("_regularizer", "regularizer"), ("_constraint", "constraint"))
_POLICY_CLASSES = ("DTypePolicy", "FloatDTypePolicy", "Policy", "PolicyV1")


def _is_none(v):
    return v is None


def _anything(v):
    return True


def _falsy(v):
    return v is None or v is False


# Keras options gpunet does not implement: key -> (value that means "off", why it matters otherwise).
_INERT_OPTIONS = {
    "autocast": (_anything, ""),  # gpunet always computes in the layer's dtype
    "quantization_config": (_is_none, "quantized layers are not supported"),
    "lora_rank": (_is_none, "LoRA-enabled layers are not supported"),
    "lora_alpha": (_anything, ""),
    "renorm": (_falsy, "batch renormalization is not supported"),
    "renorm_clipping": (_anything, ""),
    "renorm_momentum": (_anything, ""),
    "fused": (_anything, ""),  # an implementation choice of TensorFlow
    "virtual_batch_size": (_is_none, "ghost batch normalization is not supported"),
    "adjustment": (_is_none, "BatchNormalization adjustment functions are not supported"),
    "sparse": (_falsy, "sparse inputs are not supported"),
    "ragged": (_falsy, "ragged inputs are not supported"),
    "optional": (_falsy, "optional inputs are not supported"),
    "input_tensor": (_is_none, "InputLayer(input_tensor=...) is not supported"),
    "input_dtype": (_anything, ""),  # Keras 1 / 2.0 spelling; the layer's dtype is used
    "activity_regularizer": (_is_none, "only Dense supports activity_regularizer"),
}
# Keys of initializer configs that Keras 3 writes and gpunet does not need while None.
_INERT_INIT_KEYS = ("input_axes", "output_axes")


def model_to_config(model):
    """``{"class_name", "config", "keras_version", "backend", "module"}`` for ``model``, in plain JSON values.

    ``config`` is ``model.get_config()``. ``"module": "keras"`` makes Keras 3's
    ``model_from_json`` find ``Sequential``; the layer entries carry no ``module`` so
    that Keras 3 reads them with its Keras 2 reader (which accepts ``batch_input_shape``).
    """
    if not hasattr(model, "get_config"):
        raise TypeError(f"model_to_config expects a gpunet model, received {type(model).__name__}: {model!r}")
    inner = to_plain(model.get_config(), "config")
    entries = inner.get("layers", []) if isinstance(inner, dict) else []
    layers = list(getattr(model, "layers", []))
    # Registered user layers also record "package>name" (Keras 3's key), which finds the
    # class even when it was registered under a name other than its __name__.
    for entry, layer in zip(entries[len(entries) - len(layers):], layers):
        registered = registry.get_registered_name(type(layer))
        if registered != type(layer).__name__:
            entry.setdefault("registered_name", registered)
    cls = type(model)
    from ..models.sequential import Sequential
    out = {"class_name": cls.__name__, "config": inner, "keras_version": KERAS_VERSION, "backend": BACKEND,
           "module": "keras" if cls is Sequential else cls.__module__}
    if cls is not Sequential:
        out["registered_name"] = registry.get_registered_name(cls)
    return out


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


def model_from_config(config, custom_objects=None):
    """Rebuild an uncompiled model from a ``{"class_name", "config"}`` dict written by gpunet or any Keras."""
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
    registry.check_safe(config, "the model config", custom_objects)
    class_name, module = config["class_name"], config.get("module")
    if class_name in ("Model", "Functional") and registry.get_registered_object(class_name, custom_objects) is None:
        raise InvalidConfigError(f"This config holds a functional Keras {class_name}; gpunet rebuilds "
                                   f"Sequential models only.")
    cls = registry.resolve(class_name, "model", module, config.get("registered_name"), custom_objects,
                           where="the model config")
    from ..models.sequential import Sequential
    with registry.custom_object_scope(custom_objects or {}):
        if cls is Sequential:
            model = sequential_from_inner_config(config["config"], custom_objects)
        else:
            model = cls.from_config(config["config"])
    build_config = config.get("build_config")
    if isinstance(build_config, dict) and build_config.get("input_shape") and not getattr(model, "built", True):
        model.build(tuple(build_config["input_shape"]))
    return model


def sequential_from_inner_config(inner, custom_objects=None):
    """A `Sequential` from its inner config: ``{"name", "layers", ...}`` or a Keras 2.0 list of layers."""
    from ..models.sequential import Sequential
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
    for index, entry in enumerate(entries):
        model.add(layer_from_entry(entry, custom_objects, index=index))
    if inner.get("trainable") is False:
        model.trainable = False
    shape = inner.get("build_input_shape")
    if not model.built and isinstance(shape, (list, tuple)) and shape:
        model.build(tuple(shape))
    return model


def layer_from_entry(entry, custom_objects=None, index=None):
    """One layer from a ``{"class_name", "config", ...}`` entry; built-in layers get normalized kwargs."""
    at = f"layer {index}" if index is not None else "a layer"
    if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict):
        raise InvalidConfigError(f"Each layer entry must be a dict with 'class_name' and a 'config' dict; "
                                   f"{at} is {str(entry)[:200]!r}.")
    config = entry["config"]
    where = f"{at} {config.get('name')!r}" if config.get("name") is not None else at
    registry.check_safe(entry, where, custom_objects)
    class_name = entry.get("class_name")
    if class_name in ("Sequential", "Functional", "Model") and \
            registry.get_registered_object(class_name, custom_objects) is None:
        raise InvalidConfigError(f"{where} is a nested {class_name} model: gpunet's Sequential holds layers "
                                 f"only; rebuild it with the inner model's layers added directly.")
    cls = registry.resolve(class_name, "layer", entry.get("module"), entry.get("registered_name"),
                           custom_objects, where=where)
    builtin = registry.builtin_layer_classes().get(class_name) is cls
    kwargs = normalize_layer_config(cls, config, custom_objects, where) if builtin else dict(config)
    try:
        return cls.from_config(kwargs)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, SavingError) or type(exc) not in (TypeError, ValueError):
            raise
        raise type(exc)(f"Cannot rebuild {where} ({class_name}): {exc}") from exc


@functools.lru_cache(maxsize=None)  # signatures are slow; a 5,000-layer load asks per layer
def _accepted_kwargs(cls):
    names = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is not None:
            params = inspect.signature(init).parameters.values()
            names.update(p.name for p in params if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL))
        names.update(getattr(klass, "_allowed_kwargs", ()))
    names.discard("self")
    return frozenset(names)


def normalize_layer_config(cls, config, custom_objects=None, where="a layer"):
    """Keras 2/3 config of a built-in layer → keyword arguments of the gpunet class.

    Drops the Keras-only options listed in ``_INERT_OPTIONS`` while they are inert
    (and raises a `ValueError` naming the option otherwise), turns dtype policies
    into dtype names, and resolves nested initializer/regularizer/constraint/activation
    configs through the registry (so user classes in ``custom_objects`` work).
    """
    accepted = _accepted_kwargs(cls)
    out = {}
    for key, value in config.items():
        if key not in accepted and key in _INERT_OPTIONS:
            inert, why = _INERT_OPTIONS[key]
            if not inert(value):
                raise InvalidConfigError(f"Cannot rebuild {where} ({cls.__name__}): Keras option {key}={value!r} "
                                           f"is not supported by gpunet ({why}).")
            continue
        out[key] = _normalize_value(key, value, custom_objects, where)
    return out


def _normalize_value(key, value, custom_objects, where):
    if key == "dtype" and isinstance(value, dict):
        if value.get("class_name") not in _POLICY_CLASSES:
            raise InvalidConfigError(f"Cannot rebuild {where}: dtype policy {value.get('class_name')!r} is not "
                                       f"supported (expected one of {list(_POLICY_CLASSES)}).")
        return (value.get("config") or {}).get("name")
    kind = next((k for suffix, k in _NESTED_KINDS if key.endswith(suffix)), None)
    if key == "activation":
        kind = "activation"
    if kind is None:
        return value
    if isinstance(value, str):
        user = registry.get_registered_object(value, custom_objects)
        if user is None:
            return value  # a built-in name: the layer resolves it (and names it if unknown)
        return user() if isinstance(user, type) else user
    if isinstance(value, dict):
        if kind == "initializer" and isinstance(value.get("config"), dict):
            inner = dict(value["config"])
            for k in _INERT_INIT_KEYS:
                if inner.get(k, 0) is None:
                    del inner[k]
            value = dict(value, config=inner)
        return registry.deserialize(value, kind, custom_objects, where=f"{where}, argument {key}")
    return value
