"""SGD (Keras's ``keras.optimizers.SGD``)."""
from .base import Optimizer
from .hyperparameter import check_number


class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum, Keras's update rule::

        velocity = momentum * velocity - learning_rate * g
        w += velocity                                   (nesterov=False)
        w += momentum * velocity - learning_rate * g    (nesterov=True)

    Args:
        learning_rate: a number, default 0.01.
        momentum: in [0, 1], default 0.0 (no "momentum" slot when 0).
        nesterov: use Nesterov momentum, default False.
        **kwargs: `Optimizer`'s common arguments (name, clipnorm, clipvalue,
            global_clipnorm, weight_decay, lr, decay).

    Example::

        model.compile(optimizer=SGD(learning_rate=0.05, momentum=0.9, nesterov=True), loss="mse")
    """

    _hyper_names = ("momentum", "nesterov")

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, name=None, **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        self.momentum = check_number(momentum, "momentum", "SGD", 0.0, 1.0)
        self.nesterov = bool(nesterov)

    @property
    def _slot_kinds(self):
        return ("momentum",) if self.momentum > 0 else ()

    def _update(self, params, grads, lr, t):
        self.ops.sgd_update(params, grads, self._slots.get("momentum"), lr, self.momentum, self.nesterov)
