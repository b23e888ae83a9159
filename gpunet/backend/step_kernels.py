"""Launch plans of kernels/step.cu (the batch gather, dropout, regularizers) and
kernels/loss.cu (the fused loss gradient), and which loss kernel serves a model's output
activation and loss.

Plans are `cuda_kernels.Launch` tuples, run by `CupyLauncher` on a GPU and by the
g++ emulation in the tests, like every other kernel's.
"""
import numpy

from .cuda_kernels import ELEMENTWISE_BLOCK, Launch, _grid_stride, _kernel, _ptr, _row_grid

# kernels/loss.cu's LossKind
(BCE_SIGMOID, CCE_SOFTMAX, SCCE_SOFTMAX, BCE, CCE, SCCE, MSE, MAE, BCE_LOGITS, CCE_LOGITS, SCCE_LOGITS, HUBER,
 LOG_COSH, MAPE, MSLE, KLD, POISSON, HINGE, SQUARED_HINGE, CATEGORICAL_HINGE, COSINE) = range(21)
# focal_loss_grad's (kernels/focal_loss.cu: loss.cu's LossKind stops at COSINE)
BFOCAL, BFOCAL_LOGITS = 21, 22
FOCAL_KINDS = (BFOCAL, BFOCAL_LOGITS)
SPARSE_KINDS = (SCCE_SOFTMAX, SCCE, SCCE_LOGITS)
BINARY_KINDS = (BCE_SIGMOID, BCE, BCE_LOGITS)
# Keras's label smoothing is the plain loss of smoothed targets: the plan smooths them once an epoch
SMOOTHABLE_KINDS = BINARY_KINDS + (CCE_SOFTMAX, CCE, CCE_LOGITS)
# Keras's hinge losses decide per batch whether 0/1 labels mean -1/1: their loss kernel runs as one block
WHOLE_BATCH_KINDS = (HINGE, SQUARED_HINGE)


class LossKernel:
    """How a plan ends its forward pass: ``kind`` (step.cu's LossKind) and ``fused``, the
    activation the loss kernel applies itself (then the last Dense layer runs linear);
    ``delta``: Huber's. ``generic``: no kernel computes the loss; the kernel of ``kind`` (MSE)
    only copies the outputs into the epoch's, and the loss's own ``compute`` gives the gradient
    (`generic_loss_kernel`); ``sparse_labels``: its targets are one label per sample; ``per_row``:
    the gradient divided by the batch's rows (Keras's default reduction; False for ``"sum"``);
    ``focal``: the binary focal kinds' (gamma, alpha, apply_class_balancing)."""

    def __init__(self, kind, fused, delta=0.0, generic=False, sparse_labels=False, per_row=True, focal=None):
        self.kind, self.fused, self.delta = kind, fused, delta
        self.generic, self.sparse_labels, self.per_row = generic, sparse_labels, per_row
        self.focal = focal  # the focal kinds' (gamma, alpha, apply_class_balancing)

    @property
    def sparse(self):
        return self.kind in SPARSE_KINDS or self.sparse_labels

    def scale(self, rows, weight=1.0):
        """The gradient's scale for a batch of ``rows`` (``weight``: an output's loss weight)."""
        return weight / rows if self.per_row else weight

    def smoothing_of(self, loss):
        """The label smoothing the plan applies to this kernel's targets: ``loss``'s now (0: none)."""
        return getattr(loss, "label_smoothing", 0.0) if self.kind in SMOOTHABLE_KINDS and not self.generic else 0.0


def smooth_targets(xp, kernel, smoothing, y, out):
    """Keras's label smoothing of targets ``y`` into ``out``: ``y (1 - ls) + ls / 2`` for the binary
    cross-entropies, ``+ ls / classes`` for the categorical ones, computed as the losses compute it."""
    shift = 0.5 * smoothing if kernel.kind in BINARY_KINDS else smoothing / y.shape[-1]
    xp.multiply(y, 1.0 - smoothing, out=out)
    xp.add(out, shift, out=out)


