"""Per-parameter adaptive learning rates: RMSprop, Adagrad, Adadelta (Keras's rules)."""
from .. import backend as B
from .base import Optimizer
from .hyperparameter import check_number


def _epsilon(value, owner):
    return B.epsilon() if value is None else check_number(value, "epsilon", owner, low=0.0)


class RMSprop(Optimizer):
    """RMSprop, Keras's update rule (epsilon inside the square root)::

        rms = rho * rms + (1 - rho) * g^2
        mg = rho * mg + (1 - rho) * g                     (centered=True)
        step = learning_rate * g / sqrt(rms - mg^2 + epsilon)   (no mg^2 unless centered)
        momentum_buf = momentum * momentum_buf + step; w -= momentum_buf   (w -= step when momentum=0)

    Args:
        learning_rate: default 0.001. rho: default 0.9. momentum: in [0, 1], default 0.0.
        epsilon: default 1e-07. centered: default False.
        **kwargs: `Optimizer`'s common arguments.

    Slots: "rms", plus "momentum" when momentum > 0 and "mg" when centered.
    """

    _hyper_names = ("rho", "momentum", "epsilon", "centered")

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, name=None,
                 **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        self.rho = check_number(rho, "rho", "RMSprop", 0.0, 1.0)
        self.momentum = check_number(momentum, "momentum", "RMSprop", 0.0, 1.0)
        self.epsilon = _epsilon(epsilon, "RMSprop")
        self.centered = bool(centered)

    @property
    def _slot_kinds(self):
        return ("rms",) + (("momentum",) if self.momentum > 0 else ()) + (("mg",) if self.centered else ())

    def _update(self, params, grads, lr, t):
        s = self._slots
        self.ops.rmsprop_update(params, grads, s["rms"], s.get("momentum"), s.get("mg"), lr, self.rho,
                                self.momentum, self.epsilon, self.centered)


class Adagrad(Optimizer):
    """Adagrad, Keras's update rule::

        accumulator += g^2;  w -= learning_rate * g / sqrt(accumulator + epsilon)

    Args:
        learning_rate: default 0.001. initial_accumulator_value: >= 0, default 0.1.
        epsilon: default 1e-07. **kwargs: `Optimizer`'s common arguments.

    Slot: "accumulator" (starts at initial_accumulator_value).
    """

    _hyper_names = ("initial_accumulator_value", "epsilon")

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, name=None, **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        self.initial_accumulator_value = check_number(initial_accumulator_value, "initial_accumulator_value",
                                                      "Adagrad", low=0.0)
        self.epsilon = _epsilon(epsilon, "Adagrad")

    @property
    def _slot_kinds(self):
        return ("accumulator",)

    def _slot_init(self, name):
        return self.initial_accumulator_value if name == "accumulator" else 0.0

    def _update(self, params, grads, lr, t):
        self.ops.adagrad_update(params, grads, self._slots["accumulator"], lr, self.epsilon)


class Adadelta(Optimizer):
    """Adadelta, Keras's update rule::

        accum_grad = rho * accum_grad + (1 - rho) * g^2
        delta = sqrt(accum_var + epsilon) / sqrt(accum_grad + epsilon) * g
        accum_var = rho * accum_var + (1 - rho) * delta^2;  w -= learning_rate * delta

    Args:
        learning_rate: default 0.001 (Keras; the paper's 1.0 is also common). rho: default 0.95.
        epsilon: default 1e-07. **kwargs: `Optimizer`'s common arguments.

    Slots: "accum_grad", "accum_var".
    """

    _hyper_names = ("rho", "epsilon")

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, name=None, **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        self.rho = check_number(rho, "rho", "Adadelta", 0.0, 1.0)
        self.epsilon = _epsilon(epsilon, "Adadelta")

    @property
    def _slot_kinds(self):
        return ("accum_grad", "accum_var")

    def _update(self, params, grads, lr, t):
        s = self._slots
        self.ops.adadelta_update(params, grads, s["accum_grad"], s["accum_var"], lr, self.rho, self.epsilon)
