"""``keras.engine.sequential`` (Keras 2.2+, tf.keras 2): `Sequential`."""
from ..models import Sequential

__all__ = ["Sequential"]