def loss_kernel(activation, params, loss):
    """The `LossKernel` for a last layer's activation (name, params) and a compiled loss
    object, or None where no loss kernel computes it (`generic_loss_kernel` then): label smoothing
    but the cross-entropies' (whose targets the plan smooths, `smooth_targets`), a reduction other
    than Keras's default or ``"sum"``, an axis other than the last, ignore_class, a loss without a
    kernel (a user's own)."""
    from ..losses import (BinaryCrossentropy, BinaryFocalCrossentropy, CategoricalCrossentropy, CategoricalHinge,
                          CosineSimilarity, Hinge, Huber, KLDivergence, LogCosh, MeanAbsoluteError,
                          MeanAbsolutePercentageError, MeanSquaredError, MeanSquaredLogarithmicError, Poisson,
                          SparseCategoricalCrossentropy, SquaredHinge)
    cls = type(loss)
    reduction = getattr(loss, "reduction", None)
    if reduction not in ("auto", "sum_over_batch_size", "sum") or getattr(loss, "axis", -1) != -1:
        return None
    if cls is BinaryFocalCrossentropy and not loss.label_smoothing:  # (its smoothing rounds as tf.keras's)
        return LossKernel(BFOCAL_LOGITS if loss.from_logits else BFOCAL, None, per_row=reduction != "sum",
                          focal=(loss.gamma, loss.alpha, loss.apply_class_balancing))
    if getattr(loss, "label_smoothing", 0.0) and cls not in (BinaryCrossentropy, CategoricalCrossentropy):
        return None
    if getattr(loss, "ignore_class", None) is not None:  # the sparse kernels know no ignored label
        return None
    logits = getattr(loss, "from_logits", False)
    table = {BinaryCrossentropy: (BCE, BCE_LOGITS, "sigmoid", BCE_SIGMOID),
             CategoricalCrossentropy: (CCE, CCE_LOGITS, "softmax", CCE_SOFTMAX),
             SparseCategoricalCrossentropy: (SCCE, SCCE_LOGITS, "softmax", SCCE_SOFTMAX),
             MeanSquaredError: (MSE, None, None, None), MeanAbsoluteError: (MAE, None, None, None),
             Huber: (HUBER, None, None, None), LogCosh: (LOG_COSH, None, None, None),
             MeanAbsolutePercentageError: (MAPE, None, None, None),
             MeanSquaredLogarithmicError: (MSLE, None, None, None),
             KLDivergence: (KLD, None, None, None), Poisson: (POISSON, None, None, None),
             Hinge: (HINGE, None, None, None), SquaredHinge: (SQUARED_HINGE, None, None, None),
             CategoricalHinge: (CATEGORICAL_HINGE, None, None, None), CosineSimilarity: (COSINE, None, None, None)}
    if cls not in table:
        return None
    plain, from_logits, fusable, fused_kind = table[cls]
    per_row = reduction != "sum"
    if cls is Huber:
        return LossKernel(HUBER, None, loss.delta, per_row=per_row)
    if logits:
        return LossKernel(from_logits, None, per_row=per_row)
    if activation == fusable and not params:
        return LossKernel(fused_kind, activation, per_row=per_row)
    return LossKernel(plain, None, per_row=per_row)


def generic_loss_kernel(loss):
    """The `LossKernel` of a compiled loss that no kernel computes (label smoothing, focal losses, a
    reduction other than Keras's default, a user's own loss or function, ...): the plan's step
    then runs the loss's ``compute`` on the batch's device arrays between the forward and
    backward kernels (a few CuPy launches, not captured in a CUDA graph). None for what is no
    per-batch loss of the outputs (``compile(loss=None)`` with added losses only)."""
    from ..losses import AddedLossesOnly, Loss, SparseCategoricalCrossentropy
    if not isinstance(loss, Loss) or isinstance(loss, AddedLossesOnly):
        return None
    sparse = isinstance(loss, SparseCategoricalCrossentropy) or getattr(loss, "sparse_labels", False)
    return LossKernel(MSE, None, generic=True, sparse_labels=sparse)


def write_host(dst, values):
    """Host values into a device array, on the current stream (a NumPy array in emulation)."""
    host = numpy.asarray(values, dtype=dst.dtype)
    if isinstance(dst, numpy.ndarray):
        dst[...] = host
    else:
        dst.set(host)


def source_addresses(x, y, sw, order):
    """What `plan_batch_gather`'s ``sources`` table holds: the arrays' addresses (0 for None), as
    uint64. x and y of the batch buffers' dtype and widths, sw (n,) of that dtype, order (n,)
    int64, all C-contiguous; the caller keeps them alive while the table points at them."""
    return numpy.array([0 if a is None else address(a) for a in (x, y, sw, order)], dtype=numpy.uint64)


def plan_batch_gather(sources, xb, yb, swb, state, rows, stride, sm_count, x_stride=None):
    """The batch ``state[0]`` (``stride`` rows apart; rows ``order[...]`` when shuffled) of
    the epoch's x, y, sw into the batch buffers xb, yb, swb; ``rows`` rows (the last batch
    may be short). x, y, sw, order come from ``sources``, a (4,) uint64 device array holding
    `source_addresses`: rewriting it points the same launch (or captured graph) at new data.
    ``x_stride=0``: x holds only this batch (streamed), its rows taken from 0."""
    kx, ky = xb.shape[1], yb.shape[1]
    return Launch("step", _kernel("batch_gather", xb.dtype), _grid_stride(rows * max(kx, ky), sm_count),
                  (ELEMENTWISE_BLOCK, 1, 1),
                  (sources, xb, yb, _ptr(swb), state, numpy.int32(rows), numpy.int64(stride),
                   numpy.int64(stride if x_stride is None else x_stride), numpy.int32(kx), numpy.int32(ky)))


