"""tf.keras 2's `StringLookup`: string tokens to indices through a vocabulary, given or learned by ``adapt``
(tokens by frequency, ties by token from high to low, as tf.keras sorts them), with its mask and OOV tokens,
``invert`` and output modes; `TextVectorization` (text_vectorization.py) looks its tokens up through it.

gpunet's tensors hold numbers, so these layers run on the host, on Python strings or bytes (a list, or a
NumPy array of ``str``, ``bytes`` or objects, as a `Dataset` of texts gives them): call them directly or in a
dataset's ``map``, and give the model their numbers. Inside a model (a symbolic input) they are refused with
a message. Results are NumPy arrays with ``.numpy()``. With ``num_oov_indices`` above 1 an unknown string goes
to the OOV index its FarmHash fingerprint picks, as TensorFlow's (backend/string_hash.py; needs pyfarmhash);
``sparse=True`` is refused."""
import collections

from .. import backend as B
from ..backend import string_hash as H
from ..backend import eager
from . import categorical as cat
from . import lookup_vocabulary as lv
from .base import Layer

_MODES = (cat.INT, cat.ONE_HOT, cat.MULTI_HOT, cat.COUNT, cat.TF_IDF)

np = B.resolve("numpy").xp  # (these layers work on the host, on Python strings: the NumPy backend's arrays)


def as_text(value, encoding="utf-8"):
    """A token or text as ``str`` (bytes decoded)."""
    return value.decode(encoding) if isinstance(value, (bytes, np.bytes_)) else str(value)


def host_strings(data, encoding="utf-8"):
    """``data`` (a string, a list, or an array of strings or bytes, or a tensor with ``.numpy()``) as a NumPy
    array of ``str`` objects."""
    if hasattr(data, "numpy") and not isinstance(data, np.ndarray):
        data = data.numpy()
    array = np.asarray(data, dtype=object)
    out = np.empty(array.shape, dtype=object)
    flat = out.reshape(-1)
    for i, value in enumerate(array.reshape(-1)):
        flat[i] = as_text(value, encoding)
    return out


def refuse_symbolic(layer, inputs):
    from .symbolic import is_symbolic
    if is_symbolic(inputs):
        raise NotImplementedError(f"{type(layer).__name__} '{layer.name}' cannot be part of a gpunet model: gpunet's "
                                  "tensors hold numbers, not strings. Apply it to the data instead (directly, or in "
                                  "a dataset's map: ds.map(lambda x, y: (layer(x), y))) and give the model its "
                                  "output.")


