"""Keras's ``timeseries_dataset_from_array``: windows over a time series, batched, as a `PyDataset` that
``fit``/``evaluate``/``predict`` take as ``x`` (Keras gives a ``tf.data.Dataset``; gpunet has no TensorFlow).
Iterate it for its batches, or ``take(n)`` the first n, as the Keras tutorials do with the dataset."""
import numbers

import numpy as np

from ..utils.py_dataset import PyDataset


def _check(name, value, length, minimum=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"`{name}` must be {'higher than 0' if minimum else '0 or greater'}. Received: "
                         f"{name}={value!r}")
    if value >= length:
        raise ValueError(f"`{name}` must be lower than the length of the data. Received: {name}={value}, for data "
                         f"of length {length}")
    return int(value)


class TimeseriesDataset(PyDataset):
    """Batches of ``(windows, targets)`` (or windows alone, without targets) cut by
    `timeseries_dataset_from_array`; ``len()`` is the batches per epoch."""

    def __init__(self, data, targets, positions, offsets, batch_size):
        super().__init__()
        self._data, self._targets, self._positions, self._offsets = data, targets, positions, offsets
        self._batch = batch_size

    def __len__(self):
        if self._batch is None:
            return len(self._positions)
        return -(-len(self._positions) // self._batch)

    def __getitem__(self, index):
        if not -len(self) <= index < len(self):
            raise IndexError(f"batch {index} of a dataset of {len(self)} batches")
        index %= len(self)
        if self._batch is None:  # one window, no batch axis (Keras's batch_size=None)
            start = self._positions[index]
            window = self._data[start + self._offsets]
            return window if self._targets is None else (window, self._targets[start])
        starts = self._positions[index * self._batch:(index + 1) * self._batch]
        windows = self._data[starts[:, None] + self._offsets]
        return windows if self._targets is None else (windows, self._targets[starts])

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def take(self, count):
        """The first ``count`` batches (all when ``count`` is -1), to iterate as tf.data's ``take``."""
        stop = len(self) if count == -1 else min(int(count), len(self))
        return [self[i] for i in range(stop)]


def timeseries_dataset_from_array(data, targets, sequence_length, sequence_stride=1, sampling_rate=1, batch_size=128,
                                  shuffle=False, seed=None, start_index=None, end_index=None):
    """Windows of ``sequence_length`` time steps (``sampling_rate`` apart) starting every ``sequence_stride``
    steps in ``data[start_index:end_index]``; window ``i``, starting at row ``start_index + p``, has target
    ``targets[start_index + p]`` (Keras's alignment: shift ``targets`` to predict a later step). Batches of
    ``batch_size`` (None: single windows); ``shuffle`` shuffles the windows' order once with
    ``numpy.random.RandomState(seed)`` as Keras does (Keras's tf.data pipeline then shuffles within a
    buffer again: the same windows, another order)."""
    data = np.asarray(data)
    length = len(data)
    start = 0 if not start_index else _check("start_index", start_index, length, minimum=0)
    end = length
    if end_index:
        end = _check("end_index", end_index, length)
        if start_index and end <= start:
            raise ValueError(f"`end_index` must be higher than `start_index`. Received: start_index={start_index}, "
                             f"and end_index={end_index} ")
    rate = _check("sampling_rate", sampling_rate, length)
    stride = _check("sequence_stride", sequence_stride, length)
    if isinstance(sequence_length, bool) or not isinstance(sequence_length, numbers.Integral) or sequence_length < 1:
        raise ValueError(f"`sequence_length` must be a positive int. Received: sequence_length={sequence_length!r}")
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral)
                                   or batch_size < 1):
        raise ValueError(f"`batch_size` must be a positive int or None. Received: batch_size={batch_size!r}")
    count = end - start - (int(sequence_length) - 1) * rate
    target_slice = None
    if targets is not None:
        target_slice = np.asarray(targets)[start:]
        count = min(count, len(target_slice))
    positions = np.arange(0, max(count, 0), stride)
    if shuffle:
        np.random.RandomState(np.random.randint(1e6) if seed is None else seed).shuffle(positions)
    offsets = np.arange(int(sequence_length)) * rate
    return TimeseriesDataset(data[start:end], target_slice, positions, offsets, batch_size)
