"""Which classes and functions a config may name: gpunet's own, registered ones and ``custom_objects``.

Safety rule: nothing is ever imported from a module named in a file, and nothing
is unpickled, unmarshalled or evaluated. A name in a config is only looked up in
(1) the ``custom_objects`` passed by the caller and any active
`custom_object_scope`, (2) classes and functions registered with
`register_serializable`, (3) gpunet's built-in layers, initializers,
regularizers, constraints, activations, losses, metrics and optimizers.
"""
import sys
import threading

from . import config_safety
from .errors import InvalidConfigError, UnknownObjectError, UnsafeConfigError

_GLOBAL_OBJECTS = {}   # "package>name" and plain "name" -> class or function
_GLOBAL_NAMES = {}     # class or function -> "package>name"
_scope = threading.local()

# Where each kind of object lives in gpunet; their ``get()`` accepts names and config dicts.
_KIND_MODULES = {"initializer": "initializers", "regularizer": "regularizers", "constraint": "constraints",
                 "activation": "activations", "loss": "losses", "metric": "metrics", "optimizer": "optimizers"}
_LAYER_NAMES = ("InputLayer", "Dense", "EinsumDense", "Activation", "Dropout", "Flatten", "Reshape",
                "BatchNormalization", "Lambda", "LeakyReLU", "ReLU", "ELU", "Softmax", "ThresholdedReLU", "PReLU",
                "ActivityRegularization", "GaussianNoise", "GaussianDropout", "AlphaDropout", "SpatialDropout1D",
                "SpatialDropout2D", "SpatialDropout3D", "RepeatVector", "Permute", "Embedding",
                "GlobalAveragePooling1D", "GlobalMaxPooling1D", "Masking", "TimeDistributed", "SimpleRNN", "LSTM",
                "GRU", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D", "Bidirectional", "Conv1D", "Conv2D", "Conv3D",
                "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose", "DepthwiseConv1D", "DepthwiseConv2D",
                "SeparableConv1D", "SeparableConv2D", "MaxPooling1D", "MaxPooling2D", "MaxPooling3D",
                "AveragePooling1D", "AveragePooling2D", "AveragePooling3D", "GlobalAveragePooling2D",
                "GlobalMaxPooling2D", "GlobalAveragePooling3D", "GlobalMaxPooling3D", "ZeroPadding1D", "ZeroPadding2D",
                "ZeroPadding3D", "Cropping1D", "Cropping2D", "Cropping3D", "UpSampling1D", "UpSampling2D",
                "UpSampling3D", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot",
                "Identity", "LayerNormalization", "UnitNormalization", "GroupNormalization", "RMSNormalization",
                "Normalization", "Rescaling", "Discretization", "CategoryEncoding", "IntegerLookup", "StringLookup",
                "Hashing", "HashedCrossing", "TextVectorization", "Resizing",
                "CenterCrop", "RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast",
                "RandomBrightness", "RandomCrop", "RandomHeight", "RandomWidth", "RNN", "StackedRNNCells",
                "SimpleRNNCell", "LSTMCell", "GRUCell", "MultiHeadAttention", "Attention", "AdditiveAttention",
                "LocallyConnected1D", "LocallyConnected2D", "SpectralNormalization")
# Module prefixes under which Keras (all flavours) and gpunet record their own classes.
_LIBRARY_MODULES = ("keras", "tf_keras", "tensorflow", "gpunet")


def register_serializable(package="Custom", name=None):
    """Register a class or function so that configs naming it load without ``custom_objects``.

    Keras 3's ``keras.saving.register_keras_serializable`` semantics: the object is
    stored under ``"package>name"`` (``name`` defaults to ``__name__``), which is the
    ``registered_name`` written in configs; it is also found by its plain name, as
    Keras 2 configs hold only ``class_name``. Registering again replaces the entry
    (re-running a notebook cell must work). Use as ``@register_serializable()``.
    """
    if not isinstance(package, str) or ">" in package:
        raise ValueError(f"register_serializable expects a package name string without '>', received {package!r}")

    def decorator(obj):
        if isinstance(obj, type) and not hasattr(obj, "get_config"):
            raise ValueError(f"Cannot register class {obj.__name__}: it has no get_config() method, so it cannot "
                             f"be saved in a config.")
        if not callable(obj):
            raise TypeError(f"register_serializable expects a class or function, received {obj!r}")
        plain = name if name is not None else obj.__name__
        registered = f"{package}>{plain}"
        _GLOBAL_OBJECTS[registered] = obj
        _GLOBAL_OBJECTS[plain] = obj
        _GLOBAL_NAMES[obj] = registered
        return obj

    return decorator


