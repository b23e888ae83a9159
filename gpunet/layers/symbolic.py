"""Symbolic tensors for Keras's functional API: ``x = Input((8,)); y = Dense(4)(x)``.

Calling a layer on a `KerasTensor` (or a list of them, for a merge layer) builds the layer for
that shape, records a `Node` (which tensors went in) on the layer, and returns the output's
`KerasTensor`. `gpunet.models.Model(inputs, outputs)` then walks the nodes back from its outputs
(models/graph.py). No arithmetic happens here: a KerasTensor has a shape and a dtype only; an op
on one (``K.square(x)``, ``2 * x``) is recorded as a layer (symbolic_ops.py).
"""
import contextlib
import contextvars
import functools
from collections import namedtuple

KerasHistory = namedtuple("KerasHistory", ["layer", "node_index", "tensor_index"])
_PROBING = contextvars.ContextVar("gpunet_probing_output_shape", default=False)


@contextlib.contextmanager
def probing():
    """While a call runs on probe values to find its output shape (an op's or a Lambda's): tf.keras 2
    traces such calls in a graph, so side effects on values (``K.print_tensor``) do not happen then."""
    token = _PROBING.set(True)
    try:
        yield
    finally:
        _PROBING.reset(token)


def is_probing():
    """True inside `probing`."""
    return _PROBING.get()


class KerasTensor:
    """The symbolic output of a layer: its ``shape`` (batch dimension first, None where any size
    goes), ``dtype`` and the layer call it came from (``_keras_history``, as in Keras)."""

    def __init__(self, shape, dtype, history, name=None):
        self.shape = tuple(shape)
        self.dtype = dtype
        self._keras_history = history
        self.name = name or history.layer.name

    @property
    def node(self):
        return nodes_of(self._keras_history.layer)[self._keras_history.node_index]

    def __repr__(self):
        return f"<KerasTensor shape={self.shape} dtype={self.dtype} (created by layer '{self.name}')>"

    def __array__(self, *args, **kwargs):
        # np.asarray(Input(...)) would otherwise make a 0-d object array and fail far from here
        raise TypeError(f"{self!r} is symbolic: it has no values. Build a model with "
                        "gpunet.models.Model(inputs, outputs) and call predict() on arrays.")

    def __bool__(self):
        raise TypeError(f"{self!r} is symbolic: it has no truth value.")

    def __iter__(self):  # (without it, Python would iterate by indexing, recording an op per element)
        raise TypeError(f"{self!r} is symbolic: it cannot be iterated. Index it (x[:, 0]) or split it with a layer.")


class Node:
    """One call of ``layer``: the tensors it received (``inputs``, in call order; empty for an
    InputLayer), whether they came as a list (a merge layer's), and the tensor it returned."""

    def __init__(self, layer, inputs, as_list):
        self.layer = layer
        self.inputs = list(inputs)
        self.as_list = as_list
        self.output = None
        self.several = None  # a call of a model with several outputs: their tensors (`output` is the first)
        # ``layer(x, training=False)``: that call always runs in inference (a frozen base model's
        # BatchNormalization in the transfer-learning guide), True always in training (Monte Carlo
        # dropout); None follows fit/predict, as Keras bakes an explicit argument into the call
        self.training = None
        self.call_args = None  # a call with more arguments than its input: where each goes (call_args.CallArgs)

    @property
    def outputs(self):
        return self.several if self.several is not None else [self.output]

    @property
    def is_input(self):
        return not self.inputs


def nodes_of(layer):
    """The layer's calls on symbolic tensors so far (Keras's ``layer._inbound_nodes``)."""
    nodes = layer.__dict__.get("_inbound_nodes")
    if nodes is None:
        nodes = layer.__dict__["_inbound_nodes"] = []
    return nodes


def call_of(layer, index, what):
    """``layer.input``/``layer.output`` (``index`` None: its one call) or ``get_input_at``/``get_output_at``."""
    nodes = nodes_of(layer)
    if not nodes:
        raise AttributeError(f"Layer '{layer.name}' is not connected: it has no {what} tensor (it was never called "
                             "on a tensor, nor is it in a model with a known input shape).")
    if index is None:
        if len(nodes) > 1:
            raise AttributeError(f"Layer '{layer.name}' has been called {len(nodes)} times, so its {what} is ambiguous: "
                                 f"use get_{what}_at(node_index).")
        index = 0
    if not -len(nodes) <= index < len(nodes):
        raise ValueError(f"Layer '{layer.name}' has {len(nodes)} call(s); received node_index={index}.")
    node = nodes[index]
    if what == "output":
        return node.output
    if node.is_input:
        return node.output  # an InputLayer's input is its output, as in Keras
    return list(node.inputs) if node.as_list else node.inputs[0]


def is_symbolic(x):
    """True for a KerasTensor, or a list/tuple holding one."""
    if isinstance(x, KerasTensor):
        return True
    return isinstance(x, (list, tuple)) and any(isinstance(t, KerasTensor) for t in x)


