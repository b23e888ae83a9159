"""gpunet: a Keras-compatible deep-learning library on CuPy (GPU) or NumPy (CPU).

Swap ``keras`` for ``gpunet`` in the import lines::

    from gpunet.models import Sequential
    from gpunet.layers import Dense
"""
__version__ = "0.1.0"

from . import backend
from . import activations, initializers, regularizers, constraints, losses, metrics, optimizers
from . import layers, callbacks, models, utils, datasets, preprocessing
from . import config, random, ops, saving  # (Keras 3's keras.config, keras.random, keras.ops, keras.saving)
from . import mixed_precision
from . import applications
from .mixed_precision import DTypePolicy, FloatDTypePolicy
from .variables import Variable
from .autodiff import GradientTape  # (TensorFlow's tf.GradientTape, for a training loop of your own)
from .layers import Input, InputSpec, Layer
from .layers.symbolic import KerasTensor
from .losses import Loss
from .metrics import Metric
from .optimizers import Optimizer
from .initializers import Initializer
from .regularizers import Regularizer
from .models import Sequential, Model
from .utils import register_serializable


def version():
    """gpunet's version (Keras 3's ``keras.version()`` gives Keras's)."""
    return __version__


def name_scope(name, caller=None, deduplicate=True, override_parent=None):
    """Keras 3's ``with keras.name_scope(name):`` (its other arguments taken): gpunet names nothing by it
    (`gpunet.backend.name_scope`)."""
    return backend.name_scope(name)


__all__ = ["backend", "activations", "initializers", "regularizers", "constraints", "losses", "metrics",
           "optimizers", "layers", "callbacks", "models", "utils", "datasets", "preprocessing", "config", "random",
           "ops", "saving", "Input", "InputSpec", "Layer", "KerasTensor", "Loss", "Metric", "Optimizer", "Initializer",
           "Regularizer", "Sequential", "Model", "register_serializable", "version", "name_scope", "__version__",
           "mixed_precision", "DTypePolicy", "FloatDTypePolicy", "Variable", "GradientTape"]
