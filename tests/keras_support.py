"""Real Keras 3 on its torch backend for the interop tests (CI's interop extra), or a module-level
skip saying why not."""
import os

import pytest


def keras_on_torch():
    """The ``keras`` module, running on torch; skips the calling test module otherwise."""
    os.environ.setdefault("KERAS_BACKEND", "torch")  # must precede the first `import keras`
    keras = pytest.importorskip("keras", reason="Keras 3 is not installed: pip install keras torch")
    if keras.backend.backend() != "torch":
        pytest.skip(f"Keras runs on {keras.backend.backend()!r}; these tests expect KERAS_BACKEND=torch",
                    allow_module_level=True)
    return keras
