"""A model whose output carries a mask (a sequence model over ``Embedding(mask_zero=True)`` or ``Masking``,
its steps kept by ``return_sequences``): the loss and the metrics weigh each step by it, as tf.keras 2 does.

tf.keras 2.21 turns the mask into sample weights: the metrics are weighted by it (a masked step does not count),
and the loss by it scaled by ``steps / valid steps`` of the batch, so that the batch loss is
``sum(loss_t * mask_t) / sum(mask_t)``: the mean over the unpadded steps (times the sample weights, if any). A
batch with no unpadded step has loss 0 here (tf.keras's 0 / 0 is NaN). A model of several outputs weighs each
by its own mask and sample weights (models/multi_output.py takes a list of them, one per output).
"""


def weights(model, out, sw, plain_sw):
    """``(loss weights, metric weights, plain metric weights)`` for a batch whose outputs ``out`` the model's
    forward just computed (it left the output's mask, if any, on the model; several outputs: a list of them,
    and then each of the three is a list too, an output's weights from its own mask and sample weights)."""
    mask = model.__dict__.pop("_output_mask", None)
    if isinstance(mask, list):
        loss = model._loss_fn  # (models/multi_output.py's: the outputs packed side by side)
        parts = [_weights(model, loss.output_part(out, i), loss.weight_part(sw, i), loss.weight_part(plain_sw, i), m)
                 for i, m in enumerate(mask)]
        return tuple(list(column) for column in zip(*parts))
    return _weights(model, out, sw, plain_sw, mask)


def _weights(model, out, sw, plain_sw, mask):
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
