"""Other libraries' datasets as fit, evaluate, predict and ``adapt`` take them: a TensorFlow ``tf.data.Dataset``
(so a tf.keras program keeps its input pipeline when ``keras`` becomes ``gpunet``, as tf.keras takes it) and a
PyTorch ``DataLoader`` (as Keras 3 takes it). Each is read as gpunet's own `Dataset` is: a new pass an epoch,
in the order it gives, its length where it knows it (tf.data's ``cardinality``, the loader's ``len``).

Recognized by class and module name, so neither library is imported here. Their tensors become host NumPy
arrays at this edge (``numpy()``; a torch tensor through ``detach().cpu()``), in tuples, lists and dicts alike;
the batch then goes where an array batch goes. A ``DataLoader`` gives a batch of ``(x, y)`` samples as a list
``[x, y]``: it is read as the tuple it was.
"""
INFINITE, UNKNOWN = -1, -2  # (tf.data's cardinality constants)


def foreign_kind(source):
    """"tf.data", "torch" or None: which library's dataset ``source`` is."""
    for cls in type(source).__mro__:
        module = getattr(cls, "__module__", "") or ""
        if cls.__name__ in ("DatasetV2", "DatasetV1") and module.startswith("tensorflow"):
            return "tf.data"
        if cls.__name__ == "DataLoader" and module.startswith("torch.utils.data"):
            return "torch"
    return None


class DatasetView:
    """What fit reads of a gpunet `Dataset`: ``known_length``, ``endless`` and passes (``__iter__``)."""

    def known_length(self):
        """The number of batches, None where it is not known or the dataset repeats forever."""
        return None

    @property
    def endless(self):
        return False

    def open_unread_pass(self):
        """Where the source is tf.data, open a pass and read none of it (see `ForeignDataset`)."""


class ForeignDataset(DatasetView):
    """``source`` (a `foreign_kind` dataset) as a `DatasetView` of host batches."""

    def __init__(self, source, kind):
        self.source, self.kind = source, kind
        if kind == "tf.data":
            self._cardinality = int(source.cardinality())
        else:
            try:
                self._cardinality = len(source)
            except TypeError:  # (a loader over an IterableDataset without __len__)
                self._cardinality = UNKNOWN

    def known_length(self):
        return None if self._cardinality in (UNKNOWN, INFINITE) else self._cardinality

    @property
    def endless(self):
        """Whether the dataset repeats forever (tf.data's ``repeat()``)."""
        return self._cardinality == INFINITE

    def open_unread_pass(self):
        """tf.keras 2's DataHandler opens an iterator on the dataset before its first epoch and, where it reads
        a new pass each epoch, opens another for each: so fit's first epoch (and each evaluate, predict and
        validation run) reads the dataset's second pass, and a seeded ``shuffle`` gives its second order there.
        Opened here likewise, so the batches come in tf.keras's order."""
        if self.kind == "tf.data":
            iter(self.source)

    def __iter__(self):
        for batch in self.source:
            if self.kind == "torch" and isinstance(batch, list):
                batch = tuple(batch)
            yield _on_host(batch)


class PackedDataset(DatasetView):
    """A dataset whose batches go through ``pack`` (a model's packing of several inputs or outputs)."""

    def __init__(self, source, pack):
        self.source, self.pack = source, pack

    def known_length(self):
        return self.source.known_length()

    @property
    def endless(self):
        return self.source.endless

    def open_unread_pass(self):
        if isinstance(self.source, DatasetView):
            self.source.open_unread_pass()

    def __iter__(self):
        return (self.pack(batch) for batch in self.source)


def _on_host(value):
    if isinstance(value, tuple):
        return tuple(_on_host(v) for v in value)
    if isinstance(value, list):
        return [_on_host(v) for v in value]
    if isinstance(value, dict):
        return {k: _on_host(v) for k, v in value.items()}
    if type(value).__module__.startswith("torch") and hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    if type(value).__module__.startswith("tensorflow") and callable(getattr(value, "numpy", None)):
        return value.numpy()
    return value


def is_dataset(source):
    """Whether ``source`` is a gpunet `Dataset` (Keras's tf.data datasets), a `DatasetView` or a dataset of
    TensorFlow's or PyTorch's: read a pass an epoch, in its order."""
    from ..utils.dataset import Dataset
    return isinstance(source, (Dataset, DatasetView)) or foreign_kind(source) is not None


def packed_dataset(source, pack):
    """Dataset ``source`` with each batch passed through ``pack``."""
    return PackedDataset(as_dataset(source), pack)


def as_dataset(source):
    """``source`` with gpunet `Dataset`'s reading interface (a foreign one wrapped)."""
    kind = foreign_kind(source)
    return source if kind is None else ForeignDataset(source, kind)
