"""Keras optimizers over one flat parameter buffer (``gpunet.optimizers``).

``get("adam")``, ``get({"class_name": "Adam", "config": {...}})`` or
``get(Adam(...))`` return an `Optimizer`; ``serialize(opt)`` gives Keras's
``{"class_name", "config"}``. Update rules are Keras's (tf.keras 2.11+ and
Keras 3, which agree); slot names and the ``lr=`` / ``decay=`` arguments are
Keras 2's (the slots of Lion and Adafactor, which Keras 2 lacked: tf.keras 2.11+'s).
See `Optimizer` for the contract models use (``build``, ``apply``, ``slots``,
``get_state`` / ``set_state``).
"""
from .hyperparameter import Hyperparameter
from .base import Optimizer
from .gradient_descent import SGD
from .adaptive import RMSprop, Adagrad, Adadelta
from .adam import Adam, AdamW, Adamax, Nadam
from .lion import Lion
from .adafactor import Adafactor
from .ftrl import Ftrl
from .lamb import Lamb
from . import schedules
from . import legacy  # (tf.keras 2.11+'s names for the Keras 2.10 optimizers)

RMSProp = RMSprop  # tf.keras alias

_CLASSES = {cls.__name__.lower(): cls for cls in (SGD, RMSprop, Adagrad, Adadelta, Adam, AdamW, Adamax, Nadam, Lion,
                                                  Adafactor, Ftrl, Lamb)}


def _unknown(identifier):
    names = ", ".join(repr(n) for n in sorted(_CLASSES))
    return ValueError(f"Unknown optimizer {identifier!r}: expected one of {names} (any case), a config dict "
                      "{'class_name': ..., 'config': {...}} or an Optimizer instance.")


def serialize(optimizer):
    """Keras's ``{"class_name": "Adam", "config": {...}}`` for an optimizer."""
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"serialize expects a gpunet Optimizer, received {type(optimizer).__name__}.")
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config, custom_objects=None):
    """An optimizer from Keras's ``{"class_name", "config"}`` (Keras 2, tf.keras 2.11+ with its
    ``"Custom>"`` prefix, or Keras 3 with ``module`` / ``registered_name``)."""
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise ValueError(f"An optimizer config must be a dict with a 'class_name', received {config!r}.")
    class_name = config["class_name"]
    cls = (custom_objects or {}).get(class_name)
    if cls is None:
        key = class_name[len("Custom>"):] if class_name.startswith("Custom>") else class_name
        cls = _CLASSES.get(key.lower())
    if cls is None:
        raise _unknown(class_name)
    inner = config.get("config") or {}
    if not isinstance(inner, dict):
        raise ValueError(f"The 'config' of optimizer {class_name!r} must be a dict, received {inner!r}.")
    return cls.from_config(inner)


def get(identifier):
    """An `Optimizer` from a name (``"adam"``, any case), a Keras config dict, or an instance (returned as is).

    Example::

        opt = gpunet.optimizers.get("rmsprop")
        opt = gpunet.optimizers.get({"class_name": "SGD", "config": {"learning_rate": 0.1, "momentum": 0.9}})
    """
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str) and identifier.lower() in _CLASSES:
        return _CLASSES[identifier.lower()]()
    raise _unknown(identifier)


__all__ = ["legacy", "Optimizer", "Hyperparameter", "SGD", "RMSprop", "RMSProp", "Adagrad", "Adadelta", "Adam", "AdamW",
           "Adamax", "Nadam", "Lion", "Adafactor", "Ftrl", "Lamb", "get", "serialize", "deserialize", "schedules"]
