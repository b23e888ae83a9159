"""What Keras's ``image_dataset_from_directory`` and ``text_dataset_from_directory`` share (tf.keras 2.21's
``dataset_utils``): the files of a directory with their labels, in Keras's order and shuffle, the training or
validation share of them, and the labels encoded per ``label_mode``."""
import os

import numpy as np

from .dataset import from_elements
from .io_utils import print_msg


def check_split(validation_split, subset, shuffle, seed):
    """Keras's checks of ``validation_split`` and ``subset``, with its messages."""
    if validation_split and not 0 < validation_split < 1:
        raise ValueError(f"`validation_split` must be between 0 and 1, received: {validation_split}")
    if (validation_split or subset) and not (validation_split and subset):
        raise ValueError("If `subset` is set, `validation_split` must be set, and inversely.")
    if subset not in ("training", "validation", "both", None):
        raise ValueError(f'`subset` must be either "training", "validation" or "both", received: {subset}')
    if validation_split and shuffle and seed is None:
        raise ValueError("If using `validation_split` and shuffling the data, you must provide a `seed` argument, to "
                         "make sure that there is no overlap between the training and validation subset.")


def check_labels(labels, label_mode, class_names, files, samples):
    """``(labels, label_mode)`` checked, both None where either is (Keras's rule); ``files`` and ``samples``
    name the data in the message."""
    if labels not in ("inferred", None):
        if not isinstance(labels, (list, tuple)):
            raise ValueError("`labels` argument should be a list/tuple of integer labels, of the same size as the "
                             f"number of {files} in the target directory. If you wish to infer the labels from the "
                             'subdirectory names in the target directory, pass `labels="inferred"`. If you wish to '
                             f"get a dataset that only contains {samples} (no labels), pass `labels=None`. Received: "
                             f"labels={labels}")
        if class_names:
            raise ValueError(f'You can only pass `class_names` if `labels="inferred"`. Received: labels={labels}, '
                             f"and class_names={class_names}")
    if label_mode not in {"int", "categorical", "binary", None}:
        raise ValueError('`label_mode` argument must be one of "int", "categorical", "binary", or None. Received: '
                         f"label_mode={label_mode}")
    return (None, None) if labels is None or label_mode is None else (labels, label_mode)


def sorted_files(directory, follow_links, formats):
    """``(root, name)`` of the files under ``directory`` whose names end in ``formats`` (any case), folders and
    names sorted (Keras's order)."""
    for root, _, files in sorted(os.walk(directory, followlinks=follow_links), key=lambda entry: entry[0]):
        for name in sorted(files):
            if name.lower().endswith(formats):
                yield root, name


def index_directory(directory, labels, formats, class_names=None, shuffle=True, seed=None, follow_links=False):
    """``(file_paths, labels, class_names)``: the files under ``directory`` ending in ``formats``, each class
    subdirectory's (sorted, hidden ones skipped) in turn where ``labels="inferred"``, shuffled with
    ``numpy.random.RandomState(seed)`` as Keras shuffles them."""
    if not os.path.isdir(directory):
        raise ValueError(f"The directory {directory!r} does not exist or is not a directory")
    if labels != "inferred":
        subdirs = class_names = [""]
    else:
        subdirs = [d for d in sorted(os.listdir(directory))
                   if os.path.isdir(os.path.join(directory, d)) and not d.startswith(".")]
        if not class_names:
            class_names = subdirs
        elif set(class_names) != set(subdirs):
            raise ValueError("The `class_names` passed did not match the names of the subdirectories of the target "
                             f"directory. Expected: {subdirs}, but received: {class_names}")
    class_indices = {name: i for i, name in enumerate(class_names)}
    filenames, found = [], []
    for subdir in subdirs:
        path = os.path.join(directory, subdir)
        name = os.path.basename(path)
        for root, fname in sorted_files(path, follow_links, formats):
            filenames.append(os.path.join(name, os.path.relpath(os.path.join(root, fname), path)))
            found.append(class_indices[name])
    if labels not in ("inferred", None):
        if len(labels) != len(filenames):
            raise ValueError("Expected the lengths of `labels` to match the number of files in the target directory. "
                             f"len(labels) is {len(labels)} while we found {len(filenames)} files in directory "
                             f"{directory}.")
        class_names, labels = sorted(set(labels)), list(labels)
    else:
        labels = np.asarray(found, dtype="int32")
    if labels is None:
        print_msg(f"Found {len(filenames)} files.")
    else:
        print_msg(f"Found {len(filenames)} files belonging to {len(class_names)} classes.")
    file_paths = [os.path.join(directory, name) for name in filenames]
    if shuffle:
        seed = np.random.randint(1e6) if seed is None else seed
        np.random.RandomState(seed).shuffle(file_paths)
        np.random.RandomState(seed).shuffle(labels)
    return file_paths, labels, class_names


