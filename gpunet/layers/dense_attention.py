"""Keras's `Attention` (Luong-style: dot product, or ``score_mode="concat"``) and `AdditiveAttention`
(Bahdanau-style) layers, as tf.keras 2.21 and Keras 3 compute them.

Called on ``[query, value]`` or ``[query, value, key]`` (``(batch, Tq, dim)``, ``(batch, Tv, dim)``): scores of
each query against each key, the sources the value's mask hides (and later ones with ``use_causal_mask``) lowered
by 1e9, softmaxed, dropped out in training, then used to average the values; masked queries output zeros.
``return_attention_scores=True`` gives the weights too. Weights: Attention's scalar ``scale`` (``use_scale``) and
``concat_score_weight`` (concat mode), AdditiveAttention's ``scale`` of the feature size (``use_scale``, its
default). They run on the tape.
"""
from .base import Layer

_MASKED = 1.0e9  # (Keras's: what masked scores lose before the softmax, float32)


def causal_mask(targets, sources):
    """``(1, targets, sources)``, True where a target may attend to a source: those at or before it."""
    from .. import ops
    return ops.cast(ops.tril(ops.ones((1, targets, sources), dtype="float32")), "bool")


class ReturnsScores:
    """An attention layer whose call's ``return_attention_scores=True`` gives two outputs: its output, then the
    scores."""

    _scores_out = False
    _first_argument = "inputs"  # (its call's first parameter, which Keras code may also pass by name)

    def __call__(self, *args, **kwargs):
        self._scores_out = bool(kwargs.get("return_attention_scores", False))
        if not args and self._first_argument in kwargs:
            args = (kwargs.pop(self._first_argument),)
        return super().__call__(*args, **kwargs)

    @property
    def _several_outputs(self):
        return self._scores_out


class _DenseAttention(ReturnsScores, Layer):
    """What both share: the inputs, masks, softmax, dropout and the weighted sum."""

    supports_masking = True
    _reads_input_masks = True  # (the masks its query and value carry: models/graph_run.py)

    def __init__(self, use_scale=False, dropout=0.0, seed=None, causal=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= float(dropout) <= 1.0:
            raise ValueError(f"Invalid value for argument `dropout`: expected a float in [0, 1], received {dropout!r}")
        self.use_scale, self.dropout, self.seed = bool(use_scale), float(dropout), seed
        self.causal = bool(causal)  # (tf.keras 2's deprecated argument: use_causal_mask in the call now)

    @staticmethod
    def _parts(shapes):
        if not isinstance(shapes, list) or len(shapes) not in (2, 3):
            raise ValueError(f"Attention layers take a list of [query, value] or [query, value, key] tensors, "
                             f"received {shapes!r}")
        return shapes[0], shapes[1], shapes[2] if len(shapes) > 2 else shapes[1]

    def build(self, input_shape):
        query, value, key = self._parts([tuple(s) for s in input_shape] if isinstance(input_shape, list)
                                        else input_shape)
        self._build_scores(query, value, key)

    def _build_scores(self, query, value, key):
        pass

    def compute_output_shape(self, input_shape):
        query, value, key = self._parts([tuple(s) for s in input_shape])
        output = tuple(query[:-1]) + (value[-1],)
        return [output, tuple(query[:-1]) + (key[-2],)] if self._scores_out else output

    def call(self, inputs, mask=None, training=None, return_attention_scores=False, use_causal_mask=False):
        from .. import ops
        query, value, key = self._parts(list(inputs))
        masks = list(mask) if isinstance(mask, (list, tuple)) else [None, None]
        query_mask = masks[0] if masks[0] is not None else getattr(query, "_keras_mask", None)
        value_mask = masks[1] if len(masks) > 1 and masks[1] is not None else getattr(value, "_keras_mask", None)
        scores = self._scores(query, key)
        keep = None if value_mask is None else ops.expand_dims(ops.cast(value_mask, "bool"), -2)
        if use_causal_mask or self.causal:
            causal = causal_mask(scores.shape[-2], scores.shape[-1])
            keep = causal if keep is None else ops.logical_and(keep, causal)
        if keep is not None:
            scores = scores - _MASKED * ops.cast(ops.logical_not(keep), scores.dtype)
        weights = ops.softmax(scores, axis=-1)
        if training and self.dropout > 0:
            from .. import random
            used = random.dropout(weights, self.dropout)
        else:
            used = weights
        result = ops.matmul(used, value)
        if query_mask is not None:
            result = result * ops.expand_dims(ops.cast(query_mask, result.dtype), -1)
        return [result, weights] if return_attention_scores else result

    def compute_mask(self, inputs, mask=None):
        return mask[0] if isinstance(mask, (list, tuple)) else None  # (the query's, as Keras hands it on)

    def get_config(self):
        config = super().get_config()
        config.update({"dropout": self.dropout, "use_scale": self.use_scale})
        if self.causal:
            config["causal"] = True
        return config

    def keras3_config(self, config):
        """Keras 3's form of `get_config`'s (saving/keras3_config.py)."""
        config.pop("causal", None)
        config["seed"] = self.seed
        return config


class Attention(_DenseAttention):
    """Dot-product attention (``score_mode="dot"``: ``query @ key.T``, times ``scale`` with ``use_scale``), or
    ``score_mode="concat"``: ``concat_score_weight * sum(tanh(scale * (query + key)))`` over the features."""

    def __init__(self, use_scale=False, score_mode="dot", dropout=0.0, seed=None, **kwargs):
        if score_mode not in ("dot", "concat"):
            raise ValueError(f"Invalid value for argument score_mode. Expected one of {{'dot', 'concat'}}. "
                             f"Received: score_mode={score_mode}")
        super().__init__(use_scale=use_scale, dropout=dropout, seed=seed, **kwargs)
        self.score_mode = score_mode
        self.scale = self.concat_score_weight = None

    def _build_scores(self, query, value, key):
        if self.use_scale:
            self.scale = self.add_weight(name="scale", shape=(), initializer="ones")
        if self.score_mode == "concat":
            self.concat_score_weight = self.add_weight(name="concat_score_weight", shape=(), initializer="ones")

    def _scores(self, query, key):
        from .. import ops
        if self.score_mode == "dot":
            scores = ops.matmul(query, ops.transpose(key, (0, 2, 1)))
            return scores * self.scale if self.scale is not None else scores
        summed = ops.expand_dims(query, -2) + ops.expand_dims(key, -3)
        if self.scale is not None:
            summed = summed * self.scale
        return self.concat_score_weight * ops.sum(ops.tanh(summed), axis=-1)

    def get_config(self):
        return {**super().get_config(), "score_mode": self.score_mode}


class AdditiveAttention(_DenseAttention):
    """Additive attention: ``sum(scale * tanh(query + key))`` over the features, ``scale`` a weight of the
    feature size (glorot uniform) with ``use_scale`` (the default), else 1."""

    def __init__(self, use_scale=True, dropout=0.0, seed=None, **kwargs):
        super().__init__(use_scale=use_scale, dropout=dropout, seed=seed, **kwargs)
        self.scale = None

    def _build_scores(self, query, value, key):
        if self.use_scale:
            self.scale = self.add_weight(name="scale", shape=(value[-1],), initializer="glorot_uniform")

    def _scores(self, query, key):
        from .. import ops
        summed = ops.tanh(ops.expand_dims(query, -2) + ops.expand_dims(key, -3))
        return ops.sum(summed * self.scale if self.scale is not None else summed, axis=-1)
