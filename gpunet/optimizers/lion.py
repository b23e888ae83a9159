"""Lion (tf.keras 2.11+ / Keras 3's ``keras.optimizers.Lion``)."""
from .base import Optimizer
from .hyperparameter import check_number
from .precision import rounder


class Lion(Optimizer):
    """Lion (Chen et al., 2023, "Symbolic Discovery of Optimization Algorithms"), Keras's
    update rule::

        w -= learning_rate * sign(beta_1 * m + (1 - beta_1) * g)
        m = beta_2 * m + (1 - beta_2) * g

    Every element moves by exactly ``learning_rate`` (or 0), so Lion's rate is usually 3-10x
    smaller than AdamW's, and its ``weight_decay`` 3-10x larger.

    Args:
        learning_rate: a number or a `LearningRateSchedule`, default 0.0001 (tf.keras's; Keras 3's
            default is 0.001).
        beta_1: in (0, 1], default 0.9: the weight of the momentum in the step's sign.
        beta_2: in [0, 1], default 0.99: the momentum's decay.
        **kwargs: `Optimizer`'s common arguments (name, clipnorm, clipvalue, global_clipnorm,
            weight_decay, lr, decay).

    Slot: "m" (Keras 3 calls it "momentum").

    Example::

        model.compile(optimizer=Lion(learning_rate=3e-4, weight_decay=0.01), loss="mse")
    """

    _hyper_names = ("beta_1", "beta_2")

    def __init__(self, learning_rate=0.0001, beta_1=0.9, beta_2=0.99, name=None, **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        beta_1 = check_number(beta_1, "beta_1", "Lion")
        if not 0.0 < beta_1 <= 1.0:  # tf.keras's check and wording
            raise ValueError(f"Lion expects beta_1 in (0, 1], received beta_1={beta_1!r}. Otherwise, the "
                             "optimizer degenerates to SignSGD.")
        self.beta_1 = beta_1
        self.beta_2 = check_number(beta_2, "beta_2", "Lion", 0.0, 1.0)

    @property
    def _slot_kinds(self):
        return ("m",)

    def _update(self, params, grads, lr, t):
        ops, m, f = self.ops, self._slots["m"], rounder(params.dtype)
        xp, s, u = ops.xp, ops._scratch(params), ops._scratch(params, 1)  # (the backend's reused buffers)
        b1, b2 = f(self.beta_1), f(self.beta_2)
        # Keras's operations in its order: m * beta_1 + g * (1 - beta_1), then m * beta_2 + g * (1 - beta_2)
        xp.multiply(m, b1, out=s)
        s += xp.multiply(grads, 1.0 - b1, out=u)
        xp.sign(s, out=s)
        s *= lr
        params -= s
        m *= b2
        m += xp.multiply(grads, 1.0 - b2, out=u)
