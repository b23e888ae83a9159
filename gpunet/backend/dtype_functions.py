"""Keras 3's dtype helpers (``keras.backend.standardize_dtype``, ``is_float_dtype``, ``is_int_dtype``,
``result_type``; ``keras.utils.standardize_dtype``): dtype names as strings."""
import numpy as _numpy

_PYTHON = {bool: "bool", int: "int64", float: "float32", str: "string", "int": "int64", complex: "complex128"}
_FLOATS = ("float16", "bfloat16", "float32", "float64")


def standardize_dtype(dtype):
    """The dtype's name (``"float32"``, ``"int64"``, ...): None is ``floatx()``, Python's ``float`` float32 and
    ``int`` int64 (TensorFlow's Keras 3 choice; NumPy's default integer), NumPy/CuPy dtypes by name."""
    from . import floatx
    if dtype is None:
        return floatx()
    dtype = _PYTHON.get(dtype, dtype) if isinstance(dtype, (type, str)) else dtype
    if dtype in ("string", "bfloat16"):
        return dtype
    try:
        return _numpy.dtype(dtype).name
    except TypeError:
        raise ValueError(f"Invalid dtype: {dtype!r}") from None


def is_float_dtype(dtype):
    """True for float16, bfloat16, float32 and float64."""
    return standardize_dtype(dtype) in _FLOATS


def is_int_dtype(dtype):
    """True for the signed and unsigned integer types."""
    return standardize_dtype(dtype).startswith(("int", "uint"))


def result_type(*dtypes):
    """The dtype an operation on these dtypes gives, as Keras 3 promotes them: an integer with a float is that
    float (int32 with float32 is float32, where NumPy would give float64); otherwise NumPy's promotion. No
    dtypes give ``floatx()``. float64 stays float64 (Keras 3 gives float32 for float16 with float64: JAX's
    rule when 64-bit types are off)."""
    names = [standardize_dtype(d) for d in dtypes]
    if not names:
        return standardize_dtype(None)
    floats = [n for n in names if n in _FLOATS]
    if floats:
        if "bfloat16" in floats and "float16" in floats:  # (neither holds the other)
            floats.append("float32")
        return max(floats, key=_FLOATS.index)
    return _numpy.result_type(*names).name


__all__ = ["standardize_dtype", "is_float_dtype", "is_int_dtype", "result_type"]
