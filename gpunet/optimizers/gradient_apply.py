"""`apply_gradients` and `minimize`: an optimizer stepping on gradients you computed (tf.keras 2's API, for a
training loop of your own with `gpunet.GradientTape`).

gpunet's optimizers update one flat buffer (base.py). Here the variables given are gathered into a buffer of
the optimizer's own, the step runs over it, and the new values are written back into each variable, so the
variables keep living where they are (a model's packed buffer included) and the optimizer's slots (moments...)
carry over between your loop and ``fit`` when both train the same weights in the same order.
"""
import warnings

from .. import backend as B


class ApplyGradientsMixin:
    """Mixed into `Optimizer`."""

    def apply_gradients(self, grads_and_vars, name=None, skip_gradients_aggregation=False, **kwargs):
        """One step on ``grads_and_vars`` (pairs ``(gradient, weight)``, as ``zip(grads, weights)``). A pair whose
        gradient is None is skipped with a warning, as in tf.keras 2 (ValueError when all are). Each weight's
        constraint is applied after the step. Returns the number of steps taken (``iterations``)."""
        pairs = list(grads_and_vars)
        for pair in pairs:
            if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
                raise ValueError(f"{self.name}.apply_gradients expects (gradient, variable) pairs, as "
                                 f"zip(grads, model.trainable_weights) gives; received {pair!r}.")
            if not hasattr(pair[1], "value") or not hasattr(pair[1], "constraint"):
                raise TypeError(f"{self.name}.apply_gradients: {pair[1]!r} is not a weight (a layer's weight or a "
                                f"gpunet.Variable), received {type(pair[1]).__name__}.")
        missing = [v for g, v in pairs if g is None]
        live = [(g, v) for g, v in pairs if g is not None]
        if not live:
            raise ValueError(f"No gradients provided for any variable: {[v.name for _, v in pairs]}.")
        if missing:
            warnings.warn(f"Gradients do not exist for variables {[v.name for v in missing]} when minimizing the "
                          f"loss: they are not updated.", stacklevel=2)
        ops = getattr(getattr(live[0][1], "layer", None), "ops", None) or B.get_backend()
        variables = [v for _, v in live]
        params = self._gathered(ops, variables)
        grads = ops.xp.concatenate([_flat_gradient(ops, g, v, params.dtype) for g, v in live])
        self.apply(params, grads)
        offset = 0
        for v in variables:
            n = int(v.value.size)
            v.value[...] = params[offset:offset + n].reshape(v.value.shape)
            offset += n
            if v.constraint is not None:
                v.value[...] = v.constraint(v.value)
        return self.iterations

    def _keras3_apply(self, grads, trainable_variables):
        if trainable_variables is None:
            raise ValueError(f"{self.name}.apply(grads, trainable_variables): pass the variables the gradients are "
                             f"for (gpunet's optimizers are not built over variables before a step).")
        grads, variables = list(grads), list(trainable_variables)
        if len(grads) != len(variables):
            raise ValueError(f"{self.name}.apply: {len(grads)} gradients for {len(variables)} variables.")
        self.apply_gradients(zip(grads, variables))

    def minimize(self, loss, var_list, tape=None):
        """tf.keras 2's ``minimize``: ``loss`` a zero-argument callable (run inside a new tape), or a tensor
        recorded by ``tape``; ``var_list`` the weights (or a callable giving them). One step; returns
        ``iterations``."""
        from ..autodiff.gradient_tape import GradientTape
        if callable(loss):
            with GradientTape() as tape:
                loss = loss()
        elif tape is None:
            raise ValueError(f"{self.name}.minimize: a loss tensor needs the `tape` that recorded it "
                             f"(minimize(loss, var_list, tape=tape)), or pass the loss as a callable.")
        var_list = list(var_list() if callable(var_list) else var_list)
        return self.apply_gradients(zip(tape.gradient(loss, var_list), var_list))

    def _gathered(self, ops, variables):
        """The flat buffer over ``variables`` the optimizer steps on, with their current values (built over them
        the first time, and again when another list comes: slots of the same size are kept, base.py's build)."""
        key = tuple(id(v) for v in variables)
        params = getattr(self, "_applied_params", None)
        dtype = variables[0].value.dtype
        if getattr(self, "_applied_key", None) != key or self.ops is not ops or params is None or params.dtype != dtype:
            dtypes = {str(v.value.dtype) for v in variables}
            if len(dtypes) > 1:
                raise ValueError(f"{self.name}.apply_gradients: all variables must share one dtype, "
                                 f"found {sorted(dtypes)}.")
            total = sum(int(v.value.size) for v in variables)
            params = ops.empty((total,), dtype)
            layout, offset = [], 0
            for v in variables:
                layout.append((getattr(v, "path", v.name), offset, tuple(v.value.shape)))
                offset += int(v.value.size)
            _fill(params, variables)
            self.build(ops, params, layout)
            self._applied_key, self._applied_params = key, params
            return params
        _fill(params, variables)  # (a value may have changed since: set_weights, fit)
        return params


def _fill(params, variables):
    offset = 0
    for v in variables:
        n = int(v.value.size)
        params[offset:offset + n] = v.value.reshape(-1)
        offset += n


def _flat_gradient(ops, g, v, dtype):
    g = getattr(g, "data", g)  # (a tape tensor)
    g = ops.asarray(g, dtype=dtype)
    if tuple(g.shape) != tuple(v.value.shape):
        raise ValueError(f"apply_gradients: the gradient for {v.name} has shape {tuple(g.shape)}, the variable "
                         f"{tuple(v.value.shape)}.")
    return g.reshape(-1)