class StringVocabulary:
    """A string vocabulary with its special tokens: indices, counts from ``adapt``, the output modes."""

    def __init__(self, owner, max_tokens, num_oov_indices, mask_token, oov_token, output_mode, pad_to_max_tokens,
                 invert=False):
        name = type(owner).__name__
        lv.check_sizes(name, max_tokens, num_oov_indices, pad_to_max_tokens)
        cat.validate_string_arg(output_mode, _MODES, name, "output_mode")
        self.max_tokens, self.num_oov_indices, self.mask_token, self.oov_token = (max_tokens, num_oov_indices,
                                                                                  mask_token, oov_token)
        self.output_mode, self.pad_to_max_tokens, self.invert = output_mode, bool(pad_to_max_tokens), invert
        self.tokens, self.idf, self._index = [], None, {}

    def start(self):
        """The first vocabulary token's index: after the mask (``"int"`` mode) and the OOV indices."""
        return (1 if self.mask_token is not None and self.output_mode == cat.INT else 0) + self.num_oov_indices

    def special(self):
        return [self.mask_token] * (self.start() - self.num_oov_indices) + [self.oov_token] * self.num_oov_indices

    def size(self):
        return len(self.tokens) + self.start()

    def use(self, tokens, idf=None):
        self.tokens = list(tokens)
        self._index = {t: i + self.start() for i, t in enumerate(self.tokens)}
        self.idf = idf

    def set(self, vocabulary, idf_weights=None):
        """A given vocabulary (a list, an array, or a file of one token a line), which may start with the special
        tokens; tf.keras's checks."""
        if isinstance(vocabulary, str):
            with open(vocabulary, encoding="utf-8") as f:
                vocabulary = f.read().splitlines()
        vocab = [as_text(v) for v in (vocabulary.tolist() if hasattr(vocabulary, "tolist") else vocabulary)]
        special = self.special()
        found = vocab[:len(special)] == special
        tokens = vocab[len(special):] if found else vocab
        repeated = sorted(t for t, n in collections.Counter(tokens).items() if n > 1)
        if repeated:
            raise ValueError(f"The passed vocabulary has at least one repeated term. Please uniquify your dataset. "
                             f"The repeated terms are {repeated}")
        for token, kind in ((self.mask_token, "mask"), (self.oov_token if self.invert else None, "OOV")):
            if token is not None and token in tokens:
                raise ValueError(f"Found reserved {kind} token at unexpected location in `vocabulary`. Note that "
                                 "passed `vocabulary` does not need to include the OOV and mask tokens. Either remove "
                                 "all mask and OOV tokens, or include them only at the start of the vocabulary in "
                                 f"precisely this order: {special}.")
        if self.max_tokens is not None and len(special) + len(tokens) > self.max_tokens:
            raise ValueError(f"Attempted to set a vocabulary larger than the maximum vocab size. Passed vocab size is "
                             f"{len(special) + len(tokens)}, max vocab size is {self.max_tokens}.")
        idf = None
        if self.output_mode == cat.TF_IDF:
            if idf_weights is None:
                raise ValueError("`idf_weights` must be set if output_mode is TF_IDF")
            weights = np.asarray(idf_weights, dtype="float64").reshape(-1)
            if len(weights) != len(vocab):
                raise ValueError(f"`idf_weights` must be the same length as vocabulary. len(idf_weights) is "
                                 f"{len(weights)}, len(vocabulary) is {len(vocab)}")
            idf = weights if found else np.concatenate([np.full(self.start(), weights.mean()), weights])
        self.use(tokens, idf)

    def learn(self, documents):
        """The vocabulary (and tf-idf's weights) from ``documents``: lists of tokens."""
        counts, in_docs = {}, {}
        for doc in documents:
            for token in doc:
                counts[token] = counts.get(token, 0) + 1
            for token in set(doc):
                in_docs[token] = in_docs.get(token, 0) + 1
        for token in (self.mask_token, self.oov_token):
            counts.pop(token, None)
        keys = list(counts)
        # tf.keras: np.lexsort((tokens, counts))[::-1] on the tokens' UTF-8 bytes
        order = sorted(range(len(keys)), key=lambda i: (counts[keys[i]], keys[i].encode("utf-8")), reverse=True)
        if self.max_tokens:
            order = order[:self.max_tokens - self.start()]
        tokens = [keys[i] for i in order]
        idf = None
        if self.output_mode == cat.TF_IDF:
            weights = np.log(1 + len(documents) / (1 + np.asarray([in_docs[t] for t in tokens], dtype="float64")))
            mean = weights.mean() if weights.size else float("nan")
            idf = np.concatenate([np.full(self.start(), mean), weights])
        self.use(tokens, idf)

    def depth(self):
        return self.max_tokens if self.pad_to_max_tokens else self.size()

    def lookup(self, tokens, owner):
        """The indices of ``tokens`` (an object array of ``str``), int64."""
        oov = self.start() - self.num_oov_indices
        out = np.empty(tokens.shape, dtype="int64")
        flat = out.reshape(-1)
        for i, token in enumerate(tokens.reshape(-1)):
            if self.mask_token is not None and token == self.mask_token:
                flat[i] = 0 if self.output_mode == cat.INT else -1  # (the vector modes count it nowhere, as tf's)
            elif token in self._index:
                flat[i] = self._index[token]
            elif self.num_oov_indices == 1:
                flat[i] = oov
            elif self.num_oov_indices:  # (tf.keras: to_hash_bucket_fast over the OOV indices)
                flat[i] = oov + int(H.hash_bins(H.as_tokens([token]), self.num_oov_indices)[0])
            else:
                raise ValueError(f"{type(owner).__name__} '{owner.name}': the token {token!r} is not in the "
                                 "vocabulary and there is no OOV index (num_oov_indices=0).")
        return out

    def encode(self, indices, dtype):
        """``indices`` in the output mode: ``"int"`` as they are, else vectors of `depth` values."""
        if self.output_mode == cat.INT:
            return indices
        idf = None
        if self.output_mode == cat.TF_IDF:
            idf = np.zeros(self.depth())
            idf[:len(self.idf)] = self.idf
        return cat.encode(_numpy_ops(), indices, self.output_mode, self.depth(), dtype,
                          idf_weights=None if idf is None else idf.astype(dtype))


def _numpy_ops():
    from .. import backend as B
    return B.resolve("numpy")


