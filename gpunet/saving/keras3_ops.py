"""Ops on symbolic tensors in Keras 3's functional configs (.keras files), read and written.

Keras 3 writes ``keras.ops.mean(x, axis=1)`` on a symbolic tensor, ``x + y``, ``x[:, 0]`` (and the
``not_equal(x, 0)`` mask of an ``Embedding(mask_zero=True)`` that it hands a recurrent layer as its ``mask``)
as an entry of the model's layers: ``{"module": "keras.src.ops.numpy", "class_name": "Mean", "config":
{"name": "mean", "axis": 1, "keepdims": false}, "inbound_nodes": [{"args": [<tensor>], "kwargs": {}}]}``.
The config holds the op's fixed arguments, the node its call's: tensors, constants, ``__slice__`` entries.
gpunet reads the ops of `_OPS` (each resolved from this table by class name: no code is read from a file) as
its own op layers (layers/symbolic_ops.py) and writes its op layers back this way; another op is refused by
name.
"""
import inspect

from .errors import InvalidConfigError, UnknownObjectError

# (Keras 3's class, its module under keras.src.ops, gpunet.ops's function, {Keras 3's config key: gpunet's
# argument}); the call's arguments are positional, in the same order in both
_OPS = [(name, "numpy", op, {}) for name, op in (
    ("Add", "add"), ("Subtract", "subtract"), ("Multiply", "multiply"), ("TrueDivide", "divide"),
    ("Divide", "divide"), ("Power", "power"), ("Maximum", "maximum"), ("Minimum", "minimum"), ("Matmul", "matmul"),
    ("Equal", "equal"), ("NotEqual", "not_equal"), ("Greater", "greater"), ("GreaterEqual", "greater_equal"),
    ("Less", "less"), ("LessEqual", "less_equal"), ("LogicalAnd", "logical_and"), ("LogicalOr", "logical_or"),
    ("LogicalNot", "logical_not"), ("Where", "where"), ("Negative", "negative"), ("Absolute", "abs"),
    ("Square", "square"), ("Sqrt", "sqrt"), ("Exp", "exp"), ("Log", "log"), ("Tanh", "tanh"), ("GetItem", "getitem"))]
_OPS += [(name, "numpy", op, {"axis": "axis", "keepdims": "keepdims"})
         for name, op in (("Sum", "sum"), ("Mean", "mean"), ("Max", "max"), ("Min", "min"), ("Any", "any"),
                          ("All", "all"))]
_OPS += [("Reshape", "numpy", "reshape", {"newshape": "shape"}), ("ExpandDims", "numpy", "expand_dims", {"axis": "axis"}),
         ("Squeeze", "numpy", "squeeze", {"axis": "axis"}), ("Transpose", "numpy", "transpose", {"axes": "axes"}),
         ("Concatenate", "numpy", "concatenate", {"axis": "axis"}), ("Stack", "numpy", "stack", {"axis": "axis"}),
         ("Clip", "numpy", "clip", {"x_min": "min_value", "x_max": "max_value"}),
         ("Cast", "core", "cast", {"dtype": "dtype"}), ("Softmax", "nn", "softmax", {"axis": "axis"}),
         ("Sigmoid", "nn", "sigmoid", {}), ("Relu", "nn", "relu", {})]
_WRITES = {"Divide": "TrueDivide"}  # (gpunet's one divide is written as ``x / y`` is)
_TUPLES = ("newshape", "axes", "axis")  # (JSON lists that Keras 3 reads back as tuples)


def _function(op):
    from .. import ops
    return inspect.unwrap(getattr(ops, op))


def _by_class():
    return {cls: (_function(op), statics) for cls, _, op, statics in _OPS}


def _by_function():
    from ..autodiff import elementwise as E, shape_ops as S
    table = {}
    for cls, module, op, statics in _OPS:
        if cls not in _WRITES:
            table.setdefault(_function(op), (cls, module, statics))
    for fn, op in ((E.add, "add"), (E.subtract, "subtract"), (E.multiply, "multiply"), (E.divide, "divide"),
                   (E.power, "power"), (E.negative, "negative"), (E.abs, "abs"), (S.getitem, "getitem"),
                   (S.matmul, "matmul")):  # (what a KerasTensor's operators record)
        table.setdefault(fn, table[_function(op)])
    return table


def is_op(entry):
    """Whether a config entry is one of Keras 3's ops (rather than a layer)."""
    return isinstance(entry, dict) and str(entry.get("module") or "").startswith("keras.src.ops.")


