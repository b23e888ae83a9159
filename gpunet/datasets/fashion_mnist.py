"""Fashion-MNIST (``gpunet.datasets.fashion_mnist``, Keras's ``datasets.fashion_mnist``)."""
import gzip
import os

import numpy as np

from ._safe_load import cached_file

_BASE = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
_FILES = ["train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz",
          "t10k-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz"]


def _read(path, offset):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def load_data(cache_dir=None):
    """Load Fashion-MNIST: 60,000 training and 10,000 test 28x28 grayscale images of 10 kinds of
    clothing (0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal, 6 Shirt,
    7 Sneaker, 8 Bag, 9 Ankle boot).

    The four gzip idx files are cached in ``cache_dir/datasets/fashion-mnist`` (unhashed, as in
    tf.keras).

    Args:
        cache_dir: the cache directory; None: ``~/.keras`` (or ``$KERAS_HOME``).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 arrays of shapes ``(60000, 28, 28)``,
        ``(60000,)``, ``(10000, 28, 28)`` and ``(10000,)``.

    License: Fashion-MNIST is copyright Zalando SE, under the MIT license.
    """
    dirname = os.path.join("datasets", "fashion-mnist")
    paths = [cached_file(fname, _BASE + fname, cache_dir=cache_dir, cache_subdir=dirname) for fname in _FILES]

    y_train = _read(paths[0], 8)
    x_train = _read(paths[1], 16).reshape(len(y_train), 28, 28)
    y_test = _read(paths[2], 8)
    x_test = _read(paths[3], 16).reshape(len(y_test), 28, 28)
    return (x_train, y_train), (x_test, y_test)
