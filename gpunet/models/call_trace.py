"""A subclassed model's ``call`` as a graph of layer calls, for the fused training steps.

A subclassed model (models/model.py) runs its ``call`` on the tape, layer by layer. The fused steps
(backend/graph_plan.py on NumPy, backend/gpu_graph_plan.py and gpu_graph_forward.py on CuPy) run
graphs: `trace` calls ``call`` on a symbolic ``Input`` (as Keras's ``fit`` traces it into a
``tf.function``), recording each layer call and each op on the tensors as a functional model's
graph over the model's own layers, and the steps run that graph, falling back to the tape wherever
they do not take it. Python code in ``call`` runs at the trace only (as under Keras's
``tf.function``): a counter incremented in ``call``, a print, count the trace and not each step.

A trace stands only where it cannot change what training computes; otherwise the tape keeps the model
(`trace` returns None), and nothing of the trace stays behind (the layers' recorded calls, the names it
took):

- ``call`` runs twice, with ``training=True`` and ``training=False`` (where it takes ``training``):
  both must make the same calls of the same layers on the same tensors, with the same arguments (an
  op's constants included), each layer's ``training=`` either the mode itself (the graph then follows
  the step's mode) or the same value in both. A branch on ``training`` that changes the graph
  (``if training: x = noise(x)``) keeps the tape, and so do other outputs (several: a list, tuple or dict
  of tensors, as the call holder packs them, models/subclass_outputs.py).
- Values cannot steer it: a symbolic tensor has no truth value (``if K.sum(x) > 0`` raises, and the
  tape takes the model).
- Each layer with weights must be one the model holds (a layer made inside ``call`` gets new weights
  at each call, which the steps would not train as the tape does), and an op may not take a weight as
  an argument (``K.dot(x, self.dense.kernel)``): the graph would keep it as a constant, without a
  gradient.
- The model's class's code names none of ``add_loss``, ``add_metric``, ``add_weight`` (terms or
  weights of the model itself).
"""
import warnings

from ..autodiff.tensor import Operators
from ..layers import naming, sublayers
from ..layers.input_layer import Input
from ..layers.symbolic import KerasTensor, nodes_of
from ..layers.symbolic_ops import OpLayer, Slot
from ..layers.user_terms import model_names_its_own
from .graph import map_graph


def trace(model, holder, input_shape, dtype):
    """``(inputs, nodes, outputs, None)``: ``model.call`` (run by ``holder``, its `_CallLayer`) on inputs
    of ``input_shape`` as a graph the fused steps run, or None where the tape must (module docstring)."""
    if not isinstance(input_shape, tuple) or model_names_its_own(model):
        return None
    own = _tree(model)
    counts = {id(layer): len(nodes_of(layer)) for layer in own.values()}
    names = dict(naming._name_counts)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            graph = _traced(model, holder, input_shape, dtype, own)
    except Exception:  # (code the trace cannot follow: the tape runs it as it always has)
        graph = None
    finally:
        naming._name_counts.clear()
        naming._name_counts.update(names)
    if graph is None:
        for layer in own.values():
            del nodes_of(layer)[counts[id(layer)]:]
    return graph


def _traced(model, holder, input_shape, dtype, own):
    modes = (True, False) if holder._model_takes_training else (None,)
    runs = []
    for mode in modes:
        inputs = Input(batch_shape=input_shape, dtype=dtype, name=f"{model.name}_input")
        given = model._call_arguments(inputs)  # (several inputs: the packed input's parts)
        outs = _outputs(model, model.call(given) if mode is None else model.call(given, training=mode))
        if outs is None:
            return None
        nodes = [n for n in map_graph([inputs], outs)[0] if not n.is_input]
        runs.append(([inputs], nodes, outs))
        if mode is True:
            kept = {id(layer): len(nodes_of(layer)) for layer in own.values()}
    if len(runs) == 2:
        for layer in own.values():  # (the inference trace's calls: compared, then dropped)
            del nodes_of(layer)[kept[id(layer)]:]
        if not _same_graph(runs[0], runs[1]):
            return None
    inputs, nodes, outputs = runs[0]
    if not _trainable_as_traced(model, nodes, own):
        return None
    return inputs, nodes, outputs, None


