"""MNIST handwritten digits (``gpunet.datasets.mnist``, Keras's ``datasets.mnist``)."""
from ._safe_load import cached_file, load_npz

_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
_FILE_HASH = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"


def load_data(path="mnist.npz", cache_dir=None):
    """Load MNIST: 60,000 training and 10,000 test 28x28 grayscale images of the 10 digits.

    Args:
        path: where to cache the file, relative to ``cache_dir/datasets``.
        cache_dir: the cache directory; None: ``~/.keras`` (or ``$KERAS_HOME``).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 arrays of shapes ``(60000, 28, 28)``,
        ``(60000,)``, ``(10000, 28, 28)`` and ``(10000,)`` (pixels 0-255, labels 0-9).

    License: Yann LeCun and Corinna Cortes hold the copyright of MNIST, a derivative work of the
    NIST datasets, made available under the Creative Commons Attribution-Share Alike 3.0 license.
    """
    f = load_npz(cached_file(path, _ORIGIN, _FILE_HASH, cache_dir))
    return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])
