"""Keras 3's CTC (connectionist temporal classification) ops: ``ctc_loss`` by the forward-backward algorithm in
log space (vectorized over the batch and the label positions, a loop over the time steps), with its exact gradient
from the alphas and betas on the tape, and ``ctc_decode`` (greedy, and beam search as Keras 3 on torch/JAX)
(tests/test_ctc.py checks both against Keras 3 on torch and tf.keras 2's ``K.ctc_batch_cost``/``K.ctc_decode``).
"""
from .. import backend as B
from ..backend.fp_quiet import fp_quiet
from .tensor import Tensor, lift, result

__all__ = ["ctc_loss", "ctc_decode"]


def compute_dtype(dtype):
    """float64 for float64 values, else float32 (TensorFlow's CTC kernels' two)."""
    return "float64" if str(dtype) == "float64" else "float32"


def _ints(x, name, owner, ndim):
    a = lift(x).data
    if a.ndim != ndim:
        raise ValueError(f"{owner}: expected `{name}` of rank {ndim}, received shape {tuple(a.shape)}")
    if a.dtype.kind not in "iufb":
        raise TypeError(f"{owner}: expected `{name}` of integers, received dtype {a.dtype}")
    return a.astype("int64")


def _host(a):
    return B.get_backend().to_host(a)



def _logsumexp3(xp, a, b, c):
    m = xp.maximum(xp.maximum(a, b), c)
    m = xp.where(xp.isfinite(m), m, 0.0)
    return m + xp.log(xp.exp(a - m) + xp.exp(b - m) + xp.exp(c - m))


def _shift(xp, a, k, fill):
    """``a`` moved ``k`` places along its last axis (right for k > 0, left for k < 0), ``fill`` in the gap."""
    pad = xp.full(a.shape[:-1] + (abs(k),), fill, dtype=a.dtype)
    return xp.concatenate([pad, a[..., :-k]] if k > 0 else [a[..., -k:], pad], axis=-1)


def check_ctc_inputs(target, output, target_length, output_length, mask_index, owner="ctc_loss", label_limit=None):
    """The arguments as backend arrays ``(labels (B, S) int64, logits tensor (B, T, C), label lengths (B,),
    output lengths (B,))``, or a ValueError naming what was expected and what was received. Labels must be below
    ``label_limit`` (default: num_classes)."""
    x = lift(output)
    if x.ndim != 3:
        raise ValueError(f"{owner}: expected `output` of shape (batch_size, max_length, num_classes), received "
                         f"shape {x.shape}")
    labels = _ints(target, "target", owner, 2)
    lengths, steps = (_ints(v, n, owner, 1) for v, n in ((target_length, "target_length"),
                                                           (output_length, "output_length")))
    batch, time, classes = x.shape
    for name, a in (("target", labels), ("target_length", lengths), ("output_length", steps)):
        if a.shape[0] != batch:
            raise ValueError(f"{owner}: `{name}` and `output` must have the same first dimension, received shapes "
                             f"{tuple(a.shape)} and {x.shape}")
    if not isinstance(mask_index, int) or isinstance(mask_index, bool) or not 0 <= mask_index < classes:
        raise ValueError(f"{owner}: expected mask_index an int in [0, {classes}) (num_classes={classes}), "
                         f"received {mask_index!r}")
    h_lengths, h_steps, xp = _host(lengths), _host(steps), B.get_backend().xp
    if batch and (h_lengths.min() < 0 or h_lengths.max() > labels.shape[1]):
        raise ValueError(f"{owner}: expected each target_length in [0, {labels.shape[1]}] (the target's max_length), "
                         f"received {h_lengths.tolist()}")
    if batch and (h_steps.min() < 1 or h_steps.max() > time):
        raise ValueError(f"{owner}: expected each output_length in [1, {time}] (the output's max_length), "
                         f"received {h_steps.tolist()}")
    if batch and labels.shape[1]:
        used = xp.where(xp.arange(labels.shape[1])[None, :] < lengths[:, None], labels, 0)
        lo, hi = int(_host(used.min())), int(_host(used.max()))
        limit = classes if label_limit is None else label_limit
        if lo < 0 or hi >= limit:
            raise ValueError(f"{owner}: expected the target's labels (within target_length) in [0, {limit}) "
                             f"(num_classes={classes}), received labels from {lo} to {hi}")
    return labels, x, lengths, steps


