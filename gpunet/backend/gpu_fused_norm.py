"""What the one-launch step (gpu_fused_step.py, kernels/mlp_step.cu) takes for the
BatchNormalization layers it runs: where each sits (right after a Dense layer, in its stage) and
its meta ints, its values and its moving statistics' addresses, as mlp_step.cu's header lays
them out. The arithmetic is bn_forward's and bn_backward's (gpu_batch_norm.py), so the launch
carries the layer's momentum and epsilon as forward_launch does; a change to either rebuilds the
steps (gpu_plan_follow.py: NormEntry.changed), this launch with them."""
from . import step_kernels as S
from .gpu_batch_norm import NormEntry

NO_NORM = ([-1, -1, 0, 0], [0.0] * 6, [0, 0])  # gamma_off, beta_off, act code, flags; values; addresses


def stages(plan):
    """(dropped, normed): per Dense layer of the plan the DropoutEntry in front of it and the
    NormEntry right after it (None: none); None where mlp_step has no stage for the sequence: two
    Dropout layers in front of one layer (room for one mask there), a BatchNormalization not
    right after a Dense layer (first in the model, after a Dropout or another BatchNormalization)
    or whose activation is softmax, a LayerNormalization (gpu_layer_norm.py: multi-launch only)."""
    dropped, normed, pending, last = [], [], None, None
    for entry in plan.sequence:
        if entry in plan.dropouts:
            if pending is not None:
                return None
            pending = entry
        elif entry in plan.norms:
            if (last is None or last not in plan.layers or entry.spec.softmax
                    or not isinstance(entry, NormEntry)):  # (mlp_step normalizes as BatchNormalization only)
                return None
            normed[-1] = entry
        elif entry not in plan.layers:  # (a noise layer: mlp_step draws no Gaussian noise)
            return None
        else:
            dropped.append(pending)
            normed.append(None)
            pending = None
        last = entry
    return dropped, normed


def norm_args(plan, entry, offset):
    """(meta tail, values, moving addresses) of the NormEntry ``entry`` (None: no
    BatchNormalization, `NO_NORM`), or None where gamma or beta is not a view of the flat
    parameter buffer at the offset its gradient has in the flat gradient buffer (``offset``:
    gpu_fused_step._offset), or a moving statistic is not contiguous."""
    if entry is None:
        return NO_NORM
    offs = []
    for w, g in ((entry.gamma, entry.dgamma), (entry.beta, entry.dbeta)):
        off = -1 if w is None else offset(plan.params, w)
        if off is None or (w is not None and (g is None or offset(plan.model._grads, g) != off)):
            return None
        offs.append(off)
    if not (entry.moving_mean.flags.c_contiguous and entry.moving_var.flags.c_contiguous):
        return None
    layer, spec = entry.layer, entry.spec
    return ([*offs, spec.code, spec.flags],
            [spec.alpha, spec.max_value, spec.threshold, layer.momentum, 1 - layer.momentum, layer.epsilon],
            [S.address(entry.moving_mean), S.address(entry.moving_var)])
