"""A layer of your own's output shape, found as Keras finds it by tracing: its ``call`` run on probe tensors
(user_code.py runs it), with everything the probe would change (state, metrics, random draws) put back."""
import warnings

from .. import backend as B
from ..autodiff import Tensor
from . import added_losses, masking, symbolic
from .user_code import run_call


def infer_output_shape(layer, input_shape):
    """The output shape from running ``call`` on ones (one sample; unknown sizes as 1, then as 2: an output
    size that follows them is unknown too, as tf.keras's trace finds it), as Keras infers it by tracing;
    the probes' values mean nothing, so warnings about them (a division by a zero norm, say) are not shown,
    and their random draws are undone."""
    from ..random import untouched as random_untouched
    ops = layer.ops
    if getattr(layer, "_call_args", None) is not None:  # a call with more arguments: all of its tensors
        input_shape = layer._call_shapes
    several = isinstance(input_shape, list)  # a call on several tensors (the functional API)
    shapes = input_shape if several else [input_shape]
    unknown = any(d is None for s in shapes for d in s[1:])

    def probe(size):
        probes = [Tensor(ops.ones(tuple(size if d is None else d for d in (1,) + tuple(s[1:])), layer.dtype))
                  for s in shapes]
        if not several and masking.takes_mask(layer) and len(shapes[0]) >= 3:  # (a sequence's steps may carry a
            probes[0]._keras_mask = ops.ones(probes[0].shape[:-1], bool)  # mask: tf.keras traces with it)
        return run_call(layer, probes if several else probes[0], False).shape[1:]
    # a call that updates state (the Keras guide's ComputeSum: self.total.assign_add(...)) must not keep
    # what the probe added: the state (non-trainable weights) that exists now is put back afterwards
    weights, metrics = _state_in(layer)
    saved = [(w, ops.copy(w.value)) for w in weights if not w.trainable]
    try:
        with B.use_backend(ops), warnings.catch_warnings(), added_losses.collecting() as added, symbolic.probing(), \
                random_untouched(layer):
            # (a probe's losses are dropped; that it added some tells the fused steps to take them: user_terms.py)
            warnings.simplefilter("ignore", RuntimeWarning)
            dims = tuple(probe(1))
            if unknown:
                try:
                    other = tuple(probe(2))
                except Exception:  # (a call that takes only the first probe's sizes: its sizes stand)
                    other = dims
                if len(other) == len(dims):
                    dims = tuple(a if a == b else None for a, b in zip(dims, other))
        if added or added.metrics:
            layer._probe_terms = ({"loss"} if added else set()) | ({"metric"} if added.metrics else set())
    finally:
        for w, value in saved:
            w.value[...] = value
        for m in metrics:  # (metric objects the call updates, as the Keras guide's endpoint layer: they start afresh)
            m.reset_state()
    return (shapes[0][0],) + dims


def _state_in(layer, seen=None):
    """``(weights, metric objects)`` of ``layer`` and of the layers its attributes hold, each once."""
    seen = set() if seen is None else seen
    if id(layer) in seen:
        return [], []
    seen.add(id(layer))
    weights, metrics = list(getattr(layer, "_weights", ())), []
    for value in vars(layer).values():
        for item in value if isinstance(value, (list, tuple)) else (value,):
            if hasattr(item, "_weights") and hasattr(item, "call"):
                more = _state_in(item, seen)
                weights, metrics = weights + more[0], metrics + more[1]
            elif all(hasattr(item, a) for a in ("update_state", "reset_state", "result")):
                metrics.append(item)
    return weights, metrics