def address(a):
    """Where a device (or, emulated, NumPy) array's data starts."""
    data = getattr(a, "data", None)
    return data.ptr if hasattr(data, "ptr") else a.ctypes.data  # CuPy, or NumPy in emulation


def plan_loss_grad(kernel, z, y, sw, out, dz, state, stride, eps, scale, sm_count):
    """The model's outputs into ``out`` (the epoch's, at batch ``state[1]``) and the loss
    gradient into ``dz``, for a batch of ``z.shape[0]`` rows; see loss.cu."""
    M, N = z.shape
    t = z.dtype.type
    if kernel.kind in FOCAL_KINDS:
        gamma, alpha, balanced = kernel.focal
        return Launch("step", _kernel("focal_loss_grad", z.dtype), _grid_stride(M * N, sm_count),
                      (ELEMENTWISE_BLOCK, 1, 1),
                      (z, y, _ptr(sw), out, dz, state, numpy.int32(M), numpy.int32(N), numpy.int64(stride), t(eps),
                       t(scale), t(gamma), t(gamma - 1.0), t(alpha), t(1.0 / N), numpy.int32(bool(balanced)),
                       numpy.int32(kernel.kind == BFOCAL_LOGITS)))
    exp_max = numpy.floor(numpy.log(numpy.finfo(z.dtype).max))
    grid = (1, 1, 1) if kernel.kind in WHOLE_BATCH_KINDS else _row_grid(M, sm_count)
    return Launch("step", _kernel("loss_grad", z.dtype), grid, (32, 8, 1),
                  (numpy.int32(kernel.kind), z, y, _ptr(sw), out, dz, state, numpy.int32(M), numpy.int32(N),
                   numpy.int64(stride), t(eps), t(scale), t(exp_max), t(kernel.delta)))


def reg_blocks(n, sm_count):
    """How many per-block penalty partials `plan_reg_grad` writes for a weight of ``n`` values."""
    return _grid_stride(n, sm_count)[0]


def plan_reg_grad(w, g, l1, l2, partial, state, col, sm_count, blocks=None):
    """``g += l1 sign(w) + 2 l2 w`` and the penalty ``l1 |w| + l2 w^2`` summed per block into
    ``partial[state[1], col:col + reg_blocks(w.size)]`` (see step.cu); on ``blocks`` blocks where
    given (the extra ones write 0)."""
    t = w.dtype.type
    grid = _grid_stride(w.size, sm_count) if blocks is None else (blocks, 1, 1)
    return Launch("step", _kernel("reg_grad", w.dtype), grid, (ELEMENTWISE_BLOCK, 1, 1),
                  (w, g, numpy.int64(w.size), t(l1), t(l2), partial, state, numpy.int64(partial.shape[1]),
                   numpy.int64(col)))


def plan_dropout_forward(x, y, m, rate, state, salt, sm_count):
    """``y = x * m`` with a fresh inverted-dropout mask ``m`` per batch (see step.cu); ``salt``
    tells the plan's Dropout layers apart."""
    t = x.dtype.type
    return Launch("step", _kernel("dropout_forward", x.dtype), _grid_stride(x.size, sm_count), (ELEMENTWISE_BLOCK, 1, 1),
                  (x, y, m, numpy.int64(x.size), numpy.float64(rate), t(1.0 / (1.0 - rate)), state,
                   numpy.int64(salt)))


NOISE_MODES = {"GaussianNoise": 0, "GaussianDropout": 1, "AlphaDropout": 2}  # step.cu noise_forward's ``mode``


def plan_noise_forward(x, y, m, value, mode, state, salt, sm_count):
    """GaussianNoise's ``y = x + value z`` (mode 0, ``m`` None), GaussianDropout's ``y = x m``, ``m = 1 +
    value z`` (1), or AlphaDropout's of rate ``value`` (2: ``m`` its gradient), ``z`` fresh standard
    normal draws per batch, AlphaDropout's keep flags Dropout's (see step.cu); ``m`` kept for the backward."""
    return Launch("step", _kernel("noise_forward", x.dtype), _grid_stride(x.size, sm_count), (ELEMENTWISE_BLOCK, 1, 1),
                  (x, y, _ptr(m), numpy.int64(x.size), numpy.float64(value), numpy.int32(mode), state,
                   numpy.int64(salt)))


def plan_dropout_backward(g, m, sm_count):
    """``g *= m``: the gradient through the forward pass's dropout, in place."""
    return Launch("step", _kernel("dropout_backward", g.dtype), _grid_stride(g.size, sm_count),
                  (ELEMENTWISE_BLOCK, 1, 1), (g, m, numpy.int64(g.size)))
