"""Keras 3's (and tf.keras 2.11+'s) exponential moving average of the weights: ``use_ema=True`` keeps
``average = ema_momentum * average + (1 - ema_momentum) * weights`` after every step (the first step
copies the weights), ``ema_overwrite_frequency=N`` writes the average into the weights every N steps, and
at the end of ``fit`` (`finalize_variable_values`) the weights become their average.

The average is a slot (``"average"``, before the optimizer's own), so it is saved, resumed and summed
like the others; on the GPU such an optimizer updates by its own ``apply`` between the step's graphs."""
from .hyperparameter import check_number


class MovingAverageMixin:
    """Mixed into `Optimizer` (base.py): ``use_ema``, ``ema_momentum``, ``ema_overwrite_frequency``."""

    def _init_ema(self, use_ema, ema_momentum, ema_overwrite_frequency, cls):
        self.use_ema = bool(use_ema)
        self.ema_momentum = check_number(ema_momentum, "ema_momentum", cls, low=0.0, high=1.0)
        if ema_overwrite_frequency and (isinstance(ema_overwrite_frequency, bool) or not isinstance(
                ema_overwrite_frequency, int) or ema_overwrite_frequency < 1):  # (0: never, as Keras takes it)
            raise ValueError(f"{cls}: `ema_overwrite_frequency` must be an integer >= 1 or None. Received: "
                             f"ema_overwrite_frequency={ema_overwrite_frequency!r}")
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self._ema_params = None

    @property
    def slot_names(self):
        """The per-parameter state buffers, by Keras 2 name (e.g. ``("m", "v")``); ``"average"`` first when
        ``use_ema``, then ``"gradient_accumulator"`` with gradient accumulation (Keras 3 makes them in that order,
        before the optimizer's own)."""
        return (("average",) if self.use_ema else ()) + self._accumulation_slots + tuple(self._slot_kinds)

    @property
    def _slot_kinds(self):
        """The optimizer's own slots (a subclass's)."""
        return ()

    def _ema_step(self, params, step=None):
        """After a step (``iterations`` already counts it; ``step``: the count Keras 3 reads instead, one past
        ``iterations`` on a call that only accumulates gradients): fold ``params`` into the average."""
        step = self.iterations if step is None else step
        average = self._slots["average"]
        self.ops.moving_average_update(average, params, 0.0 if step == 1 else self.ema_momentum)
        self._ema_params = params
        if self.ema_overwrite_frequency and step % self.ema_overwrite_frequency == 0:
            params[...] = average

    def finalize_variable_values(self, var_list=None):
        """Keras's end of ``fit``: with ``use_ema``, the weights the optimizer has updated take their moving
        average (nothing before the first step, where Keras would write its zero-initialized averages)."""
        if self.use_ema and self._ema_params is not None and "average" in self._slots:
            self._ema_params[...] = self._slots["average"]

    def _ema_config(self):
        if not self.use_ema:  # (tf.keras 2's legacy optimizers know none of the three)
            return {}
        return {"use_ema": True, "ema_momentum": self.ema_momentum,
                "ema_overwrite_frequency": self.ema_overwrite_frequency}
