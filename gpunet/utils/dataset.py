"""What Keras's dataset utilities return (``image_dataset_from_directory``, ``text_dataset_from_directory``):
a ``tf.data.Dataset`` in Keras, here a `Dataset` with the methods the Keras tutorials call on one (``take``,
``skip``, ``map``, ``cache``, ``shuffle``, ``prefetch``, ``batch``, ``unbatch``, ``repeat``, ``cardinality``,
``as_numpy_iterator``, ``len``, iteration). gpunet has no TensorFlow.

A dataset is a recipe for one pass over its elements, run again for each pass (each epoch of ``fit``), so a
random ``map`` (augmentation) draws anew each epoch unless ``cache`` comes after it, as in tf.data. Arrays come
out with ``.numpy()`` (what iterating tf.data gives); fit, evaluate and predict take a dataset as ``x`` and read
a pass an epoch, in its own order (``fit(shuffle=True)`` leaves it as it is, as Keras does with tf.data)."""
import numbers

import numpy as np

from ..backend import eager
from ..backend import random as _random

AUTOTUNE = -1  # (tf.data.AUTOTUNE: prefetch and map take it, and any other buffer size, and read ahead nothing)
INFINITE, UNKNOWN = -1, -2  # (tf.data's cardinality constants)


def _count(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < -1:
        raise ValueError(f"`{name}` must be an int >= -1 (-1: all), received {value!r}")
    return int(value)


def _as_output(element):
    """An element as iterating a tf.data dataset gives it: arrays with ``.numpy()``, tuples kept."""
    if isinstance(element, tuple):
        return tuple(_as_output(e) for e in element)
    if isinstance(element, dict):
        return {k: _as_output(v) for k, v in element.items()}
    if type(element) is np.ndarray or isinstance(element, np.generic):
        return eager.view(np, element)
    return eager.EagerBytes(element) if type(element) is bytes else element


def _stack(items):
    """Elements stacked into a batch, component by component."""
    first = items[0]
    if isinstance(first, tuple):
        return tuple(_stack([item[i] for item in items]) for i in range(len(first)))
    if isinstance(first, dict):
        return {k: _stack([item[k] for item in items]) for k in first}
    if isinstance(first, (bytes, str)):
        out = np.empty(len(items), dtype=object)
        out[:] = items
        return out
    return np.stack([np.asarray(item) for item in items])


def _split(batch):
    """A batch's elements, one per row."""
    if isinstance(batch, tuple):
        return list(zip(*[_split(part) for part in batch]))
    if isinstance(batch, dict):
        keys, columns = list(batch), [_split(v) for v in batch.values()]
        return [dict(zip(keys, row)) for row in zip(*columns)]
    return [row.view(np.ndarray) if isinstance(row, np.ndarray) else row for row in batch]


class Dataset:
    """A pass-by-pass sequence of elements (see the module's docstring). ``passes()`` starts one pass."""

    def __init__(self, passes, cardinality):
        self._passes, self._cardinality = passes, int(cardinality)

    def __iter__(self):
        return (_as_output(element) for element in self._passes())

    def __len__(self):
        if self._cardinality == UNKNOWN:
            raise TypeError("The dataset length is unknown.")
        if self._cardinality == INFINITE:
            raise TypeError("The dataset is infinite.")
        return self._cardinality

    def known_length(self):
        """The number of elements, None where it depends on the data (after ``unbatch``) or is endless."""
        return None if self._cardinality in (UNKNOWN, INFINITE) else self._cardinality

    @property
    def endless(self):
        """Whether the dataset repeats forever (``repeat()``)."""
        return self._cardinality == INFINITE

    def cardinality(self):
        """The number of elements (``UNKNOWN`` = -2 where it depends on the data), as tf.data's (``.numpy()``)."""
        return eager.view(np, np.int64(self._cardinality))

    def as_numpy_iterator(self):
        """The elements with plain NumPy arrays."""
        return iter(self._passes())

    def _then(self, make, cardinality):
        """A dataset whose pass is ``make(elements of a pass of this one)``."""
        return Dataset(lambda: make(self._passes()), cardinality)

    def take(self, count):
        """The first ``count`` elements (-1: all)."""
        count = _count(count, "count")
        if count == -1:
            return self
        return self._then(lambda it: (e for _, e in zip(range(count), it)),
                          UNKNOWN if self._cardinality == UNKNOWN else min(count, self._cardinality))

    def skip(self, count):
        """All but the first ``count`` elements (-1: none)."""
        count = _count(count, "count")
        if count == -1:
            return Dataset(lambda: iter(()), 0)

        def rest(it):
            for _ in zip(range(count), it):
                pass
            yield from it
        return self._then(rest, UNKNOWN if self._cardinality == UNKNOWN else max(self._cardinality - count, 0))

    def map(self, map_func, num_parallel_calls=None, deterministic=None, name=None):
        """``map_func`` applied to each element (a tuple's items as its arguments, as tf.data's), at each pass."""
        def apply(element):
            out = map_func(*_as_output(element)) if isinstance(element, tuple) else map_func(_as_output(element))
            return tuple(out) if isinstance(out, list) else out
        return self._then(lambda it: (apply(e) for e in it), self._cardinality)

    def cache(self, filename="", name=None):
        """The elements of the first whole pass, kept in memory and given again by the later passes (a
        ``filename`` is taken, and the cache still kept in memory)."""
        kept = []

        def passes():
            if kept and kept[-1] is None:
                return iter(kept[:-1])
            return _recording()

        def _recording():
            del kept[:]
            for element in self._passes():
                kept.append(element)
                yield element
            kept.append(None)  # (the pass ran to its end: the cache is complete)
        return Dataset(passes, self._cardinality)

    def shuffle(self, buffer_size, seed=None, reshuffle_each_iteration=None, name=None):
        """Each element drawn at random from a buffer of the next ``buffer_size`` (tf.data's algorithm; the
        draws are gpunet's, so the order differs from TensorFlow's): a new order each pass unless
        ``reshuffle_each_iteration=False``. ``seed`` fixes the orders; None takes them from gpunet's
        generator (``set_random_seed`` repeats them)."""
        size = _count(buffer_size, "buffer_size")
        if size == 0:
            raise ValueError("`buffer_size` must be greater than zero, received 0")
        base = np.random.default_rng(seed if seed is not None else int(_random.generator().integers(2 ** 63)))
        fixed = None if reshuffle_each_iteration in (None, True) else int(base.integers(2 ** 63))

        def passes():
            rng = np.random.default_rng(fixed if fixed is not None else int(base.integers(2 ** 63)))
            it, buffer = self._passes(), []
            for element in it:
                buffer.append(element)
                if size != -1 and len(buffer) >= size:
                    break
            while buffer:
                i = int(rng.integers(len(buffer)))
                yield buffer[i]
                try:
                    buffer[i] = next(it)
                except StopIteration:
                    buffer[i] = buffer[-1]
                    buffer.pop()
        return Dataset(passes, self._cardinality)

    def prefetch(self, buffer_size, name=None):
        """The same dataset (gpunet reads batches in its own thread: nothing to prefetch)."""
        _count(buffer_size, "buffer_size")
        return self

    def batch(self, batch_size, drop_remainder=False, num_parallel_calls=None, deterministic=None, name=None):
        """Consecutive elements stacked ``batch_size`` at a time (the last batch smaller unless
        ``drop_remainder``)."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise ValueError(f"`batch_size` must be an int >= 1, received {batch_size!r}")
        size = int(batch_size)

        def batches(it):
            items = []
            for element in it:
                items.append(element)
                if len(items) == size:
                    yield _stack(items)
                    items = []
            if items and not drop_remainder:
                yield _stack(items)
        n = self._cardinality
        count = n if n == UNKNOWN else (n // size if drop_remainder else -(-n // size))
        return self._then(batches, count)

    def repeat(self, count=None, name=None):
        """The elements ``count`` times over, each time a new pass (reshuffled, remapped); forever for None or
        -1 (then fit needs ``steps_per_epoch``)."""
        count = -1 if count is None else _count(count, "count")

        def passes():
            done = 0
            while count == -1 or done < count:
                yield from self._passes()
                done += 1
        n = self._cardinality
        endless = count == -1 and n != 0
        return Dataset(passes, INFINITE if endless else n if n == UNKNOWN else n * max(count, 0))

    def unbatch(self, name=None):
        """Each batch's rows as elements."""
        return self._then(lambda it: (row for batch in it for row in _split(batch)), UNKNOWN)


def from_elements(load, items, cardinality=None):
    """A dataset of ``load(item)`` for each of ``items``, loaded at each pass."""
    return Dataset(lambda: (load(item) for item in items), len(items) if cardinality is None else cardinality)
