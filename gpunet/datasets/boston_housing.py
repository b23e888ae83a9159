"""Boston housing prices (``gpunet.datasets.boston_housing``, Keras's ``datasets.boston_housing``)."""
import numpy as np

from ._safe_load import cached_file, load_npz

_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/boston_housing.npz"
_FILE_HASH = "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5"


def load_data(path="boston_housing.npz", test_split=0.2, seed=113, cache_dir=None):
    """Load the Boston housing regression data (13 attributes of houses around Boston in the
    late 1970s; targets are median values in k$).

    **Warning** (as Keras says): one attribute, "B", may appear to assume that racial
    self-segregation influences house prices; use the data only to illustrate ethical issues.

    Args:
        path: where to cache the file, relative to ``cache_dir/datasets``.
        test_split: fraction of the samples kept for the test set, in ``[0, 1)``.
        seed: seed of the shuffle made before the split.
        cache_dir: the cache directory; None: ``~/.keras`` (or ``$KERAS_HOME``).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: float64 arrays of shapes ``(n, 13)`` and ``(n,)``.
    """
    # tf.keras asserts this; an assert vanishes under `python -O`.
    if not 0 <= test_split < 1:
        raise ValueError(f"test_split must lie in [0, 1), received {test_split!r}")
    f = load_npz(cached_file(path, _ORIGIN, _FILE_HASH, cache_dir))
    x, y = f["x"], f["y"]

    indices = np.arange(len(x))
    np.random.RandomState(seed).shuffle(indices)
    x, y = x[indices], y[indices]
    split = int(len(x) * (1 - test_split))
    return (np.array(x[:split]), np.array(y[:split])), (np.array(x[split:]), np.array(y[split:]))
