"""Layer names as Keras makes them (``dense``, ``dense_1``, ...; ``SpatialDropout1D`` ->
``spatial_dropout1d``), and the names taken so far in this process."""
import re

_name_counts = {}


def unique_name(base):
    """Keras's layer naming: ``dense``, ``dense_1``, ``dense_2``, ..."""
    n = _name_counts.get(base, 0)
    _name_counts[base] = n + 1
    return base if n == 0 else f"{base}_{n}"


def reserve_name(name):
    """Mark ``name`` (read from a file) as taken: names generated later in this process skip it,
    so new layers can join or nest a loaded model without a name clash."""
    match = re.fullmatch(r"(.+?)(?:_(\d+))?", name) if isinstance(name, str) else None
    if match is None:
        return
    prefix, number = match.group(1), int(match.group(2) or 0)
    if _name_counts.get(prefix, 0) <= number:
        _name_counts[prefix] = number + 1


def reset_names():
    """Forget generated names (what ``gpunet.backend.clear_session`` does)."""
    _name_counts.clear()


def snake_case(name):
    """tf.keras 2's ``to_snake_case`` (Keras 3's too): ``SpatialDropout1D`` -> ``spatial_dropout1d``."""
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()
