"""``gpunet inspect`` on an architecture-only file (``model.to_json()`` / ``to_yaml()`` output):
the layers, their output shapes and parameter counts, and that the weights live elsewhere."""
import json
import os

from . import file_guards, limits
from .errors import SavingError


def read_architecture(path):
    """``(format name, model)`` for a JSON or YAML model architecture file, or None when the file
    is not one (the caller then reports its own error). The model is built without drawing
    initial weights; nothing in the file is run (the loaders are the safe ones)."""
    from ..layers.base import skip_initializers
    from ..models import model_from_json, model_from_yaml
    try:  # a regular file only (a FIFO would block a plain open), within the config size limit
        text = file_guards.read_text(path, limits.current().max_config_bytes, "architecture file")
    except (OSError, TypeError, SavingError):
        return None
    is_json = text.lstrip().startswith("{")
    try:
        parsed = json.loads(text) if is_json else None
    except (ValueError, RecursionError):  # 100,000-deep JSON: not an architecture to describe
        return None
    if is_json and not (isinstance(parsed, dict) and "class_name" in parsed):
        return None
    with skip_initializers():
        return ("JSON", model_from_json(text)) if is_json else ("YAML", model_from_yaml(text))


def describe(path):
    """The ``gpunet inspect`` text for an architecture file, or None when ``path`` is not one.
    Errors rebuilding a recognized architecture (an unknown custom layer, say) propagate."""
    found = read_architecture(path)
    if found is None:
        return None
    kind, model = found
    lines = [f"File: {path} ({os.path.getsize(path)} bytes)",
             f"Format: {kind} model architecture (to_{kind.lower()}() output): no weights"]
    if model.built:
        model.summary(print_fn=lines.append)
    else:
        lines.append("Layers (no input shape recorded, so no shapes or parameter counts): "
                     + ", ".join(f"{layer.name} ({type(layer).__name__})" for layer in model.layers))
    lines.append(f"Weights: none. A {kind} file holds the architecture only; load it with "
                 f"model_from_{kind.lower()}() and then model.load_weights() from the weights file saved "
                 f"beside it (gpunet demo writes model.weights.h5).")
    return "\n".join(lines)
