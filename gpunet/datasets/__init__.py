"""Keras 2's built-in datasets (``gpunet.datasets``): ``mnist``, ``fashion_mnist``, ``boston_housing``,
``imdb``, ``reuters``, ``cifar10`` and ``cifar100``.

Each module's ``load_data`` has tf.keras 2's signature, defaults, download origin, file hash and
return values (NumPy arrays of the same shapes and dtypes), and shares Keras's cache
(``~/.keras/datasets``, or ``$KERAS_HOME/datasets``), so files that Keras already downloaded are
reused. Downloads go through ``gpunet.utils.get_file`` (verified, atomic). Files are read without
unrestricted pickle: see ``gpunet.datasets._safe_load``.
"""
from . import boston_housing, cifar10, cifar100, fashion_mnist, imdb, mnist, reuters  # noqa: F401

__all__ = ["boston_housing", "cifar10", "cifar100", "fashion_mnist", "imdb", "mnist", "reuters"]
