"""A functional call's keyword arguments in configs: its ``training`` argument (symbolic.Node.training)
and the arguments beyond its input that a layer with ``call`` was given (layers/call_args.py).

tf.keras 2 writes them beside the call's first input: ``[["dense", 0, 0, {"training": false}]]``,
``[["dense", 0, 0, {"logits": ["targets", 0, 0]}]]`` (a tensor as ``[layer, node, index]``, a constant
as itself, positional arguments under ``call``'s parameter names). Keras 3 writes
``{"args": [<first>, <more>...], "kwargs": {"logits": <keras tensor>}}``.
"""
from .errors import InvalidConfigError


def node_kwargs(node, ref):
    """The keyword arguments of ``node``'s entry in tf.keras 2's format (``ref(tensor)``: a tensor's
    ``[layer, node, index]``)."""
    kwargs = {} if node.training is None else {"training": node.training}
    spec = node.call_args
    if spec is not None:
        for arg, slot in spec.keyword_slots(node.layer).items():
            if slot[0] == "tensors":  # (a list of tensors: an RNN's initial_state, tf.keras 2 writes a list of refs)
                kwargs[arg] = [ref(node.inputs[s[1]]) for s in slot[1]]
            else:
                kwargs[arg] = ref(node.inputs[slot[1]]) if slot[0] == "tensor" else slot[1]
    return kwargs


def parse(kwargs, name, to_ref):
    """``(training, extras)`` from a call's keyword arguments: ``training`` True, False or None, and
    ``extras`` ``{argument: ("ref", ref) or ("value", constant)}`` (``to_ref(value)``: the reference a
    value stands for, or None for a constant). ``mask=None`` means nothing here."""
    training = kwargs.get("training")
    if training is not None and not isinstance(training, bool):
        raise InvalidConfigError(f"Layer {name!r}: a call's training argument must be true, false or null, received "
                                 f"{str(training)[:40]}.")
    extras = {}
    for key, value in kwargs.items():
        if key == "training" or (key == "mask" and value is None):
            continue
        if not isinstance(key, str) or not key.isidentifier():
            raise InvalidConfigError(f"Layer {name!r}: a call's keyword argument must be a name, received {key!r}.")
        ref = to_ref(value)
        several = [to_ref(v) for v in value] if isinstance(value, list) and value and ref is None else None
        if ref is not None:
            extras[key] = ("ref", ref)
        elif several and all(r is not None for r in several):
            extras[key] = ("refs", several)
        elif value is None or isinstance(value, (bool, int, float, str)):
            extras[key] = ("value", value)
        else:
            raise NotImplementedError(f"Layer {name!r} is called with {key}={str(value)[:60]}: gpunet reads a call's "
                                      "extra arguments as tensors or plain constants only.")
    return training, extras


def needed(call):
    """Every tensor reference a parsed call reads: its inputs', then its extra arguments'."""
    refs, _, _, extras = call
    slots = list(_slots(extras))
    return (list(refs) + [slot[1] for slot in slots if slot[0] == "ref"]
            + [r for slot in slots if slot[0] == "refs" for r in slot[1]])


def make(layer, arg, call, tensors):
    """Call ``layer`` on ``arg`` (its first argument, a tensor or a list) as the parsed ``call`` says."""
    _, _, training, extras = call
    def value(slot):
        if slot[0] == "refs":
            return [tensors[r] for r in slot[1]]
        return tensors[slot[1]] if slot[0] == "ref" else slot[1]
    positional = [value(s) for s in (extras or {}).get(None, ())]
    keywords = {k: value(s) for k, s in (extras or {}).items() if k is not None}
    if training is not None:
        keywords["training"] = training
    takes = getattr(layer, "_uses_call", False) or getattr(layer, "_computes_with_mask", False)
    if "mask" in keywords and not takes:
        # Keras 3 writes the mask a layer's input carries as the call's ``mask``; gpunet's built-in layers take
        # it from their input, as tf.keras 2 hands masks on (layers/masking.py); Softmax's computes with it
        keywords.pop("mask")
    return layer(arg, *positional, **keywords)


def _slots(extras):
    for key, slot in (extras or {}).items():
        yield from (slot if key is None else [slot])
