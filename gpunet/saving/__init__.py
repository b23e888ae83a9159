"""Saving and loading (see model_io); `config_limits` raises the bounds on what a file may make gpunet
parse and allocate (see limits). Also Keras 3's ``keras.saving`` names (``load_model``, ``save_model``,
``register_keras_serializable``, ...), so that its import lines work unchanged."""
from .limits import ConfigLimits, config_limits  # noqa: F401


def load_model(filepath, custom_objects=None, compile=True, **kwargs):
    """`gpunet.models.load_model` (Keras 3's ``keras.saving.load_model``)."""
    from ..models import load_model as _load
    return _load(filepath, custom_objects=custom_objects, compile=compile, **kwargs)


def save_model(model, filepath, overwrite=True, **kwargs):
    """`gpunet.models.save_model` (Keras 3's ``keras.saving.save_model``)."""
    from ..models import save_model as _save
    return _save(model, filepath, overwrite=overwrite, **kwargs)


def save_weights(model, filepath, overwrite=True, **kwargs):
    """``model.save_weights(filepath, overwrite)`` (Keras 3's ``keras.saving.save_weights``)."""
    return model.save_weights(filepath, overwrite=overwrite, **kwargs)


def load_weights(model, filepath, skip_mismatch=False, **kwargs):
    """``model.load_weights(filepath, skip_mismatch=...)`` (Keras 3's ``keras.saving.load_weights``)."""
    return model.load_weights(filepath, skip_mismatch=skip_mismatch, **kwargs)


def __getattr__(name):
    # the registry's public names through gpunet.utils (which imports this package: loaded on first use)
    if name in ("register_keras_serializable", "get_registered_name", "get_registered_object",
                "custom_object_scope", "CustomObjectScope", "get_custom_objects", "serialize_keras_object",
                "deserialize_keras_object"):
        from .. import utils
        return getattr(utils, name)
    raise AttributeError(f"module 'gpunet.saving' has no attribute {name!r}")
