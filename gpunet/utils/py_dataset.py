"""Keras 3's ``keras.utils.PyDataset`` (its name for ``Sequence``) and its data helpers
``unpack_x_y_sample_weight`` / ``pack_x_y_sample_weight``."""
from . import Sequence


class PyDataset(Sequence):
    """Batches by index, as Keras 3 writes a data loader: subclass it, call ``super().__init__(**kwargs)``
    (``workers``, ``use_multiprocessing``, ``max_queue_size``: taken, gpunet reads batches in its own
    thread), and define ``__getitem__(index)`` and ``__len__`` (or the ``num_batches`` property). fit,
    evaluate and predict take it as ``x``, as a `Sequence`."""

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self._workers, self._use_multiprocessing, self._max_queue_size = workers, use_multiprocessing, max_queue_size

    @property
    def workers(self):
        return self._workers

    @property
    def use_multiprocessing(self):
        return self._use_multiprocessing

    @property
    def max_queue_size(self):
        return self._max_queue_size

    @property
    def num_batches(self):
        """The batches per epoch: ``len(self)`` where the subclass defines ``__len__``."""
        if type(self).__len__ is not PyDataset.__len__:
            return len(self)
        raise NotImplementedError(f"{type(self).__name__} must define __len__() or the num_batches property: the "
                                  "batches per epoch")

    def __len__(self):
        n = self.num_batches
        if n is None:
            raise ValueError(f"{type(self).__name__}.num_batches is None (an endless dataset): gpunet needs the "
                             "batches per epoch; return their number")
        return int(n)


def unpack_x_y_sample_weight(data):
    """``(x, y, sample_weight)`` from a batch ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)`` (None where
    absent)."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if len(data) in (1, 2, 3):
        return tuple(data) + (None,) * (3 - len(data))
    raise ValueError(f"Data is expected to be in format `x`, `(x,)`, `(x, y)`, or `(x, y, sample_weight)`, found: "
                     f"{data}")


def pack_x_y_sample_weight(x, y=None, sample_weight=None):
    """The batch tuple `unpack_x_y_sample_weight` reads back: ``x`` alone (a tuple or list ``x`` in a tuple of one),
    ``(x, y)`` or ``(x, y, sample_weight)``."""
    if y is None:
        return (x,) if isinstance(x, (tuple, list)) else x
    return (x, y) if sample_weight is None else (x, y, sample_weight)
