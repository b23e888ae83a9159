"""Keras utilities (``gpunet.utils``)."""
import random as _pyrandom

import numpy

from ..backend import random as _random
from ..callbacks.progbar import Progbar  # noqa: F401 - keras.utils.Progbar
from .data_utils import get_file  # noqa: F401 - keras.utils.get_file


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


class Sequence:
    """Batches by index (Keras's ``keras.utils.Sequence``): subclass it with ``__len__`` (batches
    per epoch) and ``__getitem__(index)`` returning ``(x, y)`` or ``(x, y, sample_weight)``; fit,
    evaluate and predict take it as ``x`` (fit shuffles the batch order each epoch unless
    ``shuffle=False``, then calls ``on_epoch_end``)."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(index), returning a batch")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __len__(), the batches per epoch")

    def on_epoch_end(self):
        """Called at each epoch's end (reshuffle your samples here if you like)."""

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]


def register_serializable(package="Custom", name=None):
    """Class decorator: make a custom layer, loss or activation loadable without ``custom_objects``
    (Keras 3's ``keras.saving.register_keras_serializable``)."""
    from ..saving.registry import register_serializable as _register
    return _register(package=package, name=name)


register_keras_serializable = register_serializable  # Keras's own name (tf.keras 2.x utils, Keras 3 saving)


def get_registered_name(obj):
    """The name a config records for ``obj``: ``"package>name"`` when registered, else its ``__name__``."""
    from ..saving.registry import get_registered_name as _name
    return _name(obj)


def get_registered_object(name, custom_objects=None, module_objects=None):
    """The class or function ``name`` stands for in ``custom_objects``, the active scopes, the registered
    objects, then ``module_objects``; None when none has it (Keras's ``get_registered_object``)."""
    from ..saving.registry import get_registered_object as _object
    found = _object(name, custom_objects)
    return found if found is not None else (module_objects or {}).get(name)


def custom_object_scope(*scopes):
    """Context manager in which the given ``{"Name": cls}`` dicts resolve like ``custom_objects``."""
    from ..saving.registry import custom_object_scope as _scope
    return _scope(*scopes)


def to_ordinal(y, num_classes=None, dtype="float32"):
    """Class indices (``(n,)`` or ``(n, 1)``) as ordinal-regression targets, tf.keras 2's ``to_ordinal``: class k
    gives ``num_classes - 1`` columns, the first k of them 1 (``to_ordinal([0, 2], 3)`` is
    ``[[0, 0], [1, 1]]``). ``num_classes`` defaults to the largest index + 1."""
    y = numpy.array(y, dtype="int")
    shape = y.shape
    if shape and shape[-1] == 1 and len(shape) > 1:
        shape = shape[:-1]
    y = y.reshape(-1)
    if y.size and (y.min() < 0 or (num_classes and y.max() >= num_classes)):
        raise ValueError(f"to_ordinal expects class indices in [0, num_classes={num_classes}), received values "
                         f"from {y.min()} to {y.max()}")
    if not num_classes:
        num_classes = int(y.max()) + 1 if y.size else 1
    ordinal = (numpy.arange(num_classes - 1)[None, :] < y[:, None]).astype(dtype)
    return ordinal.reshape(shape + (num_classes - 1,))


def normalize(x, axis=-1, order=2):
    """``x`` divided by its ``order``-norm along ``axis`` (Keras's ``utils.normalize``; zero norms stay 0)."""
    x = numpy.asarray(x)
    norm = numpy.atleast_1d(numpy.linalg.norm(x, order, axis))
    norm[norm == 0] = 1
    return x / numpy.expand_dims(norm, axis)


def get_custom_objects():
    """The global ``{name: object}`` table that loading consults after ``custom_objects`` (Keras's
    ``utils.get_custom_objects``): ``get_custom_objects()["my_loss"] = my_loss`` registers it."""
    from ..saving.registry import _GLOBAL_OBJECTS
    return _GLOBAL_OBJECTS


def plot_model(model, to_file="model.png", **kwargs):
    """Keras's ``plot_model`` draws with pydot and Graphviz; gpunet has no such dependency. As
    tf.keras does when pydot is missing, this says so and returns None (``model.summary()``
    prints the same structure as text)."""
    print("You must install pydot (`pip install pydot`) and install graphviz "
          "(see instructions at https://graphviz.gitlab.io/download/) for plot_model to work. "
          "gpunet does not draw models; model.summary() describes it as text.")


# At the end: gpunet.preprocessing's TimeseriesGenerator subclasses Sequence above.
from ..preprocessing.padding import pad_sequences  # noqa: E402,F401 - keras.utils.pad_sequences (tf.keras 2.9+)
# Keras 2's submodules, reachable as attributes after ``import gpunet`` as Keras 2's were
from . import np_utils, generic_utils, layer_utils, vis_utils  # noqa: E402,F401
from .py_dataset import PyDataset, pack_x_y_sample_weight, unpack_x_y_sample_weight  # noqa: E402,F401 (Keras 3's)
from ..preprocessing.timeseries_dataset import timeseries_dataset_from_array  # noqa: E402,F401 (Keras's)
from .image_dataset import image_dataset_from_directory  # noqa: E402,F401 (Keras's)
from .text_dataset import text_dataset_from_directory  # noqa: E402,F401 (Keras's)
from .dataset_split import split_dataset  # noqa: E402,F401 (Keras's)
from ..preprocessing.image_utils import array_to_img, img_to_array, load_img, save_img  # noqa: E402,F401 (tf.keras 2.9+)
from ..backend import clear_session, standardize_dtype  # noqa: E402,F401 (Keras 3's keras.utils)
from ..layers.call_args import is_keras_tensor  # noqa: E402,F401 (Keras 3's: False for anything else)
from ..engine.network import get_source_inputs  # noqa: E402,F401 (tf.keras 2's keras.utils.get_source_inputs)
from .io_utils import (disable_interactive_logging, enable_interactive_logging,  # noqa: E402,F401
                       is_interactive_logging_enabled)
from .generic_utils import CustomObjectScope, serialize_keras_object  # noqa: E402,F401
from .generic_utils import keras3_deserialize_keras_object as deserialize_keras_object  # noqa: E402,F401
