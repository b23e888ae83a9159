"""The single-launch training step of a small Dense stack (kernels/mlp_step.cu).

A `gpu_step.Step` is 2L + 3 launches; for a model as small as the tutorials' Pima MLP each of
them is a few microseconds of latency and almost no arithmetic, so the step costs its launch
count. Where the batch, every layer's activations and the gradients fit in one block's shared
memory, `fused_step_launch` gives the whole step as one launch of one block instead, with the
same gather (the Step's address table), the same loss kernel code, the same optimizer
arithmetic, the same dropout masks, regularizer penalties and constraint projections, and the
same device table of per-step scalars, so graphs, `run_many` and the epoch's bookkeeping work
unchanged; a BatchNormalization right after a Dense layer runs inside that layer's stage, as
bn_forward and bn_backward compute it (gpu_fused_norm.py). ``GPUNET_FUSED_STEP=0`` turns it off.
"""
import os

import numpy

from . import cuda_kernels as K
from . import step_kernels as S
from .gpu_fused_norm import norm_args, stages

VALUE_BYTES = 40960   # mlp_step.cu's GN_MLP_BYTES: shared-memory values (x, y, sw, Z, A per layer, 2 dA)
MASKS = 4096          # GN_MLP_MASKS: the relu family's masks and the dropouts' keep flags
META = 22             # GN_MLP_META: ints per layer
ACTP = 10             # GN_MLP_ACTP: values per layer
MAX_LAYERS = 8
# Both limits from gpu_diagnose.py part 6c (H100 80GB HBM3, 2026-12-05; gpu_plan_sweeps.py): the
# one launch won up to 60-60-30-1 at batch 16 (260,640 MACs, 5,521 parameters: 49.5 against 55.6
# us/step) and lost at 64-128-64-1 at batch 4 (16,641 parameters: 84.5 against 65.8).
MAX_MACS = 1 << 18    # one block's arithmetic per step: above this the multi-launch step is faster
MAX_PARAMS = 1 << 13  # the optimizer's loop over the flat buffer, on one block
_OPT_KIND = {"sgd": 0, "adam": 1, "rmsprop": 2, "adagrad": 3, "adamax": 4, "nadam": 5, "lion": 6, "adadelta": 7}


def enabled():
    return os.environ.get("GPUNET_FUSED_STEP", "1").strip() != "0"


def values(dtype):
    """How many values of ``dtype`` the block's value buffer holds."""
    return VALUE_BYTES // numpy.dtype(dtype).itemsize


def layout(rows, kx, ky, weighted, layers, dropped=None, normed=None):
    """Shared-memory offsets for a batch of ``rows`` and ``layers`` [(K, N)], ``dropped[l]``
    true where a Dropout sits in front of layer l, ``normed[l]`` None or, where a
    BatchNormalization follows layer l, what its activation keeps (`ActSpec.keep`): (x_off,
    y_off, sw_off, [(in_off, z_off, a_off, mask_off, drop_src, drop_mask, bn_out, bn_xhat, bn_z,
    bn_mask, bn_inv)], d0_off, d1_off, values used, masks used); drop_src and drop_mask are -1
    for a layer without a dropout, the bn_ offsets -1 without a BatchNormalization (bn_z, bn_mask
    where its activation keeps no z or mask)."""
    x_off, y_off = 0, rows * kx
    sw_off = y_off + rows * ky if weighted else -1
    off = y_off + rows * ky + (rows if weighted else 0)
    moff, prev, per_layer = 0, x_off, []
    for (k, n), drop, keep in zip(layers, dropped or [False] * len(layers), normed or [None] * len(layers)):
        src, dmask = -1, -1
        if drop:  # the kept values in a region of their own: A_{l-1} stays for its layer's backward
            src, dmask, prev, off, moff = prev, moff, off, off + rows * k, moff + rows * k
        dense = (prev, off, off + rows * n, moff, src, dmask)
        prev, off, moff = off + rows * n, off + 2 * rows * n, moff + rows * n
        norm = (-1,) * 5
        if keep is not None:  # xhat, the activated output (the next layer's input), its z, inv (n)
            z = keep == "z"
            norm = (off + rows * n, off, off + 2 * rows * n if z else -1, moff if keep == "mask" else -1,
                    off + (2 + z) * rows * n)
            prev, off, moff = norm[0], off + (2 + z) * rows * n + n, moff + (rows * n if keep == "mask" else 0)
        per_layer.append(dense + norm)
    width = rows * max([n for _, n in layers] + [k for k, _ in layers[1:]])
    return x_off, y_off, sw_off, per_layer, off, off + width, off + 2 * width, moff


