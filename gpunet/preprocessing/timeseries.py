"""Keras 2's ``TimeseriesGenerator``: batches of windows over a time series, as a ``Sequence``
that ``fit``/``evaluate``/``predict`` take as ``x``."""
import json
import numbers

import numpy as np

from ..utils import Sequence


def _positive(name, value):
    # tf.keras takes 0 and fails later (ZeroDivisionError in len(), "slice step cannot be zero")
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"TimeseriesGenerator: {name} must be a positive int, received {value!r:.80}")


class TimeseriesGenerator(Sequence):
    """Batches of ``(samples, targets)`` cut from a series of equally spaced data points.

    Sample ``k`` of the series ends just before row ``r = start_index + length + k*stride``: it is
    ``data[r - length : r : sampling_rate]``, and its target is ``targets[r]``.

    Args:
        data: an indexable series (list or array), time along axis 0.
        targets: the target of each time step; as long as ``data``.
        length: how many time steps back each sample reaches.
        sampling_rate: the step between the time steps taken inside a sample.
        stride: the step between consecutive samples.
        start_index, end_index: only rows from ``start_index`` to ``end_index`` (inclusive;
            default the last) are used (keep the rest for validation).
        shuffle: draw each batch's rows at random (NumPy's global generator) rather than in order.
        reverse: time steps in each sample in reverse order.
        batch_size: samples per batch (the last batch may hold fewer).
    """

    def __init__(self, data, targets, length, sampling_rate=1, stride=1, start_index=0, end_index=None,
                 shuffle=False, reverse=False, batch_size=128):
        if len(data) != len(targets):
            raise ValueError(f"Data and targets have to be of same length. Data length is {len(data)} while "
                             f"target length is {len(targets)}")
        for name, value in (("length", length), ("sampling_rate", sampling_rate), ("stride", stride),
                            ("batch_size", batch_size)):
            _positive(name, value)
        self.data, self.targets = data, targets
        self.length, self.sampling_rate, self.stride = length, sampling_rate, stride
        self.start_index = start_index + length
        self.end_index = len(data) - 1 if end_index is None else end_index
        self.shuffle, self.reverse, self.batch_size = shuffle, reverse, batch_size
        if self.start_index > self.end_index:
            raise ValueError(f"`start_index+length={self.start_index} > end_index={self.end_index}` is disallowed, "
                             "as no part of the sequence would be left to be used as current step.")

    def __len__(self):
        """The number of batches."""
        step = self.batch_size * self.stride
        return (self.end_index - self.start_index + step) // step

    def __getitem__(self, index):
        """Batch ``index``: ``(samples, targets)`` as NumPy arrays."""
        if self.shuffle:
            rows = np.random.randint(self.start_index, self.end_index + 1, size=self.batch_size)
        else:
            i = self.start_index + self.batch_size * self.stride * index
            rows = np.arange(i, min(i + self.batch_size * self.stride, self.end_index + 1), self.stride)
        samples = np.array([self.data[row - self.length:row:self.sampling_rate] for row in rows])
        targets = np.array([self.targets[row] for row in rows])
        if self.reverse:
            return samples[:, ::-1, ...], targets
        return samples, targets

    def get_config(self):
        """The generator's settings as a dict (data and targets as JSON text), as tf.keras writes it;
        ``start_index`` is the first target row (``start_index + length``), also as tf.keras has it."""
        def as_json(values, what):
            if type(values).__module__ == np.__name__:
                values = values.tolist()
            try:
                return json.dumps(values)
            except TypeError as exc:
                raise TypeError(f"{what} not JSON Serializable: {values!r:.80}") from exc

        return {"data": as_json(self.data, "Data"), "targets": as_json(self.targets, "Targets"),
                "length": self.length, "sampling_rate": self.sampling_rate, "stride": self.stride,
                "start_index": self.start_index, "end_index": self.end_index, "shuffle": self.shuffle,
                "reverse": self.reverse, "batch_size": self.batch_size}

    def to_json(self, **kwargs):
        """``{"class_name": ..., "config": get_config()}`` as JSON text (kwargs go to ``json.dumps``)."""
        return json.dumps({"class_name": type(self).__name__, "config": self.get_config()}, **kwargs)
