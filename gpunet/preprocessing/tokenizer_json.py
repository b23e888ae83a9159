"""Reading ``Tokenizer.to_json()`` text (gpunet's or tf.keras's) safely: plain JSON, size-bounded,
and every field checked for its type, so a damaged or hostile file fails with a ValueError that says
what was expected rather than building a tokenizer that breaks later."""
import json
import numbers

from ..saving import limits

_WHAT = "tokenizer_from_json"
_NOTHING = object()
# setting: (check, what it must be); absent ones take Tokenizer's defaults
_SETTINGS = {
    "num_words": (lambda v: v is None or (_is_int(v) and v >= 0), "null or an int >= 0"),
    "filters": (lambda v: isinstance(v, str), "a string"),
    "lower": (lambda v: isinstance(v, bool), "true or false"),
    "split": (lambda v: isinstance(v, str), "a string"),
    "char_level": (lambda v: isinstance(v, bool), "true or false"),
    "oov_token": (lambda v: v is None or isinstance(v, str), "null or a string"),
    "document_count": (lambda v: _is_int(v) and v >= 0, "an int >= 0"),
}
# vocabulary field: (key type, value check, what each entry must be); each is a JSON text of an object
_TABLES = {
    "word_counts": ("word", lambda v: _is_int(v) and v >= 0, "a count (int >= 0)"),
    "word_docs": ("word", lambda v: _is_int(v) and v >= 0, "a count (int >= 0)"),
    "index_docs": ("index", lambda v: _is_int(v) and v >= 0, "a count (int >= 0)"),
    "index_word": ("index", lambda v: isinstance(v, str), "a word (string)"),
    "word_index": ("word", lambda v: _is_int(v) and v >= 0, "an index (int >= 0)"),
}


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _loads(text, what):
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError(f"{_WHAT}: {what} is nested too deep to be a tokenizer's JSON") from None
    except ValueError as exc:
        raise ValueError(f"{_WHAT}: {what} is not valid JSON ({exc})") from None


def _kind(value):
    return "null" if value is None else type(value).__name__


def _table(name, text):
    key_kind, check, entry = _TABLES[name]
    if not isinstance(text, str):
        raise ValueError(f"{_WHAT}: config[{name!r}] must be the JSON text of an object, received {_kind(text)}")
    table = _loads(text, f"config[{name!r}]")
    if not isinstance(table, dict):
        raise ValueError(f"{_WHAT}: config[{name!r}] must hold a JSON object, received {_kind(table)}")
    out = {}
    for key, value in table.items():
        if not check(value):
            raise ValueError(f"{_WHAT}: config[{name!r}][{key!r:.60}] must be {entry}, received {value!r:.60}")
        if key_kind == "index":
            # JSON keys are strings: tf.keras writes the int indices as "1", "2", ...
            try:
                key = int(key)
            except ValueError:
                raise ValueError(f"{_WHAT}: config[{name!r}] keys must be int indices, received {key!r:.60}") from None
        out[key] = value
    return out


def parse_tokenizer_json(json_string):
    """``(settings, state)`` from ``Tokenizer.to_json()`` text: ``settings`` for ``Tokenizer(**settings)``,
    ``state`` the five vocabulary dicts (index keys as ints). Raises ValueError on anything else."""
    if isinstance(json_string, (bytes, bytearray)):
        json_string = json_string.decode("utf-8", errors="strict")
    if not isinstance(json_string, str):
        raise TypeError(f"{_WHAT} expects the JSON text (str) of Tokenizer.to_json(), received "
                        f"{type(json_string).__name__}")
    limits.check_text_size(len(json_string), _WHAT)
    doc = _loads(json_string, "the text")
    config = doc.get("config", _NOTHING) if isinstance(doc, dict) else _NOTHING
    if not isinstance(config, dict):
        received = _kind(doc) if not isinstance(doc, dict) else f"an object with keys {sorted(doc)[:8]}"
        raise ValueError(f'{_WHAT}: expected {{"class_name": "Tokenizer", "config": {{...}}}} (Tokenizer.to_json()), '
                         f"received {received}")
    unknown = sorted(set(config) - set(_SETTINGS) - set(_TABLES))
    if unknown:
        raise ValueError(f"{_WHAT}: unknown config keys {unknown[:8]}; expected only "
                         f"{sorted(_SETTINGS) + sorted(_TABLES)}")
    missing = sorted(set(_TABLES) - set(config))
    if missing:
        raise ValueError(f"{_WHAT}: config lacks {missing}: a Tokenizer.to_json() text has all of {sorted(_TABLES)}")
    settings = {}
    for name, (check, expected) in _SETTINGS.items():
        if name in config:
            if not check(config[name]):
                raise ValueError(f"{_WHAT}: config[{name!r}] must be {expected}, received {config[name]!r:.60}")
            settings[name] = config[name]
    return settings, {name: _table(name, config[name]) for name in _TABLES}
