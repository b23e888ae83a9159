"""Keras utilities (``gpunet.utils``)."""
import random as _pyrandom

import numpy

from .backend import random as _random
from .callbacks.progbar import Progbar


def set_random_seed(seed):
    """Seed gpunet, NumPy and Python's ``random`` at once (Keras's ``utils.set_random_seed``).

    Same seed: same initial weights, shuffles, dropout masks and trained weights, bit for bit on the CPU.
    """
    _random.set_seed(seed)
    numpy.random.seed(seed % 2**32)
    _pyrandom.seed(seed)


def to_categorical(y, num_classes=None, dtype="float32"):
    """One-hot encode integer class labels (Keras's ``to_categorical``)."""
    y = numpy.asarray(y, dtype="int64")
    shape = y.shape
    if shape and shape[-1] == 1 and len(shape) > 1:
        shape = shape[:-1]
    y = y.reshape(-1)
    if num_classes is None:
        num_classes = int(y.max()) + 1 if y.size else 0
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"to_categorical labels must lie in [0, {num_classes - 1}], received {y.min()}..{y.max()}")
    out = numpy.zeros((y.shape[0], num_classes), dtype=dtype)
    out[numpy.arange(y.shape[0]), y] = 1
    return out.reshape(shape + (num_classes,))


def register_serializable(package="Custom", name=None):
    """Class decorator: make a custom layer, loss or activation loadable without ``custom_objects``
    (Keras 3's ``keras.saving.register_keras_serializable``)."""
    from .saving.registry import register_serializable as _register
    return _register(package=package, name=name)


def custom_object_scope(*scopes):
    """Context manager in which the given ``{"Name": cls}`` dicts resolve like ``custom_objects``."""
    from .saving.registry import custom_object_scope as _scope
    return _scope(*scopes)
