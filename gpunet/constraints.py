"""Keras weight constraints.

Contract: ``get(identifier)`` returns None or a `Constraint`; ``c(w)`` returns
the projected weight (a backend array), applied after each optimizer step.
"""


class Constraint:
    def __call__(self, w):
        return w

    def get_config(self):
        return {}


def get(identifier):
    if identifier is None or isinstance(identifier, Constraint):
        return identifier
    raise ValueError(f"Unknown constraint {identifier!r}.")


def serialize(c):
    return None if c is None else {"class_name": type(c).__name__, "config": c.get_config()}
