"""``to_json``/``to_yaml`` and ``model_from_json``/``model_from_yaml``: a model's architecture as text.

The text holds the architecture only (no weights, no optimizer, no compile
settings): a model rebuilt from it is uncompiled. JSON and YAML carry the same
dict (`gpunet.saving.config.model_to_config`). YAML is written with
``yaml.safe_dump`` and read with a safe loader that knows one Python tag,
``!!python/tuple`` (Keras 2 wrote it for shapes), and refuses every other
Python tag (``!!python/object/apply:os.system``...) with `UnsafeConfigError`.
"""
import json

import yaml

from . import config as _config, limits
from .errors import InvalidConfigError, UnsafeConfigError

# Longest excerpt of bad text quoted in an error message.
_EXCERPT = 80


def model_to_json(model, **kwargs):
    """The model's architecture as a JSON string; ``kwargs`` go to ``json.dumps`` (e.g. ``indent=2``)."""
    return json.dumps(_config.model_to_config(model), **kwargs)


def model_to_yaml(model, **kwargs):
    """The model's architecture as YAML, via ``yaml.safe_dump``; ``kwargs`` go to it.

    The document is the same dict as `model_to_json` writes (plain values only, no Python tags).
    """
    return yaml.safe_dump(_config.model_to_config(model), **kwargs)


def model_from_json(json_string, custom_objects=None, strict=False):
    """Rebuild an uncompiled model from JSON written by gpunet or Keras (any version).
    ``strict=True``: unknown layer arguments are an error instead of a warning."""
    text = _as_text(json_string, "model_from_json", "JSON")
    limits.check_text_size(len(text), "model_from_json: the text")
    try:
        config = json.loads(text)
    except RecursionError:
        raise InvalidConfigError(f"model_from_json: the text is nested too deep to parse (deeper than "
                                 f"Python's parser can go; configs may nest {limits.current().max_depth} levels).") from None
    except json.JSONDecodeError as exc:
        raise InvalidConfigError(f"model_from_json: the text is not valid JSON ({exc.msg} at line {exc.lineno} "
                                 f"column {exc.colno}); it starts with {text[:_EXCERPT]!r}.{_file_hint(text)}"
                                 ) from None
    limits.check_tree(config, "model_from_json")
    return _config.model_from_config(_check_document(config, "model_from_json", text), custom_objects, strict)


def model_from_yaml(yaml_string, custom_objects=None, strict=False):
    """Rebuild an uncompiled model from YAML written by gpunet or Keras 2, with a safe loader (no code runs).
    ``strict=True``: unknown layer arguments are an error instead of a warning."""
    text = _as_text(yaml_string, "model_from_yaml", "YAML")
    limits.check_text_size(len(text), "model_from_yaml: the text")
    try:
        config = yaml.load(text, Loader=ModelConfigLoader)  # noqa: S506 - a SafeLoader subclass
    except RecursionError:
        raise InvalidConfigError(f"model_from_yaml: the text is nested too deep to parse (deeper than "
                                 f"Python's parser can go; configs may nest {limits.current().max_depth} levels).") from None
    except yaml.YAMLError as exc:
        raise InvalidConfigError(f"model_from_yaml: the text is not valid YAML ({_yaml_problem(exc)}); it starts "
                                 f"with {text[:_EXCERPT]!r}.{_file_hint(text)}") from None
    limits.check_tree(config, "model_from_yaml")  # aliases ("billion laughs") count at each use
    return _config.model_from_config(_check_document(config, "model_from_yaml", text), custom_objects, strict)


def _as_text(value, func, fmt):
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError as exc:
            magic = " (they start like an HDF5 or .keras file: use gpunet.models.load_model)" \
                if bytes(value[:4]) in (b"\x89HDF", b"PK\x03\x04") else ""
            raise InvalidConfigError(f"{func}: the bytes are not UTF-8 {fmt} text ({exc.reason} at byte "
                                     f"{exc.start}){magic}.") from None
    if not isinstance(value, str):
        extra = " (for a config dict, use gpunet.models.model_from_config)" if isinstance(value, dict) else ""
        raise TypeError(f"{func} expects a {fmt} string, received {type(value).__name__}{extra}.")
    return value


def _file_hint(text):
    if text.startswith("PK\x03\x04"):
        return " This looks like the content of a .keras file: use gpunet.models.load_model."
    stripped = text.strip()
    if stripped and "\n" not in stripped and stripped.endswith((".json", ".yaml", ".yml", ".h5", ".keras")):
        return " This looks like a file name: pass the file's content (open(path).read()), not its path."
    return ""


def _yaml_problem(exc):
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    mark = getattr(exc, "problem_mark", None)
    return f"{problem} at line {mark.line + 1} column {mark.column + 1}" if mark is not None else problem


def _check_document(config, func, text):
    if not isinstance(config, dict):
        raise InvalidConfigError(f"{func}: expected a model config (a mapping with 'class_name' and 'config'), "
                                 f"received a {type(config).__name__}: {text[:_EXCERPT]!r}.")
    return config


class ModelConfigLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` plus ``!!python/tuple`` (read as a list); every other Python tag is refused.

    Refusing happens while constructing, before any value is used: a document with
    ``!!python/object/apply:os.system`` raises `UnsafeConfigError` naming the tag.
    """


def _construct_tuple(loader, node):
    # A list, not a tuple: the config then equals the one read from JSON.
    return loader.construct_sequence(node, deep=True)


def _refuse_python_tag(loader, suffix, node):
    tag = node.tag
    raise UnsafeConfigError(f"model_from_yaml: refusing YAML tag {tag!r} at line {node.start_mark.line + 1}: "
                            f"Python object tags can run code, and gpunet reads YAML with a safe loader. Only "
                            f"'tag:yaml.org,2002:python/tuple' is accepted (Keras 2 wrote it for shapes).")


def _refuse_unknown_tag(loader, node):
    raise UnsafeConfigError(f"model_from_yaml: refusing unknown YAML tag {node.tag!r} at line "
                            f"{node.start_mark.line + 1}: a model config holds only plain mappings, lists, "
                            f"strings, numbers, booleans and nulls.")


ModelConfigLoader.add_constructor("tag:yaml.org,2002:python/tuple", _construct_tuple)
# Python 2's Keras wrote these for plain strings; they construct nothing but a str.
ModelConfigLoader.add_constructor("tag:yaml.org,2002:python/unicode", yaml.SafeLoader.construct_yaml_str)
ModelConfigLoader.add_constructor("tag:yaml.org,2002:python/str", yaml.SafeLoader.construct_yaml_str)
ModelConfigLoader.add_multi_constructor("tag:yaml.org,2002:python/", _refuse_python_tag)
ModelConfigLoader.add_constructor(None, _refuse_unknown_tag)
