"""A layer's constructor arguments as Keras spells them: ``dtype``, the input-shape arguments and
``weights``."""
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


_INPUT_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool")


def input_dtype_name(dtype):
    """An ``Input``'s dtype: a float type as any layer's, or an integer type (token ids for an
    Embedding: ``Input(shape=(None,), dtype="int32")``), kept for its config and summary."""
    name = getattr(dtype, "name", None) or getattr(dtype, "__name__", None) or (None if dtype is None else str(dtype))
    return name if name in _INPUT_DTYPES else _dtype_name(dtype)


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


def set_initial_weights(layer):
    """The ``weights=`` a layer was made with (Keras 2's base-Layer argument), set once its build made
    its weights, as tf.keras 2 sets them; a list that does not match says what was expected."""
    weights, layer._initial_weights = getattr(layer, "_initial_weights", None), None
    if weights is not None:
        layer.set_weights(weights)


def weight_arguments(owner, args, kwargs, keras2_order, keras3_order):
    """``add_weight``'s arguments by name, its positional ones read in tf.keras 2's order
    (``keras2_order``: a name first) or, where the first is a shape, in Keras 3's (``keras3_order``)."""
    order = keras3_order if args and args[0] is not None and not isinstance(args[0], str) else keras2_order
    if len(args) > len(order):
        raise TypeError(f"{owner}.add_weight takes at most {len(order)} positional arguments ({', '.join(order)}), "
                        f"received {len(args)}")
    named = dict(kwargs)
    for key, value in zip(order, args):
        if key in named:
            raise TypeError(f"{owner}.add_weight got multiple values for argument {key!r}")
        named[key] = value
    return named
