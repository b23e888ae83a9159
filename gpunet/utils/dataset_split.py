"""tf.keras 2.21's (and Keras 3's) ``keras.utils.split_dataset`` for in-memory data: a NumPy array, or a list or
tuple of arrays of one length, split into a left and a right `Dataset` (tf.keras returns ``tf.data`` datasets;
gpunet has no TensorFlow, and its `Dataset` gives the same elements in the same order).

As tf.keras's: sizes are fractions in (0, 1) or counts in (0, len), a missing one is the complement, fractions
are rounded with Python's ``round``; the right split is the last ``right_size`` samples; ``shuffle`` permutes the
samples with Python's ``random`` seeded by ``seed`` (the same permutation as tf.keras's); a sample of a list or
tuple whose components all have one shape is one NumPy array in between, so its components come out in their
common dtype (tf.keras's ``np.array(sample)``: ``(x_int, y_float32)`` of 1-D arrays gives float64 elements)."""
import random

import numpy as np

from .dataset import from_elements

_TYPE_ERROR = ("The `dataset` argument must be either a `tf.data.Dataset` object or a list/tuple of arrays. "
               "Received: dataset={} of type {}")


def _columns(dataset):
    """The dataset as a list of column arrays (one for a plain array) and whether it was a list or tuple."""
    if isinstance(dataset, np.ndarray):
        return [dataset], False
    kind = "list" if isinstance(dataset, list) else "tuple"
    if len(dataset) == 0:
        raise ValueError("Received an empty list dataset. Please provide a non-empty list of arrays."
                         if kind == "list" else
                         "Received an empty list dataset.Please provide a non-empty tuple of arrays.")
    if not isinstance(dataset[0], np.ndarray):
        raise ValueError(f"Expected a {kind} of `numpy.ndarray` objects,"
                         + (" " if kind == "tuple" else "") + f"Received: {type(dataset[0])}")
    expected = dataset[0].shape
    columns = [np.asarray(element) for element in dataset]
    for i, column in enumerate(columns):
        if column.shape[0] != expected[0]:
            raise ValueError(f"Received a {kind} of NumPy arrays with different lengths. Mismatch found at "
                             f"index {i}, Expected shape={expected} Received shape={column.shape}.Please provide "
                             f"a {kind} of NumPy arrays with the same length.")
    if len({c.shape[1:] for c in columns}) == 1 and all(c.dtype != object for c in columns):
        # (tf.keras stacks each sample's components into one array: they take their common dtype)
        common = np.result_type(*columns)
        columns = [c.astype(common, copy=False) for c in columns]
    return columns, True


def _sizes(left_size, right_size, total):
    """tf.keras's ``_rescale_dataset_split_sizes``: the two sizes as counts, or its errors."""
    bad_left = left_size is not None and type(left_size) not in (int, float)
    bad_right = right_size is not None and type(right_size) not in (int, float)
    if bad_left and bad_right:
        raise TypeError("Invalid `left_size` and `right_size` Types. Expected: integer or float or None, Received: "
                        f"type(left_size)={type(left_size)} and type(right_size)={type(right_size)}")
    if bad_left:
        raise TypeError("Invalid `left_size` Type. Expected: int or float or None, Received: "
                        f"type(left_size)={type(left_size)}.  ")
    if bad_right:
        raise TypeError(f"Invalid `right_size` Type. Expected: int or float or None,Received: "
                        f"type(right_size)={type(right_size)}.")
    if left_size == 0 and right_size == 0:
        raise ValueError("Both `left_size` and `right_size` are zero. At least one of the split sizes must be "
                         "non-zero.")
    if type(left_size) is int and not 0 < left_size < total or type(left_size) is float and not 0 < left_size < 1:
        raise ValueError(f"`left_size` should be either a positive integer smaller than {total}, or a float within "
                         f"the range `[0, 1]`. Received: left_size={left_size}")
    if type(right_size) is int and not 0 < right_size < total or (
            type(right_size) is float and not 0 < right_size < 1):
        raise ValueError(f"`right_size` should be either a positive integer and smaller than {total} or a float "
                         f"within the range `[0, 1]`. Received: right_size={right_size}")
    if type(left_size) is float and type(right_size) is float and left_size + right_size > 1:
        raise ValueError("The sum of `left_size` and `right_size` is greater than 1. It must be less than or "
                         "equal to 1.")
    # (tf.keras's types, which its messages show: a fraction rounds to an int, a count becomes a float)
    left = round(left_size * total) if type(left_size) is float else None if left_size is None else float(left_size)
    right = (round(right_size * total) if type(right_size) is float else
             None if right_size is None else float(right_size))
    left = total - right if left is None else left
    right = total - left if right is None else right
    if left + right > total:  # (tf.keras's message, its unformatted "{total_length}" included)
        raise ValueError("The sum of `left_size` and `right_size` should be smaller than the {total_length}. "
                         f"Received: left_size + right_size = {left + right}and total_length = {total}")
    for split, side in ((left, "left"), (right, "right")):
        if split == 0:
            raise ValueError(f"With `dataset` of length={total}, `left_size`={left} and `right_size`={right}."
                             f"Resulting {side} side dataset split will be empty. Adjust any of the "
                             "aforementioned parameters")
    return int(left), int(right)


def split_dataset(dataset, left_size=None, right_size=None, shuffle=False, seed=None):
    """``(left, right)``: two `Dataset` of the samples of ``dataset`` (a NumPy array, or a list or tuple of
    arrays of one length, whose elements are then tuples), the first ``left_size`` and the last ``right_size``
    (fractions of the samples or counts; None: the rest), after a shuffle with ``seed`` if ``shuffle``."""
    from .dataset import Dataset
    if isinstance(dataset, Dataset):  # (tf.keras unbatches a batched tf.data dataset: gpunet's don't say)
        raise NotImplementedError("split_dataset of a gpunet Dataset is not implemented: split the arrays it was "
                                  "made from, then batch each split.")
    if not isinstance(dataset, (np.ndarray, list, tuple)):
        raise TypeError(_TYPE_ERROR.format(dataset, type(dataset)))
    if right_size is None and left_size is None:
        raise ValueError("At least one of the `left_size` or `right_size` must be specified. Received: "
                         "left_size=None and right_size=None")
    columns, several = _columns(dataset)
    total = len(columns[0])
    if total == 0:
        raise ValueError("Received an empty Dataset. `dataset` must be a non-empty list/tuple of `numpy.ndarray` "
                         "objects or `tf.data.Dataset` objects.")
    order = list(range(total))
    if shuffle:  # (tf.keras seeds Python's global `random` and shuffles; a private Random gives that permutation
        if seed is None:  # without reseeding the caller's)
            seed = random.randint(0, int(1e6))
        random.Random(seed).shuffle(order)
    left, right = _sizes(left_size, right_size, total)
    return _part(columns, order[:left], several), _part(columns, order[-right:], several)


def _part(columns, rows, several):
    picked = [c[np.asarray(rows, dtype=np.int64)] for c in columns]
    if several:
        return from_elements(lambda i: tuple(c[i] for c in picked), range(len(rows)))
    return from_elements(lambda i: picked[0][i], range(len(rows)))
