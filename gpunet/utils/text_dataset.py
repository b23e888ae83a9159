"""Keras's ``text_dataset_from_directory`` (``keras.utils``; also ``keras.preprocessing``): batches of the
``.txt`` files of a directory's class subdirectories, as a gpunet `Dataset` (Keras gives a ``tf.data.Dataset``)
with tf.keras 2.21's files, order, labels, splits and messages. Each text is the file's bytes (the first
``max_length`` of them), as TensorFlow's string tensors hold them: a batch is a NumPy array of ``bytes``."""
from .directory_index import from_directory


def _reader(max_length):
    def read(path):
        with open(path, "rb") as f:
            return f.read() if max_length is None else f.read(max_length)
    return read


def text_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None, batch_size=32,
                                max_length=None, shuffle=True, seed=None, validation_split=None, subset=None,
                                follow_links=False, **kwargs):
    """A `Dataset` of ``(texts, labels)`` batches (texts alone when ``labels`` or ``label_mode`` is None) from the
    ``.txt`` files under ``directory``, labelled as `image_dataset_from_directory` labels images; texts are
    ``bytes`` (``.decode()`` them), at most ``max_length`` bytes each. Attributes ``class_names`` and
    ``file_paths``. Keras 3's ``verbose`` is taken too."""
    kwargs.pop("verbose", None)
    if kwargs:
        raise TypeError(f"Unknown keywords argument(s): {tuple(kwargs.keys())}")
    return from_directory(directory, _reader(max_length), (".txt",), ("text files", "text samples", "text files"),
                          labels, label_mode, class_names, batch_size, shuffle, seed, validation_split, subset,
                          follow_links)
