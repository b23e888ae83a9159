"""Bounds on what a file or a config text may make gpunet parse and allocate, and the way to raise them.

A config (JSON or YAML text, a ``.keras`` member, an HDF5 attribute) is refused before parsing
when its text is longer than ``max_config_bytes``, and after parsing when it holds more than
``max_nodes`` values, is nested deeper than ``max_depth`` or has a string longer than
``max_string``. Layer sizes (``units``, shapes) must be positive integers up to ``max_dim``, and a
weight a file makes gpunet build may have at most ``max_weight_values`` values. The defaults are
far above any real Keras model (a 5,000-layer model's config is ~5 MB; 16 MB of JSON
already parses into ~0.5 GB of Python objects); raise them for one block::

    with gpunet.saving.config_limits(max_config_bytes=1 << 30, max_dim=1 << 26):
        model = load_model("huge.keras")
"""
import contextlib
import contextvars
import dataclasses
import json
import math
import numbers

from .errors import InvalidConfigError


@dataclasses.dataclass(frozen=True)
class ConfigLimits:
    """The bounds in force (see the module's docstring); ``config_limits(...)`` changes them."""
    max_config_bytes: int = 16 << 20
    max_nodes: int = 2_000_000
    max_depth: int = 512  # 64 nested Sequentials (gpunet's limit) are 200 levels of JSON
    max_string: int = 1 << 20
    max_dim: int = 1 << 26
    max_weight_values: int = 1 << 31


_CURRENT = contextvars.ContextVar("gpunet_config_limits", default=ConfigLimits())
_RAISE_HINT = "raise it with gpunet.saving.config_limits({key}=...) if the file is trusted"


def current():
    """The `ConfigLimits` in force in this thread or task."""
    return _CURRENT.get()


@contextlib.contextmanager
def config_limits(**changes):
    """Use other bounds inside the ``with`` block (this thread/task only); yields the `ConfigLimits`."""
    unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(ConfigLimits)})
    if unknown:
        raise TypeError(f"config_limits() got unknown limit(s) {unknown}; known: "
                        f"{[f.name for f in dataclasses.fields(ConfigLimits)]}")
    for key, value in changes.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
            raise ValueError(f"config_limits: {key} must be a positive integer, received {value!r}")
    token = _CURRENT.set(dataclasses.replace(current(), **{k: int(v) for k, v in changes.items()}))
    try:
        yield current()
    finally:
        _CURRENT.reset(token)


def _too_big(what, found, key, limit):
    return InvalidConfigError(f"{what}: {found}, more than the limit of {limit} ({_RAISE_HINT.format(key=key)}).")


def check_text_size(size, what):
    limit = current().max_config_bytes
    if size > limit:
        raise _too_big(what, f"{size} bytes of text", "max_config_bytes", limit)


def check_tree(value, what):
    """Walk a parsed config once (no recursion): count values, depth and string lengths."""
    limits = current()
    nodes, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        nodes += 1
        if nodes > limits.max_nodes:
            raise InvalidConfigError(f"{what}: the document expands to more than {limits.max_nodes} values (YAML "
                                     f"aliases count at each use); {_RAISE_HINT.format(key='max_nodes')}.")
        if depth > limits.max_depth:
            raise _too_big(what, f"nested {depth} deep", "max_depth", limits.max_depth)
        if isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str) and len(key) > limits.max_string:
                    raise _too_big(what, f"a key of {len(key)} characters", "max_string", limits.max_string)
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, str) and len(item) > limits.max_string:
            raise _too_big(what, f"a string of {len(item)} characters", "max_string", limits.max_string)
    return value


def parse_json(text, what):
    """``json.loads`` of a config, bounded: size before parsing, tree after; any failure is an
    `InvalidConfigError` naming ``what`` (a 100,000-deep text is one, not a RecursionError)."""
    check_text_size(len(text), what)
    try:
        value = json.loads(text)
    except RecursionError:
        raise InvalidConfigError(f"{what}: nested too deep to parse (deeper than Python's parser can go; "
                                 f"configs may nest {current().max_depth} levels).") from None
    except (ValueError, TypeError) as exc:
        raise InvalidConfigError(f"{what} is not valid JSON ({exc})") from None
    return check_tree(value, what)


def check_dim(value, what, allow_none=False):
    """``value`` as a positive int no larger than ``max_dim`` (None passes when ``allow_none``)."""
    if value is None and allow_none:
        return None
    limit = current().max_dim
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidConfigError(f"{what} must be a positive integer, received {value!r:.80}")
    if isinstance(value, numbers.Integral):
        number = int(value)
    elif math.isfinite(value) and float(value).is_integer():
        number = int(value)
    else:
        raise InvalidConfigError(f"{what} must be a positive integer, received {value!r:.80}")
    if number <= 0:
        raise InvalidConfigError(f"{what} must be a positive integer, received {number}")
    if number > limit:
        raise _too_big(what, f"{number}", "max_dim", limit)
    return number


def check_shape(shape, what, wildcard=None):
    """A shape from a config as a tuple of positive ints or None (unknown sizes, as Keras allows);
    ``wildcard`` (Reshape's -1) passes too."""
    if not isinstance(shape, (list, tuple)) or len(shape) > current().max_depth:
        raise InvalidConfigError(f"{what} must be a list of sizes, received {shape!r:.80}")
    return tuple(d if d is None or (wildcard is not None and d == wildcard and not isinstance(d, bool))
                 else check_dim(d, f"{what}[{i}]") for i, d in enumerate(shape))


def count(shape):
    """The number of values of ``shape``, in Python ints (never wraps around)."""
    return math.prod(int(d) for d in shape)


def check_weight_shape(shape, what):
    """Refuse a weight shape whose value count exceeds ``max_weight_values`` (before anything is allocated)."""
    limit = current().max_weight_values
    n = count(shape)
    if n > limit:
        raise _too_big(what, f"shape {tuple(shape)} holds {n} values", "max_weight_values", limit)
    return n
