"""`MultiHeadAttention` (Vaswani et al. 2017), as tf.keras 2.21 and Keras 3 compute, weigh and save it.

Queries, keys and values are projected per head by `EinsumDense` sublayers (``query``, ``key``, ``value``:
kernels ``(dim, num_heads, key_dim)``), the scaled dot products are softmaxed over the attention axes (masked
positions get -1e9 first, Keras's number), dropped out in training, used to average the values, and projected
back (``attention_output``: kernel ``(num_heads, value_dim, output)``). Any input rank and ``attention_axes``,
with Keras's einsum equations. The masks: ``attention_mask`` ``(batch, targets, sources)``,
``use_causal_mask``, and the masks the query and value carry (or Keras 3's ``query_mask``/``value_mask``/
``key_mask``), combined as Keras combines them. Files: tf.keras 2's weight order (query, key, value, output;
kernel then bias) and config (``query_shape``, ``key_shape``, ``value_shape``), Keras 3's ``query_dense``...
``output_dense`` layout and ``build_config``. It runs on the tape: no fused kernel.
"""
import math
import string

from .base import Layer
from .dense_attention import ReturnsScores, causal_mask
from .weight_args import keep_weight_arguments, weight_arguments_config

_LETTERS = string.ascii_lowercase
_LARGE_NEGATIVE = -1e9  # (Keras's masked logit, float32)


def _projection(free_dims, bound_dims, output_dims):
    """Keras's ``_build_proj_equation``: ``(equation, bias_axes, output_rank)``."""
    free = _LETTERS[:free_dims]
    bound = _LETTERS[free_dims:free_dims + bound_dims]
    out = _LETTERS[free_dims + bound_dims:free_dims + bound_dims + output_dims]
    return f"{free}{bound},{bound}{out}->{free}{out}", out, free_dims + output_dims


def _attention_equations(rank, axes):
    """Keras's ``_build_attention_equation``: the scores' and the combination's equations, and the scores' rank."""
    target = _LETTERS[:rank]
    batch = [i for i in range(rank) if i not in axes and i != rank - 1]
    source, offset = "", rank
    for i in range(rank):
        if i in batch or i == rank - 1:
            source += target[i]
        else:
            source += _LETTERS[offset]
            offset += 1
    product = "".join([target[i] for i in batch] + [target[i] for i in axes] + [source[i] for i in axes])
    return f"{source},{target}->{product}", f"{product},{source}->{target}", len(product)


def _shape_list(shape):
    return None if shape is None else [None if d is None else int(d) for d in shape]


