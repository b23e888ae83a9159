"""CIFAR-100 small images (``gpunet.datasets.cifar100``, Keras's ``datasets.cifar100``)."""
import os

import numpy as np

from .. import backend
from ._safe_load import cached_file, load_batch

_ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
_FILE_HASH = "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"


def load_data(label_mode="fine", cache_dir=None):
    """Load CIFAR-100: 50,000 training and 10,000 test 32x32 colour images in 100 fine classes
    grouped into 20 coarse ones.

    The archive is extracted (safely) to ``cache_dir/datasets/cifar-100-python``; its pickled
    batches are read with the restricted unpickler (NumPy arrays only).

    Args:
        label_mode: ``"fine"`` (100 classes) or ``"coarse"`` (20 superclasses).
        cache_dir: the cache directory; None: ``~/.keras`` (or ``$KERAS_HOME``).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 images of shapes ``(50000, 32, 32, 3)``
        and ``(10000, 32, 32, 3)`` (channels first when ``gpunet.backend.image_data_format()``
        is ``'channels_first'``) and int64 labels of shapes ``(50000, 1)`` and ``(10000, 1)``,
        as tf.keras returns them.
    """
    if label_mode not in ["fine", "coarse"]:
        raise ValueError(f'`label_mode` must be one of `"fine"`, `"coarse"`. Received: label_mode={label_mode}.')
    path = cached_file("cifar-100-python", _ORIGIN, _FILE_HASH, cache_dir, untar=True)
    x_train, y_train = load_batch(os.path.join(path, "train"), label_key=label_mode + "_labels")
    x_test, y_test = load_batch(os.path.join(path, "test"), label_key=label_mode + "_labels")

    y_train = np.reshape(y_train, (len(y_train), 1))
    y_test = np.reshape(y_test, (len(y_test), 1))
    if backend.image_data_format() == "channels_last":
        x_train = x_train.transpose(0, 2, 3, 1)
        x_test = x_test.transpose(0, 2, 3, 1)
    return (x_train, y_train), (x_test, y_test)
