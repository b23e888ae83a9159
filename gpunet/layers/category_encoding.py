"""tf.keras 2's `CategoryEncoding`: integer features in ``[0, num_tokens)`` as one-hot, multi-hot or
count vectors (``keras.layers.CategoryEncoding``; tf_keras 2.21's semantics, messages and config)."""
import warnings

from . import categorical as cat
from .base import Layer
from .symbolic import is_symbolic


class CategoryEncoding(Layer):
    """Encodes integer tokens in ``[0, num_tokens)`` as vectors of ``num_tokens`` values.

    ``output_mode``: ``"one_hot"`` (each value its own vector: a last axis of size 1 is replaced,
    any other gets one appended), ``"multi_hot"`` (default: one vector per sample, the last axis
    being the sample's tokens, with 1 where a token occurs) or ``"count"`` (as multi_hot, with
    how often each occurs; ``layer(x, count_weights=w)`` sums ``w`` instead of ones). Outputs are
    at most 2-D, as in tf.keras. A token outside ``[0, num_tokens)`` (or a float that is not a
    whole number: tf.keras would truncate it) is a ValueError naming it.

    Example::

        layer = CategoryEncoding(num_tokens=4, output_mode="one_hot")
        layer([3, 2, 0, 1])  # rows of a 4x4 identity, permuted

    ``sparse=True`` (a tf.SparseTensor output) is refused: gpunet has no sparse tensors.
    """

    _allowed_kwargs = Layer._allowed_kwargs + ("max_tokens",)  # (tf.keras's old name for num_tokens)

    def __init__(self, num_tokens=None, output_mode="multi_hot", sparse=False, **kwargs):
        if "max_tokens" in kwargs:  # tf.keras's old name for num_tokens
            warnings.warn("max_tokens is deprecated, please use num_tokens instead.", DeprecationWarning, stacklevel=2)
            num_tokens = kwargs.pop("max_tokens")
        int_dtype = cat.split_dtype(kwargs)
        super().__init__(**kwargs)
        self.output_dtype = int_dtype or self.dtype
        if output_mode == "binary":  # tf.keras's old name for multi_hot
            output_mode = cat.MULTI_HOT
        cat.validate_string_arg(output_mode, (cat.COUNT, cat.ONE_HOT, cat.MULTI_HOT), "CategoryEncoding",
                                "output_mode")
        if num_tokens is None:
            raise ValueError("num_tokens must be set to use this layer. If the number of tokens is not known "
                             "beforehand, use the IntegerLookup layer instead.")
        if isinstance(num_tokens, bool) or not isinstance(num_tokens, int) and not (
                hasattr(num_tokens, "dtype") and num_tokens.dtype.kind in "iu"):
            raise ValueError(f"`num_tokens` must be an integer. Received: num_tokens={num_tokens!r} "
                             f"(of type {type(num_tokens).__name__}).")
        if num_tokens < 1:
            raise ValueError(f"`num_tokens` must be >= 1. Received: num_tokens={num_tokens}.")
        cat.refuse_sparse(sparse, "CategoryEncoding")
        self.num_tokens = int(num_tokens)
        self.output_mode = output_mode
        self.sparse = bool(sparse)

    def compute_output_shape(self, input_shape):
        return cat.encoded_shape(input_shape, self.output_mode, self.num_tokens)

    def __call__(self, x, *args, count_weights=None, **kwargs):
        """``layer(x)``, or ``layer(x, count_weights=w)`` in ``"count"`` mode: ``w`` (the shape of
        ``x``) is summed per token instead of ones."""
        if count_weights is None:
            with cat.called_directly():
                return super().__call__(x, *args, **kwargs)
        if self.output_mode != cat.COUNT:
            raise ValueError(f"`count_weights` is not used when `output_mode` is not `'count'`. Received "
                             f"output_mode={self.output_mode!r} and count_weights of shape "
                             f"{tuple(getattr(count_weights, 'shape', ()))}.")
        if is_symbolic(x) or is_symbolic(count_weights):
            raise NotImplementedError(f"CategoryEncoding '{self.name}': count_weights on symbolic tensors (a "
                                      "functional model's) is not supported; call the layer on arrays.")
        ops = self.ops
        x = ops.asarray(x)
        if not self.built:
            self.build((None,) + tuple(x.shape[1:]))
        weights = ops.asarray(count_weights, dtype=self.dtype)
        if tuple(weights.shape) != tuple(x.shape):
            raise ValueError(f"CategoryEncoding '{self.name}': count_weights must have the shape of the inputs "
                             f"{tuple(x.shape)}, received {tuple(weights.shape)}.")
        with cat.called_directly():
            return ops.eager(self._encode(x, weights))

    def forward(self, x, training=False):
        self._x = x
        return self._encode(x, None)

    def backward(self, dy, need_dx=True):
        return cat.no_input_gradient(self, self._x) if need_dx else None

    def _encode(self, x, weights):
        ops, depth = self.ops, self.num_tokens
        if x.dtype.kind not in "biuf":
            raise ValueError(f"CategoryEncoding '{self.name}' expects integer inputs, received an array of dtype "
                             f"{x.dtype}.")
        if x.size:
            bad = (x < 0) | (x >= depth)
            if x.dtype.kind == "f":
                bad = bad | (x != ops.xp.floor(x))  # (NaN too: it equals nothing)
            if bool(bad.any()):
                host = ops.to_host(x)
                at = tuple(int(i) for i in ops.to_host(ops.xp.argwhere(bad)[0]))
                raise ValueError(f"CategoryEncoding '{self.name}': input values must be integers in the range "
                                 f"0 <= values < num_tokens with num_tokens={depth}; received {host[at].item()!r} "
                                 f"at input position {at}.")
        return cat.encode(ops, x.astype("int64"), self.output_mode, depth, cat.result_dtype(self), count_weights=weights)

    def get_config(self):
        config = super().get_config()
        config["dtype"] = self.output_dtype
        config.update({"num_tokens": self.num_tokens, "output_mode": self.output_mode, "sparse": self.sparse})
        return config
