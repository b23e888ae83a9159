"""Reuters newswire topics (``gpunet.datasets.reuters``, Keras's ``datasets.reuters``)."""
import json

import numpy as np

from ._safe_load import cached_file, load_npz
from .imdb import _legacy_num_words, _limit_words, _offset, _remove_long_seq, _shuffled

_BASE = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
_ORIGIN = _BASE + "reuters.npz"
_FILE_HASH = "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916"
_WORD_INDEX_ORIGIN = _BASE + "reuters_word_index.json"
_WORD_INDEX_HASH = "4d44cc38712099c9e383dc6e5f11a921"

_LABEL_NAMES = (
    "cocoa", "grain", "veg-oil", "earn", "acq", "wheat", "copper", "housing", "money-supply", "coffee",
    "sugar", "trade", "reserves", "ship", "cotton", "carcass", "crude", "nat-gas", "cpi", "money-fx",
    "interest", "gnp", "meal-feed", "alum", "oilseed", "gold", "tin", "strategic-metal", "livestock",
    "retail", "ipi", "iron-steel", "rubber", "heat", "jobs", "lei", "bop", "zinc", "orange", "pet-chem",
    "dlr", "gas", "silver", "wpi", "hog", "lead",
)


def load_data(path="reuters.npz", num_words=None, skip_top=0, maxlen=None, test_split=0.2, seed=113,
              start_char=1, oov_char=2, index_from=3, cache_dir=None, **kwargs):
    """Load the Reuters newswires: 11,228 newswires labelled over 46 topics, each a list of word
    indices ranked by frequency (0 is padding).

    Args:
        path: where to cache the file, relative to ``cache_dir/datasets``.
        test_split: fraction of the newswires kept for the test set.
        num_words, skip_top, maxlen, seed, start_char, oov_char, index_from, cache_dir, **kwargs:
            as in ``gpunet.datasets.imdb.load_data`` (words cut by ``num_words``/``skip_top``
            become ``oov_char``; ``maxlen`` drops sequences of that length or more).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: object arrays of lists of ints, and int labels
        (topic indices; ``get_label_names()`` names them).
    """
    num_words = _legacy_num_words(num_words, kwargs)
    f = load_npz(cached_file(path, _ORIGIN, _FILE_HASH, cache_dir))
    xs, labels = _shuffled(np.random.RandomState(seed), f["x"], f["y"])
    xs = _offset(xs, start_char, index_from)
    if maxlen:
        xs, labels = _remove_long_seq(maxlen, xs, labels)
    xs = _limit_words(xs, num_words, skip_top, oov_char)

    idx = int(len(xs) * (1 - test_split))
    x_train, y_train = np.array(xs[:idx], dtype="object"), np.array(labels[:idx])
    x_test, y_test = np.array(xs[idx:], dtype="object"), np.array(labels[idx:])
    return (x_train, y_train), (x_test, y_test)


def get_word_index(path="reuters_word_index.json"):
    """The ``{word: index}`` dict of the Reuters data (indices 0-2 are reserved: add
    ``index_from=3`` to match ``load_data``)."""
    with open(cached_file(path, _WORD_INDEX_ORIGIN, _WORD_INDEX_HASH, None)) as f:
        return json.load(f)


def get_label_names():
    """The 46 topic names, indexed as the labels of ``load_data``."""
    return _LABEL_NAMES
