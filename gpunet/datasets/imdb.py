"""IMDB movie-review sentiment (``gpunet.datasets.imdb``, Keras's ``datasets.imdb``).

Also holds the sequence handling that ``reuters`` shares (as tf.keras's two modules do alike).
"""
import json
import logging

import numpy as np

from ._safe_load import cached_file, load_npz

_BASE = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
_ORIGIN = _BASE + "imdb.npz"
_FILE_HASH = "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"
_WORD_INDEX_ORIGIN = _BASE + "imdb_word_index.json"
_WORD_INDEX_HASH = "bfafd718b763782e994055a2d397834f"

log = logging.getLogger("gpunet.datasets")


def _legacy_num_words(num_words, kwargs):
    if "nb_words" in kwargs:
        log.warning("The `nb_words` argument in `load_data` has been renamed `num_words`.")
        num_words = kwargs.pop("nb_words")
    if kwargs:
        raise TypeError(f"Unrecognized keyword arguments: {kwargs}.")
    return num_words


def _shuffled(rng, x, labels):
    indices = np.arange(len(x))
    rng.shuffle(indices)
    return x[indices], labels[indices]


def _offset(xs, start_char, index_from):
    if start_char is not None:
        return [[start_char] + [w + index_from for w in x] for x in xs]
    if index_from:
        return [[w + index_from for w in x] for x in xs]
    return xs


def _remove_long_seq(maxlen, seq, label):
    """The sequences shorter than ``maxlen`` and their labels, as lists."""
    kept = [(x, y) for x, y in zip(seq, label) if len(x) < maxlen]
    return [x for x, _ in kept], [y for _, y in kept]


def _limit_words(xs, num_words, skip_top, oov_char):
    # As tf.keras: num_words=None keeps words below the largest index, not including it.
    if not num_words:
        num_words = max(max(x) for x in xs)
    if oov_char is not None:
        return [[w if skip_top <= w < num_words else oov_char for w in x] for x in xs]
    return [[w for w in x if skip_top <= w < num_words] for x in xs]


def load_data(path="imdb.npz", num_words=None, skip_top=0, maxlen=None, seed=113, start_char=1, oov_char=2,
              index_from=3, cache_dir=None, **kwargs):
    """Load the IMDB reviews: 25,000 training and 25,000 test reviews labelled by sentiment
    (1 positive, 0 negative), each a list of word indices ranked by frequency (index 3 is the
    third most frequent word once ``index_from=3`` is added; 0 is padding).

    Args:
        path: where to cache the file, relative to ``cache_dir/datasets``.
        num_words: keep only the ``num_words`` most frequent words (others become ``oov_char``);
            None keeps all.
        skip_top: the most frequent words to replace by ``oov_char``.
        maxlen: drop sequences of ``maxlen`` words or more (counting ``start_char``); None keeps all.
        seed: seed of the shuffle.
        start_char: index marking each sequence's start (None: no mark).
        oov_char: index replacing the words cut by ``num_words``/``skip_top`` (None: drop them).
        index_from: offset added to every word index.
        cache_dir: the cache directory; None: ``~/.keras`` (or ``$KERAS_HOME``).
        **kwargs: ``nb_words`` (the old name of ``num_words``).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: object arrays of lists of ints, and int labels.

    Raises:
        ValueError: when ``maxlen`` leaves no training or no test sequence.
    """
    num_words = _legacy_num_words(num_words, kwargs)
    f = load_npz(cached_file(path, _ORIGIN, _FILE_HASH, cache_dir))
    rng = np.random.RandomState(seed)
    x_train, labels_train = _shuffled(rng, f["x_train"], f["y_train"])
    x_test, labels_test = _shuffled(rng, f["x_test"], f["y_test"])
    x_train = _offset(x_train, start_char, index_from)
    x_test = _offset(x_test, start_char, index_from)

    if maxlen:
        x_train, labels_train = _remove_long_seq(maxlen, x_train, labels_train)
        x_test, labels_test = _remove_long_seq(maxlen, x_test, labels_test)
        if not x_train or not x_test:
            raise ValueError(f"After filtering for sequences shorter than maxlen={maxlen}, no sequence "
                             "was kept. Increase maxlen.")

    xs = _limit_words(list(x_train) + list(x_test), num_words, skip_top, oov_char)
    labels = np.concatenate([labels_train, labels_test])
    idx = len(x_train)
    return (np.array(xs[:idx], dtype="object"), labels[:idx]), (np.array(xs[idx:], dtype="object"), labels[idx:])


def get_word_index(path="imdb_word_index.json"):
    """The ``{word: index}`` dict of the IMDB data (add ``index_from`` to match ``load_data``)."""
    with open(cached_file(path, _WORD_INDEX_ORIGIN, _WORD_INDEX_HASH, None)) as f:
        return json.load(f)
