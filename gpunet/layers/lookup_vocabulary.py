"""IntegerLookup's vocabulary on the host: the token counts ``adapt`` gathers, the order tf.keras
gives the learned vocabulary, a given vocabulary's checks, and the device table that maps tokens
to indices (and back)."""
import math
import os

from .. import backend as B
from .categorical import StateWeight, host_array

_EXACT = {"float16": 2 ** 11, "float32": 2 ** 24, "float64": 2 ** 53}  # integers each float holds exactly


def _np():
    return B.resolve("numpy").xp


def integer_values(arr, what):
    """A host array of integers, or of whole-number floats, as int64; anything else is a ValueError
    naming ``what`` and the first bad value."""
    np = _np()
    if arr.dtype.kind in "iub":
        return arr.astype("int64")
    if arr.dtype.kind != "f":
        raise ValueError(f"{what} expects integer tokens, received an array of dtype {arr.dtype}.")
    bad = ~np.isfinite(arr) | (arr != np.floor(arr)) | (np.abs(arr) >= _EXACT.get(arr.dtype.name, 2 ** 53))
    if bad.any():
        at = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{what} expects integer tokens, received {arr[at].item()!r} at position {at}"
                         f"{_precision_note(arr.dtype.name, arr[at])}.")
    return arr.astype("int64")


def as_tokens(ops, x, what):
    """A backend array of tokens (or indices) as int64; floats must hold whole numbers their dtype holds
    exactly (else a ValueError naming ``what`` and the first bad value), other dtypes are refused."""
    xp = ops.xp
    if x.dtype.kind in "iub":
        return x.astype("int64", copy=False)
    if x.dtype.kind == "f" and x.size:
        limit = _EXACT.get(x.dtype.name, 2 ** 53)
        if bool((~(xp.abs(x) < limit) | (x != xp.floor(x))).any()):
            integer_values(ops.to_host(x), what)  # raises, naming it
    elif x.dtype.kind != "f":
        raise ValueError(f"{what} expects integer tokens, received an array of dtype {x.dtype}.")
    return x.astype("int64")


def _precision_note(dtype, value):
    if math.isfinite(value) and value == math.floor(value):
        return (f" ({dtype} holds integers exactly only below {_EXACT[dtype]}: the token may have been rounded; "
                f"inside a model the inputs travel in its float dtype, so call the layer on integer arrays, or "
                f"use gpunet.backend.set_floatx('float64') before building the model)")
    return " (tf.keras would truncate it)" if math.isfinite(value) else ""


class Counts:
    """Token counts (and, for tf_idf, document counts) over ``adapt``'s batches."""

    def __init__(self, documents):
        self.parts, self.doc_parts, self.documents = [], [], 0 if documents else None

    def add(self, batch):
        np = _np()
        if batch.ndim < 2:  # tf.keras's update_state: a scalar or a 1-D batch is one document
            batch = batch.reshape(1, -1)
        tokens, counts = np.unique(batch.reshape(-1), return_counts=True)
        self.parts.append((tokens, counts))
        if self.documents is not None:
            rows = np.sort(batch.reshape(batch.shape[0], -1), axis=1)
            first = np.ones(rows.shape, bool)
            first[:, 1:] = rows[:, 1:] != rows[:, :-1]
            self.doc_parts.append(np.unique(rows[first], return_counts=True))
            self.documents += batch.shape[0]

    @staticmethod
    def _merged(parts):
        np = _np()
        if not parts:
            return np.zeros(0, "int64"), np.zeros(0, "int64")
        tokens = np.concatenate([t for t, _ in parts])
        counts = np.concatenate([c for _, c in parts])
        unique, inverse = np.unique(tokens, return_inverse=True)
        return unique, np.bincount(inverse.reshape(-1), weights=counts, minlength=unique.size).astype("int64")

    def vocabulary(self, drop, limit):
        """The tokens by count, most frequent first, ties by token from high to low (tf.keras's
        ``np.lexsort((tokens, counts))[::-1]``), without the tokens in ``drop``, at most ``limit``."""
        np = _np()
        tokens, counts = self._merged(self.parts)
        keep = ~np.isin(tokens, np.asarray([d for d in drop if d is not None], dtype="int64"))
        tokens, counts = tokens[keep], counts[keep]
        order = np.lexsort((tokens, counts))[::-1]
        if limit is not None:
            order = order[:limit]
        return tokens[order]

    def idf(self, tokens):
        """tf.keras's inverse document frequencies of ``tokens``: ``log(1 + documents / (1 + in how many))``."""
        np = _np()
        known, counts = self._merged(self.doc_parts)
        at = np.minimum(np.searchsorted(known, tokens), max(known.size - 1, 0))
        found = known[at] == tokens if known.size else np.zeros(tokens.shape, bool)
        in_docs = np.where(found, counts[at] if known.size else 0, 0)
        return np.log(1 + self.documents / (1 + in_docs))


def check_sizes(name, max_tokens, num_oov_indices, pad_to_max_tokens):
    """tf.keras's checks of a lookup layer's ``max_tokens``, ``num_oov_indices`` and ``pad_to_max_tokens``,
    its messages naming the layer's class ``name``."""
    if max_tokens is not None and max_tokens <= 1:
        raise ValueError(f"If `max_tokens` is set for `{name}`, it must be greater than 1. Received: "
                         f"max_tokens={max_tokens}.")
    if num_oov_indices < 0:
        raise ValueError(f"The value of `num_oov_indices` argument for `{name}` must >= 0. Received "
                         f"num_oov_indices={num_oov_indices}.")
    if pad_to_max_tokens and max_tokens is None:
        raise ValueError(f"If pad_to_max_tokens is True, must set `max_tokens`. Received: max_tokens={max_tokens}")


