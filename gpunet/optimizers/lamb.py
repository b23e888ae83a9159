"""Lamb (Keras 3's ``keras.optimizers.Lamb``): Adam's step scaled per weight by a trust ratio."""
from .base import Optimizer
from .hyperparameter import check_number


class Lamb(Optimizer):
    """Lamb (You et al., 2019, "Large Batch Optimization for Deep Learning"), Keras 3's update rule::

        m += (g - m) * (1 - beta_1);  v += (g^2 - v) * (1 - beta_2)
        update = (m / (1 - beta_1^t)) / (sqrt(v / (1 - beta_2^t)) + epsilon)
        w -= learning_rate * (||w|| / ||update||) * update      (ratio 1 where either norm is 0)

    the norms taken over each weight (kernel, bias, ...) separately, so every weight moves by a step
    proportional to its own size: Adam for large batches.

    Args:
        learning_rate: a number or a `LearningRateSchedule`, default 0.001.
        beta_1, beta_2, epsilon: as Adam's (defaults 0.9, 0.999, 1e-7).
        **kwargs: `Optimizer`'s common arguments (name, clipnorm, clipvalue, global_clipnorm,
            weight_decay, use_ema, ...).

    Slots: "m" and "v" (Keras 3 calls them "momentum" and "velocity").
    """

    _hyper_names = ("beta_1", "beta_2", "epsilon")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, name=None, **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        self.beta_1 = check_number(beta_1, "beta_1", "Lamb", 0.0, 1.0, high_open=True)
        self.beta_2 = check_number(beta_2, "beta_2", "Lamb", 0.0, 1.0, high_open=True)
        self.epsilon = check_number(epsilon, "epsilon", "Lamb", 0.0)

    @property
    def _slot_kinds(self):
        return ("m", "v")

    def _update(self, params, grads, lr, t):
        s = self._slots
        self.ops.lamb_update(params, grads, s["m"], s["v"], self._bounds, lr, self.beta_1, self.beta_2,
                             self.epsilon, t)
