"""FTRL-Proximal (Keras's ``keras.optimizers.Ftrl``)."""
from .base import Optimizer
from .hyperparameter import check_number
from .precision import rounder


def _not_negative(value, name):
    value = check_number(value, name, "Ftrl")
    if value < 0.0:  # tf.keras's checks, with gpunet's wording
        raise ValueError(f"Ftrl expects {name} >= 0 (positive or zero), received {name}={value!r}.")
    return value


class Ftrl(Optimizer):
    """FTRL-Proximal (McMahan et al., 2013, "Ad Click Prediction: a View from the Trenches"),
    Keras's update rule, with ``p = -learning_rate_power``::

        g_s = g + 2 * l2_shrinkage_regularization_strength * w
        accum_new = accum + g^2
        linear += g_s - (accum_new^p - accum^p) / learning_rate * w
        quadratic = accum_new^p / learning_rate + 2 * (l2_regularization_strength + beta / (2 * learning_rate))
        w = (clip(linear, -l1, l1) - linear) / quadratic;  accum = accum_new

    (``l1``: l1_regularization_strength; weights whose ``|linear|`` stays within it are exactly 0.)

    Args:
        learning_rate: a number or a `LearningRateSchedule`, default 0.001.
        learning_rate_power: <= 0, default -0.5 (0: a fixed rate).
        initial_accumulator_value: >= 0, default 0.1: the accumulator's starting value.
        l1_regularization_strength, l2_regularization_strength: >= 0, default 0.0.
        l2_shrinkage_regularization_strength: >= 0, default 0.0: an L2 penalty on the
            gradient only (the accumulator sees the plain gradient).
        beta: >= 0, default 0.0: the paper's beta, added to the L2 strength as ``beta / (2 * learning_rate)``.
        **kwargs: `Optimizer`'s common arguments (name, clipnorm, clipvalue, global_clipnorm,
            weight_decay, lr, decay).

    Slots: "accumulator" (starts at initial_accumulator_value) and "linear", Keras's names.

    Example::

        model.compile(optimizer=Ftrl(0.05, l1_regularization_strength=0.001), loss="binary_crossentropy")
    """

    _hyper_names = ("learning_rate_power", "initial_accumulator_value", "l1_regularization_strength",
                    "l2_regularization_strength", "l2_shrinkage_regularization_strength", "beta")

    def __init__(self, learning_rate=0.001, learning_rate_power=-0.5, initial_accumulator_value=0.1,
                 l1_regularization_strength=0.0, l2_regularization_strength=0.0,
                 l2_shrinkage_regularization_strength=0.0, beta=0.0, name=None, **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        self.initial_accumulator_value = _not_negative(initial_accumulator_value, "initial_accumulator_value")
        power = check_number(learning_rate_power, "learning_rate_power", "Ftrl")
        if power > 0.0:
            raise ValueError(f"Ftrl expects learning_rate_power <= 0 (negative or zero), received "
                             f"learning_rate_power={power!r}.")
        self.learning_rate_power = power
        self.l1_regularization_strength = _not_negative(l1_regularization_strength, "l1_regularization_strength")
        self.l2_regularization_strength = _not_negative(l2_regularization_strength, "l2_regularization_strength")
        self.l2_shrinkage_regularization_strength = _not_negative(l2_shrinkage_regularization_strength,
                                                                  "l2_shrinkage_regularization_strength")
        self.beta = _not_negative(beta, "beta")

    @property
    def _slot_kinds(self):
        return ("accumulator", "linear")

    def _slot_init(self, name):
        return self.initial_accumulator_value if name == "accumulator" else 0.0

    def _update(self, params, grads, lr, t):
        ops, f = self.ops, rounder(params.dtype)
        xp, accum, linear = ops.xp, self._slots["accumulator"], self._slots["linear"]
        s, u, w = ops._scratch(params), ops._scratch(params, 1), ops._scratch(params, 2)
        # Keras's scalars, each rounded as its tensors are: lr, 2 * lr, beta / (2 * lr), l2 + that
        lr, power = f(lr), -f(self.learning_rate_power)
        l2 = f(f(self.l2_regularization_strength) + f(f(self.beta) / (2.0 * lr)))
        l1 = f(self.l1_regularization_strength)
        xp.power(accum, power, out=s)  # accum^p before the step
        accum += xp.multiply(grads, grads, out=u)
        xp.power(accum, power, out=w)  # accum_new^p
        xp.subtract(w, s, out=s)
        s /= lr
        s *= params
        xp.multiply(params, f(2.0 * self.l2_shrinkage_regularization_strength), out=u)
        u += grads
        u -= s
        linear += u
        w /= lr
        w += f(2.0 * l2)
        xp.clip(linear, -l1, l1, out=s)
        s -= linear
        xp.divide(s, w, out=params)