def accepts_symbolic(fn=None, *, symbolic=None):
    """``fn`` that, given a symbolic tensor among its arguments (or in a list argument), records the call
    as a layer of the graph and returns its symbolic output (symbolic_ops.py); otherwise it is ``fn``.
    ``symbolic``: what to call on symbolic arguments instead (a loss written with ops that configs can
    hold, as tf.keras 2 records it), or None when it returns None (arguments it does not decompose)."""
    if fn is None:
        return lambda f: accepts_symbolic(f, symbolic=symbolic)

    @functools.wraps(fn)
    def op(*args, **kwargs):
        if any(is_symbolic(a) for a in args) or (kwargs and any(is_symbolic(v) for v in kwargs.values())):
            out = symbolic(*args, **kwargs) if symbolic is not None else None
            if out is not None:
                return out
            from .symbolic_ops import apply
            return apply(fn, args, kwargs)
        return fn(*args, **kwargs)
    return op


def input_tensor(layer):
    """The output tensor of an `InputLayer` (made once, at its first request)."""
    nodes = nodes_of(layer)
    if not nodes:
        node = Node(layer, [], False)
        node.output = KerasTensor(layer.batch_input_shape, layer.dtype, KerasHistory(layer, 0, 0))
        nodes.append(node)
    return nodes[0].output


def call_layer(layer, inputs, training=None, call_args=None):
    """``layer(inputs)`` on symbolic inputs: build the layer, record the call, return its output.
    ``call_args``: a `call_args.CallArgs` for a call with more arguments than its input (``inputs`` then
    lists the call's tensors, its first argument first)."""
    from .input_layer import InputLayer
    if isinstance(layer, InputLayer):
        raise TypeError(f"InputLayer '{layer.name}' cannot be called on a tensor: Input() makes the model's inputs.")
    # merge layers, and layers written with call() (Lambda, a user's layer), which take a list as Keras's do
    multi = getattr(layer, "_multi_input", False) or (getattr(layer, "_uses_call", False)
                                                       and isinstance(inputs, (list, tuple)))
    as_list = isinstance(inputs, (list, tuple))
    if as_list:
        tensors = list(inputs)
        bad = [t for t in tensors if not isinstance(t, KerasTensor)]
        if bad:
            raise TypeError(f"Layer '{layer.name}' was called on a list mixing symbolic tensors and "
                            f"{type(bad[0]).__name__}: every input of a functional model must come from "
                            "Input() or from another layer's call.")
        if not multi:
            if len(tensors) != 1:
                raise TypeError(f"Layer '{layer.name}' ({type(layer).__name__}) takes one input tensor, received a "
                                f"list of {len(tensors)}. Merge them first, e.g. with Concatenate()([a, b]).")
            as_list, inputs = False, tensors[0]
    elif multi and getattr(type(layer), "_nests_layers", False):
        raise ValueError(f"Model '{layer.name}' takes {len(layer.inputs)} input tensors: call it on a list of them, "
                         f"e.g. {layer.name}([a, b]); received one tensor {inputs!r}.")
    elif multi:
        raise TypeError(f"Layer '{layer.name}' ({type(layer).__name__}) merges several inputs: call it on a list "
                        f"of tensors, e.g. {type(layer).__name__}()([a, b]); received one tensor {inputs!r}.")
    tensors = list(inputs) if as_list else [inputs]
    shapes = [t.shape for t in tensors]
    shape = shapes if as_list else shapes[0]
    from .input_spec import check
    from .user_code import arguments
    with arguments(layer, call_args, shapes):  # (build and the output shape see the call's other arguments)
        first = call_args.first_of(shapes) if call_args is not None else shape  # (build gets its input's, as Keras's)
        check(layer, first)
        if not layer.built:
            layer.build(first)
            check(layer, first)
        else:
            _check_built_for(layer, first)
        out_shape = layer.compute_output_shape(first)
    nodes = nodes_of(layer)
    node = Node(layer, tensors, as_list)
    node.training = None if training is None else bool(training)
    node.call_args = call_args
    if getattr(layer, "_several_outputs", False):  # a functional model with several outputs, nested
        node.several = [KerasTensor(s, layer.dtype, KerasHistory(layer, len(nodes), k)) for k, s in enumerate(out_shape)]
        node.output = node.several[0]
        nodes.append(node)
        return list(node.several)
    node.output = KerasTensor(out_shape, layer.dtype, KerasHistory(layer, len(nodes), 0))
    nodes.append(node)
    return node.output


def shapes_agree(want, got):
    """Whether shape ``got`` fits ``want``: the same rank, and every size after the batch axis equal
    where both are known (None: any)."""
    return len(want) == len(got) and all(a is None or b is None or a == b for a, b in zip(want[1:], got[1:]))


def _check_built_for(layer, shape):
    """A layer built before (by an earlier call) takes only inputs of the shape it was built for; one whose
    weights see the last axis alone (``_binds_last_axis``: Dense, the recurrent layers) any shape of the same
    rank and last axis, and an Embedding any shape (a shared one over sequences of two lengths, as Keras's)."""
    built = layer.input_shape
    if built is None:
        return
    binds = getattr(layer, "_binds_last_axis", None)
    pairs = list(zip(built, shape)) if isinstance(shape, list) else [(built, shape)]
    for want, got in pairs:
        if binds == "nothing" or (binds and len(want) == len(got) and want[-1] in (None, got[-1])):
            continue
        if not shapes_agree(want, got):
            raise ValueError(f"Layer '{layer.name}' was built for input shape {built}, received a tensor of "
                             f"shape {shape}.")
