"""tf.keras 2's CTC backend functions: ``K.ctc_batch_cost`` (a loss that trains: its gradient comes from the
forward-backward pass of gpunet/autodiff/keras3_ctc_ops.py, on the tape) and ``K.ctc_decode`` (greedy).

As tf.keras 2, both take softmax probabilities ``y_pred`` ``(samples, time_steps, num_categories)``, use
``log(y_pred + epsilon())`` as the logits and the last category as the blank. Not here:
``K.ctc_label_dense_to_sparse`` (gpunet has no sparse tensors: ``ctc_batch_cost`` takes the padded dense labels
and their lengths directly) and ``K.ctc_decode(greedy=False)`` (TensorFlow's own beam search; Keras 3's
``ops.ctc_decode(strategy="beam_search")`` is gpunet's ``ops.ctc_decode``).
"""
from ..autodiff import elementwise as _E, shape_ops as _S
from ..autodiff.keras3_ctc_ops import check_ctc_inputs, compute_dtype, ctc_loss_tensor, greedy_decode
from ..autodiff.tensor import Tensor, lift as _lift
from ..layers.symbolic import accepts_symbolic

__all__ = ["ctc_batch_cost", "ctc_decode"]


def _lengths(x, name, owner):
    """A ``(samples, 1)`` (tf.keras 2's) or ``(samples,)`` length tensor as ``(samples,)``."""
    t = _lift(x)
    if t.ndim == 2 and t.shape[1] == 1:
        return t.data.reshape(-1)
    if t.ndim != 1:
        raise ValueError(f"{owner}: expected `{name}` of shape (samples, 1), received shape {t.shape}")
    return t.data


def _probabilities(y_pred, owner):
    p = _lift(y_pred)
    if p.ndim != 3:
        raise ValueError(f"{owner}: expected `y_pred` of shape (samples, time_steps, num_categories), received "
                         f"shape {p.shape}")
    if p.dtype.kind != "f":
        p = _lift(p.data.astype(compute_dtype(p.dtype)))
    return p


@accepts_symbolic
def ctc_batch_cost(y_true, y_pred, input_length, label_length):
    """tf.keras 2's ``K.ctc_batch_cost``: the CTC loss ``(samples, 1)`` of each sample, from ``y_true``
    (padded labels ``(samples, max_string_length)``, in ``[0, num_categories - 1)``), ``y_pred`` (softmax
    outputs ``(samples, time_steps, num_categories)``, the last category the blank), ``input_length`` and
    ``label_length`` ``(samples, 1)``. Computed in float64 for float64 ``y_pred``, else float32."""
    from . import epsilon
    owner = "ctc_batch_cost"
    p = _probabilities(y_pred, owner)
    blank = p.shape[2] - 1
    lengths, steps = _lengths(label_length, "label_length", owner), _lengths(input_length, "input_length", owner)
    labels, logits, lengths, steps = check_ctc_inputs(y_true, _E.log(_E.add(p, epsilon())), lengths, steps, blank,
                                                      owner=owner, label_limit=blank)
    return _S.expand_dims(ctc_loss_tensor(labels, logits, lengths, steps, blank, compute_dtype(p.dtype)), 1)


def ctc_decode(y_pred, input_length, greedy=True, beam_width=100, top_paths=1):
    """tf.keras 2's ``K.ctc_decode`` with ``greedy=True``: ``([decoded], log_prob)``, ``decoded`` ``(samples,
    time_steps)`` int64 (each sample's labels first, ``-1`` after), ``log_prob`` ``(samples, 1)`` the negative
    sum of the best path's log probabilities. The beam search (``greedy=False``) is TensorFlow's own and is not
    available: NotImplementedError."""
    from . import epsilon, get_backend
    owner = "ctc_decode"
    if not greedy:
        raise NotImplementedError("ctc_decode: greedy=False (TensorFlow's beam search decoder) is not available in "
                                  "gpunet; use greedy=True, or gpunet.ops.ctc_decode(strategy='beam_search') "
                                  "(Keras 3's beam search, on logits)")
    p = _probabilities(y_pred, owner)
    steps = _lengths(input_length, "input_length", owner)
    if steps.shape[0] != p.shape[0]:
        raise ValueError(f"{owner}: `input_length` and `y_pred` must have the same first dimension, received "
                         f"shapes {tuple(steps.shape)} and {p.shape}")
    if steps.dtype.kind not in "iuf":
        raise TypeError(f"{owner}: expected `input_length` of integers, received dtype {steps.dtype}")
    xp = get_backend().xp
    logits = xp.log(p.data.astype(compute_dtype(p.dtype)) + epsilon())
    decoded, scores = greedy_decode(xp, logits, steps.astype("int64"), True, p.shape[2] - 1)
    return [Tensor(decoded[0].astype("int64"))], Tensor(scores)