def get_registered_name(obj):
    """The name a config records for ``obj``: ``"package>name"`` if registered, else its ``__name__``."""
    return _GLOBAL_NAMES.get(obj) or getattr(obj, "__name__", type(obj).__name__)


def get_registered_object(name, custom_objects=None):
    """The class or function registered, scoped or passed in ``custom_objects`` under ``name``; else None."""
    if not isinstance(name, str):
        return None
    tables = [custom_objects or {}] + list(reversed(getattr(_scope, "stack", []))) + [_GLOBAL_OBJECTS]
    # "Package>name" (what a registered function is saved as) is also found by its plain name.
    for key in (name, name.rsplit(">", 1)[-1]) if ">" in name else (name,):
        for table in tables:
            if key in table:
                return table[key]
    return None


class custom_object_scope:
    """Context manager making ``custom_objects`` visible to every load inside it (as in Keras).

    Example::

        with custom_object_scope({"MyLayer": MyLayer}):
            model = model_from_json(text)
    """

    def __init__(self, *custom_objects):
        self._tables = [dict(t or {}) for t in custom_objects]

    def __enter__(self):
        stack = getattr(_scope, "stack", None)
        if stack is None:
            stack = _scope.stack = []
        merged = {}
        for table in self._tables:
            merged.update(table)
        stack.append(merged)
        return self

    def __exit__(self, *exc):
        _scope.stack.pop()
        return False


def builtin_layer_classes():
    """gpunet's layer classes that a config may name, by Keras class name."""
    from .. import layers
    return {n: getattr(layers, n) for n in _LAYER_NAMES}


def _builtin_module(kind):
    import importlib
    # A fixed table of gpunet's own submodules: never a name read from a file.
    return importlib.import_module(f"gpunet.{_KIND_MODULES[kind]}")


def _is_stdlib(module):
    top = str(module).split(".", 1)[0]
    return top in ("builtins", "__builtin__") or top in sys.stdlib_module_names


def _is_library(module):
    return module is None or str(module).split(".", 1)[0] in _LIBRARY_MODULES


def library_module(module):
    """True when a config's ``module`` is None or Keras's/gpunet's own (never a module to import)."""
    return _is_library(module)


def unknown_object_error(class_name, kind, module=None, where=None):
    """The `UnknownObjectError` for a class no table knows: names the class, module, layer and the fix."""
    plain = str(class_name).rsplit(">", 1)[-1]  # tf.keras 2 wrote "Package>Name" as the class name
    ident = plain if plain.isidentifier() else "MyClass"
    parts = [f"Unknown {kind} class {class_name!r}"]
    if module:
        parts.append(f"(saved from module {module!r})")
    if where:
        parts.append(f"in {where}")
    hint = ""
    if kind == "layer" and module is not None and _is_library(module):
        hint = f" gpunet's built-in layers are {list(_LAYER_NAMES)}; a Keras layer outside them needs your own " \
               f"implementation."
    return UnknownObjectError(
        " ".join(parts) + f".{hint} gpunet never imports modules named in a file: pass the class when loading, "
        f"e.g. custom_objects={{'{plain}': {ident}}}, or decorate it with "
        f"@gpunet.utils.register_serializable() before loading.")


def _refuse(what, where):
    loc = f" in {where}" if where else ""
    return UnsafeConfigError(f"Refusing to load {what}{loc}: gpunet never imports modules named in a file and never "
                             f"runs code stored in one. Define the object in Python and pass it with "
                             f"custom_objects= or @gpunet.utils.register_serializable().")


unsafe_error = _refuse  # the UnsafeConfigError refusing ``what`` (code or an import in a file) at ``where``


def resolve(class_name, kind="layer", module=None, registered_name=None, custom_objects=None, where=None):
    """The class (or function) a config names, from custom objects, the registry or gpunet's built-ins.

    Raises `UnsafeConfigError` when the name is unresolved and its recorded module is
    part of Python itself (``os``, ``subprocess``, ``builtins``...: a code gadget, never
    a Keras object), and `UnknownObjectError` otherwise.
    """
    if not isinstance(class_name, str) or not class_name:
        raise UnknownObjectError(f"A {kind} config needs a non-empty 'class_name' string"
                                 f"{' in ' + where if where else ''}, received {class_name!r}.")
    for key in (registered_name, class_name, class_name.rsplit(">", 1)[-1]):
        obj = get_registered_object(key, custom_objects)
        if obj is not None:
            return obj
    if kind == "layer":
        cls = builtin_layer_classes().get(class_name)
        if cls is not None and _is_library(module):
            return cls
    elif kind == "model" and class_name == "Sequential" and _is_library(module):
        from ..models.sequential import Sequential
        return Sequential
    if _is_stdlib(module):
        raise _refuse(f"{kind} {class_name!r} from module {module!r}", where)
    raise unknown_object_error(class_name, kind, module, where)


