"""Which classes a config may name: gpunet's own plus the user's ``custom_objects``.

Nothing is ever imported from a module named in a file.
"""
from .. import layers as _layers

_LAYER_CLASSES = {name: getattr(_layers, name) for name in
                  ("InputLayer", "Dense", "Activation", "Dropout", "Flatten", "Reshape", "BatchNormalization")}


def layer_from_config(entry, custom_objects=None):
    class_name = entry.get("class_name")
    cls = (custom_objects or {}).get(class_name) or _LAYER_CLASSES.get(class_name)
    if cls is None:
        raise ValueError(f"Unknown layer class {class_name!r}. Pass it as custom_objects={{'{class_name}': "
                         f"{class_name}}}.")
    return cls.from_config(dict(entry.get("config", {})))


def sequential_from_config(config, custom_objects=None):
    from ..models.sequential import Sequential
    entries = config if isinstance(config, list) else config.get("layers", [])
    name = None if isinstance(config, list) else config.get("name")
    model = Sequential(name=name)
    for entry in entries:
        model.add(layer_from_config(entry, custom_objects))
    return model
