"""tf.keras 2's `IntegerLookup`: arbitrary integer tokens to contiguous indices through a vocabulary
(``keras.layers.IntegerLookup``; tf_keras 2.21's IndexLookup semantics, messages and config).

One deviation, so that a saved model keeps what ``adapt`` learned: where the vocabulary comes
from ``adapt`` or ``set_vocabulary`` rather than the constructor, ``get_config()["vocabulary"]``
is ``get_vocabulary()`` (and, in ``"tf_idf"`` mode, ``"idf_weights"`` the learned weights) where
tf.keras writes None (it cannot save such a layer to .h5 at all, and Keras 3 keeps it in the
.keras archive's assets). tf.keras and Keras 3 load such a config as a fixed vocabulary.
"""
from . import categorical as cat
from . import lookup_vocabulary as lv
from .base import Layer

_INT64_MAX = 2 ** 63 - 1


class IntegerLookup(Layer):
    """Maps integer tokens to indices in a vocabulary, given (``vocabulary=[12, 36, 1138, 42]``, or
    a file of one token per line) or learned by ``adapt(data)`` (tokens by frequency, most frequent
    first, ties by token from high to low; at most ``max_tokens`` entries, special ones included).

    Indices: ``mask_token`` (if set, ``"int"`` mode) at 0, then ``num_oov_indices`` out-of-vocabulary
    indices (several: a token goes to ``token % num_oov_indices`` among them; none: an unknown token
    is a ValueError), then the vocabulary. ``invert=True`` maps indices back to tokens (unknown ones
    to ``oov_token``). ``output_mode``: ``"int"`` (indices, int64), ``"one_hot"``, ``"multi_hot"``,
    ``"count"``, or ``"tf_idf"`` (counts times ``idf_weights``, given with the vocabulary or learned
    by adapt), as vectors of ``vocabulary_size()`` values (``max_tokens`` with ``pad_to_max_tokens``).

    Example::

        layer = IntegerLookup(vocabulary=[12, 36, 1138, 42])
        layer([[12, 1138, 42], [42, 1000, 36]])  # [[1, 3, 4], [4, 0, 2]]

    Inside a model, inputs travel in the model's float dtype: float32 holds tokens exactly below
    2**24, and a larger one is a ValueError saying so. ``sparse=True`` is refused (no sparse tensors).
    """

    # (what tf.keras's configs and SavedModels, old spellings and Keras 3 write beside the arguments)
    _allowed_kwargs = Layer._allowed_kwargs + ("vocabulary_size", "has_input_vocabulary", "has_static_table",
                                               "oov_method", "salt", "max_values", "mask_value", "oov_value")

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token=-1, vocabulary=None,
                 vocabulary_dtype="int64", idf_weights=None, invert=False, output_mode="int", sparse=False,
                 pad_to_max_tokens=False, **kwargs):
        if cat.dtype_name(vocabulary_dtype) not in cat.INT_DTYPES:
            raise ValueError(f"`vocabulary_dtype` must be an integer dtype. Received: {vocabulary_dtype}")
        max_tokens = kwargs.pop("max_values", max_tokens)  # (tf.keras's old names for these three)
        mask_token, oov_token = kwargs.pop("mask_value", mask_token), kwargs.pop("oov_value", oov_token)
        lv.check_keras3_options(kwargs.pop("oov_method", "floormod"), kwargs.pop("salt", None))
        frozen = kwargs.pop("vocabulary_size", None)
        self._has_input_vocabulary = bool(kwargs.pop("has_input_vocabulary", vocabulary is not None))
        kwargs.pop("has_static_table", None)
        lv.check_sizes("IntegerLookup", max_tokens, num_oov_indices, pad_to_max_tokens)
        if output_mode == "binary":
            output_mode = cat.MULTI_HOT
        if output_mode == "tf-idf":
            output_mode = cat.TF_IDF
        cat.validate_string_arg(output_mode, (cat.INT, cat.ONE_HOT, cat.MULTI_HOT, cat.COUNT, cat.TF_IDF),
                                "IntegerLookup", "output_mode")
        if invert and output_mode != cat.INT:
            raise ValueError(f"`output_mode` must be `'int'` when `invert` is true. Received: output_mode={output_mode}")
        if sparse and output_mode == cat.INT:
            raise ValueError(f"`sparse` may only be true if `output_mode` is `'one_hot'`, `'multi_hot'`, `'count'` or "
                             f"`'tf_idf'`. Received: sparse={sparse} and output_mode={output_mode}")
        cat.refuse_sparse(sparse, "IntegerLookup")
        if idf_weights is not None and output_mode != cat.TF_IDF:
            raise ValueError(f"`idf_weights` should only be set if `output_mode` is `'tf_idf'`. Received: "
                             f"idf_weights={idf_weights} and output_mode={output_mode}")
        if output_mode != cat.INT and cat.dtype_name(kwargs.get("dtype")) == "int64":
            del kwargs["dtype"]  # (tf.keras's old configs gave every IntegerLookup dtype int64)
        int_dtype = cat.split_dtype(kwargs)
        super().__init__(**kwargs)
        self.output_dtype = int_dtype or ("int64" if output_mode == cat.INT else self.dtype)
        self.invert, self.max_tokens, self.num_oov_indices = bool(invert), max_tokens, int(num_oov_indices)
        self.mask_token = None if mask_token is None else int(mask_token)
        self.oov_token = None if oov_token is None else int(oov_token)
        self.output_mode, self.sparse, self.pad_to_max_tokens = output_mode, bool(sparse), bool(pad_to_max_tokens)
        self.vocabulary_dtype = cat.dtype_name(vocabulary_dtype)
        self._frozen_vocab_size = frozen
        self.input_vocabulary, self.input_idf_weights = vocabulary, idf_weights
        self._tokens = None  # the vocabulary without special tokens (int64 host array), None before one is set
        self._table = self._biggest = None
        self.idf_weights = None
        if output_mode == cat.TF_IDF:
            self.idf_weights = lv.IdfWeights(self, "idf_weights", self.ops.zeros(self._token_start_index(),
                                                                                   self.dtype), trainable=False)
            self._weights.append(self.idf_weights)
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)

    # ---- the vocabulary --------------------------------------------------------------------
    def _oov_start_index(self):
        return 1 if self.mask_token is not None and self.output_mode == cat.INT else 0

    def _token_start_index(self):
        return self._oov_start_index() + self.num_oov_indices

    def vocabulary_size(self):
        """The number of indices: the vocabulary's tokens plus the mask and OOV indices."""
        return (0 if self._tokens is None else int(self._tokens.size)) + self._token_start_index()

    def get_vocabulary(self, include_special_tokens=True):
        """The vocabulary, a token's place its index (the mask token at 0 in ``"int"`` mode, then
        ``oov_token`` for each OOV index); without the special tokens if ``include_special_tokens=False``."""
        tokens = [] if self._tokens is None else self._tokens.tolist()
        vocab = [self.mask_token] * self._oov_start_index() + [self.oov_token] * self.num_oov_indices + tokens
        return vocab if include_special_tokens else vocab[self._token_start_index():]

    def set_vocabulary(self, vocabulary, idf_weights=None):
        """Set the vocabulary (a list, a 1-D array, or the path of a file of one token per line), and
        in ``"tf_idf"`` mode its ``idf_weights``; replaces the current one. It may start with the
        special tokens, in their order (as ``get_vocabulary()`` gives them)."""
        np = lv._np()
        if self.output_mode == cat.TF_IDF:
            if idf_weights is None:
                raise ValueError("`idf_weights` must be set if output_mode is TF_IDF")
        elif idf_weights is not None:
            raise ValueError(f"`idf_weights` should only be set if output_mode is `'tf_idf'`. Received: "
                             f"output_mode={self.output_mode} and idf_weights={idf_weights}")
        if isinstance(vocabulary, str):
            if self.output_mode == cat.TF_IDF:
                raise ValueError("output_mode `'tf_idf'` does not support loading a vocabulary from file.")
            self._use(lv.read_vocabulary_file(vocabulary))
            return
        given = cat.host_array(vocabulary)
        if given.size == 0:
            raise ValueError(f"Cannot set an empty vocabulary, you passed {vocabulary}.")
        if given.ndim != 1:
            raise ValueError(f"IntegerLookup: the vocabulary must be 1-D, received shape {tuple(given.shape)}.")
        vocab = lv.integer_values(given, "IntegerLookup's vocabulary")
        start = self._token_start_index()
        special = [self.mask_token] * self._oov_start_index() + [self.oov_token] * self.num_oov_indices
        tokens, found_special = lv.checked_tokens(vocab, special, self.mask_token, self.oov_token if self.invert
                                                  else None, self.max_tokens)
        self._use(tokens)
        if self.output_mode == cat.TF_IDF:
            idf = cat.host_array(idf_weights).astype("float64")
            if idf.ndim != 1:
                raise ValueError(f"TF-IDF data must be a 1-index array, but received {type(idf_weights)}")
            if len(idf) != vocab.size:
                raise ValueError(f"`idf_weights` must be the same length as vocabulary. len(idf_weights) is "
                                 f"{len(idf)}, len(vocabulary) is {vocab.size}")
            front, fill = (0, 0.0) if found_special else (start, float(np.average(idf)))
            back = self.max_tokens - front - len(idf) if self.pad_to_max_tokens else 0
            self.idf_weights.assign(np.pad(idf, (front, back), "constant", constant_values=(fill, 0)))

    def _use(self, tokens):
        self._ensure_vocab_size_unchanged(tokens.size + self._token_start_index())
        self._tokens, self._table, self._biggest = tokens.astype("int64"), None, None
        self._frozen_vocab_size = self.vocabulary_size()
        if self.built:  # (the vector modes' width follows the vocabulary)
            self.output_shape = self.compute_output_shape(self.input_shape)

    def _ensure_vocab_size_unchanged(self, new_size):
        if self.output_mode == cat.INT or self.pad_to_max_tokens:
            return
        if self._frozen_vocab_size is not None and new_size != self._frozen_vocab_size:
            raise RuntimeError(f"When using `output_mode={self.output_mode}` and `pad_to_max_tokens=False`, the "
                               f"vocabulary size cannot be changed after the layer is called. Old vocab size is "
                               f"{self._frozen_vocab_size}, new vocab size is {new_size}")

    def adapt(self, data, batch_size=None, steps=None):
        """Learn the vocabulary from ``data`` (an array, or the batches of a generator or
        `gpunet.utils.Sequence`; ``steps``: how many): its tokens by frequency (ties by token, high
        to low), without the mask and OOV tokens, at most ``max_tokens`` entries in all; in
        ``"tf_idf"`` mode the idf weights too (each row of a batch a document). Replaces the
        vocabulary an earlier ``adapt`` learned; refused after a constructor's ``vocabulary``."""
        if self._has_input_vocabulary:
            raise ValueError("Cannot adapt IntegerLookup layer after setting a static vocabulary via init argument or "
                             "`set_vocabulary`.")
        np = lv._np()
        counts = lv.Counts(self.output_mode == cat.TF_IDF)
        for batch in cat.host_batches(data, batch_size, steps):
            if not counts.parts:
                cat.adapt_build(self, batch)
            counts.add(lv.integer_values(batch, f"IntegerLookup '{self.name}': adapt"))
        if not counts.parts:
            raise ValueError(f"IntegerLookup '{self.name}': adapt received no data from {type(data).__name__}.")
        start = self._token_start_index()
        tokens = counts.vocabulary((self.mask_token, self.oov_token), self.max_tokens - start if self.max_tokens
                                   else None)
        self._use(tokens)
        if self.output_mode == cat.TF_IDF:
            idf = counts.idf(tokens).astype(self.dtype)
            mean = idf.mean(dtype=self.dtype) if idf.size else np.asarray(float("nan"), self.dtype)
            back = self.max_tokens - start - idf.size if self.pad_to_max_tokens else 0
            self.idf_weights.assign(np.concatenate([np.full(start, mean, self.dtype), idf,
                                                    np.zeros(back, self.dtype)]))

    def read_keras3_assets(self, files):
        """An adapted vocabulary from a Keras 3 archive's assets: see `lookup_vocabulary.keras3_asset`."""
        return lv.keras3_asset(self, files)

    # ---- calling ----------------------------------------------------------------------------
    def compute_output_shape(self, input_shape):
        if self.output_mode == cat.INT:
            return tuple(input_shape)
        return cat.encoded_shape(input_shape, self.output_mode, self._depth(strict=False))

    def _depth(self, strict=True):
        if self.pad_to_max_tokens:
            return self.max_tokens
        if self._frozen_vocab_size is None and strict:
            raise RuntimeError(f"When using `output_mode={self.output_mode}` and `pad_to_max_tokens=False`, you must "
                               f"set the layer's vocabulary before calling it. Either pass a `vocabulary` argument to "
                               f"the layer, or call `adapt` with some sample data.")
        return self._frozen_vocab_size

    def __call__(self, x, *args, **kwargs):
        with cat.called_directly():
            return super().__call__(x, *args, **kwargs)

    def forward(self, x, training=False):
        self._x = x
        ops = self.ops
        if self.output_mode != cat.INT:
            depth = self._depth()
        ids = lv.as_tokens(ops, x, f"IntegerLookup layer '{self.name}'")
        if self._tokens is None and (self._frozen_vocab_size or 0) > self._token_start_index():
            raise ValueError(f"IntegerLookup layer '{self.name}' was saved with a vocabulary of "
                             f"{self._frozen_vocab_size} entries that its config does not hold (Keras 3 keeps an "
                             f"adapted vocabulary in the .keras archive's assets/, which gpunet does not read): "
                             f"give it one with set_vocabulary() or adapt() before calling it.")
        if self._table is None or self._table.ops is not ops:
            tokens = self._tokens if self._tokens is not None else lv._np().zeros(0, "int64")
            self._table = lv.Table(ops, tokens, self._token_start_index())
        xp = ops.xp
        if self.invert:
            out = self._table.token(ids, -1 if self.oov_token is None else self.oov_token)
            if self.mask_token is not None:
                out = xp.where(ids == 0, self.mask_token, out)
            if cat.is_direct():
                return out.astype(self.vocabulary_dtype, copy=False)
            self._check_exact_tokens()
            return out.astype(self.dtype)
        default = self._oov_start_index() if self.num_oov_indices == 1 else -1
        out = self._table.index(ids, default)
        if self.mask_token is not None:
            out = xp.where(ids == self.mask_token, 0 if self.output_mode == cat.INT else _INT64_MAX, out)
        if self.num_oov_indices == 0 and bool((out == -1).any()):
            unknown = ops.to_host(ids[out == -1])
            raise ValueError(f"When `num_oov_indices=0` all inputs should be in vocabulary, found OOV values "
                             f"{unknown.tolist()[:20]}, consider setting `num_oov_indices=1`.")
        if self.num_oov_indices > 1:
            out = xp.where(out == -1, xp.mod(ids, self.num_oov_indices) + self._oov_start_index(), out)
        if self.output_mode == cat.INT:
            return out.astype(cat.result_dtype(self), copy=False)
        idf = self.idf_weights.value if self.output_mode == cat.TF_IDF else None
        return cat.encode(ops, out, self.output_mode, depth, cat.result_dtype(self), idf_weights=idf)

    def _check_exact_tokens(self):
        """Inside a model an inverse lookup hands tokens on in the model's float dtype: refuse tokens it
        would round (float32 holds integers exactly below 2**24)."""
        if self._biggest is None:
            tokens = [] if self._tokens is None else self._tokens.tolist()
            self._biggest = max(abs(t) for t in tokens + [self.mask_token or 0, self.oov_token or 0])
        if self._biggest >= lv._EXACT[self.dtype]:
            raise ValueError(f"IntegerLookup layer '{self.name}' (invert=True) inside a model hands its tokens on in "
                             f"the model's {self.dtype}, which holds integers exactly only below "
                             f"{lv._EXACT[self.dtype]}; its vocabulary has {self._biggest}. Build the model in float64 "
                             f"(gpunet.backend.set_floatx('float64')), or call the layer directly (int64 tokens).")

    def backward(self, dy, need_dx=True):
        return cat.no_input_gradient(self, self._x) if need_dx else None

    # ---- config -------------------------------------------------------------------------------
    def get_config(self):
        config = super().get_config()
        config["dtype"] = self.output_dtype
        vocabulary, idf = self.input_vocabulary, self.input_idf_weights
        if vocabulary is None and self._tokens is not None:  # adapted, or set_vocabulary: see the module's doc
            special = self.oov_token is not None or not self.num_oov_indices
            vocabulary = self.get_vocabulary(include_special_tokens=special)
            if self.output_mode == cat.TF_IDF:
                first = 0 if special else self._token_start_index()
                idf = self.ops.to_host(self.idf_weights.value)[first:self.vocabulary_size()]
        config.update({"invert": self.invert, "max_tokens": self.max_tokens, "num_oov_indices": self.num_oov_indices,
                       "oov_token": self.oov_token, "mask_token": self.mask_token, "output_mode": self.output_mode,
                       "sparse": self.sparse, "pad_to_max_tokens": self.pad_to_max_tokens,
                       "vocabulary_dtype": self.vocabulary_dtype, "idf_weights": lv.listed(idf),
                       "vocabulary": lv.listed(vocabulary), "vocabulary_size": self._frozen_vocab_size})
        return config

    def keras3_config(self, config):
        """Keras 3's form of `get_config`'s (saving/keras3_config.py): its float dtype."""
        return dict(config, dtype=self.dtype)

