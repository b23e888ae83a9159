"""The Adam family: Adam, AdamW, Adamax, Nadam (Keras's update rules)."""
from .. import backend as B
from .base import Optimizer
from .hyperparameter import check_number


class _Moments(Optimizer):
    """Shared by the Adam family: beta_1, beta_2, epsilon and the "m", "v" slots."""

    _hyper_names = ("beta_1", "beta_2", "epsilon")

    def __init__(self, learning_rate, beta_1, beta_2, epsilon, name=None, **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        owner = type(self).__name__
        self.beta_1 = check_number(beta_1, "beta_1", owner, 0.0, 1.0, high_open=True)
        self.beta_2 = check_number(beta_2, "beta_2", owner, 0.0, 1.0, high_open=True)
        self.epsilon = B.epsilon() if epsilon is None else check_number(epsilon, "epsilon", owner, low=0.0)

    @property
    def _slot_kinds(self):
        return ("m", "v")


class Adam(_Moments):
    """Adam, Keras's update rule ("epsilon hat" form, Kingma and Ba section 2)::

        m += (g - m) * (1 - beta_1);  v += (g^2 - v) * (1 - beta_2)
        vhat = max(vhat, v)                                     (amsgrad=True, used instead of v)
        w -= learning_rate * sqrt(1 - beta_2^t) / (1 - beta_1^t) * m / (sqrt(v) + epsilon)

    Args:
        learning_rate: default 0.001. beta_1: default 0.9. beta_2: default 0.999.
        epsilon: default 1e-07. amsgrad: default False.
        adaptive_epsilon: tf.keras 2.16+'s option, default False: epsilon scaled by
            ``sqrt(1 - beta_2^t)`` at step t, i.e. the paper's form with epsilon added to the
            bias-corrected ``sqrt(v_hat)``. Set at construction only; such an Adam trains layer
            by layer on a GPU (the fused plans bake epsilon in).
        **kwargs: `Optimizer`'s common arguments (name, clipnorm, clipvalue,
            global_clipnorm, weight_decay, lr, decay).

    Slots: "m", "v", plus "vhat" with amsgrad.

    Example::

        model.compile(optimizer=Adam(learning_rate=1e-3), loss="binary_crossentropy")
    """

    _hyper_names = ("beta_1", "beta_2", "epsilon", "amsgrad")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, name=None,
                 adaptive_epsilon=False, **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, name=name, **kwargs)
        self.amsgrad = bool(amsgrad)
        self._adaptive_epsilon = bool(adaptive_epsilon)

    @property
    def adaptive_epsilon(self):
        """tf.keras's ``adaptive_epsilon`` (read-only: the GPU plan is chosen knowing it)."""
        return self._adaptive_epsilon

    @property
    def _slot_kinds(self):
        return ("m", "v", "vhat") if self.amsgrad else ("m", "v")

    def _epsilon_at(self, t):
        # tf_keras 2.21 adam.py: epsilon_hat = epsilon * sqrt(1 - beta_2_power) when adaptive_epsilon
        return self.epsilon * (1.0 - self.beta_2**t) ** 0.5 if self._adaptive_epsilon else self.epsilon

    def _update(self, params, grads, lr, t):
        s = self._slots
        self.ops.adam_update(params, grads, s["m"], s["v"], s.get("vhat"), lr, self.beta_1, self.beta_2,
                             self._epsilon_at(t), t)

    def get_config(self):
        config = super().get_config()
        if self._adaptive_epsilon:  # tf.keras 2.21 never writes it; only a non-default value needs saying
            config["adaptive_epsilon"] = True
        return config


class AdamW(Adam):
    """Adam with decoupled weight decay (Keras 3's AdamW): before each Adam step,
    ``w -= w * learning_rate * weight_decay``.

    Args:
        learning_rate: default 0.001. weight_decay: default 0.004 (a number, not None).
        beta_1, beta_2, epsilon, amsgrad: as `Adam`. **kwargs: `Optimizer`'s common arguments.

    Use ``exclude_from_weight_decay(var_names=["bias"])`` to leave some weights undecayed.
    """

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, name=None, **kwargs):
        if weight_decay is None:
            raise ValueError("AdamW expects weight_decay to be a number, received weight_decay=None.")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, name=name, weight_decay=weight_decay,
                         **kwargs)

    def _apply_weight_decay(self, params, lr):
        if self._decay_mask is not None:  # else fused into adamw_update
            super()._apply_weight_decay(params, lr)

    def _update(self, params, grads, lr, t):
        s = self._slots
        if self._decay_mask is not None or not self.weight_decay:
            return super()._update(params, grads, lr, t)
        self.ops.adamw_update(params, grads, s["m"], s["v"], s.get("vhat"), lr, self.weight_decay, self.beta_1,
                              self.beta_2, self._epsilon_at(t), t)


