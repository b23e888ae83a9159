"""`clone_model` of a functional model: the same graph of new layers."""
from ..layers.input_layer import Input
from ..layers.symbolic_ops import OpLayer


def clone_graph(model, clone_function):
    """The same graph as ``model`` of new layers, ``clone_function(layer)`` each (one per layer, however many
    calls it has; new Inputs of the same shapes, dtypes and names; a dict of inputs or outputs kept)."""
    from .functional import Functional, structured
    if model._copied:
        raise NotImplementedError(f"Model '{model.name}' calls layers of a model nested in it directly: clone_model "
                                  "cannot keep them shared with the nested model's clone.")
    tensors, clones = {}, {}
    for t in model._inputs:
        old = t.node.layer
        tensors[id(t)] = Input(batch_shape=old.batch_input_shape, dtype=old.dtype, name=old.name)
    for node in model._nodes:
        layer = clones.get(id(node.layer))
        if layer is None:  # (an op's arguments are in its call, not in its config: the op is kept)
            layer = clones[id(node.layer)] = (OpLayer(node.layer.function, node.layer.args, node.layer.kwargs,
                                                      name=node.layer.name)
                                              if isinstance(node.layer, OpLayer) else clone_function(node.layer))
        args = [tensors[id(t)] for t in node.inputs]
        tensors[id(node.output)] = layer(args if node.as_list else args[0])
    clone = Functional(structured([tensors[id(t)] for t in model._inputs], model._input_keys),
                       structured([tensors[id(t)] for t in model._outputs], model._output_keys), name=model.name)
    for t in model._loss_tensors:
        clone.add_loss(tensors[id(t)])
    for name, t in model._metric_tensors:
        clone.add_metric(tensors[id(t)], name)
    return clone
