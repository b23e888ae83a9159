"""``keras.engine.network`` (Keras 2.2): `Network`, the functional graph, is gpunet's functional
`Model` (Keras 2.0's name for it was `Container`); and `get_source_inputs`."""
from ..layers.symbolic import KerasTensor
from ..models import Model

Network = Container = Model


def get_source_inputs(tensor):
    """The `Input()` tensors ``tensor`` (a functional API tensor) is computed from, in the order
    its graph reaches them (Keras's ``get_source_inputs``)."""
    if not isinstance(tensor, KerasTensor):
        raise TypeError(f"get_source_inputs expects a symbolic tensor (from Input() or a layer's call), "
                        f"received {type(tensor).__name__}")
    found, seen, stack = [], set(), [tensor]
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        node = t.node
        if node is None or not node.inputs:
            found.append(t)
        else:
            stack.extend(reversed(node.inputs))
    return found
