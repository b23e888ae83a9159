"""Keras 2's ``keras.engine`` import paths, for code written against them
(``from keras.engine.topology import Layer``, Keras 2.0's custom-layer guide;
``from keras.engine import InputSpec``): the same classes as `gpunet.layers` and `gpunet.models`."""
from ..layers import InputSpec, Layer
from ..layers.input_layer import Input, InputLayer
from ..models import Model
from .network import get_source_inputs

__all__ = ["InputSpec", "Layer", "Input", "InputLayer", "Model", "get_source_inputs"]
