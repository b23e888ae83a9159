"""``keras.utils.generic_utils`` (Keras 2, tf.keras 2): the custom-object table and scopes,
`Progbar`, and (de)serialization of Keras objects by config."""
from ..callbacks.progbar import Progbar
from ..saving.registry import custom_object_scope
from . import get_custom_objects

CustomObjectScope = custom_object_scope  # Keras 2's class name; ``with CustomObjectScope({...}):``


def serialize_keras_object(instance):
    """``{"class_name": ..., "config": ...}`` for a gpunet object with ``get_config`` (a layer,
    initializer, regularizer, constraint, loss, metric or optimizer); a function gives its name."""
    from ..saving.registry import serialize_object
    return serialize_object(instance)


def deserialize_keras_object(identifier, module_objects=None, custom_objects=None, printable_module_name="object",
                             _plain_strings=False):
    """The object a ``{"class_name", "config"}`` dict or a name stands for, looked up in
    ``custom_objects``, then ``module_objects``, then gpunet's registered and built-in classes
    (never imported from a module a file names). A name found nowhere is refused (tf.keras 2's
    ``generic_utils``); `gpunet.utils.deserialize_keras_object` returns it as a plain value instead, as
    Keras 3's ``keras.utils`` / ``keras.saving`` do, unless ``module_objects`` is given."""
    from ..saving import registry
    if identifier is None:
        return None
    tables = dict(module_objects or {})
    tables.update(custom_objects or {})
    if isinstance(identifier, str):
        found = tables.get(identifier) or registry.get_registered_object(identifier)
        if found is None and _plain_strings and module_objects is None:
            return identifier  # Keras 3's: a plain string is a value (a name compile resolves: "SGD", "mse")
        if found is None:
            raise ValueError(f"Unknown {printable_module_name}: {identifier!r}. Please ensure this object is passed "
                             f"to the `custom_objects` argument.")
        return found
    if isinstance(identifier, dict) and "class_name" in identifier:
        name, config = identifier["class_name"], identifier.get("config") or {}
        cls = tables.get(name) or registry.get_registered_object(name)
        if cls is None:
            with registry.custom_object_scope(tables):
                return registry.deserialize(identifier, "layer", where=printable_module_name)
        return cls.from_config(config) if hasattr(cls, "from_config") else cls(**config)
    raise TypeError(f"Could not interpret serialized {printable_module_name}: {identifier!r} (expected a name or a "
                    f'{{"class_name": ..., "config": ...}} dict)')

__all__ = ["CustomObjectScope", "custom_object_scope", "get_custom_objects", "Progbar", "serialize_keras_object",
           "deserialize_keras_object"]


def keras3_deserialize_keras_object(identifier, module_objects=None, custom_objects=None, **kwargs):
    """Keras 3's ``keras.utils.deserialize_keras_object``: `deserialize_keras_object`, a name found nowhere
    given back as a plain value (what a model's ``get_compile_config`` holds: ``"SGD"``, ``"mse"``)."""
    return deserialize_keras_object(identifier, module_objects, custom_objects, _plain_strings=True, **kwargs)
