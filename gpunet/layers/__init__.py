"""Keras layers (``from gpunet.layers import Dense``)."""
from .base import Layer, Weight
from .core import InputLayer, Input, Dense, Activation, Dropout, Flatten, Reshape
from .normalization import BatchNormalization

__all__ = ["Layer", "Weight", "InputLayer", "Input", "Dense", "Activation", "Dropout", "Flatten", "Reshape",
           "BatchNormalization"]
