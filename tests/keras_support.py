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


def tf_keras_or_skip():
    """The ``tf_keras`` module (Keras 2.x on TensorFlow), or a skip saying why not. tf_keras imports
    Keras 3 too: KERAS_BACKEND is set to torch first, as `keras_on_torch` wants it."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("tf_keras", reason="tf_keras 2.x is not installed (pip install tf_keras)")