def _forward_backward(xp, logits, labels, lengths, steps, blank):
    """Per-sample ``-log p(labels | logits)`` and its gradient with respect to the logits (for an upstream
    gradient of ones), from the log-space alphas and betas over the extended labels (a blank around each)."""
    batch, time, classes = logits.shape
    neg = -xp.inf
    m = logits.max(axis=-1, keepdims=True)
    lse = m + xp.log(xp.exp(logits - m).sum(axis=-1, keepdims=True))
    lp = logits - lse  # log_softmax
    width = 2 * labels.shape[1] + 1
    s = xp.arange(width)
    label_at = xp.arange(labels.shape[1])[None, :] < lengths[:, None]
    ext = xp.full((batch, width), blank, dtype="int64")
    ext[:, 1::2] = xp.where(label_at, labels, blank)
    valid = s[None, :] < (2 * lengths + 1)[:, None]
    skip = (ext != blank) & (ext != _shift(xp, ext, 2, blank))  # s - 2 -> s allowed (s >= 2: ext[s - 2] shifted)
    skip[:, :2] = False
    emit = xp.take_along_axis(lp, xp.broadcast_to(ext[:, None, :], (batch, time, width)), axis=2)
    alive = xp.arange(time)[:, None] < steps[None, :]  # (T, B)
    alphas = xp.empty((time, batch, width), dtype=logits.dtype)
    betas = xp.empty_like(alphas)
    with fp_quiet(xp, divide="ignore", invalid="ignore", over="ignore"):
        a = xp.where(valid & (s[None, :] < 2), emit[:, 0, :], neg)
        alphas[0] = a
        for t in range(1, time):
            step = emit[:, t, :] + _logsumexp3(xp, a, _shift(xp, a, 1, neg), xp.where(skip, _shift(xp, a, 2, neg), neg))
            a = xp.where(alive[t][:, None], xp.where(valid, step, neg), a)  # frozen past each sample's length
            alphas[t] = a
        last = xp.take_along_axis(a, (2 * lengths)[:, None], axis=1)[:, 0]
        before = xp.take_along_axis(a, xp.maximum(2 * lengths - 1, 0)[:, None], axis=1)[:, 0]
        log_z = xp.logaddexp(last, xp.where(lengths > 0, before, neg))
        ends = valid & ((s[None, :] == 2 * lengths[:, None]) | (s[None, :] == 2 * lengths[:, None] - 1))
        start, skip_next = xp.where(ends, 0.0, neg).astype(logits.dtype), _shift(xp, skip, -2, False)
        b = xp.full((batch, width), neg, dtype=logits.dtype)
        for t in range(time - 1, -1, -1):  # betas exclude the emission at t
            if t < time - 1:
                e = emit[:, t + 1, :] + b
                b = _logsumexp3(xp, e, _shift(xp, e, -1, neg), xp.where(skip_next, _shift(xp, e, -2, neg), neg))
            b = xp.where((t == steps - 1)[:, None], start, xp.where((t < steps - 1)[:, None], b, neg))
            betas[t] = b
        occupancy = xp.exp(alphas + betas - log_z[None, :, None])  # (T, B, S'): P(at s at t | labels)
    occupancy = xp.where(alive[:, :, None], occupancy, 0.0).transpose(1, 0, 2)
    one_hot = (ext[:, :, None] == xp.arange(classes)[None, None, :]).astype(logits.dtype)
    grad = xp.exp(lp) - xp.matmul(occupancy, one_hot)  # d(-log p)/d logits, through the log_softmax
    return -log_z, xp.where(alive.T[:, :, None], grad, 0.0).astype(logits.dtype)


def ctc_loss_tensor(labels, x, lengths, steps, blank, dtype):
    """The per-sample CTC losses of the logits tensor ``x`` computed in ``dtype``, on the tape: arguments as
    `check_ctc_inputs` returns them."""
    loss, grad = _forward_backward(B.get_backend().xp, x.data.astype(dtype), labels, lengths, steps, blank)
    return result(loss.astype(dtype), (x, lambda g: (g[:, None, None] * grad).astype(x.dtype)))


