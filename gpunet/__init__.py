"""gpunet: a Keras-compatible deep-learning library on CuPy (GPU) or NumPy (CPU).

Swap ``keras`` for ``gpunet`` in the import lines::

    from gpunet.models import Sequential
    from gpunet.layers import Dense
"""
__version__ = "0.1.0"

from . import backend
from . import activations, initializers, regularizers, constraints, losses, metrics, optimizers
from . import layers, callbacks, models, utils, datasets, preprocessing
from . import config, random  # (Keras 3's keras.config and keras.random)
from .layers import Input
from .models import Sequential, Model
from .utils import register_serializable

__all__ = ["backend", "activations", "initializers", "regularizers", "constraints", "losses", "metrics",
           "optimizers", "layers", "callbacks", "models", "utils", "datasets", "preprocessing", "config", "random",
           "Input", "Sequential", "Model", "register_serializable", "__version__"]
