"""Keras optimizers over one flat parameter buffer.

Contract used by models: ``get(identifier)`` returns an `Optimizer`.
``opt.build(ops, params, layout)`` is called once the model packs its trainable
weights into the flat array ``params`` (``layout``: list of ``(path, offset, shape)``)
and allocates the slot buffers (same size as ``params``); ``opt.apply(params, grads)``
does one step in place and increments ``iterations``. ``slots()`` returns
``{slot_name: flat_array}`` (for saving by parameter path).
"""
from . import backend as B


class Optimizer:
    slot_names = ()

    def __init__(self, learning_rate=0.001, name=None, **kwargs):
        if "lr" in kwargs:
            learning_rate = kwargs.pop("lr")
        kwargs.pop("decay", None)
        if kwargs:
            raise TypeError(f"{type(self).__name__} got unexpected keyword argument(s): {sorted(kwargs)}")
        self.learning_rate = float(learning_rate)
        self.name = name or type(self).__name__
        self.iterations = 0
        self.ops = None
        self._slots = {}

    def build(self, ops, params, layout):
        self.ops = ops
        self._slots = {n: ops.zeros(params.shape, params.dtype) for n in self.slot_names}

    def slots(self):
        return self._slots

    def apply(self, params, grads):
        raise NotImplementedError

    def get_config(self):
        return {"name": self.name, "learning_rate": self.learning_rate}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class Adam(Optimizer):
    slot_names = ("m", "v")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = beta_1, beta_2, epsilon, amsgrad

    def apply(self, params, grads):
        self.iterations += 1
        s = self._slots
        self.ops.adam_update(params, grads, s["m"], s["v"], None, self.learning_rate, self.beta_1, self.beta_2,
                             self.epsilon, self.iterations)


def get(identifier):
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() == "adam":
        return Adam()
    raise ValueError(f"Unknown optimizer {identifier!r}.")