def read_vocabulary_file(path):
    """The integer tokens of a vocabulary file, one a line (tf.keras's ``vocabulary="path"``)."""
    if not os.path.exists(path):
        raise ValueError(f"Vocabulary file {path} does not exist.")
    with open(path) as f:
        return integer_lines(f.read(), f"Vocabulary file {path}")


def integer_lines(text, what):
    """The integers of ``text``, one a line (trailing empty lines ignored), as an int64 array."""
    lines = text.splitlines()
    while lines and lines[-1] == "":
        lines.pop()
    try:
        return _np().asarray([int(line) for line in lines], dtype="int64")
    except (ValueError, OverflowError):
        raise ValueError(f"{what} must hold one integer per line.") from None


def checked_tokens(vocab, special, mask_token, oov_token, max_tokens):
    """``(tokens, found_special)``: a given vocabulary without the special tokens it may start with
    (``special``, in order), after tf.keras's checks: no repeated token, no ``mask_token`` or
    ``oov_token`` (given for an inverse lookup only) among them, at most ``max_tokens`` in all."""
    np = _np()
    start = len(special)
    found_special = start <= vocab.size and vocab[:start].tolist() == special
    tokens = vocab[start:] if found_special else vocab
    unique, counts = np.unique(tokens, return_counts=True)
    if (counts > 1).any():
        raise ValueError(f"The passed vocabulary has at least one repeated term. Please uniquify your dataset. "
                         f"The repeated terms are {unique[counts > 1].tolist()}")
    for token, kind, name in ((mask_token, "mask", "mask_token"), (oov_token, "OOV", "oov_token")):
        if token is not None and token in tokens.tolist():
            raise ValueError(f"Found reserved {kind} token at unexpected location in `vocabulary`. Note that passed "
                             f"`vocabulary` does not need to include the OOV and mask tokens. Either remove all mask "
                             f"and OOV tokens, or include them only at the start of the vocabulary in precisely this "
                             f"order: {special}. Received: {name}={token} at vocabulary index "
                             f"{np.argwhere(vocab == token)[-1]}")
    if max_tokens is not None and start + tokens.size > max_tokens:
        raise ValueError(f"Attempted to set a vocabulary larger than the maximum vocab size. Passed vocab size is "
                         f"{start + tokens.size}, max vocab size is {max_tokens}.")
    return tokens, found_special


class Table:
    """A vocabulary on a backend: ``tokens`` (int64, in vocabulary order) at indices from ``start``."""

    def __init__(self, ops, tokens, start):
        np = _np()
        order = np.argsort(tokens, kind="stable")
        self.ops, self.size, self.start = ops, int(tokens.size), start
        self.sorted = ops.asarray(tokens[order])
        self.positions = ops.asarray(order.astype("int64") + start)
        self.tokens = ops.asarray(tokens)

    def index(self, x, default):
        """Each token's index, or ``default`` where it is not in the vocabulary."""
        xp = self.ops.xp
        if not self.size:
            return xp.full(x.shape, default, dtype="int64")
        at = xp.minimum(xp.searchsorted(self.sorted, x), self.size - 1)
        return xp.where(self.sorted[at] == x, self.positions[at], default)

    def token(self, i, default):
        """Each index's token, or ``default`` where it is no token's index."""
        xp = self.ops.xp
        where = (i >= self.start) & (i < self.start + self.size)
        if not self.size:
            return xp.full(i.shape, default, dtype="int64")
        return xp.where(where, self.tokens[xp.where(where, i - self.start, 0)], default)


def listed(values):
    """A vocabulary or idf weights as a config holds them: a list (or a file's path), None for None."""
    if values is None or isinstance(values, (str, list)):
        return values
    return host_array(values).tolist()


def check_keras3_options(oov_method, salt):
    """Keras 3's hashing options: gpunet maps OOV tokens by floormod, as tf.keras and Keras 3's default."""
    if oov_method != "floormod" or salt is not None:
        raise ValueError(f"IntegerLookup: only Keras 3's oov_method='floormod' without a salt is supported (tf.keras "
                         f"2's behaviour), received oov_method={oov_method!r}, salt={salt!r}.")


def keras3_asset(layer, files):
    """An adapted vocabulary from a Keras 3 archive's assets (saving/keras3_assets.py): ``vocabulary.txt``,
    one token a line, the special tokens first. Returns ``(the names read, the function setting it)``: set
    after the weights, which hold tf-idf's ``idf_weights``. A constructor's vocabulary (the config's) stays,
    as in Keras 3, which writes no asset then."""
    text = files.get("vocabulary.txt")
    if text is None or layer._has_input_vocabulary:
        return (), None
    try:
        tokens = integer_lines(text.decode("utf-8"), f"IntegerLookup '{layer.name}': vocabulary.txt")
    except UnicodeDecodeError as exc:
        raise ValueError(f"IntegerLookup '{layer.name}': vocabulary.txt is not UTF-8 text ({exc.reason})") from None

    def load():
        if layer.idf_weights is not None:  # (tf-idf: its length the vocabulary's, as Keras 3 gives it back)
            layer.set_vocabulary(tokens, layer.ops.to_host(layer.idf_weights.value)[:tokens.size])
        else:
            layer.set_vocabulary(tokens)
    return ("vocabulary.txt",), load


class IdfWeights(StateWeight):
    """tf-idf's weights, which Keras 3 keeps under the name ``idf_weights`` in its weights layout."""

    __slots__ = ()
    keras3_key = "idf_weights"
