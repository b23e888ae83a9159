"""Keras 2's text preprocessing (``gpunet.preprocessing.text``, as ``keras.preprocessing.text``):
``Tokenizer``, ``tokenizer_from_json``, ``text_to_word_sequence``, ``one_hot`` and ``hashing_trick``,
with tf.keras 2's arguments, vocabularies, sequences, matrices and JSON. Plain Python and NumPy.
"""
import collections
import hashlib
import itertools
import json
import numbers
import warnings

import numpy as np

from .tokenizer_json import parse_tokenizer_json

__all__ = ["Tokenizer", "tokenizer_from_json", "text_to_word_sequence", "one_hot", "hashing_trick"]

FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
MODES = ("binary", "count", "tfidf", "freq")


def text_to_word_sequence(input_text, filters=FILTERS, lower=True, split=" "):
    """Split a text into words: lower-case it, turn each character of ``filters`` into ``split``,
    split on ``split`` and drop empty words.

    >>> text_to_word_sequence("This is a sample sentence.")
    ['this', 'is', 'a', 'sample', 'sentence']
    """
    if not isinstance(input_text, str):
        raise TypeError(f"text_to_word_sequence expects a text (str), received {type(input_text).__name__} "
                        f"{input_text!r:.60}")
    if lower:
        input_text = input_text.lower()
    input_text = input_text.translate(str.maketrans({c: split for c in filters}))
    return [w for w in input_text.split(split) if w]


def _md5(word):
    return int(hashlib.md5(word.encode()).hexdigest(), 16)


