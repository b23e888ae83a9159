"""``keras.engine.input_layer`` (Keras 2.2+, tf.keras 2): `Input` and `InputLayer`."""
from ..layers.input_layer import Input, InputLayer

__all__ = ["Input", "InputLayer"]
