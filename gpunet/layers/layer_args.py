"""A layer's constructor arguments as Keras spells them: ``dtype`` and the input-shape arguments."""
from .. import backend as B


def _dtype_name(dtype):
    if dtype is None:
        return B.floatx()
    if isinstance(dtype, dict):  # Keras 3 DTypePolicy / Keras 2 Policy dict
        dtype = dtype.get("config", {}).get("name", B.floatx())
    name = getattr(dtype, "name", None) or getattr(dtype, "__name__", None) or str(dtype)
    if name.startswith("mixed_"):
        name = "float32"
    if name not in ("float16", "float32", "float64"):
        raise ValueError(f"Unsupported layer dtype {dtype!r}: expected 'float16', 'float32' or 'float64'.")
    return name


def _batch_input_shape(kwargs):
    """Keras's input-shape arguments, normalized to a batch shape tuple or None."""
    if kwargs.get("batch_input_shape") is not None:
        return tuple(kwargs["batch_input_shape"])
    if kwargs.get("batch_shape") is not None:
        return tuple(kwargs["batch_shape"])
    batch = kwargs.get("batch_size")
    if kwargs.get("input_shape") is not None:
        return (batch,) + tuple(kwargs["input_shape"])
    if kwargs.get("input_dim") is not None:
        return (batch, int(kwargs["input_dim"]))
    return None
