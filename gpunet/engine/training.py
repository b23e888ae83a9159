"""``keras.engine.training`` (Keras 2): `Model`."""
from ..models import Model

__all__ = ["Model"]
