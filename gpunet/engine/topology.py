"""``keras.engine.topology`` (Keras 2.0-2.2): `Layer`, `InputSpec`, `Input`, `InputLayer`, and
`Network`/`Container`, the functional graph (gpunet's functional `Model`)."""
from ..layers import InputSpec, Layer
from ..layers.input_layer import Input, InputLayer
from .network import Container, Network, get_source_inputs

__all__ = ["InputSpec", "Layer", "Input", "InputLayer", "Container", "Network", "get_source_inputs"]
