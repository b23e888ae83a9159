"""``keras.engine.base_layer`` (Keras 2.2+, tf.keras 2): `Layer` and `InputSpec`."""
from ..layers import InputSpec, Layer

__all__ = ["InputSpec", "Layer"]