class Adamax(_Moments):
    """Adamax (Adam with the infinity norm), Keras's update rule::

        m += (g - m) * (1 - beta_1);  v = max(beta_2 * v, |g|)
        w -= learning_rate * m / ((1 - beta_1^t) * (v + epsilon))

    Args:
        learning_rate: default 0.001. beta_1: default 0.9. beta_2: default 0.999.
        epsilon: default 1e-07. **kwargs: `Optimizer`'s common arguments.

    Slots: "m", "v" (Keras 3 calls v "u").
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, name=None, **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, name=name, **kwargs)

    def _update(self, params, grads, lr, t):
        s = self._slots
        self.ops.adamax_update(params, grads, s["m"], s["v"], lr, self.beta_1, self.beta_2, self.epsilon, t)


_NADAM_SCHEDULE_DECAY = 0.004


class Nadam(_Moments):
    """Nadam (Adam with Nesterov momentum), Keras's update rule with the momentum
    schedule ``u_t = beta_1 * (1 - 0.5 * 0.96^t)`` and its running product
    ``m_schedule = u_1 * ... * u_t`` (Keras 3's ``u_product``)::

        m += (g - m) * (1 - beta_1);  v += (g^2 - v) * (1 - beta_2)
        m_hat = u_{t+1} * m / (1 - m_schedule * u_{t+1}) + (1 - u_t) * g / (1 - m_schedule)
        w -= learning_rate * m_hat / (sqrt(v / (1 - beta_2^t)) + epsilon)

    Args:
        learning_rate: default 0.001. beta_1: default 0.9. beta_2: default 0.999.
        epsilon: default 1e-07. **kwargs: `Optimizer`'s common arguments.

    Keras 2's Nadam read ``decay`` (and ``schedule_decay``) as its momentum-schedule
    decay, default 0.004, and never decayed its learning rate: both are accepted at
    that default (or 0) so Keras 2 configs load; other values raise a ValueError.
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, name=None, **kwargs):
        self._check_decay(kwargs.pop("schedule_decay", None), "schedule_decay")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, name=name, **kwargs)
        self.m_schedule = 1.0

    def _check_decay(self, decay, key="decay"):
        if decay is not None and decay not in (0, _NADAM_SCHEDULE_DECAY):
            raise ValueError(f"Nadam's {key} is Keras 2's momentum-schedule decay; gpunet uses Keras's current "
                             f"schedule and accepts only {_NADAM_SCHEDULE_DECAY} (or 0), received {key}={decay!r}. "
                             "To decay the learning rate use the LearningRateScheduler callback.")
        return 0.0

    def _update(self, params, grads, lr, t):
        s, b1 = self._slots, self.beta_1
        u_t = b1 * (1.0 - 0.5 * 0.96**t)
        u_next = b1 * (1.0 - 0.5 * 0.96 ** (t + 1))
        self.m_schedule *= u_t
        self.ops.nadam_update(params, grads, s["m"], s["v"], lr, b1, self.beta_2, self.epsilon, t, u_t, u_next,
                              self.m_schedule)

    def _scalar_state(self):
        return {"m_schedule": self.m_schedule}

    def _check_scalar_state(self, state, iterations):
        if state.get("m_schedule") is not None:
            return {"m_schedule": check_number(state["m_schedule"], "m_schedule", "Nadam.set_state", 0.0, 1.0)}
        value = 1.0  # older states: rebuild the product from the step count
        for t in range(1, iterations + 1):
            value *= self.beta_1 * (1.0 - 0.5 * 0.96**t)
        return {"m_schedule": value}

    def _set_scalar_state(self, values):
        self.m_schedule = values["m_schedule"]
