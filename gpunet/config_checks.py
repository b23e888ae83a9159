"""Shared helpers for the ``get_config``/``from_config`` of initializers, regularizers and constraints."""
import functools
import inspect


@functools.lru_cache(maxsize=None)  # inspect.signature is slow, and a model load asks once per weight
def _init_parameters(cls):
    return inspect.signature(cls.__init__).parameters


def check_config_keys(cls, config):
    """Raise TypeError naming the keys of ``config`` that ``cls.__init__`` does not take."""
    params = _init_parameters(cls)
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return
    unknown = sorted(set(config) - set(params) - {"self"})
    if unknown:
        raise TypeError(f"{cls.__name__} config has unexpected key(s) {unknown}; "
                        f"expected keys among {sorted(set(params) - {'self', 'args', 'kwargs'})}.")


def serialize_object(obj):
    """tf.keras 2's ``{"class_name": ..., "config": ...}``, None, or a plain function's name."""
    if obj is None:
        return None
    if hasattr(obj, "get_config"):
        return {"class_name": type(obj).__name__, "config": obj.get_config()}
    return getattr(obj, "__name__", type(obj).__name__)
