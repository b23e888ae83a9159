"""Keras 2's ``keras.utils.np_utils`` path (old tutorials import ``to_categorical`` from here)."""
from . import normalize, to_categorical

__all__ = ["to_categorical", "normalize"]
