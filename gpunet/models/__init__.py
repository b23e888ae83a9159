"""Keras models (``from gpunet.models import Sequential, model_from_json, load_model``)."""
from .sequential import Sequential
from .model import Model
from .functional import Functional


def model_from_json(json_string, custom_objects=None, strict=False):
    """Rebuild an (uncompiled) model from ``model.to_json()`` output, gpunet's or Keras's.

    Layer arguments gpunet does not know (from another Keras version) are dropped with a warning
    listing them; ``strict=True`` makes them an error. Example: ``model = model_from_json(text)``.
    """
    from ..saving.json_yaml import model_from_json as _load
    return _load(json_string, custom_objects=custom_objects, strict=strict)


def model_from_yaml(yaml_string, custom_objects=None, strict=False):
    """Rebuild an (uncompiled) model from YAML, read with a safe loader (no code runs); ``strict`` as
    in `model_from_json`."""
    from ..saving.json_yaml import model_from_yaml as _load
    return _load(yaml_string, custom_objects=custom_objects, strict=strict)


def model_from_config(config, custom_objects=None, strict=False):
    """Rebuild a model from a config dict (``{"class_name", "config"}``); ``strict`` as in `model_from_json`."""
    from ..saving.config import model_from_config as _load
    return _load(config, custom_objects=custom_objects, strict=strict)


def save_model(model, filepath, overwrite=True, include_optimizer=True, save_format=None, **kwargs):
    """Save a whole model: architecture, weights, training config, optimizer state."""
    from ..saving.model_io import save_model as _save
    return _save(model, filepath, overwrite=overwrite, include_optimizer=include_optimizer,
                 save_format=save_format, **kwargs)


def load_model(filepath, custom_objects=None, compile=True, **kwargs):
    """Load a model saved by gpunet or Keras (.h5 or .keras; detected from the content).

    Returns it compiled when the file holds a training config (``compile=False`` never reads it).
    Also accepts ``safe_mode`` (Keras 3's; gpunet never runs code from a file) and ``strict`` (as in
    `model_from_json`). Example: ``model = load_model("model.h5")``.
    """
    from ..saving.model_io import load_model as _load
    return _load(filepath, custom_objects=custom_objects, compile=compile, **kwargs)


def clone_model(model, input_tensors=None, clone_function=None):
    """Keras's ``clone_model`` for a `Sequential` or a functional `Model`: a new, uncompiled model of
    the same layers (same configs and names, the same graph) with newly initialized weights, as in
    Keras (copy them with ``clone.set_weights(model.get_weights())``). ``clone_function(layer)``
    makes each new layer (default: ``layer.__class__.from_config(layer.get_config())``).
    ``input_tensors`` (new inputs to build the clone on) is not supported."""
    if input_tensors is not None:
        raise ValueError("gpunet's clone_model takes no input_tensors: the clone gets inputs like the model's")
    if not isinstance(model, Sequential):
        raise ValueError(f"clone_model expects a Sequential or a functional Model, received {type(model).__name__}")
    if clone_function is None:
        def clone_function(layer):
            return layer.__class__.from_config(layer.get_config())
    if isinstance(model, Functional):
        return model._clone(clone_function)
    if isinstance(model, Model):
        raise ValueError(f"clone_model expects a Sequential or a functional Model, received the subclassed model "
                         f"'{model.name}' ({type(model).__name__}): make a new instance of its class instead.")
    clone = Sequential([clone_function(layer) for layer in model.layers], name=model.name)
    if model.built and not clone.built:  # the input shape came from an InputLayer, not from a layer's config
        clone.build(model.input_shape)
    return clone


__all__ = ["Sequential", "Model", "Functional", "clone_model", "model_from_json", "model_from_yaml", "model_from_config", "save_model", "load_model"]
