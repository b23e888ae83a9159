"""Op layers in configs, in tf.keras 2's format: ``TFOpLambda`` (``SlicingOpLambda`` for ``x[...]``) and
``AddLoss`` (``model.add_loss``'s tensor).

tf.keras 2 writes an op on symbolic tensors as a layer naming a TensorFlow function
(``"function": "math.square"``), whose inbound node holds the op's arguments: the first positional
one as the tensor reference (``["dense", 0, 0, {...}]``, ``["_CONSTANT_VALUE", -1, 2.0, {...}]`` for a
constant, a list of references for ``tf.concat``'s values), the others as keyword arguments, tensors
among them as ``[layer, node, tensor]``. gpunet reads and writes the ops in `_OPS` this way, each
resolved from this table by name (no code is read from a file); another op is refused by name.
"""
import inspect

from .. import activations as A
from ..autodiff import elementwise as E, math_ops as MO, nn, reductions as R, shape_ops as S
from ..layers.naming import reserve_name
from .errors import InvalidConfigError, UnknownObjectError


def _identity(value, dtype=None, dtype_hint=None):
    return value


# (TensorFlow's function name, gpunet's function, TensorFlow's argument names in gpunet's order)
_OPS = [
    ("__operators__.add", E.add, ("x", "y")), ("math.add", E.add, ("x", "y")),
    ("math.subtract", E.subtract, ("x", "y")), ("math.multiply", E.multiply, ("x", "y")),
    ("math.truediv", E.divide, ("x", "y")), ("math.divide", E.divide, ("x", "y")),
    ("math.pow", E.power, ("x", "y")), ("math.maximum", E.maximum, ("x", "y")),
    ("math.minimum", E.minimum, ("x", "y")),
    ("math.negative", E.negative, ("x",)), ("math.abs", E.abs, ("x",)), ("math.square", E.square, ("x",)),
    ("math.sqrt", E.sqrt, ("x",)), ("math.exp", E.exp, ("x",)), ("math.log", E.log, ("x",)),
    ("math.sin", E.sin, ("x",)), ("math.cos", E.cos, ("x",)),
    ("math.reduce_sum", R.sum, ("input_tensor", "axis", "keepdims")),
    ("math.reduce_mean", R.mean, ("input_tensor", "axis", "keepdims")),
    ("math.reduce_max", R.max, ("input_tensor", "axis", "keepdims")),
    ("math.reduce_min", R.min, ("input_tensor", "axis", "keepdims")),
    ("concat", S.concatenate, ("values", "axis")),
    ("reshape", S.reshape, ("tensor", "shape")),
    ("__operators__.getitem", S.getitem, ("x", "slice_spec")),
    ("keras.backend.binary_crossentropy", nn.binary_crossentropy, ("target", "output", "from_logits")),
    ("expand_dims", S.expand_dims, ("input", "axis")),
    ("nn.relu", A.relu, ("features",)), ("math.sigmoid", A.sigmoid, ("x",)), ("math.tanh", A.tanh, ("x",)),
    ("nn.softmax", A.softmax, ("logits", "axis")),
    ("cast", E.cast, ("x", "dtype")),
    # Keras 3's ops.* beyond Keras 2's (autodiff/math_ops.py), under TensorFlow's names
    ("math.log1p", MO.log1p, ("x",)), ("math.expm1", MO.expm1, ("x",)), ("math.erf", MO.erf, ("x",)),
    ("math.rsqrt", MO.rsqrt, ("x",)), ("math.reciprocal", MO.reciprocal, ("x",)), ("nn.relu6", MO.relu6, ("features",)),
    ("math.log_sigmoid", MO.log_sigmoid, ("x",)), ("math.floor", MO.floor, ("x",)), ("math.ceil", MO.ceil, ("x",)),
    ("math.floormod", MO.mod, ("x", "y")), ("math.floordiv", MO.floor_divide, ("x", "y")),
    ("convert_to_tensor", _identity, ("value", "dtype", "dtype_hint")),
    # comparisons, logic and shapes (Keras 3 writes an Embedding's mask as not_equal(x, 0): .h5 holds it so)
    ("math.not_equal", E.not_equal, ("x", "y")), ("math.equal", E.equal, ("x", "y")),
    ("math.greater", E.greater, ("x", "y")), ("math.less", E.less, ("x", "y")),
    ("math.greater_equal", E.greater_equal, ("x", "y")), ("math.less_equal", E.less_equal, ("x", "y")),
    ("math.logical_and", MO.logical_and, ("x", "y")), ("math.logical_or", MO.logical_or, ("x", "y")),
    ("math.logical_not", MO.logical_not, ("x",)),
    ("math.reduce_any", R.any, ("input_tensor", "axis", "keepdims")),
    ("math.reduce_all", R.all, ("input_tensor", "axis", "keepdims")),
    ("where", E.where, ("condition", "x", "y")), ("clip_by_value", E.clip, ("t", "clip_value_min", "clip_value_max")),
    ("transpose", S.transpose, ("a", "perm")), ("squeeze", S.squeeze, ("input", "axis")),
    ("stack", S.stack, ("values", "axis")), ("linalg.matmul", S.matmul, ("a", "b")),
]
_BY_TF = {name: (fn, params) for name, fn, params in _OPS}
_BY_FN = {}
for _name, _fn, _params in _OPS:
    _BY_FN.setdefault(_fn, (_name, _params))