def read(entry, keras3_ref):
    """``(layer, calls)``: the op of a Keras 3 config ``entry`` as a gpunet op layer, and its one call's tensors
    (``keras3_ref`` reads a tensor entry's ``[layer, node, index]``)."""
    from ..layers.naming import reserve_name
    from ..layers.symbolic_ops import OpLayer, Slot
    cls, config = entry.get("class_name"), dict(entry.get("config") or {})
    name = config.pop("name", None) or entry.get("name")
    table = _by_class()
    if cls not in table:
        raise UnknownObjectError(f"Layer {name!r} is Keras 3's op {cls!r}, which gpunet does not read; it reads "
                                 f"{sorted(table)}.")
    fn, statics = table[cls]
    nodes = entry.get("inbound_nodes") or []
    if len(nodes) != 1 or not isinstance(nodes[0], dict):
        raise InvalidConfigError(f"Op {name!r} must have one inbound node as Keras 3 writes it, received "
                                 f"{str(nodes)[:120]}.")
    refs = []

    def value(v):
        if isinstance(v, dict) and v.get("class_name") == "__keras_tensor__":
            refs.append(keras3_ref(v, name))
            return Slot(len(refs) - 1)
        if isinstance(v, dict) and v.get("class_name") == "__slice__":
            c = v.get("config") or {}
            return slice(c.get("start"), c.get("stop"), c.get("step"))
        if isinstance(v, dict):
            raise NotImplementedError(f"Op {name!r}: an argument {str(v)[:80]} (gpunet reads tensors, slices and "
                                      "constants).")
        return [value(x) for x in v] if isinstance(v, list) else v
    args = [value(a) for a in nodes[0].get("args") or []]
    kwargs = {k: value(v) for k, v in (nodes[0].get("kwargs") or {}).items()}
    unknown = sorted(k for k in set(config) - set(statics) - {"trainable", "dtype"} if config[k] is not None)
    # (None: an argument at its default, as Max's ``initial``)
    if unknown:
        raise NotImplementedError(f"Op {name!r} ({cls}) has the arguments {unknown}: gpunet reads {sorted(statics)}.")
    for key, param in statics.items():
        if key in config:
            kwargs[param] = tuple(config[key]) if key in _TUPLES and isinstance(config[key], list) else config[key]
    if cls == "GetItem" and len(args) == 2 and isinstance(args[1], list):
        args[1] = tuple(args[1])
    layer = OpLayer(fn, args, kwargs, name=name)
    reserve_name(name)
    return layer, [(refs, len(refs) > 1, None, None)]


def entry(layer, inputs):
    """Keras 3's config entry for the gpunet op layer ``layer`` called on ``inputs`` (Keras 3's tensor entries,
    in the order of its slots); NotImplementedError for an op Keras 3 has not."""
    from ..layers.symbolic_ops import filled
    found = _by_function().get(layer.function)
    if found is None:
        raise NotImplementedError(f"Layer '{layer.name}' is the op {layer.function.__name__} applied to symbolic "
                                  f"tensors, which gpunet cannot write to a Keras 3 config (it writes "
                                  f"{sorted(c for c, *_ in _OPS if c not in _WRITES)}). Wrap it in a Lambda of a named "
                                  "function, or save the weights alone.")
    cls, module, statics = found
    bound = inspect.signature(layer.function).bind(*[filled(a, inputs) for a in layer.args],
                                                   **{k: filled(v, inputs) for k, v in layer.kwargs.items()})
    bound.apply_defaults()
    values = dict(bound.arguments)
    config = {"name": layer.name}
    for key, param in statics.items():
        config[key] = _plain(values.pop(param))
    defaults = {p.name: p.default for p in inspect.signature(layer.function).parameters.values()}
    extra = [k for k in list(values)[_call_arity(cls):] if values[k] != defaults.get(k)]
    if extra:
        raise NotImplementedError(f"Layer '{layer.name}': Keras 3's {cls} has no argument {extra[0]!r} (given "
                                  f"{values[extra[0]]!r}).")
    args = [_plain(v) for v in list(values.values())[:_call_arity(cls)]]
    return {"module": f"keras.src.ops.{module}", "class_name": cls, "config": config, "registered_name": cls,
            "name": layer.name, "inbound_nodes": [{"args": args, "kwargs": {}}]}


def _call_arity(cls):
    """How many of gpunet's arguments Keras 3's call takes (the rest are its config's, or absent there)."""
    if cls in ("Where",):
        return 3
    binary = ("Add", "Subtract", "Multiply", "TrueDivide", "Power", "Maximum", "Minimum", "Matmul", "Equal",
              "NotEqual", "Greater", "GreaterEqual", "Less", "LessEqual", "LogicalAnd", "LogicalOr", "GetItem")
    return 2 if cls in binary else 1


def _plain(value):
    """A JSON-ready argument: Keras 3's ``__slice__`` for a slice, lists for tuples, numbers for NumPy scalars."""
    if isinstance(value, slice):
        return {"class_name": "__slice__", "config": {"start": value.start, "stop": value.stop, "step": value.step}}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    return value
