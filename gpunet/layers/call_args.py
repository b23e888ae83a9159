"""A layer of yours called with more than its input: ``LogisticEndpoint()(logits, targets)`` (the
Keras guide's endpoint layer), ``layer(x, weights=w)``. As in tf.keras 2, every argument goes to
``call``; in the functional API the extra tensors join the call's node as inputs (gradients reach
them), and a `CallArgs` template says where each goes back when ``call`` runs. Files write them as
tf.keras 2 does: the first argument as the node's input, the others as keyword arguments naming
``call``'s parameters (``{"logits": ["targets", 0, 0]}``).
"""
import inspect

from .symbolic import KerasTensor


class CallArgs:
    """Where a call's arguments go, beside the first: ``positional`` and ``keywords`` (name -> slot). A
    slot is ``("tensor", k)``, the k-th input of the call's node (the first argument is input 0), or
    ``("value", v)``, a constant (a number, a string, None)."""

    def __init__(self, positional, keywords, first_count=0):
        self.positional, self.keywords = list(positional), dict(keywords)
        self.first_count = first_count  # (n: the first argument is a list of n tensors, the node's first n inputs)

    def split(self, parts):
        """``(first, args, kwargs)`` for ``call`` from the node's input values, in node order."""
        def take(slot):
            if slot[0] == "tensors":  # (a list of tensors: an RNN's initial_state)
                return [parts[s[1]] for s in slot[1]]
            return parts[slot[1]] if slot[0] == "tensor" else slot[1]
        first = list(parts[:self.first_count]) if self.first_count else parts[0]
        return first, [take(s) for s in self.positional], {k: take(s) for k, s in self.keywords.items()}

    def first_of(self, items):
        """What the first argument is among ``items`` (in node order): one, or a list of them."""
        return list(items[:self.first_count]) if self.first_count else items[0]

    def keyword_slots(self, layer):
        """Every slot by ``call``'s parameter name (positional ones named from its signature), as files write them."""
        names = [p.name for p in list(inspect.signature(layer.call).parameters.values())[1:]
                 if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        if len(names) < len(self.positional):
            raise TypeError(f"Layer '{layer.name}': its call() takes {len(names) + 1} positional arguments, it was "
                            f"called with {len(self.positional) + 1}.")
        slots = dict(zip(names, self.positional))
        slots.update(self.keywords)
        return slots


def template(first, args, kwargs, is_tensor):
    """``(inputs, CallArgs)``: the call's tensors (``first``, or each of a list of them, then those among
    ``args`` and ``kwargs``, picked by ``is_tensor``) and where each argument goes."""
    several = isinstance(first, (list, tuple))
    inputs = list(first) if several else [first]

    def slot(value):
        if is_tensor(value):
            inputs.append(value)
            return ("tensor", len(inputs) - 1)
        if isinstance(value, (list, tuple)) and value and all(is_tensor(v) for v in value):
            return ("tensors", [slot(v) for v in value])  # (a list of tensors: an RNN's initial_state)
        if isinstance(value, (list, tuple, dict)) and _holds(value, is_tensor):
            raise NotImplementedError("A layer's extra call argument holding tensors in a dict, or in a list beside "
                                      "other values, is not supported; pass each tensor as its own argument.")
        return ("value", value)
    positional = [slot(a) for a in args]
    keywords = {name: slot(v) for name, v in kwargs.items()}
    return inputs, CallArgs(positional, keywords, len(first) if several else 0)


def _holds(value, is_tensor):
    items = value.values() if isinstance(value, dict) else value
    return any(is_tensor(v) or (isinstance(v, (list, tuple, dict)) and _holds(v, is_tensor)) for v in items)


def is_keras_tensor(value):
    return isinstance(value, KerasTensor)


def call(layer, x, args, kwargs, training):
    """``layer(x, *args, **kwargs)`` for a layer with ``call``: recorded in the functional API when a
    symbolic tensor is among them, else run at once (on arrays: an array back; on a layer's tape
    tensors, inside another ``call``: a tensor back)."""
    from . import sublayers, symbolic, user_code
    from ..autodiff.tensor import is_tensor
    if not getattr(layer, "_uses_call", False):
        raise TypeError(f"Layer '{layer.name}' ({type(layer).__name__}) takes one input (and training=); received "
                        f"more arguments: {len(args)} positional, keywords {sorted(kwargs)}. Only a layer written "
                        "with call() takes more.")
    if symbolic.is_symbolic(x) or any(is_keras_tensor(v) for v in list(args) + list(kwargs.values())):
        inputs, spec = template(x, args, kwargs, is_keras_tensor)
        if not all(is_keras_tensor(t) for t in inputs):
            raise TypeError(f"Layer '{layer.name}' was called on symbolic tensors mixed with arrays: every tensor input "
                            "of a functional model must come from Input() or another layer's call.")
        return symbolic.call_layer(layer, inputs, training, call_args=spec)
    out = user_code.call_with_args(layer, x, args, kwargs, training)
    # (inside another call: its activity penalty is that call's loss, as for a call on one tensor: base.py)
    return sublayers.penalized(layer, out) if is_tensor(out) else out
