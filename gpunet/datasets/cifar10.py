"""CIFAR-10 small images (``gpunet.datasets.cifar10``, Keras's ``datasets.cifar10``)."""
import os

import numpy as np

from .. import backend
from ._safe_load import cached_file, load_batch

_ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
_FILE_HASH = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"


def load_data(cache_dir=None):
    """Load CIFAR-10: 50,000 training and 10,000 test 32x32 colour images in 10 classes
    (0 airplane, 1 automobile, 2 bird, 3 cat, 4 deer, 5 dog, 6 frog, 7 horse, 8 ship, 9 truck).

    The archive is extracted (safely) to ``cache_dir/datasets/cifar-10-batches-py``; its pickled
    batches are read with the restricted unpickler (NumPy arrays only).

    Args:
        cache_dir: the cache directory; None: ``~/.keras`` (or ``$KERAS_HOME``).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 arrays of shapes ``(50000, 32, 32, 3)``,
        ``(50000, 1)``, ``(10000, 32, 32, 3)`` and ``(10000, 1)`` (channels first,
        ``(n, 3, 32, 32)``, when ``gpunet.backend.image_data_format()`` is ``'channels_first'``).
    """
    path = cached_file("cifar-10-batches-py", _ORIGIN, _FILE_HASH, cache_dir, untar=True)
    # tf.keras fills preallocated uint8 arrays of 5 x 10,000; concatenating gives the same arrays
    # without assuming the batch size.
    batches = [load_batch(os.path.join(path, f"data_batch_{i}")) for i in range(1, 6)]
    x_train = np.concatenate([x for x, _ in batches]).astype("uint8", copy=False)
    y_train = np.concatenate([np.asarray(y) for _, y in batches]).astype("uint8", copy=False)
    x_test, y_test = load_batch(os.path.join(path, "test_batch"))

    y_train = np.reshape(y_train, (len(y_train), 1))
    y_test = np.reshape(y_test, (len(y_test), 1))
    if backend.image_data_format() == "channels_last":
        x_train = x_train.transpose(0, 2, 3, 1)
        x_test = x_test.transpose(0, 2, 3, 1)
    return (x_train, y_train), (x_test.astype(x_train.dtype), y_test.astype(y_train.dtype))