def ctc_loss(target, output, target_length, output_length, mask_index=0):
    """Keras 3's ``ops.ctc_loss``: the per-sample CTC loss ``(batch_size,)`` of ``output`` (logits
    ``(batch_size, max_length, num_classes)``, log-softmaxed here) given ``target`` (padded labels
    ``(batch_size, max_label_length)``, integers) and the lengths ``target_length``/``output_length``
    ``(batch_size,)``; ``mask_index`` is the blank class. Computed in float32 whatever the logits' dtype, as
    Keras 3 does (its ``result_type(output.dtype, "float32")``); the gradient has the logits' dtype. An
    alignment that cannot fit gives ``inf`` (and a NaN gradient, as torch's)."""
    labels, x, lengths, steps = check_ctc_inputs(target, output, target_length, output_length, mask_index)
    return ctc_loss_tensor(labels, x, lengths, steps, mask_index, "float32")


def greedy_decode(xp, inputs, steps, merge_repeated, mask_index):
    """Keras 3's greedy decoding of the array ``inputs`` ``(batch, time, classes)``: ``(decoded, scores)``."""
    batch, time, _ = inputs.shape
    indices = inputs.argmax(axis=-1).astype("int32")
    scores = inputs.max(axis=-1)
    past = xp.arange(time)[None, :] >= steps[:, None]
    indices = xp.where(past, mask_index, indices).astype("int32")
    scores = xp.where(past, 0.0, scores).astype(inputs.dtype)
    if merge_repeated:
        repeat = xp.zeros((batch, time), dtype=bool)
        repeat[:, 1:] = indices[:, 1:] == indices[:, :-1]
        indices = xp.where(repeat, mask_index, indices).astype("int32")
    blank = indices == mask_index
    order = xp.argsort(xp.where(blank, time, xp.arange(time)[None, :]), axis=-1, kind="stable")
    decoded = xp.take_along_axis(xp.where(blank, -1, indices).astype("int32"), order, axis=-1)
    return decoded[None], (-scores.sum(axis=1))[:, None]


# Keras 3's beam search on torch (a port of its JAX one): paths deduplicated by a polynomial hash of their labels
# (Knuth's constant, int64 wrapping), ties broken by stable sorts, so that the same beams survive as there.
_KNUTH = 2654435769


def _unique_padded(xp, paths, size):
    n, t = paths.shape
    powers, p = [], 1
    for _ in range(t):
        powers.append(p - (1 << 64) if p >= 1 << 63 else p)
        p = p * _KNUTH % (1 << 64)
    hashes = ((paths.astype("int64") + 1) * xp.asarray(powers, dtype="int64")[None, :]).sum(axis=1)
    order = xp.argsort(hashes, kind="stable")
    ordered, sorted_hashes = paths[order], hashes[order]
    first = xp.ones(n, dtype=bool)
    first[1:] = ~((sorted_hashes[1:] == sorted_hashes[:-1]) & (ordered[1:] == ordered[:-1]).all(axis=1))
    inverse = xp.empty(n, dtype="int64")
    inverse[order] = xp.cumsum(first.astype("int64")) - 1
    unique = ordered[first]
    if unique.shape[0] < size:
        unique = xp.concatenate([unique, xp.full((size - unique.shape[0], t), -1, dtype=unique.dtype)])
    return unique, inverse


def _merge_scores(xp, inverse, scores, count):
    """log of the per-bucket sums of ``exp(scores)``."""
    top = scores.max()
    with fp_quiet(xp, divide="ignore", invalid="ignore"):
        sums = xp.bincount(inverse, weights=xp.exp(scores - top), minlength=count)[:count].astype(scores.dtype)
        return xp.log(sums) + top