class HostVocabularyLayer(Layer):
    """What `StringLookup` and `TextVectorization` share: Keras's vocabulary methods and attributes over their
    `StringVocabulary` ``vocab``."""

    _vocab_attributes = ("max_tokens", "num_oov_indices", "mask_token", "oov_token", "output_mode",
                         "pad_to_max_tokens")

    def __getattr__(self, name):  # (Keras's layer.max_tokens, layer.output_mode, ...: the vocabulary's)
        vocab = self.__dict__.get("vocab")
        if vocab is not None and name in self._vocab_attributes:
            return getattr(vocab, name)
        raise AttributeError(f"'{type(self).__name__}' object has no attribute {name!r}")

    def vocabulary_size(self):
        """The number of indices: the vocabulary's tokens and the special ones."""
        return self.vocab.size()

    def get_vocabulary(self, include_special_tokens=True):
        """The tokens in index order (the special ones first unless ``include_special_tokens=False``)."""
        vocab = self.vocab.special() + self.vocab.tokens
        return vocab if include_special_tokens else vocab[self.vocab.start():]

    def set_vocabulary(self, vocabulary, idf_weights=None):
        """A vocabulary (a list, an array, or a file of one token a line; the special tokens may lead it) and, for
        tf_idf, its weights."""
        self.vocab.set(vocabulary, idf_weights)


class StringLookup(HostVocabularyLayer):
    """Maps string tokens to indices in a vocabulary (module docstring): ``mask_token`` (None; if set, index 0
    in ``"int"`` mode), ``oov_token`` ("[UNK]") at the next, then the vocabulary by frequency. ``invert=True``
    maps indices back to tokens. ``output_mode``: "int" (int64), "one_hot", "multi_hot", "count", "tf_idf"."""

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token="[UNK]", vocabulary=None,
                 idf_weights=None, encoding="utf-8", invert=False, output_mode="int", sparse=False,
                 pad_to_max_tokens=False, **kwargs):
        for key in ("vocabulary_size", "has_input_vocabulary", "oov_method", "salt"):
            kwargs.pop(key, None)
        kwargs.pop("dtype", None)
        cat.refuse_sparse(sparse, "StringLookup")
        if invert and output_mode != cat.INT:
            raise ValueError(f"`output_mode` must be `'int'` when `invert` is true. Received: "
                             f"output_mode={output_mode}")
        super().__init__(**kwargs)
        self.encoding, self.invert, self.sparse = encoding, bool(invert), False
        self.vocab = StringVocabulary(self, max_tokens, num_oov_indices, mask_token, oov_token, output_mode,
                                      pad_to_max_tokens, invert)
        self._has_input_vocabulary = vocabulary is not None
        if vocabulary is not None:
            self.vocab.set(vocabulary, idf_weights)

    def adapt(self, data, batch_size=None, steps=None):
        """Learn the vocabulary from ``data`` (strings; a list, an array, or a dataset or generator of batches):
        each row a document."""
        if self._has_input_vocabulary:
            raise ValueError("Cannot adapt StringLookup layer after setting a static vocabulary via init argument or "
                             "`set_vocabulary`.")
        documents = []
        for batch in text_batches(data, steps):
            rows = host_strings(batch, self.encoding)
            rows = rows.reshape(1, -1) if rows.ndim < 2 else rows.reshape(rows.shape[0], -1)
            documents.extend(list(row) for row in rows)
        self.vocab.learn(documents)

    def __call__(self, inputs, *args, **kwargs):
        refuse_symbolic(self, inputs)
        if self.invert:
            lookup = np.asarray(self.get_vocabulary() + [None], dtype=object)
            index = np.asarray(inputs.numpy() if hasattr(inputs, "numpy") else inputs, dtype="int64")
            found = np.where((index >= 0) & (index < self.vocab.size()), index, -1)
            return eager.view(np, np.where(found >= 0, lookup[found], self.vocab.oov_token).astype(object))
        tokens = host_strings(inputs, self.encoding)
        return eager.view(np, self.vocab.encode(self.vocab.lookup(tokens, self), "float32"))

    def get_config(self):
        config = super().get_config()
        config["dtype"] = "string" if self.invert else ("int64" if self.vocab.output_mode == cat.INT else "float32")
        v = self.vocab
        config.update({"invert": self.invert, "max_tokens": v.max_tokens, "num_oov_indices": v.num_oov_indices,
                       "oov_token": v.oov_token, "mask_token": v.mask_token, "output_mode": v.output_mode,
                       "sparse": False, "pad_to_max_tokens": v.pad_to_max_tokens,
                       "idf_weights": None if v.idf is None else v.idf.tolist(),
                       "vocabulary": list(self.get_vocabulary()) if v.tokens else None, "encoding": self.encoding})
        return config


def text_batches(data, steps=None):
    """The batches of texts ``data`` holds: itself (a list or array), or each of a dataset's or generator's (the
    first of an ``(x, y)`` pair), at most ``steps``."""
    if isinstance(data, (list, tuple, str, bytes, np.ndarray)) or hasattr(data, "numpy"):
        yield data
        return
    for i, batch in enumerate(data):
        if steps is not None and i >= steps:
            return
        yield batch[0] if isinstance(batch, tuple) else batch
