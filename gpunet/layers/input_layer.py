"""`InputLayer` and `Input()`: the model's inputs (a symbolic tensor for the functional API)."""
from .base import Layer
from .layer_args import input_dtype_name
from .naming import _name_counts
from . import symbolic


def keras2_input_name():
    """An ``Input()``'s default name as tf.keras 2 makes it, numbered from 1: ``input_1``, ``input_2``, ...
    (Keras 3 says ``input_layer``, ``input_layer_1``; names read from files are taken either way)."""
    n = max(_name_counts.get("input", 0), 1)
    _name_counts["input"] = n + 1
    return f"input_{n}"


class InputLayer(Layer):
    """Declares the model's input shape (Keras's ``InputLayer``); has no weights."""

    def __init__(self, input_shape=None, batch_size=None, dtype=None, name=None, batch_input_shape=None,
                 shape=None, batch_shape=None, sparse=None, ragged=None, **kwargs):
        kwargs.pop("input_tensor", None)
        kwargs.pop("optional", None)
        if shape is not None and input_shape is None:
            input_shape = shape
        if name is None:
            name = keras2_input_name()
        super().__init__(name=name, input_shape=input_shape, batch_size=batch_size,
                         batch_input_shape=batch_input_shape, batch_shape=batch_shape, **kwargs)
        self.dtype = input_dtype_name(dtype)
        if self.batch_input_shape is None:
            raise ValueError("InputLayer needs input_shape=, shape= or batch_input_shape=.")
        self.input_shape = self.output_shape = self.batch_input_shape  # as Keras: built when made
        self.built = True

    def forward(self, x, training=False):
        return x

    def backward(self, dy, need_dx=True):
        return dy

    def get_config(self):
        return {"batch_input_shape": list(self.batch_input_shape), "dtype": self.dtype,
                "sparse": False, "ragged": False, "name": self.name}


def Input(shape=None, batch_size=None, name=None, dtype=None, batch_shape=None, **kwargs):
    """Keras's ``Input(shape=...)``: a symbolic tensor (`KerasTensor`) of that shape, batch
    dimension first. Call layers on it and pass it to ``gpunet.models.Model(inputs, outputs)``, or
    put it first in a Sequential (``Sequential([Input((8,)), Dense(1)])``)."""
    layer = InputLayer(input_shape=shape, batch_size=batch_size, name=name, dtype=dtype,
                       batch_shape=batch_shape, **kwargs)
    return symbolic.input_tensor(layer)