def fused_step_launch(plan, step, rows, stride, x_stride):
    """The step of ``rows`` samples (epoch stride ``stride``; ``x_stride`` as batch_gather's)
    as one mlp_step launch, or None where the multi-launch step must run: two Dropout layers
    in a row; a BatchNormalization anywhere but right after a Dense layer (first in the model,
    after a Dropout or after another BatchNormalization: mlp_step normalizes a layer's output in
    its stage), or whose gamma or beta is not a view of the flat buffers; the hinge losses and
    cosine similarity in float64 (left out of mlp_step<double>'s loss rows), a data-parallel
    gradient average, a loss without a kernel (its ``compute`` runs between launches) or a focal
    one (its own kernel), an activity regularizer (its own launch), shared memory or arithmetic too
    large for one block, or ``GPUNET_FUSED_STEP=0``."""
    opt = plan.optimizer
    staged = stages(plan)
    if (not enabled() or staged is None or plan.loss_kernel.generic or plan.loss_kernel.kind in S.FOCAL_KINDS
            or (plan.loss_kernel.kind in (S.HINGE, S.SQUARED_HINGE, S.CATEGORICAL_HINGE, S.COSINE)
                and numpy.dtype(plan.dtype) != numpy.float32)
            or plan.optimizer.kind not in _OPT_KIND or (plan.regs is not None and plan.regs.activity)
            or len(plan.layers) > MAX_LAYERS or plan.params.size > MAX_PARAMS
            or getattr(plan.model.optimizer, "allreduce_gradients", None) is not None):
        return None
    shapes = [(e.w.shape[0], e.w.shape[1]) for e in plan.layers]
    if 3 * rows * sum(k * n for k, n in shapes) > MAX_MACS:
        return None
    dropped, normed = staged
    x_off, y_off, sw_off, per_layer, d0, d1, used, masks = layout(
        rows, plan.width, plan.y_width, plan.weighted, shapes, [d is not None for d in dropped],
        [None if e is None else e.spec.keep for e in normed])
    if used > values(plan.dtype) or masks > MASKS:
        return None
    weights = _weight_rows(plan)  # (before any buffer is allocated for a launch that may not be)
    if weights is None:
        return None
    meta, actp, moving = [], [], []
    for e, (k, n), offsets, drop, norm in zip(plan.layers, shapes, per_layer, dropped, normed):
        w_off, b_off = _offset(plan.params, e.w), -1 if e.b is None else _offset(plan.params, e.b)
        bn = norm_args(plan, norm, _offset)
        if w_off is None or b_off is None or bn is None:
            return None
        meta += [k, n, w_off, b_off, e.spec.code, e.spec.flags, *offsets[:6], int(e.spec.softmax), *offsets[6:], *bn[0]]
        actp += [e.spec.alpha, e.spec.max_value, e.spec.threshold, 0.0 if drop is None else 1.0 / (1.0 - drop.rate),
                 *bn[1]]
        moving += bn[2]
    xp, dtype = plan.ops.xp, plan.dtype
    step.fused_meta, step.fused_actp = xp.empty((len(meta),), dtype="int32"), xp.empty((len(actp),), dtype=dtype)
    step.fused_rates, step.fused_salts = xp.empty((len(dropped),), dtype="float64"), xp.empty((len(dropped),), "int64")
    step.fused_moving = xp.empty((len(moving),), dtype="uint64")
    plan._write(step.fused_meta, meta)
    plan._write(step.fused_actp, actp)
    plan._write(step.fused_moving, moving)
    plan._write(step.fused_rates, [0.0 if d is None else d.rate for d in dropped])
    plan._write(step.fused_salts, [0 if d is None else d.salt for d in dropped])
    (wmeta, wpar), n_regs, n_cons = weights
    transforms = plan.optimizer.transforms(plan.ops)
    clip_flags, clip_value, clip_norm, segments, factors, mask = _transform_args(plan.optimizer.optimizer, transforms)
    for lo, hi in segments:
        wmeta += [lo, hi, 0, 0]
    step.fused_wmeta = xp.empty((max(len(wmeta), 1),), dtype="int64")
    step.fused_wpar = xp.empty((max(len(wpar), 1),), dtype=dtype)
    plan._write(step.fused_wmeta[:len(wmeta)], wmeta)
    plan._write(step.fused_wpar[:len(wpar)], wpar)
    partial = plan.regs.partial if plan.regs is not None else None
    t = numpy.dtype(dtype).type
    exp_max = numpy.floor(numpy.log(numpy.finfo(dtype).max))
    kind, slots, c, flag = _optimizer_args(opt)
    i32 = numpy.int32
    return K.Launch("step", K._kernel("mlp_step", dtype), (1, 1, 1), (32, 8, 1), (
        step.sources, plan.params, plan.model._grads, step.fused_meta, step.fused_actp, step.fused_rates,
        step.fused_salts, i32(len(plan.layers)),
        i32(x_off), i32(y_off), i32(sw_off), i32(d0), i32(d1), i32(plan.loss_kernel.kind), plan.outputs, plan.state,
        i32(rows), numpy.int64(stride), numpy.int64(stride if x_stride is None else x_stride), i32(plan.width),
        i32(plan.y_width), t(plan.eps), t(plan.loss_kernel.scale(rows)), t(exp_max), t(plan.loss_kernel.delta),
        i32(kind),
        *(K._ptr(s) for s in slots), numpy.int64(plan.params.size), *(t(v) for v in c), i32(flag), plan.table,
        step.fused_wmeta, step.fused_wpar, i32(n_regs), i32(n_cons), K._ptr(partial),
        numpy.int64(0 if partial is None else partial.shape[1]), i32(clip_flags), t(clip_value), t(clip_norm),
        i32(len(segments)), K._ptr(factors), K._ptr(mask), step.fused_moving))


