"""Keras weight regularizers (l1, l2, l1_l2).

Contract: ``get(identifier)`` returns None or a `Regularizer`;
``reg(x)`` is the penalty (a 0-d backend array) and ``reg.gradient(x)`` its
gradient. ``serialize`` gives Keras's ``{"class_name", "config"}`` or None.
"""
from . import backend as B


class Regularizer:
    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class L1L2(Regularizer):
    def __init__(self, l1=0.0, l2=0.0):
        self.l1, self.l2 = float(l1), float(l2)

    def __call__(self, x):
        ops = B.get_backend()
        out = 0.0
        if self.l1:
            out = out + self.l1 * ops.sum(abs(x))
        if self.l2:
            out = out + self.l2 * ops.sum(x * x)
        return out

    def gradient(self, x):
        g = 0.0
        if self.l1:
            g = g + self.l1 * B.get_backend().xp.sign(x)
        if self.l2:
            g = g + 2.0 * self.l2 * x
        return g

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


def get(identifier):
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, dict):
        return L1L2.from_config(identifier.get("config", {}))
    raise ValueError(f"Unknown regularizer {identifier!r}. Valid names: ['l1', 'l1_l2', 'l2']")


def serialize(reg):
    return None if reg is None else {"class_name": type(reg).__name__, "config": reg.get_config()}