_CONSTANT = "_CONSTANT_VALUE"
OP_CLASSES = ("TFOpLambda", "SlicingOpLambda")


def op_class(layer):
    """``"TFOpLambda"`` or ``"SlicingOpLambda"`` for an op layer gpunet can write; NotImplementedError else."""
    tf_name, _ = _writable(layer)
    return "SlicingOpLambda" if tf_name == "__operators__.getitem" else "TFOpLambda"


def op_config(layer):
    tf_name, _ = _writable(layer)
    return {"name": layer.name, "trainable": layer.trainable, "dtype": layer.dtype, "function": tf_name}


def _writable(layer):
    found = _BY_FN.get(layer.function)
    if found is None:
        raise NotImplementedError(
            f"Layer '{layer.name}' is the op {layer.function.__name__} applied to symbolic tensors, which gpunet cannot "
            f"write to a config (it writes {sorted({n for n, _, _ in _OPS})}). Wrap the op in a Lambda of a named "
            "function (Lambda(my_fn)), or save the weights alone (save_weights).")
    return found


def node_entry(layer, node, ref):
    """The op layer's call ``node`` as tf.keras 2's inbound node; ``ref(t)`` writes a tensor reference."""
    from ..layers.symbolic_ops import filled
    tf_name, tf_params = _writable(layer)
    tensors = node.inputs
    args = [filled(a, [ref(t) for t in tensors]) for a in layer.args]
    kwargs = {k: filled(v, [ref(t) for t in tensors]) for k, v in layer.kwargs.items()}
    bound = inspect.signature(layer.function).bind(*args, **kwargs).arguments
    values = dict(zip(tf_params, bound.values()))
    first = values.pop(tf_params[0])
    if tf_name == "__operators__.getitem":
        values["slice_spec"] = _slice_spec(values["slice_spec"], layer.name)
    extra = {k: _plain(v) for k, v in values.items()}
    if first and isinstance(first, (list, tuple)) and all(_is_ref(r) for r in first):  # tf.concat's values
        return [list(r) + [extra] for r in first]
    if _is_ref(first):
        return list(first) + [extra]
    if isinstance(first, int) and not isinstance(first, bool):
        first = float(first)  # (``1 + x``: TensorFlow would make an int32 tensor of it, then refuse to add)
    return [_CONSTANT, -1, _plain(first), extra]


def _is_ref(value):
    return isinstance(value, list) and len(value) == 3 and isinstance(value[0], str)