def _transform_args(o, transforms):
    """(clip_flags, clip_value, clip_norm, norm-clip segments [(lo, hi)], decay factors table,
    decay mask) as mlp_step takes them, from the optimizer ``o`` and its `StepGradTransforms`."""
    if transforms is None:
        return 0, 0.0, 0.0, [], None, None
    return (int(o.clipvalue is not None), o.clipvalue or 0.0, transforms.clip_norm or 0.0, transforms.segments,
            transforms.decay_factors(), o._decay_mask if o.weight_decay else None)


def _weight_rows(plan):
    """((wmeta, wpar), n_regs, n_cons): mlp_step.cu's rows for the plan's regularized weights, then
    its constrained ones; None when one of them is not a view of the flat buffer."""
    wmeta, wpar = [], []
    regs = [] if plan.regs is None else list(zip(plan.regs.regs, plan.regs.cols))
    for (w, l1, l2), col in regs:
        off = _offset(plan.params, w.value)
        if off is None:
            return None
        wmeta += [off, w.value.size, col, S.reg_blocks(w.value.size, plan.ops.sm_count)]
        wpar += [l1, l2, 0.0, 0.0]
    cons = [] if plan.constraints is None else plan.constraints.cons
    for w, mode, a, b, rate in cons:
        off = _offset(plan.params, w.value)
        if off is None:
            return None
        k, n = K.constrained_columns(w.value)
        wmeta += [off, k, n, mode]
        wpar += [a, b, rate, 1 - rate]
    return (wmeta, wpar), len(regs), len(cons)


def _offset(params, a):
    """Where view ``a`` starts in the flat buffer ``params``, in elements; None when it is not a
    C-contiguous view inside it."""
    delta = S.address(a) - S.address(params)
    if not a.flags.c_contiguous or delta % params.itemsize or not 0 <= delta // params.itemsize <= params.size - a.size:
        return None
    return delta // params.itemsize


def _optimizer_args(step_optimizer):
    """(kind, (s1, s2, s3), (c1, c2, c3), flag) as mlp_step.cu takes them (kind: `_OPT_KIND`)."""
    o, s = step_optimizer.optimizer, step_optimizer.optimizer.slots()
    kind, flag = step_optimizer.kind, 0
    if kind == "sgd":
        slots, c, flag = (s.get("momentum"), None, None), (0.0, 0.0, 0.0), int(bool(o.nesterov))
    elif kind == "adam":
        slots, c = (s["m"], s["v"], s.get("vhat")), (1.0 - o.beta_1, 1.0 - o.beta_2, o.epsilon)
    elif kind == "adagrad":
        slots, c = (s["accumulator"], None, None), (0.0, 0.0, o.epsilon)
    elif kind == "adamax":
        slots, c = (s["m"], s["v"], None), (1.0 - o.beta_1, o.beta_2, o.epsilon)
    elif kind == "nadam":
        slots, c = (s["m"], s["v"], None), (1.0 - o.beta_1, 1.0 - o.beta_2, o.epsilon)
    elif kind == "lion":
        slots, c = (s["m"], None, None), (o.beta_1, o.beta_2, 0.0)
    elif kind == "adadelta":
        slots, c = (s["accum_grad"], s["accum_var"], None), (o.rho, 1.0 - o.rho, o.epsilon)
    else:
        slots, c = (s["rms"], s.get("momentum"), s.get("mg") if o.centered else None), (o.rho, 1.0 - o.rho, o.epsilon)
    return _OPT_KIND[kind], slots, c, flag
