"""``pad_sequences`` (Keras 2's ``keras.preprocessing.sequence.pad_sequences``, also
``keras.utils.pad_sequences`` from tf.keras 2.9 on). Plain NumPy: it runs on the host, on lists.

Kept free of other gpunet imports: ``gpunet.utils`` imports it while gpunet is still loading.
"""
import operator

import numpy as np

_SIDES = ("pre", "post")


def _check_side(name, side):
    # tf.keras only looks at padding/truncating when it meets a non-empty sequence, so a typo passes
    # silently on empty data; checking first makes the mistake show on any input.
    if not isinstance(side, str) or side not in _SIDES:
        raise ValueError(f'{name.capitalize()} type {side!r} not understood: expected "pre" or "post"')


def _holds_strings(dtype):
    # tf.keras compares `dtype != object`, which refuses dtype="object" and np.object_ with a string
    # value (the very spelling its own error message suggests); any object dtype is accepted here.
    return np.issubdtype(dtype, np.str_) or np.dtype(dtype) == np.dtype(object)


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0.0):
    """Pad (and truncate) a list of sequences into one 2D array of shape ``(len(sequences), maxlen)``.

    >>> pad_sequences([[1], [2, 3], [4, 5, 6]])
    array([[0, 0, 1],
           [0, 2, 3],
           [4, 5, 6]], dtype=int32)
    >>> pad_sequences([[1], [2, 3], [4, 5, 6]], maxlen=2, padding="post")
    array([[1, 0],
           [2, 3],
           [5, 6]], dtype=int32)

    Args:
        sequences: a list (or array) of sequences, each a list or array of values (or of
            equally-shaped arrays: the result then has their shape after ``maxlen``).
        maxlen: the output width; None pads to the longest sequence.
        dtype: the output's dtype (``object`` or a string dtype for strings). Defaults to int32.
        padding: ``"pre"`` or ``"post"``: put ``value`` before or after each shorter sequence.
        truncating: ``"pre"`` or ``"post"``: drop values from the start or the end of each
            sequence longer than ``maxlen``.
        value: the padding value (a string needs ``dtype=object`` or a string dtype).

    Returns:
        A NumPy array of shape ``(len(sequences), maxlen) + sample_shape``.

    Raises:
        ValueError: bad ``padding``/``truncating``, an entry that is not a sequence, entries of
            other shapes, a string ``value`` with a numeric ``dtype``, or no ``maxlen`` for no data.
    """
    if not hasattr(sequences, "__len__"):
        raise ValueError(f"`sequences` must be iterable: expected a list or array of sequences, received "
                         f"{type(sequences).__name__} (wrap a generator in list())")
    _check_side("padding", padding)
    _check_side("truncating", truncating)
    lengths, sample_shape, found = [], (), False
    for i, x in enumerate(sequences):
        try:
            lengths.append(len(x))
        except TypeError:
            raise ValueError(f"`sequences` must be a list of iterables. Found non-iterable: {x!r:.80} "
                             f"({type(x).__name__}) at position {i}") from None
        if not found and len(x):
            # the first non-empty entry sets the shape of one step; the loop below checks the rest
            sample_shape, found = np.asarray(x).shape[1:], True

    if maxlen is None:
        if not lengths:
            raise ValueError("pad_sequences: `sequences` is empty, so there is no longest sequence to pad to; "
                             "pass maxlen= for an empty batch")
        maxlen = int(np.max(lengths))
    else:
        try:
            maxlen = operator.index(maxlen)
        except TypeError:
            raise TypeError(f"pad_sequences: maxlen must be an int or None, received {maxlen!r:.80}") from None
        if maxlen < 0:
            raise ValueError(f"pad_sequences: maxlen must be >= 0, received {maxlen}")

    if isinstance(value, str) and not _holds_strings(dtype):
        raise ValueError(f"`dtype` {dtype} is not compatible with `value`'s type: {type(value)}\n"
                         "You should set `dtype=object` for variable length strings.")

    x = np.full((len(sequences), maxlen) + sample_shape, value, dtype=dtype)
    if maxlen == 0:
        return x  # tf.keras's s[-0:] keeps the whole sequence and then fails to fit it into no columns
    for idx, s in enumerate(sequences):
        if not len(s):
            continue
        trunc = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        trunc = np.asarray(trunc, dtype=dtype)
        if trunc.shape[1:] != sample_shape:
            raise ValueError(f"Shape of sample {trunc.shape[1:]} of sequence at position {idx} is different "
                             f"from expected shape {sample_shape}")
        if padding == "post":
            x[idx, :len(trunc)] = trunc
        else:
            x[idx, -len(trunc):] = trunc
    return x
