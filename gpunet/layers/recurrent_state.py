"""The states of a recurrent layer (recurrent.py): their sizes as a cell gives them, their starting values, and
``stateful=True``, Keras's cross-batch statefulness.

A stateful layer starts each call from the final states of its previous call (zeros at first, or after
`reset`), for one fixed batch size: the one its input declares (``Input(batch_shape=...)``,
``batch_input_shape``), else the first call's. As in Keras, training backpropagates within a batch only (the
carried states are constants) and the states are not weights: files do not hold them. Shape probes and
symbolic calls leave them alone.
"""
import inspect

from ..autodiff import Tensor
from . import symbolic

_NEEDS_BATCH = ("If a RNN is stateful, it needs to know its batch size. Specify the batch size of your input "
                "tensors: \n- If using a Sequential model, specify the batch size by passing a `batch_input_shape` "
                "argument to your first layer.\n- If using the functional API, specify the batch size by passing a "
                "`batch_shape` argument to your Input layer.")


def flat_sizes(state_size):
    """A cell's ``state_size`` (an int, or a list or tuple of them, nested for stacked cells) as a flat list."""
    if isinstance(state_size, bool):
        raise TypeError(f"A cell's state_size must be an int or a list of ints, received {state_size!r}")
    if isinstance(state_size, int):
        return [state_size]
    if isinstance(state_size, (list, tuple)):
        return [s for part in state_size for s in flat_sizes(part)]
    raise TypeError(f"A cell's state_size must be an int or a list of ints (gpunet keeps 1-D states), received "
                    f"{state_size!r}")


def nested(flat, state_size):
    """The ``flat`` states grouped as ``state_size`` nests them (Keras's: a stack's LSTMCell gives its two states
    as one list)."""
    if not isinstance(state_size, (list, tuple)):
        return flat
    out, at = [], 0
    for part in state_size:
        count = len(flat_sizes(part))
        out.append(nested(flat[at:at + count], part) if isinstance(part, (list, tuple)) else flat[at])
        at += count
    return out


def flattened(values):
    """Nested lists of states as one flat list."""
    if not isinstance(values, (list, tuple)):
        return [values]
    return [v for part in values for v in flattened(part)]


def initial_state_form(x, args, kwargs):
    """``(x, kwargs)`` of a recurrent layer's call: tf.keras 2's ``layer([x, *states])`` (its files write
    ``initial_state`` so) as ``layer(x, initial_state=states)``, nested states (a stack's, as its outputs give them)
    flat."""
    if isinstance(x, (list, tuple)) and "initial_state" not in kwargs and not args:
        return x[0], {**kwargs, "initial_state": flattened(x[1:]) or None}
    if isinstance(kwargs.get("initial_state"), (list, tuple)):
        return x, {**kwargs, "initial_state": flattened(kwargs["initial_state"])}
    return x, kwargs


def output_size(cell):
    """What one step outputs: the cell's ``output_size`` when it has one, else its first state's size (Keras's)."""
    size = getattr(cell, "output_size", None)
    return int(size) if size is not None else flat_sizes(cell.state_size)[0]


def zero_states(layer, batch, dtype):
    """The states a sequence starts from when none are given: the cell's ``get_initial_state`` when it has one
    (a cell of your own may start elsewhere), else zeros, one per state size."""
    from .. import ops
    cell = layer.cell
    start = getattr(cell, "get_initial_state", None)
    if start is not None:
        params = inspect.signature(start).parameters
        kwargs = {k: v for k, v in (("inputs", None), ("batch_size", batch), ("dtype", dtype)) if k in params}
        states = start(**kwargs)
        return [s if isinstance(s, Tensor) else Tensor(layer.ops.asarray(s, dtype))
                for s in (states if isinstance(states, (list, tuple)) else [states])]
    return [ops.zeros((batch, size), dtype=dtype) for size in flat_sizes(cell.state_size)]


def check_symbolic(layer, shape):
    """A stateful layer built for, or called on a symbolic input of, ``shape``: its batch size is the layer's
    (Keras refuses an unknown one)."""
    if not layer.stateful:
        return
    if shape[0] is None:
        raise ValueError(_NEEDS_BATCH)
    layer._state_batch = int(shape[0])


def starting(layer, batch, dtype, given):
    """The states a call starts from: ``given`` (its ``initial_state``), else a stateful layer's carried ones,
    else the cell's zeros."""
    if given is not None:
        return given
    if not layer.stateful or symbolic.is_probing():
        return zero_states(layer, batch, dtype)
    expected = getattr(layer, "_state_batch", None)
    if expected is not None and expected != batch:
        raise ValueError(f"If an RNN is stateful, the batch size of the input sequences must be the same as the "
                         f"batch size of the initial state (layer '{layer.name}').\n- Expected batch size: "
                         f"{expected}\n- Received batch size: {batch}\n(fit, evaluate and predict: pass "
                         f"batch_size={expected} and a number of samples it divides.)")
    layer._state_batch = batch
    if getattr(layer, "_state_values", None) is None:
        return zero_states(layer, batch, dtype)
    return [Tensor(v) for v in layer._state_values]


def keep(layer, states):
    """After a stateful call: its final ``states`` are where the next call starts (as constants)."""
    if layer.stateful and not symbolic.is_probing():
        layer._state_values = [layer.ops.copy(s.data) for s in states]


def reset(layer, states=None):
    """Zeros (``states`` None) or the given arrays as the carried states of a stateful ``layer``."""
    if not layer.stateful:
        raise AttributeError("Layer must be stateful.")
    sizes = flat_sizes(layer.cell.state_size)
    batch = getattr(layer, "_state_batch", None)
    if states is None:
        layer._state_values = None if batch is None else [layer.ops.zeros((batch, n), layer.dtype) for n in sizes]
        return
    states = list(states) if isinstance(states, (list, tuple)) else [states]
    if len(states) != len(sizes):
        raise ValueError(f"Layer '{layer.name}' expects {len(sizes)} state(s), but it received {len(states)} state "
                         f"value(s). Input received: {states!r}")
    values = [layer.ops.asarray(getattr(s, "data", s), layer.dtype) for s in states]
    for i, (v, n) in enumerate(zip(values, sizes)):
        want = (batch if batch is not None else v.shape[0], n)
        if tuple(v.shape) != want:
            raise ValueError(f"State {i} is incompatible with layer {layer.name}: expected shape={want} but found "
                             f"shape={tuple(v.shape)}")
    layer._state_batch = int(values[0].shape[0])
    layer._state_values = [layer.ops.copy(v) for v in values]


def current(layer):
    """``layer.states``: the carried states (None each before the first call or a reset with the batch
    unknown), as arrays with ``.numpy()``."""
    values = getattr(layer, "_state_values", None)
    if values is None:
        return [None] * len(flat_sizes(layer.cell.state_size))
    return [layer.ops.eager(v) for v in values]