def split(samples, labels, validation_split, subset):
    """The training share (the first ``1 - validation_split``) or the validation share (the rest) of
    ``samples`` and ``labels``, with Keras's message."""
    if not validation_split:
        return samples, labels
    count = int(validation_split * len(samples))
    if subset == "training":
        print_msg(f"Using {len(samples) - count} files for training.")
        return samples[:-count], None if labels is None else labels[:-count]
    if subset == "validation":
        print_msg(f"Using {count} files for validation.")
        return samples[-count:], None if labels is None else labels[-count:]
    raise ValueError(f'`subset` must be either "training" or "validation", received: {subset}')


def from_directory(directory, load, formats, what, labels, label_mode, class_names, batch_size, shuffle, seed,
                   validation_split, subset, follow_links):
    """The dataset (or the training and validation datasets, ``subset="both"``) of ``load(path)`` for each file
    under ``directory`` ending in ``formats``, with its label per ``label_mode`` (see
    `image_dataset_from_directory`); ``what`` names the files in Keras's messages: ``(files, samples, found)``
    ("image files", "images", "images")."""
    labels, label_mode = check_labels(labels, label_mode, class_names, *what[:2])
    check_split(validation_split, subset, shuffle, seed)
    seed = np.random.randint(1e6) if seed is None else seed
    paths, found, names = index_directory(directory, labels, formats, class_names, shuffle, seed, follow_links)
    if label_mode == "binary" and len(names) != 2:
        raise ValueError(f'When passing `label_mode="binary"`, there must be exactly 2 class_names. Received: '
                         f"class_names={names}")
    parts = ([split(paths, found, validation_split, s) for s in ("training", "validation")] if subset == "both"
             else [split(paths, found, validation_split, subset)])
    allowed = f"Allowed formats: {formats}" if len(formats) > 1 else f"Allowed format: {formats[0]}"
    for which, (part, _) in zip(("training " if subset == "both" else "", "validation "), parts):
        if not part:
            raise ValueError(f"No {which}{what[2]} found in directory {directory}. {allowed}")
    datasets = []
    for i, (part, part_labels) in enumerate(parts):
        if label_mode is None:
            ds = from_elements(load, part)
        else:
            ds = from_elements(lambda pair: (load(pair[0]), encode(pair[1], label_mode, len(names))),
                               list(zip(part, part_labels)))
        if shuffle and i == 0:  # (Keras shuffles the training set again each epoch, in a buffer)
            ds = ds.shuffle(buffer_size=1024 if batch_size is None else batch_size * 8, seed=seed)
        ds = ds if batch_size is None else ds.batch(batch_size)
        ds.class_names, ds.file_paths = names, part
        datasets.append(ds)
    return datasets if subset == "both" else datasets[0]


def encode(label, label_mode, num_classes):
    """One label as ``label_mode`` gives it: int32, float32 ``[label]`` (binary), or a one-hot float32 row."""
    if label_mode == "binary":
        return np.asarray([label], dtype="float32")
    if label_mode == "categorical":  # (tf.one_hot: a label outside [0, num_classes) is a row of zeros)
        return (np.arange(num_classes) == label).astype("float32")
    return np.int32(label)
