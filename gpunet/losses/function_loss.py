"""`FunctionLoss`: a user's ``loss(y_true, y_pred)`` trained through the tape.

``compile(loss=my_loss)`` wraps the function; it receives gpunet tensors and returns
per-sample values (``(N,)`` or ``(N, ...)``) or one scalar, written with `gpunet.ops`
or Keras 2's ``K.*`` functions. Sample and class weights are applied as for the
built-in losses (Keras's ``sum_over_batch_size``: the weighted sum divided by the
number of values; a scalar counts once per sample when weighted, as tf.keras
broadcasts it), and the gradient of the whole reduction comes from the tape, so it is
exact even for a function that mixes samples.
"""
from .. import backend as B
from ..autodiff import Tensor, gradients, lift
from ..autodiff import elementwise as E, reductions as R
from .base import Loss, _expand


def reduce_values(loss, values, sample_weight=None):
    """The tensor ``values`` weighted and reduced as ``loss.reduction`` says (Keras's rules; on the tape)."""
    if sample_weight is not None:
        w = lift(sample_weight).data.astype(values.dtype, copy=False)
        values = E.multiply(values, _expand(w, values.ndim) if values.ndim else w)
    if loss.reduction == "none":
        return values
    scale = loss._scale(values.size, None if sample_weight is None else lift(sample_weight).data, values.shape)
    return E.multiply(R.sum(values), scale)


class FunctionLoss(Loss):
    """A loss from a function ``fn(y_true, y_pred)`` of tensors; ``name`` is the function's name."""

    def __init__(self, fn, reduction="auto", name=None, **kwargs):
        if not callable(fn):
            raise TypeError(f"FunctionLoss expects a function fn(y_true, y_pred), received {fn!r}")
        super().__init__(reduction, name or getattr(fn, "__name__", "loss"))
        self.fn = fn
        self.fn_kwargs = kwargs

    def _values(self, y_true, y_pred):
        """The function's values as a tensor, checked to be per-sample or a scalar."""
        out = lift(self.fn(Tensor(y_true), y_pred, **self.fn_kwargs))
        n = y_pred.shape[0]
        if out.ndim and out.shape[0] != n:
            raise ValueError(f"Loss function {self.name!r} returned values of shape {out.shape} for a batch of {n} "
                             f"samples: expected per-sample values (shape ({n},) or ({n}, ...)) or a scalar.")
        if out.dtype.kind != "f":
            raise TypeError(f"Loss function {self.name!r} returned {out.dtype} values: expected floats.")
        return out

    def _forward(self, ops, y_true, y_pred, need_grad):
        with B.use_backend(ops):
            pred = Tensor(y_pred, requires_grad=need_grad)
            out = self._values(y_true, pred)
            values = out.data.astype(y_pred.dtype, copy=False)
            if out.ndim == 0:  # a scalar stands for every sample, as tf.keras broadcasts it
                values = ops.full((y_pred.shape[0],), 1.0, y_pred.dtype) * values
            grad = gradients(out, [pred])[0] if need_grad else None
        return values, grad

    def compute(self, ops, y_true, y_pred, sample_weight=None):
        """``(loss, dy_pred)`` with the weighting and reduction on the tape (see the module doc)."""
        y_true = self._prepare_true(ops, y_true, y_pred)
        with B.use_backend(ops):
            pred = Tensor(y_pred, requires_grad=True)
            loss = reduce_values(self, self._values(y_true, pred), sample_weight)
            grad = gradients(loss, [pred])[0]
        return loss.data.astype(y_pred.dtype, copy=False), grad

    def batch_losses(self, ops, y_true, y_pred, sample_weight, batch_size):
        """`compute`'s loss for each batch in turn (a user function may mix the samples of a batch)."""
        return [float(self.compute(ops, y_true[lo:lo + batch_size], y_pred[lo:lo + batch_size],
                                   None if sample_weight is None else sample_weight[lo:lo + batch_size])[0])
                for lo in range(0, y_pred.shape[0], batch_size)]

    def get_config(self):
        config = super().get_config()
        config.update(self.fn_kwargs)
        return config

    def __repr__(self):
        return f"FunctionLoss({self.name!r})"
