"""The check that a config carries no code: no lambdas, no bytecode, no passive objects, no
function imported from a module the file names (registry.py resolves the names that remain)."""
from . import registry


def _lambda_carries_code(config):
    """True unless a Lambda config names its functions only (what gpunet and Keras write for a
    ``def`` function): Keras 2 marshals a lambda's bytecode, Keras 3 writes ``__lambda__``."""
    if not isinstance(config, dict):
        return True
    if "lambda" in (config.get("function_type"), config.get("output_shape_type")):
        return True
    function = config.get("function")
    return not (isinstance(function, str) or (isinstance(function, dict) and function.get("class_name") == "function"
                                              and isinstance(function.get("config"), str)))



# Markers of serialized code or of objects rebuilt outside the registry (Keras 2 and 3 spellings).
_CODE_KEYS = ("__lambda__", "__passive_serialization__")


def check_safe(node, where=None, custom_objects=None, _path="config"):
    """Raise `UnsafeConfigError` if a config tree carries code: lambdas, bytecode, passive objects.

    Function references (``{"class_name": "function"}``) are allowed only when their name is
    the user's own (``custom_objects`` or registered); a ``Lambda`` layer only when its
    function is such a name (resolved when the layer is rebuilt): the user then supplies
    the code, the file never does.
    """
    stack = [(node, _path)]
    while stack:
        item, path = stack.pop()
        if isinstance(item, dict):
            for key in _CODE_KEYS:
                if key in item:
                    raise registry.unsafe_error(f"a {key!r} entry (serialized Python code or object) at {path}", where)
            cls = item.get("class_name")
            keys = (item.get("registered_name"), item.get("config") if cls == "function" else cls)
            user = any(isinstance(k, str) and registry.get_registered_object(k, custom_objects) is not None for k in keys)
            if cls == "__lambda__" or (item.get("function_type") == "lambda" and not user):
                raise registry.unsafe_error(f"a lambda (Python bytecode) at {path}", where)
            if cls == "Lambda" and not user and _lambda_carries_code(item.get("config")):
                raise registry.unsafe_error(f"a Lambda layer at {path} whose function is Python bytecode, not a name; save it "
                              f"from a named function (def) and pass that function in custom_objects", where)
            module = item.get("module")
            if cls == "function" and not user and not registry.library_module(module):
                raise registry.unsafe_error(f"a reference to function {item.get('config')!r} from module {module!r} at {path}",
                              where)
            if not user:  # a user class's config is the user's to interpret: nothing in it runs here
                stack.extend((v, f"{path}.{k}") for k, v in item.items())
        elif isinstance(item, (list, tuple)):
            stack.extend((v, f"{path}[{i}]") for i, v in enumerate(item))
