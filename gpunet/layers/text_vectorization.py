"""tf.keras 2's `TextVectorization`: texts to token indices or vectors, as tf.keras 2.21 computes them:
standardized (``"lower_and_strip_punctuation"``: ASCII letters lowered, as ``tf.strings.lower``, and
tf.keras's punctuation removed), split on whitespace (or into characters), n-grams joined by a space, looked
up in a vocabulary learned by ``adapt`` (by frequency, ties by token from high to low: tf.keras's order), and
output as int64 indices (padded or cut to ``output_sequence_length``, else to the longest text of the call) or
as ``multi_hot``/``count``/``tf_idf`` vectors. A host layer, like `StringLookup` (string_lookup.py): call it on
texts, directly or in a dataset's ``map``; inside a model it is refused with a message."""
import re

from .. import backend as B
from ..backend import eager
from . import categorical as cat
from .string_lookup import HostVocabularyLayer, StringVocabulary, as_text, host_strings, refuse_symbolic, text_batches

LOWER_AND_STRIP_PUNCTUATION, LOWER, STRIP_PUNCTUATION = "lower_and_strip_punctuation", "lower", "strip_punctuation"
WHITESPACE, CHARACTER = "whitespace", "character"
_STRIP = re.compile(r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']')  # (tf.keras's DEFAULT_STRIP_REGEX)
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_WHITESPACE = re.compile(r"[ \t\n\r\x0b\x0c]+")

np = B.resolve("numpy").xp  # (these layers work on the host, on Python strings: the NumPy backend's arrays)


