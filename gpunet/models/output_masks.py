"""A model whose output carries a mask (a sequence model over ``Embedding(mask_zero=True)`` or ``Masking``,
its steps kept by ``return_sequences``): the loss and the metrics weigh each step by it, as tf.keras 2 does.

tf.keras 2.21 turns the mask into sample weights: the metrics are weighted by it (a masked step does not count),
and the loss by it scaled by ``steps / valid steps`` of the batch, so that the batch loss is
``sum(loss_t * mask_t) / sum(mask_t)``: the mean over the unpadded steps (times the sample weights, if any). A
batch with no unpadded step has loss 0 here (tf.keras's 0 / 0 is NaN).
"""


def weights(model, out, sw, plain_sw):
    """``(loss weights, metric weights, plain metric weights)`` for a batch whose outputs ``out`` the model's
    forward just computed (it left the output's mask, if any, on the model)."""
    mask = model.__dict__.pop("_output_mask", None)
    if mask is None:
        return sw, sw, plain_sw
    ops = model.ops
    xp = ops.xp
    if mask.ndim != out.ndim - 1 or tuple(mask.shape) != tuple(out.shape[:-1]):
        raise NotImplementedError(f"The output of model '{model.name}' (shape {tuple(out.shape)}) carries a mask of "
                                  f"shape {tuple(mask.shape)}: gpunet weighs the loss by a mask over the output's "
                                  "axes but its last.")
    m = mask.astype(out.dtype)

    def times(w):
        return m if w is None else m * w.reshape(tuple(w.shape) + (1,) * (m.ndim - w.ndim)).astype(out.dtype)
    metric_sw = times(sw)
    scale = m.size / xp.maximum(xp.sum(m), 1.0)  # (the batch's steps over its unpadded ones: a device scalar)
    return metric_sw * scale.astype(out.dtype), metric_sw, times(plain_sw)
