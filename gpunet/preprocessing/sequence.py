"""Keras 2's sequence preprocessing (``gpunet.preprocessing.sequence``, as
``keras.preprocessing.sequence``): ``pad_sequences``, ``make_sampling_table``, ``skipgrams`` and
``TimeseriesGenerator``, with tf.keras 2's arguments and results. Plain Python and NumPy.
"""
import numbers
import random

import numpy as np

from .padding import pad_sequences
from .timeseries import TimeseriesGenerator

__all__ = ["pad_sequences", "make_sampling_table", "skipgrams", "TimeseriesGenerator"]


def make_sampling_table(size, sampling_factor=1e-5):
    """The word2vec sampling probability of the word of each frequency rank, for ``skipgrams``.

    ``p(word) = min(1, sqrt(word_frequency / sampling_factor) / (word_frequency / sampling_factor))``,
    with word frequencies taken to follow Zipf's law:
    ``frequency(rank) ~ 1 / (rank * (log(rank) + gamma) + 1/2 - 1/(12 * rank))``.

    Args:
        size: the number of words (ranks 0 .. size-1; rank 0 is given rank 1's value).
        sampling_factor: word2vec's sampling factor.

    Returns:
        A float64 array of ``size`` probabilities: entry i for the i-th most common word.
    """
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
        # tf.keras fails on size 0 with an IndexError from inside (rank[0] = 1)
        raise ValueError(f"make_sampling_table: size must be a positive int, received {size!r:.80}")
    gamma = 0.577
    rank = np.arange(size)
    rank[0] = 1
    inv_fq = rank * (np.log(rank) + gamma) + 0.5 - 1.0 / (12.0 * rank)
    f = sampling_factor * inv_fq
    return np.minimum(1.0, f / np.sqrt(f))


def skipgrams(sequence, vocabulary_size, window_size=4, negative_samples=1.0, shuffle=True, categorical=False,
              sampling_table=None, seed=None):
    """Skipgram word pairs of a sequence of word indices, with negative samples.

    Positive pairs are ``(word, word within window_size of it)`` with label 1; then
    ``int(negative_samples * positives)`` pairs ``(word, random index in [1, vocabulary_size))``
    with label 0. Index 0 is a non-word and is skipped.

    As in tf.keras, randomness comes from Python's global ``random`` module: the draws against
    ``sampling_table`` and the negatives use its current state (``random.seed(...)`` or
    ``gpunet.utils.set_random_seed(...)`` beforehand makes them repeatable; then gpunet and
    tf.keras give the same pairs), and the shuffle reseeds it with ``seed`` (a random one when None),
    so pairs and labels are shuffled alike.

    Args:
        sequence: a list of word indices (ranks, when a ``sampling_table`` is given).
        vocabulary_size: the largest word index + 1.
        window_size: the half-width of the window around each word.
        negative_samples: negatives per positive pair (0: none).
        shuffle: shuffle the pairs (and labels) before returning them.
        categorical: labels as ``[0, 1]``/``[1, 0]`` rather than 1/0.
        sampling_table: ``sampling_table[i]``, the probability of keeping a word of index i
            (see ``make_sampling_table``).
        seed: the seed of the shuffle.

    Returns:
        ``(couples, labels)``: a list of ``[word, context]`` pairs and a list of labels.
    """
    couples, labels = [], []
    for i, wi in enumerate(sequence):
        if not wi:
            continue
        if sampling_table is not None and sampling_table[wi] < random.random():
            continue
        window_start = max(0, i - window_size)
        window_end = min(len(sequence), i + window_size + 1)
        for j in range(window_start, window_end):
            if j != i:
                wj = sequence[j]
                if not wj:
                    continue
                couples.append([wi, wj])
                labels.append([0, 1] if categorical else 1)

    if negative_samples > 0:
        num_negative_samples = int(len(labels) * negative_samples)
        words = [c[0] for c in couples]
        random.shuffle(words)
        couples += [[words[i % len(words)], random.randint(1, int(vocabulary_size - 1))]
                    for i in range(num_negative_samples)]
        labels += [[1, 0] if categorical else 0 for _ in range(num_negative_samples)]

    if shuffle:
        if seed is None:
            seed = random.randint(0, int(10e6))
        # the same seed before each shuffle keeps every label with its pair (tf.keras's way)
        random.seed(seed)
        random.shuffle(couples)
        random.seed(seed)
        random.shuffle(labels)
    return couples, labels