def _ngrams(tokens, widths):
    out = []
    for n in widths:
        out.extend(" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1))
    return out


class TextVectorization(HostVocabularyLayer):
    """Texts to indices or vectors (see the module's docstring); tf.keras 2's arguments: ``max_tokens``,
    ``standardize`` (a name, None, or a function of an array of texts), ``split`` ("whitespace", "character",
    None, or a function of one standardized text giving its tokens), ``ngrams`` (an int or a tuple of widths),
    ``output_mode`` ("int", "multi_hot", "count", "tf_idf"), ``output_sequence_length``, ``pad_to_max_tokens``,
    ``vocabulary``, ``idf_weights``. Index 0 is the padding (""), 1 the unknown token ("[UNK]")."""

    def __init__(self, max_tokens=None, standardize=LOWER_AND_STRIP_PUNCTUATION, split=WHITESPACE, ngrams=None,
                 output_mode="int", output_sequence_length=None, pad_to_max_tokens=False, vocabulary=None,
                 idf_weights=None, sparse=False, ragged=False, encoding="utf-8", **kwargs):
        for key in ("vocabulary_size", "batch_input_shape"):
            kwargs.pop(key, None)
        kwargs.pop("dtype", None)
        if output_mode == "binary":
            output_mode = cat.MULTI_HOT
        if output_mode == "tf-idf":
            output_mode = cat.TF_IDF
        cat.validate_string_arg(output_mode, (cat.INT, cat.MULTI_HOT, cat.COUNT, cat.TF_IDF), "TextVectorization",
                                "output_mode")
        names = (None, LOWER_AND_STRIP_PUNCTUATION, LOWER, STRIP_PUNCTUATION)
        if not (standardize in names or callable(standardize)):
            raise ValueError(f"`standardize` must be one of {names} or a callable. Received: standardize={standardize}")
        if not (split in (None, WHITESPACE, CHARACTER) or callable(split)):
            raise ValueError(f"`split` must be one of {(None, WHITESPACE, CHARACTER)} or a callable. Received: "
                             f"split={split}")
        if not (ngrams is None or (isinstance(ngrams, int) and not isinstance(ngrams, bool) and ngrams > 0)
                or (isinstance(ngrams, (list, tuple)) and all(isinstance(n, int) and n > 0 for n in ngrams))):
            raise ValueError(f"`ngrams` must be None, an integer, or a tuple of integers. Received: ngrams={ngrams}")
        if output_mode == cat.INT and not (output_sequence_length is None or (
                isinstance(output_sequence_length, int) and output_sequence_length > 0)):
            raise ValueError(f"`output_sequence_length` must be either None or an integer when `output_mode` is "
                             f"'int'. Received: output_sequence_length={output_sequence_length}")
        if output_mode != cat.INT and output_sequence_length is not None:
            raise ValueError(f"`output_sequence_length` must not be set if `output_mode` is not 'int'. Received "
                             f"output_sequence_length={output_sequence_length}.")
        if ragged:
            raise NotImplementedError("TextVectorization(ragged=True) is not implemented in gpunet (no ragged "
                                      "tensors): the indices are padded to the longest text, or to "
                                      "output_sequence_length.")
        cat.refuse_sparse(sparse, "TextVectorization")
        super().__init__(**kwargs)
        self.standardize, self.split, self.encoding = standardize, split, encoding
        self.ngrams = tuple(range(1, ngrams + 1)) if isinstance(ngrams, int) else (
            None if ngrams is None else tuple(ngrams))
        self._ngrams_arg = ngrams
        self.output_sequence_length, self.sparse, self.ragged = output_sequence_length, False, False
        self.vocab = StringVocabulary(self, max_tokens, 1, "", "[UNK]", output_mode, pad_to_max_tokens)
        self._has_input_vocabulary = vocabulary is not None
        if vocabulary is not None:
            self.vocab.set(vocabulary, idf_weights)

    # ---- texts to tokens ---------------------------------------------------------------------------
    def _standardized(self, texts):
        if callable(self.standardize):
            return host_strings(self.standardize(texts), self.encoding)
        out = np.empty(texts.shape, dtype=object)
        flat = out.reshape(-1)
        for i, text in enumerate(texts.reshape(-1)):
            if self.standardize in (LOWER, LOWER_AND_STRIP_PUNCTUATION):
                text = text.translate(_ASCII_LOWER)  # (tf.strings.lower: ASCII letters only)
            if self.standardize in (STRIP_PUNCTUATION, LOWER_AND_STRIP_PUNCTUATION):
                text = _STRIP.sub("", text)
            flat[i] = text
        return out

    def _tokens(self, text):
        if self.split is None:
            tokens = [text]
        elif self.split == WHITESPACE:
            tokens = [t for t in _WHITESPACE.split(text) if t]
        elif self.split == CHARACTER:
            tokens = list(text)
        else:
            tokens = [as_text(t, self.encoding) for t in self.split(text)]
        return _ngrams(tokens, self.ngrams) if self.ngrams else tokens

    def _documents(self, inputs):
        texts = host_strings(inputs, self.encoding)
        if texts.ndim == 2 and texts.shape[1] == 1:
            texts = texts[:, 0]  # (tf.keras squeezes a (batch, 1) input)
        if texts.ndim > 1:
            raise ValueError(f"TextVectorization '{self.name}' takes texts (batch,) or (batch, 1), received shape "
                             f"{texts.shape}")
        single = texts.ndim == 0
        texts = self._standardized(texts.reshape(-1))
        return [self._tokens(t) for t in texts], single

    # ---- the Keras API -----------------------------------------------------------------------------
    def adapt(self, data, batch_size=None, steps=None):
        """Learn the vocabulary (and tf-idf's weights) from texts: a list, an array, or a dataset or generator of
        batches of them (an ``(x, y)`` batch's x)."""
        if self._has_input_vocabulary:
            raise ValueError("Cannot adapt TextVectorization layer after setting a static vocabulary via init "
                             "argument or `set_vocabulary`.")
        documents = []
        for batch in text_batches(data, steps):
            documents.extend(self._documents(batch)[0])
        self.vocab.learn(documents)

    def __call__(self, inputs, *args, **kwargs):
        refuse_symbolic(self, inputs)
        if self.split is None and self.vocab.output_mode == cat.INT:  # (a text is a token: the input's shape stays)
            texts = host_strings(inputs, self.encoding)
            return eager.view(np, self.vocab.lookup(self._standardized(texts.reshape(-1)), self).reshape(texts.shape))
        documents, single = self._documents(inputs)
        if self.vocab.output_mode != cat.INT:
            rows = [self.vocab.encode(self.vocab.lookup(np.asarray(doc, dtype=object), self)[None], "float32")[0]
                    if doc else np.zeros(self.vocab.depth(), "float32") for doc in documents]
            out = np.stack(rows) if rows else np.zeros((0, self.vocab.depth()), "float32")
        else:
            length = self.output_sequence_length or max([len(d) for d in documents] + [0])
            out = np.zeros((len(documents), length), dtype="int64")
            for i, doc in enumerate(documents):
                index = self.vocab.lookup(np.asarray(doc[:length], dtype=object), self)
                out[i, :len(index)] = index
        return eager.view(np, out[0] if single else out)

    def get_config(self):
        config = super().get_config()
        config["dtype"] = "string"  # (tf.keras's: its inputs)
        v = self.vocab
        for name, value in (("standardize", self.standardize), ("split", self.split)):
            if callable(value):
                from ..utils.generic_utils import serialize_keras_object
                value = serialize_keras_object(value)
            config[name] = value
        config.update({"max_tokens": v.max_tokens, "ngrams": self._ngrams_arg, "output_mode": v.output_mode,
                       "output_sequence_length": self.output_sequence_length, "pad_to_max_tokens":
                       v.pad_to_max_tokens, "sparse": False, "ragged": False,
                       "vocabulary": self.get_vocabulary() if v.tokens else None,
                       "idf_weights": None if v.idf is None else v.idf.tolist(), "encoding": self.encoding})
        return config