def hashing_trick(text, n, hash_function=None, filters=FILTERS, lower=True, split=" ", analyzer=None):
    """A text's words as indices in ``[1, n)``: ``hash_function(word) % (n - 1) + 1`` (0 stays free
    for padding; different words may share an index).

    Args:
        text: the text.
        n: the size of the hashing space.
        hash_function: None for Python's ``hash`` (as tf.keras: salted per process, so indices
            change between runs unless PYTHONHASHSEED is set), ``"md5"`` for stable indices, or a
            function from a word to an int.
        filters, lower, split: as in ``text_to_word_sequence``.
        analyzer: a function from the text to its words, used instead of ``text_to_word_sequence``.

    Returns:
        A list of ints, one per word.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 2:
        # tf.keras divides by n - 1: n=1 is a ZeroDivisionError there
        raise ValueError(f"hashing_trick: n (the size of the hashing space) must be an int >= 2, received {n!r:.80}")
    if hash_function is None:
        hash_function = hash
    elif hash_function == "md5":
        hash_function = _md5
    elif not callable(hash_function):
        raise ValueError(f"hashing_trick: hash_function must be None, 'md5' or a function, received "
                         f"{hash_function!r:.80}")
    seq = text_to_word_sequence(text, filters, lower, split) if analyzer is None else analyzer(text)
    return [hash_function(w) % (n - 1) + 1 for w in seq]


def one_hot(input_text, n, filters=FILTERS, lower=True, split=" ", analyzer=None):
    """A text's words as indices in ``[1, n)`` by Python's ``hash`` (``hashing_trick`` with
    ``hash_function=None``, as in tf.keras: indices differ between processes unless PYTHONHASHSEED
    is set; use ``hashing_trick(..., hash_function="md5")`` for stable ones)."""
    return hashing_trick(input_text, n, hash_function=hash, filters=filters, lower=lower, split=split,
                         analyzer=analyzer)


def _texts(texts, what):
    # A bare string would be read as one document per character (tf.keras does just that).
    if isinstance(texts, str):
        raise TypeError(f"{what} expects a list of texts, received one str ({texts!r:.40}); wrap it in a list")
    return texts


class Tokenizer:
    """Turns texts into sequences of word indices, or into one vector per text (tf.keras 2's
    ``Tokenizer``).

    Words are indexed from 1 by frequency in the texts it was fit on (ties by first appearance);
    0 is never a word. ``word_counts`` (an OrderedDict in order of first appearance),
    ``word_docs``, ``index_docs``, ``word_index``, ``index_word`` and ``document_count`` are
    tf.keras's.

    Args:
        num_words: keep only the ``num_words - 1`` most frequent words in sequences and matrices
            (None: all).
        filters: characters to remove from texts (default: punctuation except ``'``, tabs, newlines).
        lower: lower-case the texts.
        split: the word separator.
        char_level: every character is a token (``filters`` and ``split`` are then unused).
        oov_token: a token (index 1) that stands for every word out of the vocabulary in
            ``texts_to_sequences``; without one such words are dropped.
        analyzer: a function from a text to its tokens, instead of ``text_to_word_sequence``.

    A text may also be a list of tokens.
    """

    def __init__(self, num_words=None, filters=FILTERS, lower=True, split=" ", char_level=False, oov_token=None,
                 analyzer=None, **kwargs):
        if "nb_words" in kwargs:
            warnings.warn("The `nb_words` argument in `Tokenizer` has been renamed `num_words`.")
            num_words = kwargs.pop("nb_words")
        document_count = kwargs.pop("document_count", 0)
        if kwargs:
            raise TypeError("Unrecognized keyword arguments: " + str(kwargs))
        if num_words is not None and (isinstance(num_words, bool) or not isinstance(num_words, numbers.Integral)
                                      or num_words < 0):
            raise ValueError(f"Tokenizer: num_words must be None or an int >= 0, received {num_words!r:.80}")
        self.word_counts = collections.OrderedDict()
        self.word_docs = collections.defaultdict(int)
        self.filters, self.split, self.lower = filters, split, lower
        self.num_words = num_words
        self.document_count = document_count
        self.char_level, self.oov_token = char_level, oov_token
        self.index_docs = collections.defaultdict(int)
        self.word_index, self.index_word = {}, {}
        self.analyzer = analyzer

    def _tokens(self, text):
        if self.char_level or isinstance(text, list):
            if self.lower:
                text = [t.lower() for t in text] if isinstance(text, list) else text.lower()
            return text
        if self.analyzer is None:
            return text_to_word_sequence(text, filters=self.filters, lower=self.lower, split=self.split)
        return self.analyzer(text)

    def fit_on_texts(self, texts):
        """Count the words of ``texts`` (strings, or lists of tokens; a generator will do) and
        re-index the vocabulary by frequency."""
        for text in _texts(texts, "fit_on_texts"):
            self.document_count += 1
            seq = self._tokens(text)
            for w in seq:
                self.word_counts[w] = self.word_counts.get(w, 0) + 1
            for w in set(seq):
                self.word_docs[w] += 1
        # sort() is stable, so words of equal count keep their order of first appearance
        wcounts = sorted(self.word_counts.items(), key=lambda x: x[1], reverse=True)
        sorted_voc = [] if self.oov_token is None else [self.oov_token]
        sorted_voc.extend(wc[0] for wc in wcounts)
        self.word_index = dict(zip(sorted_voc, range(1, len(sorted_voc) + 1)))
        self.index_word = {c: w for w, c in self.word_index.items()}
        for w, c in list(self.word_docs.items()):
            self.index_docs[self.word_index[w]] = c

    def fit_on_sequences(self, sequences):
        """Count the documents each word index occurs in (for ``tfidf`` without ``fit_on_texts``)."""
        self.document_count += len(sequences)
        for seq in sequences:
            for i in set(seq):
                self.index_docs[i] += 1

    def texts_to_sequences(self, texts):
        """Each text as a list of word indices (known words among the ``num_words - 1`` most
        frequent; other words become ``oov_token``'s index, or are dropped without one)."""
        return list(self.texts_to_sequences_generator(texts))

    def texts_to_sequences_generator(self, texts):
        """``texts_to_sequences``, one sequence at a time."""
        num_words = self.num_words
        oov_token_index = self.word_index.get(self.oov_token)
        for text in _texts(texts, "texts_to_sequences"):
            vect = []
            for w in self._tokens(text):
                i = self.word_index.get(w)
                if i is not None:
                    if num_words and i >= num_words:
                        if oov_token_index is not None:
                            vect.append(oov_token_index)
                    else:
                        vect.append(i)
                elif self.oov_token is not None:
                    vect.append(oov_token_index)
            yield vect

    def sequences_to_texts(self, sequences):
        """Each sequence of word indices back as a text (words joined by spaces; the same
        ``num_words`` and ``oov_token`` rules as ``texts_to_sequences``)."""
        return list(self.sequences_to_texts_generator(sequences))

    def sequences_to_texts_generator(self, sequences):
        """``sequences_to_texts``, one text at a time."""
        num_words = self.num_words
        oov_token_index = self.word_index.get(self.oov_token)
        for seq in sequences:
            vect = []
            for num in seq:
                word = self.index_word.get(num)
                if word is not None:
                    if num_words and num >= num_words:
                        if oov_token_index is not None:
                            vect.append(self.index_word[oov_token_index])
                    else:
                        vect.append(word)
                elif self.oov_token is not None:
                    vect.append(self.index_word[oov_token_index])
            yield " ".join(vect)

    def texts_to_matrix(self, texts, mode="binary"):
        """``sequences_to_matrix(texts_to_sequences(texts), mode)``."""
        return self.sequences_to_matrix(self.texts_to_sequences(texts), mode=mode)

    def sequences_to_matrix(self, sequences, mode="binary"):
        """One float64 row per sequence, one column per word index below ``num_words`` (or
        ``len(word_index) + 1``); larger indices are ignored.

        Modes: ``"binary"`` (1 where the word occurs), ``"count"`` (its count), ``"freq"`` (count /
        sequence length) and ``"tfidf"`` (``(1 + log(count)) * log(1 + document_count / (1 +
        documents with the word))``, from the fitted ``index_docs``).
        """
        if mode not in MODES:
            raise ValueError(f"Unknown vectorization mode: expected one of {', '.join(MODES)}, received {mode!r:.80}")
        if self.num_words:
            num_words = self.num_words
        elif self.word_index:
            num_words = len(self.word_index) + 1
        else:
            raise ValueError("Specify a dimension (`num_words` argument), or fit on some text data first.")
        if mode == "tfidf" and not self.document_count:
            raise ValueError("Fit the Tokenizer on some data before using tfidf mode.")

        # One scatter-add over all sequences rather than tf.keras's Python loop per word (about 2x
        # faster on a Reuters-sized batch); the values are the same.
        sequences = list(sequences)
        lengths = np.array([len(s) for s in sequences], dtype=np.int64)
        cols = np.asarray(list(itertools.chain.from_iterable(sequences)))
        if cols.size and cols.dtype.kind not in "iu":
            raise TypeError(f"sequences_to_matrix expects sequences of int word indices, received values of "
                            f"dtype {cols.dtype}")
        if cols.size and cols.min() < 0:
            raise ValueError(f"sequences_to_matrix: word indices must be >= 0, received {cols.min()}")
        rows = np.repeat(np.arange(len(sequences)), lengths)
        keep = cols < num_words
        x = np.zeros((len(sequences), num_words))
        np.add.at(x, (rows[keep], cols[keep].astype(np.intp)), 1)
        if mode == "binary":
            np.minimum(x, 1, out=x)
        elif mode == "freq":
            x /= np.maximum(lengths, 1)[:, None]  # len(seq) counts the dropped words too, as in tf.keras
        elif mode == "tfidf":
            docs = [self.index_docs.get(j, 0) for j in range(num_words)]
            idf = np.log(np.array([1 + self.document_count / (1 + d) for d in docs]))
            r, c = np.nonzero(x)
            x[r, c] = (1 + np.log(x[r, c])) * idf[c]
        return x

    def get_config(self):
        """The settings and vocabulary as a dict; the five vocabulary dicts are JSON texts (as tf.keras)."""
        return {"num_words": self.num_words, "filters": self.filters, "lower": self.lower, "split": self.split,
                "char_level": self.char_level, "oov_token": self.oov_token, "document_count": self.document_count,
                "word_counts": json.dumps(self.word_counts), "word_docs": json.dumps(self.word_docs),
                "index_docs": json.dumps(self.index_docs), "index_word": json.dumps(self.index_word),
                "word_index": json.dumps(self.word_index)}

    def to_json(self, **kwargs):
        """``get_config()`` as JSON text (kwargs go to ``json.dumps``), for ``tokenizer_from_json``
        here or in tf.keras. ``analyzer`` is not saved (tf.keras does not save it either)."""
        return json.dumps({"class_name": type(self).__name__, "config": self.get_config()}, **kwargs)


def tokenizer_from_json(json_string):
    """A ``Tokenizer`` from the JSON text of ``Tokenizer.to_json()`` (gpunet's or tf.keras's).

    Only plain JSON is read, at most ``gpunet.saving.config_limits``'s ``max_config_bytes``;
    anything but a tokenizer's settings and vocabulary raises a ValueError saying what was expected.
    ``class_name`` is not checked (nor is it in tf.keras). Unlike tf.keras's, the loaded tokenizer
    can be fit further (its ``word_docs`` and ``index_docs`` count on from where they were).
    """
    settings, state = parse_tokenizer_json(json_string)
    tokenizer = Tokenizer(**settings)
    tokenizer.word_counts = collections.OrderedDict(state["word_counts"])
    tokenizer.word_docs = collections.defaultdict(int, state["word_docs"])
    tokenizer.index_docs = collections.defaultdict(int, state["index_docs"])
    tokenizer.word_index = state["word_index"]
    tokenizer.index_word = state["index_word"]
    return tokenizer
