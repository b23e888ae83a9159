"""A built-in layer's Keras 2/3 config -> keyword arguments of the gpunet class.

Keras options gpunet has no use for are dropped only while they hold their inert
value (anything else is an error naming the option); keys gpunet does not know at all
are dropped with a warning that lists them, or refused with ``strict=True``.
"""
import functools
import inspect
import warnings

from . import limits, registry
from .errors import InvalidConfigError, UnknownArgumentError

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


def normalize_layer_config(cls, config, custom_objects=None, where="a layer", strict=False):
    """Keras 2/3 config of a built-in layer → keyword arguments of the gpunet class.

    Drops the Keras-only options listed in ``_INERT_OPTIONS`` while they are inert
    (and raises a `ValueError` naming the option otherwise), turns dtype policies
    into dtype names, and resolves nested initializer/regularizer/constraint/activation
    configs through the registry (so user classes in ``custom_objects`` work).
    """
    accepted = _accepted_kwargs(cls)
    out, unknown = {}, []
    for key, value in config.items():
        if key not in accepted and key in _INERT_OPTIONS:
            inert, why = _INERT_OPTIONS[key]
            if not inert(value):
                raise InvalidConfigError(f"Cannot rebuild {where} ({cls.__name__}): Keras option {key}={value!r} "
                                           f"is not supported by gpunet ({why}).")
            continue
        if key not in accepted:
            unknown.append(key)
            continue
        out[key] = _normalize_value(key, value, custom_objects, where)
    if isinstance(out.get("input_dim"), int) and isinstance(out.get("output_dim"), int):  # Embedding's table
        limits.check_weight_shape((out["input_dim"], out["output_dim"]), f"{where}: the embeddings")
    if unknown and strict:
        raise UnknownArgumentError(f"Cannot rebuild {where} ({cls.__name__}): unknown argument(s) {unknown} "
                        f"(strict=True).")
    if unknown:
        warnings.warn(f"Ignoring argument(s) {unknown} of {where} ({cls.__name__}): gpunet's {cls.__name__} does "
                      "not know them (written by another Keras version?). Pass strict=True to make this an "
                      "error.", UserWarning, stacklevel=2)
    return out


_SIZE_KEYS = ("units", "input_dim", "output_dim")
_SHAPE_KEYS = ("batch_input_shape", "batch_shape", "input_shape", "shape")


def _check_sizes(key, value, where):
    """Sizes that a config makes gpunet allocate: positive ints below `limits` (10**12 units, Infinity,
    -3 or "8" are refused here, before any layer exists)."""
    if key in _SIZE_KEYS:
        return limits.check_dim(value, f"{where}, argument {key}", allow_none=key == "input_dim")
    if key in _SHAPE_KEYS and value is not None:
        return list(limits.check_shape(value, f"{where}, argument {key}"))
    if key == "input_length" and value is not None:  # Embedding's sequence length(s)
        if isinstance(value, (list, tuple)):
            return list(limits.check_shape(value, f"{where}, argument {key}"))
        return limits.check_dim(value, f"{where}, argument {key}")
    if key == "target_shape":
        return list(limits.check_shape(value, f"{where}, argument {key}", wildcard=-1))
    return value


def _normalize_value(key, value, custom_objects, where):
    value = _check_sizes(key, value, where)
    if key == "dtype" and isinstance(value, dict):
        if value.get("class_name") not in _POLICY_CLASSES:
            raise InvalidConfigError(f"Cannot rebuild {where}: dtype policy {value.get('class_name')!r} is not "
                                       f"supported (expected one of {list(_POLICY_CLASSES)}).")
        return (value.get("config") or {}).get("name")
    if key in ("layer", "backward_layer", "cell") and isinstance(value, dict):  # a wrapper's layer(s), an RNN's cell
        return registry.layer_from_config(value, custom_objects)
    if key == "cells" and isinstance(value, list):  # StackedRNNCells'
        return [registry.layer_from_config(v, custom_objects) if isinstance(v, dict) else v for v in value]
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
        return registry.deserialize(value, kind, custom_objects, where=f"{where}, argument {key}")
    return value
