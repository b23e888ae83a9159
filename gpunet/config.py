"""Keras 3's ``keras.config``: the float type, epsilon and image data format gpunet's backend keeps
(``gpunet.backend.floatx`` and the rest, Keras 2's names), and which backend runs."""
from . import backend as _B


def floatx():
    """The default float type (``"float32"``)."""
    return _B.floatx()


def set_floatx(value):
    """Set the default float type (``"float16"``, ``"float32"`` or ``"float64"``)."""
    _B.set_floatx(value)


def epsilon():
    """The fuzz factor of losses and layers (1e-7)."""
    return _B.epsilon()


def set_epsilon(value):
    _B.set_epsilon(value)


def image_data_format():
    return _B.image_data_format()


def set_image_data_format(data_format):
    _B.set_image_data_format(data_format)


def backend():
    """The backend gpunet computes on now: ``"cupy"`` or ``"numpy"`` (Keras 3 names its own: "torch", ...)."""
    return _B.get_backend().name


def enable_unsafe_deserialization():
    """Keras 3 lets ``load_model`` run a Lambda's code saved in a file after this; gpunet never runs code from a
    file (a Lambda's function comes from ``custom_objects``), so it changes nothing."""


def enable_traceback_filtering():
    """Keras 3 trims its own frames from tracebacks; gpunet shows them whole: nothing to change."""


def disable_traceback_filtering():
    """See `enable_traceback_filtering`."""


def is_traceback_filtering_enabled():
    return False


from .utils.io_utils import (enable_interactive_logging, disable_interactive_logging,  # noqa: E402,F401 (Keras 3's
                             is_interactive_logging_enabled)  # place for them: keras.config)
from .mixed_precision import (set_global_policy as set_dtype_policy,  # noqa: E402,F401 (Keras 3's names)
                              global_policy as dtype_policy)
