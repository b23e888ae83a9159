"""Backend selection: which array library gpunet computes with.

``set_backend("auto" | "numpy" | "cupy")``, the ``use_backend(...)`` context
manager, or the ``GPUNET_BACKEND`` environment variable. "auto" picks CuPy only
when ``cupy.cuda.is_available()`` is true, else NumPy.
"""
import contextlib
import os

from .base import Backend
from .numpy_backend import NumpyBackend
from .cupy_backend import CupyBackend, cupy_unavailable_reason
from . import random

_BACKENDS = {"numpy": NumpyBackend, "cupy": CupyBackend}
_instances = {}
_current = None
_floatx = "float32"
_epsilon = 1e-7


def _instance(name):
    if name not in _instances:
        _instances[name] = _BACKENDS[name]()
    return _instances[name]


def resolve(name):
    """The backend instance for "auto", "numpy" or "cupy" (or a Backend)."""
    if isinstance(name, Backend):
        return name
    if not isinstance(name, str) or name.lower() not in ("auto", "numpy", "cupy"):
        raise ValueError(f"Unknown backend {name!r}: expected one of 'auto', 'numpy', 'cupy'.")
    name = name.lower()
    if name == "auto":
        name = "cupy" if cupy_unavailable_reason() is None else "numpy"
    return _instance(name)


def set_backend(name):
    """Select the backend for new layers and models; returns it."""
    global _current
    _current = resolve(name)
    return _current


def get_backend():
    """The current backend (chosen from ``GPUNET_BACKEND``, default "auto", on first use)."""
    global _current
    if _current is None:
        _current = resolve(os.environ.get("GPUNET_BACKEND", "auto") or "auto")
    return _current


def backend_for(array):
    """The backend that computes on ``array``: the current one where its arrays are of that kind,
    else NumPy's for a NumPy array and CuPy's for a CuPy array (a model built under one backend
    and used under another: its regularizers and constraints follow its weights)."""
    import numpy
    current = get_backend()
    if isinstance(array, current.xp.ndarray):
        return current
    if isinstance(array, numpy.ndarray):
        return resolve("numpy")
    if type(array).__module__.startswith("cupy"):
        return resolve("cupy")
    return current


def backend():
    """Keras's ``backend.backend()``: the current backend's name."""
    return get_backend().name


@contextlib.contextmanager
def use_backend(name):
    """Use a backend inside a ``with`` block, then restore the previous one."""
    global _current
    previous = _current
    _current = resolve(name)
    try:
        yield _current
    finally:
        _current = previous


def clear_session():
    """Keras's ``K.clear_session()``: forget generated layer names (the next model's layers are
    ``dense``, ``dense_1``, ... again), as K-fold and grid-search loops expect, the ``K.get_uid``
    counters and a learning phase set with ``K.set_learning_phase``. Models already made keep
    working; gpunet has no graph to reset."""
    from .phase_functions import reset_phase
    from .variable_functions import reset_uids
    reset_uids()
    reset_phase()


def floatx():
    """The default float type as a string, "float32" unless set."""
    return _floatx


def set_floatx(value):
    global _floatx
    if value not in ("float16", "float32", "float64"):
        raise ValueError(f"Unknown floatx {value!r}: expected 'float16', 'float32' or 'float64'.")
    _floatx = value


def epsilon():
    """Keras's fuzz factor (1e-7)."""
    return _epsilon


def set_epsilon(value):
    global _epsilon
    _epsilon = float(value)


def get_value(x):
    """Keras's ``K.get_value``: a number from a variable-like value."""
    return x.numpy() if hasattr(x, "numpy") else x


def set_value(obj, value):
    """Keras's ``K.set_value(model.optimizer.lr, v)`` works on gpunet's hyperparameters."""
    if not hasattr(obj, "assign"):
        raise TypeError(f"set_value expects a gpunet variable (with .assign), received {type(obj).__name__}")
    obj.assign(value)


# Keras 2's K.* tensor functions (K.mean, K.square, ...). Imported last, and they shadow builtins
# (sum, max, abs, ...) in this module's namespace: code in this file must not use those builtins.
from . import keras_functions as _keras_functions  # noqa: E402
from .keras_functions import *  # noqa: E402,F401,F403
from .graph_functions import function, learning_phase  # noqa: E402
from . import keras_functions_more as _more, variable_functions as _variables, phase_functions as _phases  # noqa: E402
from .keras_functions_more import *  # noqa: E402,F401,F403
from .variable_functions import *  # noqa: E402,F401,F403
from .phase_functions import *  # noqa: E402,F401,F403
from .dtype_functions import standardize_dtype, is_float_dtype, is_int_dtype, result_type  # noqa: E402,F401
from . import keras_image_functions as _image  # noqa: E402
from .keras_image_functions import *  # noqa: E402,F401,F403

__all__ = _keras_functions.__all__ + _more.__all__ + _variables.__all__ + _phases.__all__ + _image.__all__ + [
    "Backend", "NumpyBackend", "CupyBackend", "set_backend", "get_backend", "use_backend", "floatx", "set_floatx",
    "epsilon", "set_epsilon", "random", "backend", "resolve", "get_value", "set_value", "cupy_unavailable_reason",
    "clear_session", "function", "learning_phase", "standardize_dtype", "is_float_dtype", "is_int_dtype",
    "result_type"]
__all__ += ["ctc_batch_cost", "ctc_decode"]
from .keras_ctc_functions import ctc_batch_cost, ctc_decode  # noqa: E402 (tf.keras 2's K.ctc_*)