class MultiHeadAttention(ReturnsScores, Layer):
    """Keras's multi-head attention: ``layer(query, value, key=None, attention_mask=None,
    return_attention_scores=False, training=None, use_causal_mask=False)`` (see the module doc)."""

    supports_masking = True
    _reads_input_masks = True  # (the masks its query, value and key carry: models/graph_run.py)
    _first_argument = "query"

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True, output_shape=None,
                 attention_axes=None, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, seed=None, query_shape=None, key_shape=None, value_shape=None,
                 softmax_robust_masking=False, use_gate=False, sliding_window=None, flash_attention=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        for name, value in (("num_heads", num_heads), ("key_dim", key_dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"Invalid value for argument `{name}`: expected a positive integer, received "
                                 f"{value!r}")
        if not 0.0 <= float(dropout) <= 1.0:
            raise ValueError(f"Invalid value for argument `dropout`: expected a float in [0, 1], received {dropout!r}")
        refused = [n for n, v, d in (("softmax_robust_masking", softmax_robust_masking, False),
                                     ("use_gate", use_gate, False), ("sliding_window", sliding_window, None))
                   if v != d]
        if refused:
            raise NotImplementedError(f"MultiHeadAttention({refused[0]}=...) is not implemented in gpunet.")
        self.num_heads, self.key_dim = num_heads, key_dim
        self.value_dim = value_dim if value_dim is not None else key_dim
        self.dropout, self.use_bias, self.seed = float(dropout), bool(use_bias), seed
        self._output_shape = ([output_shape] if isinstance(output_shape, int) else
                              list(output_shape) if output_shape is not None else None)
        if isinstance(attention_axes, int):
            attention_axes = (attention_axes,)
        self.attention_axes = tuple(attention_axes) if attention_axes is not None else None
        keep_weight_arguments(self, locals(), ("kernel", "bias"))
        self._shapes = None
        if query_shape is not None:  # (tf.keras 2's config: built from it, as tf.keras builds)
            self.build(tuple(query_shape), tuple(value_shape), tuple(key_shape) if key_shape is not None else None)

    # ---- building ---------------------------------------------------------------------------
    def _dense(self, equation, output_shape, bias_axes, name):
        from .einsum_dense import EinsumDense
        return EinsumDense(equation, output_shape=output_shape, bias_axes=bias_axes if self.use_bias else None,
                           kernel_initializer=self.kernel_initializer, bias_initializer=self.bias_initializer,
                           kernel_regularizer=self.kernel_regularizer, bias_regularizer=self.bias_regularizer,
                           kernel_constraint=self.kernel_constraint, bias_constraint=self.bias_constraint,
                           name=f"{self.name}_{name}", dtype=self.dtype)

    def _build_from_shapes(self, query_shape, value_shape, key_shape=None):
        query_shape, value_shape = tuple(query_shape), tuple(value_shape)
        key_shape = tuple(key_shape) if key_shape is not None else value_shape
        self._shapes = (query_shape, value_shape, key_shape)
        rank = len(query_shape)
        equation, bias, out_rank = _projection(rank - 1, 1, 2)
        heads = lambda size: [None] * (out_rank - 3) + [self.num_heads, size]  # noqa: E731
        self.query_dense = self._dense(equation, heads(self.key_dim), bias, "query")
        self.query_dense.build(query_shape)
        equation, bias, _ = _projection(len(key_shape) - 1, 1, 2)
        self.key_dense = self._dense(equation, heads(self.key_dim), bias, "key")
        self.key_dense.build(key_shape)
        equation, bias, _ = _projection(len(value_shape) - 1, 1, 2)
        self.value_dense = self._dense(equation, heads(self.value_dim), bias, "value")
        self.value_dense.build(value_shape)
        axes = self.attention_axes if self.attention_axes is not None else tuple(range(1, out_rank - 2))
        self.attention_axes = tuple(a % (out_rank - 1) if a < 0 else a for a in axes)
        self._dot, self._combine, scores_rank = _attention_equations(out_rank, self.attention_axes)
        self._norm_axes = tuple(range(scores_rank - len(self.attention_axes), scores_rank))
        out = self._output_shape or [query_shape[-1]]
        equation, bias, out_rank = _projection(rank - 1, 2, len(out))
        self.output_dense = self._dense(equation, [None] * (out_rank - 1 - len(out)) + list(out), bias,
                                        "attention_output")
        self.output_dense.build(query_shape[:-1] + (self.num_heads, self.value_dim))
        from .core import Dropout
        self._dropout_layer = Dropout(self.dropout, seed=self.seed, name=f"{self.name}_dropout", dtype=self.dtype)

    def build(self, input_shape, value_shape=None, key_shape=None):
        if value_shape is None:  # (a call: its value and key are among the call's tensors, layers/call_args.py)
            spec, shapes = getattr(self, "_call_args", None), getattr(self, "_call_shapes", None)
            slots = spec.keyword_slots(self) if spec is not None else {}

            def shape_of(name):
                slot = slots.get(name)
                return tuple(shapes[slot[1]]) if slot is not None and slot[0] == "tensor" else None
            value_shape = shape_of("value") or tuple(input_shape)
            key_shape = shape_of("key")
        if self._shapes is None:
            self._build_from_shapes(input_shape, value_shape, key_shape)

    def compute_output_shape(self, query_shape, value_shape=None, key_shape=None):
        query_shape = tuple(query_shape[0] if isinstance(query_shape, list) else query_shape)
        out = tuple(self._output_shape) if self._output_shape else (query_shape[-1],)
        output = query_shape[:-1] + out
        if not self._scores_out:
            return output
        value_shape = tuple(self._shapes[1]) if self._shapes else query_shape
        axes = self.attention_axes or tuple(range(1, len(query_shape) - 1))
        batch = [query_shape[i] for i in range(len(query_shape) - 1) if i not in axes]
        return [output, tuple(batch) + (self.num_heads,) + tuple(query_shape[i] for i in axes)
                + tuple(value_shape[i] for i in axes)]

    # ---- the computation --------------------------------------------------------------------
    def call(self, query, value, key=None, query_mask=None, value_mask=None, key_mask=None, attention_mask=None,
             return_attention_scores=False, training=None, use_causal_mask=False):
        from .. import ops
        key = value if key is None else key
        mask = self._attention_mask(query, value, key, query_mask, value_mask, key_mask, attention_mask,
                                    use_causal_mask)
        q = self.query_dense(query)
        k = self.key_dense(key)
        v = self.value_dense(value)
        q = q * (1.0 / math.sqrt(float(self.key_dim)))
        scores = self._masked_softmax(ops.einsum(self._dot, k, q), mask)
        dropped = self._dropout_layer(scores, training=training) if self.dropout > 0 else scores
        out = self.output_dense(ops.einsum(self._combine, dropped, v))
        return [out, scores] if return_attention_scores else out

    def _attention_mask(self, query, value, key, query_mask, value_mask, key_mask, attention_mask, causal):
        """Keras's ``_compute_attention_mask``: the masks the inputs carry (or are given), the causal mask and
        ``attention_mask`` together, True where a target may attend to a source."""
        from .. import ops
        query_mask = query_mask if query_mask is not None else getattr(query, "_keras_mask", None)
        value_mask = value_mask if value_mask is not None else getattr(value, "_keras_mask", None)
        key_mask = key_mask if key_mask is not None else getattr(key, "_keras_mask", None)
        auto = None
        for m, axis in ((query_mask, -1), (value_mask, -2), (key_mask, -2)):
            if m is not None:
                m = ops.expand_dims(ops.cast(m, "bool"), axis)
                auto = m if auto is None else ops.logical_and(auto, m)
        if causal:
            m = causal_mask(query.shape[1], value.shape[1])
            auto = m if auto is None else ops.logical_and(auto, m)
        if auto is not None:
            attention_mask = auto if attention_mask is None else ops.logical_and(ops.cast(attention_mask, "bool"), auto)
        return attention_mask

    def _masked_softmax(self, scores, mask):
        from .. import ops
        if mask is not None:
            mask = ops.cast(mask, scores.dtype)
            for _ in range(scores.ndim - mask.ndim):  # (over the heads' axis, Keras's mask_expansion_axis)
                mask = ops.expand_dims(mask, -len(self.attention_axes) * 2 - 1)
            scores = scores + (1.0 - mask) * _LARGE_NEGATIVE
        if len(self._norm_axes) == 1:
            return ops.softmax(scores, axis=self._norm_axes[0])
        shifted = ops.exp(scores - ops.max(scores, axis=self._norm_axes, keepdims=True))
        return shifted / ops.sum(shifted, axis=self._norm_axes, keepdims=True)

    def compute_mask(self, inputs, mask=None):
        return mask[0] if isinstance(mask, list) else mask  # (the query's, as Keras hands it on)

    # ---- configs ----------------------------------------------------------------------------
    def get_config(self):
        config = super().get_config()
        config.update({"num_heads": self.num_heads, "key_dim": self.key_dim, "value_dim": self.value_dim,
                       "dropout": self.dropout, "use_bias": self.use_bias, "output_shape": self._config_output_shape(),
                       "attention_axes": list(self.attention_axes) if self.attention_axes is not None else None})
        config.update(weight_arguments_config(self, ("kernel", "bias")))
        query, value, key = self._shapes or (None, None, None)
        config.update({"query_shape": _shape_list(query), "key_shape": _shape_list(key),
                       "value_shape": _shape_list(value), "softmax_robust_masking": False})
        return config

    def _config_output_shape(self):
        shape = self._output_shape
        return None if shape is None else shape[0] if len(shape) == 1 else list(shape)

    def keras3_config(self, config):
        """Keras 3's form of `get_config`'s (saving/keras3_config.py): its shapes go to the build config."""
        for key in ("query_shape", "key_shape", "value_shape", "softmax_robust_masking"):
            config.pop(key, None)
        config.update({"use_gate": False, "sliding_window": None, "seed": self.seed})
        return config

    def keras3_build_config(self):
        if self._shapes is None:
            return None
        query, value, key = self._shapes
        shapes = {"query_shape": _shape_list(query), "value_shape": _shape_list(value)}
        if key != value:
            shapes["key_shape"] = _shape_list(key)
        return {"shapes_dict": shapes}

    def build_from_config(self, config):
        """Keras 3's build config (``shapes_dict``), or tf.keras 2's (``input_shape``: the query's)."""
        shapes = (config or {}).get("shapes_dict")
        if self._shapes is not None:
            return
        if shapes:
            key = shapes.get("key_shape")
            self.build(tuple(shapes["query_shape"]), tuple(shapes["value_shape"]), tuple(key) if key else None)
        elif (config or {}).get("input_shape") is not None:
            self.build(tuple(config["input_shape"]), tuple(config["input_shape"]))