def _beam_step(xp, paths, scores, masked, x, mask_index, beam_width):
    classes = x.shape[0]
    paths, scores, masked = (xp.repeat(a, classes, axis=0) for a in (paths, scores, masked))
    rows = xp.arange(paths.shape[0])
    tail = (paths == -1).astype("int32").argmax(axis=1)
    tails = xp.where(tail == 0, -1, paths[rows, tail - 1])
    labels = xp.arange(classes, dtype=paths.dtype)
    labels[mask_index] = -1
    labels = xp.tile(labels, paths.shape[0] // classes)
    now_masked = labels == -1
    paths[rows, tail] = xp.where(~masked & (tails == labels), -1, labels)
    scores = scores + xp.tile(x, paths.shape[0] // classes)
    size = 2 * classes * beam_width
    unique, inverse = _unique_padded(xp, paths, size)
    neg = xp.full_like(scores, -xp.inf)
    emit = _merge_scores(xp, inverse, xp.where(now_masked, neg, scores), size)
    blank = _merge_scores(xp, inverse, xp.where(now_masked, scores, neg), size)
    top = xp.argsort(xp.logaddexp(emit, blank), kind="stable")[-beam_width:]
    return (xp.concatenate([unique[top]] * 2), xp.concatenate([emit[top], blank[top]]),
            xp.arange(2 * beam_width) >= beam_width)


def _beam_search(xp, inputs, steps, beam_width, top_paths, mask_index):
    batch, time, classes = inputs.shape
    m = inputs.max(axis=-1, keepdims=True)
    lp = (inputs - (m + xp.log(xp.exp(inputs - m).sum(axis=-1, keepdims=True))))[:, :, ::-1]
    mask_index = classes - mask_index - 1  # (classes reversed: Keras's tie-breaking)
    first = min(classes, beam_width)
    all_paths, all_scores = [], []
    for b, length in enumerate(_host(steps).tolist()):
        x = lp[b]
        paths = xp.full((2 * beam_width, time), -1, dtype="int32")
        best = xp.argsort(x[0], kind="stable")[-first:]
        paths[:first, 0] = xp.where(best == mask_index, -1, best)
        scores = xp.full((2 * beam_width,), -xp.inf, dtype=inputs.dtype)
        scores[:first] = x[0, best]
        masked = paths[:, 0] == -1
        for t in range(1, length):
            paths, scores, masked = _beam_step(xp, paths, scores, masked, x[t], mask_index, beam_width)
        unique, inverse = _unique_padded(xp, paths, 2 * classes * beam_width)
        merged = _merge_scores(xp, inverse, scores, unique.shape[0])
        top = xp.argsort(merged, kind="stable")[-top_paths:][::-1]
        all_paths.append(unique[top])
        all_scores.append(merged[top])
    paths = xp.stack(all_paths).transpose(1, 0, 2)
    return xp.where(paths == -1, -1, classes - paths - 1).astype("int32"), xp.stack(all_scores)


def ctc_decode(inputs, sequence_lengths, strategy="greedy", beam_width=100, top_paths=1, merge_repeated=True,
               mask_index=0):
    """Keras 3's ``ops.ctc_decode`` of logits ``inputs`` ``(batch_size, max_length, num_classes)``: ``(decoded,
    scores)``. Greedy: ``decoded`` ``(1, batch_size, max_length)`` int32, each row's labels first and ``-1``
    after, ``scores`` ``(batch_size, 1)`` the negative sum of the chosen logits; ``"beam_search"``: ``decoded``
    ``(top_paths, batch_size, max_length)`` and ``scores`` ``(batch_size, top_paths)`` log probabilities."""
    x = lift(inputs)
    if x.ndim != 3:
        raise ValueError(f"ctc_decode: expected `inputs` of shape (batch_size, max_length, num_classes), received "
                         f"shape {x.shape}")
    steps = _ints(sequence_lengths, "sequence_lengths", "ctc_decode", 1)
    batch, time, classes = x.shape
    if steps.shape[0] != batch:
        raise ValueError(f"ctc_decode: `sequence_lengths` and `inputs` must have the same first dimension, received "
                         f"shapes {tuple(steps.shape)} and {x.shape}")
    if mask_index is None:
        mask_index = classes - 1
    if not isinstance(mask_index, int) or isinstance(mask_index, bool) or not 0 <= mask_index < classes:
        raise ValueError(f"ctc_decode: expected mask_index an int in [0, {classes}) (num_classes={classes}), "
                         f"received {mask_index!r}")
    xp = B.get_backend().xp
    data = x.data.astype("float32")  # (Keras 3: result_type(inputs.dtype, "float32"))
    if strategy == "greedy":
        decoded, scores = greedy_decode(xp, data, steps, merge_repeated, mask_index)
    elif strategy == "beam_search":
        for name, v in (("beam_width", beam_width), ("top_paths", top_paths)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"ctc_decode: expected {name} a positive int, received {v!r}")
        decoded, scores = _beam_search(xp, data, steps, beam_width, top_paths, mask_index)
    else:
        raise ValueError(f"ctc_decode: expected strategy 'greedy' or 'beam_search', received {strategy!r}")
    return Tensor(decoded), Tensor(scores)