def _plain(value):
    """A JSON-ready argument (tuples as lists; NumPy scalars as numbers)."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    return value


def _slice_spec(index, name):
    items = index if isinstance(index, tuple) else (index,)
    spec = []
    for item in items:
        if isinstance(item, slice):
            spec.append({"start": item.start, "stop": item.stop, "step": item.step})
        elif isinstance(item, int):
            spec.append(item)
        else:
            raise NotImplementedError(f"Layer '{name}': gpunet writes slices and integer indices, received {item!r}.")
    return spec


def _index(spec, name):
    if not isinstance(spec, list):
        raise InvalidConfigError(f"Layer {name!r}: slice_spec must be a list, received {str(spec)[:80]}.")
    out = []
    for item in spec:
        if isinstance(item, dict):
            out.append(slice(item.get("start"), item.get("stop"), item.get("step")))
        elif isinstance(item, int) and not isinstance(item, bool):
            out.append(item)
        else:
            raise NotImplementedError(f"Layer {name!r}: a slice_spec item {str(item)[:80]} (gpunet reads slices and "
                                      "integer indices).")
    return tuple(out)


def read_op_layer(entry):
    """An op layer from a ``TFOpLambda``/``SlicingOpLambda`` entry; its arguments come with its node
    (`bind_node`)."""
    from ..layers.symbolic_ops import OpLayer
    config = entry.get("config") or {}
    tf_name, name = config.get("function"), config.get("name")
    if tf_name not in _BY_TF:
        raise UnknownObjectError(f"Layer {name!r} is the TensorFlow op {tf_name!r}, which gpunet does not have; it "
                                 f"reads {sorted(_BY_TF)}.")
    fn, _ = _BY_TF[tf_name]
    layer = OpLayer(fn, [], {}, name=name, dtype=config.get("dtype"))
    layer.tf_function = tf_name
    reserve_name(name)  # (ops made later get other names)
    return layer


def parse_node(layer, node):
    """``(refs, args, kwargs)`` of the op's call from its tf.keras 2 inbound node: the tensors it takes, and
    gpunet's arguments with `Slot` markers (symbolic_ops.py) where those tensors go."""
    from ..layers.symbolic_ops import Slot
    fn, tf_params = _BY_TF[layer.tf_function]
    refs = []

    def tensor_or_value(value):
        if _is_ref(value) and value[0] != _CONSTANT:
            refs.append(tuple(value))
            return Slot(len(refs) - 1)
        if isinstance(value, list) and value and all(_is_ref(v) for v in value):
            return [tensor_or_value(v) for v in value]
        return value
    if not isinstance(node, list) or not node:
        raise InvalidConfigError(f"Layer {layer.name!r}: an op's inbound node must be a list, received {str(node)[:80]}.")
    if isinstance(node[0], list):  # the first argument is a list of tensors (tf.concat's values)
        first, extra = [tensor_or_value(list(r[:3])) for r in node], (node[0][3] if len(node[0]) > 3 else {})
    elif node[0] == _CONSTANT:
        first, extra = node[2], (node[3] if len(node) > 3 else {})
    else:
        first, extra = tensor_or_value(list(node[:3])), (node[3] if len(node) > 3 else {})
    if not isinstance(extra, dict):
        raise InvalidConfigError(f"Layer {layer.name!r}: an op's keyword arguments must be a dict.")
    unknown = sorted(k for k in extra if k not in tf_params and k != "name")
    if unknown:
        raise NotImplementedError(f"Layer {layer.name!r} ({layer.tf_function}) is called with {unknown}: gpunet reads "
                                  f"{list(tf_params[1:])}.")
    names = list(inspect.signature(fn).parameters)  # gpunet's, in the order of tf_params
    kwargs = {names[i]: _index(extra[p], layer.name) if p == "slice_spec" else tensor_or_value(extra[p])
              for i, p in enumerate(tf_params) if i and p in extra}
    return refs, [first], kwargs