def _outputs(model, out):
    """The traced outputs in the order the call holder packs them (models/subclass_outputs.py): a symbolic
    tensor, or a list, tuple or dict (by sorted key) of them, as the model's outputs are; None for anything
    else (the tape then says what differs)."""
    names = sorted(out) if isinstance(out, dict) else None
    outs = [out[k] for k in names] if names else list(out) if isinstance(out, (list, tuple)) else [out]
    if not outs or not all(isinstance(t, KerasTensor) for t in outs):
        return None
    layout = model._out_layout or [None]
    if len(layout) != len(outs) or (names and names != model.output_names):
        return None
    for t, part in zip(outs, layout):  # (where the trace knows a size, the one the tape packs)
        if part and any(d is not None and d != e for d, e in zip(t.shape[1:], part[2])):
            return None
    return outs


def _same_graph(one, other):
    """Whether two traces call the same layers on the same tensors alike and return the same tensors; then
    the first one's calls given ``training=`` as the trace's mode take the step's mode instead (Node.training
    None)."""
    (ins, nodes, outs), (ins2, nodes2, outs2) = one, other
    if len(nodes) != len(nodes2) or len(outs) != len(outs2):
        return False
    number, number2 = {id(ins[0]): 0}, {id(ins2[0]): 0}
    follow = []
    for k, (a, b) in enumerate(zip(nodes, nodes2)):
        if (a.as_list != b.as_list or a.call_args is not None or b.call_args is not None
                or a.several is not None or b.several is not None or not _same_layer(a.layer, b.layer)
                or [number.get(id(t)) for t in a.inputs] != [number2.get(id(t)) for t in b.inputs]):
            return False
        if a.training != b.training:
            if (a.training, b.training) != (True, False):
                return False
            follow.append(a)
        number[id(a.output)], number2[id(b.output)] = k + 1, k + 1
    if [number.get(id(t)) for t in outs] != [number2.get(id(t)) for t in outs2]:
        return False  # (``return y if training else x``: the same calls, another output)
    for node in follow:
        node.training = None
    return True


def _same_layer(a, b):
    """The same layer, or two alike that ``call`` made at each trace: ops with equal arguments, or
    built-in layers without weights and with equal configs (``Concatenate()([a, b])`` in a call)."""
    if a is b:
        return True
    if type(a) is not type(b) or a.weights or b.weights:
        return False
    if type(a) is OpLayer:
        return a.function is b.function and _same_value(a.args, b.args) and _same_value(a.kwargs, b.kwargs)
    if not type(a).__module__.startswith("gpunet.layers.") or a._uses_call:
        return False
    ca, cb = a.get_config(), b.get_config()
    ca.pop("name", None)
    cb.pop("name", None)
    return _same_value(ca, cb)


def _same_value(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, Slot):
        return a.index == b.index
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same_value(a[k], b[k]) for k in a)
    if a is b:
        return True
    if hasattr(a, "shape") and hasattr(a, "dtype"):  # (an array: equal values)
        return a.shape == b.shape and a.dtype == b.dtype and bool((a == b).all())
    try:
        return bool(a == b)
    except Exception:
        return False


def _trainable_as_traced(model, nodes, own):
    """Whether the steps train the traced calls as the tape trains ``call``: every layer with weights one
    the model holds, no weight among an op's arguments, no layer of a nested model called by itself too."""
    weights = {id(w) for w in model.weights}
    nested = set()
    for node in nodes:
        layer = node.layer
        if any(id(w) not in weights for w in layer.weights):
            return False
        if type(layer) is OpLayer and _holds_weight((layer.args, layer.kwargs)):
            return False
        if id(layer) not in own and not isinstance(layer, OpLayer) and layer.weights:
            return False
        if getattr(type(layer), "_nests_layers", False):  # (a subclassed one's: its attributes')
            nested |= set(_tree(layer))
    return not any(id(node.layer) in nested for node in nodes)


def _holds_weight(value):
    if isinstance(value, Operators):
        return True
    if isinstance(value, (list, tuple)):
        return any(_holds_weight(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_weight(v) for v in value.values())
    return False


def _tree(model):
    """``{id: layer}``: every layer the model holds, and those they hold in turn."""
    found, todo = {}, list(model.layers)
    while todo:
        layer = todo.pop()
        if id(layer) in found:
            continue
        found[id(layer)] = layer
        todo += sublayers.held(layer)
    return found