def deserialize(identifier, kind, custom_objects=None, where=None):
    """An initializer, regularizer, constraint, activation, loss, metric or optimizer from its config.

    ``identifier`` is None, a name, a Keras config dict (``{"class_name", "config"}``,
    with or without ``module``/``registered_name``), or an object (returned as is).
    User objects come first; built-in names go to gpunet's ``<module>.get()``.
    """
    if kind not in _KIND_MODULES:
        raise ValueError(f"deserialize expects kind in {sorted(_KIND_MODULES)}, received {kind!r}")
    if identifier is None or not isinstance(identifier, (str, dict)):
        return _builtin_module(kind).get(identifier) if identifier is not None else None
    if isinstance(identifier, str):
        obj = get_registered_object(identifier, custom_objects)
        return obj if obj is not None else _get_builtin(identifier, kind, identifier, None, where)
    config_safety.check_safe(identifier, where, custom_objects)
    class_name, module = identifier.get("class_name"), identifier.get("module")
    inner = identifier.get("config")
    if class_name == "function":
        return _resolve_function(inner, identifier.get("registered_name"), module, kind, custom_objects, where)
    user = get_registered_object(identifier.get("registered_name"), custom_objects) or \
        get_registered_object(class_name, custom_objects)
    if user is not None:
        if isinstance(user, type):
            return user.from_config(dict(inner or {})) if hasattr(user, "from_config") else user(**(inner or {}))
        return user
    if _is_stdlib(module):
        raise _refuse(f"{kind} {class_name!r} from module {module!r}", where)
    plain = {"class_name": class_name, "config": dict(inner or {})}
    return _get_builtin(plain, kind, class_name, module, where)


def _resolve_function(name, registered_name, module, kind, custom_objects, where):
    """A function reference (Keras 3 ``{"class_name": "function", "config": name}``): resolved by name only."""
    for key in (registered_name, name):
        if key not in (None, "function"):
            obj = get_registered_object(key, custom_objects)
            if obj is not None:
                return obj
    if isinstance(name, str) and _is_library(module):  # no module (nothing to import) or Keras's own
        return _get_builtin(name, kind, name, module, where)
    raise _refuse(f"a reference to function {name!r} from module {module!r}", where)


def _get_builtin(identifier, kind, class_name, module, where):
    try:
        return _builtin_module(kind).get(identifier)
    except (ValueError, TypeError, KeyError) as exc:
        text = str(exc)
        if "unknown" in text.lower() or "could not interpret" in text.lower():
            raise unknown_object_error(class_name, kind, module, where) from exc
        # A known class with bad arguments: say so, instead of calling it unknown.
        raise InvalidConfigError(f"Cannot build {kind} {class_name!r}{' in ' + where if where else ''}: {text}"
                                 ) from exc


def serialize_object(obj):
    """Keras's config for a user or built-in object: a name for functions, ``{"class_name", "config"}`` otherwise."""
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if isinstance(obj, type) or not hasattr(obj, "get_config"):
        if callable(obj) and hasattr(obj, "__name__"):
            return get_registered_name(obj)
        raise TypeError(f"Cannot serialize {obj!r}: expected an object with get_config() or a named function.")
    cls = type(obj)
    entry = {"class_name": cls.__name__, "config": obj.get_config()}
    if cls in _GLOBAL_NAMES:
        entry["registered_name"] = _GLOBAL_NAMES[cls]
    return entry


def layer_from_config(entry, custom_objects=None):
    """One layer from its ``{"class_name", "config"}`` entry (Keras 2 or 3 spelling)."""
    from .config import layer_from_entry
    return layer_from_entry(entry, custom_objects)


def sequential_from_config(config, custom_objects=None):
    """A `Sequential` from its inner config: ``{"name", "layers"}`` or a Keras 2.0 list of layer entries."""
    from .config import sequential_from_inner_config
    return sequential_from_inner_config(config, custom_objects)
