"""Keras layers (``from gpunet.layers import Dense``)."""
from .base import Layer, Weight
from .core import InputLayer, Input, Dense, Activation, Dropout, Flatten, Reshape
from .normalization import BatchNormalization
from .lambda_layer import Lambda

__all__ = ["Layer", "Weight", "InputLayer", "Input", "Dense", "Activation", "Dropout", "Flatten", "Reshape",
           "BatchNormalization", "Lambda"]
