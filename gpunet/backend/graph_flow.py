"""What flows where in a graph the fused steps run (graph_plan.py, gpu_graph_plan.py and their forward
plans): which nested models they run by their own code, which tensors carry masks between calls, and
which take no gradient."""


def nested_plannable(model):
    """Whether a model nested in another (gpunet's Sequential or functional model itself: a transfer-learning
    base model; or a subclassed model, its call on the tape, where neither the model adds terms or weights of
    its own nor its layers an activity penalty) can run by its own forward and backward inside the outer model's
    plans, as the layer path runs it: built-in layers all the way down (Lambda and ops on symbolic tensors
    included, and layers of your own: layers/user_terms.py), no added loss or
    metric of the model itself, no activity regularizer, each call of it one tensor in and out (a mask
    entering or leaving it: the layer path's, `masked_tensors`)."""
    from ..layers.user_terms import added_terms, model_names_its_own
    from ..models.functional import Functional
    from ..models.model import Model
    from ..models.sequential import Sequential
    if isinstance(model, Model) and not getattr(model, "_is_graph", False):  # a subclassed model: its call on the tape
        return (model.built and "other" not in added_terms(model) and not model_names_its_own(model)
                and not model._out_layout)  # (several outputs: the layer path, as a functional model's)
    if (type(model) not in (Sequential, Functional) or getattr(model, "_loss_tensors", None)
            or getattr(model, "_metric_tensors", None) or getattr(model, "_in_layout", None)
            or getattr(model, "_out_layout", None)):
        return False
    for layer in model._layers:
        if isinstance(layer, (Sequential, Functional)):
            if not nested_plannable(layer):
                return False
        elif users_layer(layer):
            if "other" in added_terms(layer):  # (an activity regularizer in it: the layer path's)
                return False
        elif (not type(layer).__module__.startswith("gpunet.layers.")
              or getattr(layer, "activity_regularizer", None) is not None):
            return False
    return True


def users_layer(layer):
    """Whether ``layer`` is a layer of your own, its ``call`` run on the tape (not a Lambda nor an op on
    symbolic tensors, which gpunet makes)."""
    from ..layers.lambda_layer import Lambda
    from ..layers.symbolic_ops import OpLayer
    return layer._uses_call and type(layer) not in (Lambda, OpLayer)


def tape_inputs(node):
    """For a call of a layer whose ``call`` runs on the tape (a Lambda, an op on symbolic tensors, a layer of
    your own): which of its inputs are the model's own, which take no gradient (a loss function's
    ``y_true``), as models/graph_run.py marks them (`forward_marked`); None for any other layer."""
    return [t.node.is_input for t in node.inputs] if node.layer._uses_call else None


def forward_marked(layer, data, run, *args, terms=None):
    """``run(*args)`` with the tape layer's inputs marked as `tape_inputs` gives them (``data``; None:
    unmarked), unmarked again after, as models/graph_run.py does around each call; the losses and metrics the
    call adds (none, perhaps) go to ``terms`` (a step_terms.StepTerms: the plan adds them to the step's loss
    and the model's metrics). Raises RuntimeError where it adds one with no ``terms``: layers/user_terms.py
    gives a call ``terms`` where its code shows it may add one."""
    from ..layers import added_losses
    if terms is None and not (layer._uses_call or not type(layer).__module__.startswith("gpunet.layers.")):
        return run(*args)  # (a built-in layer adds no term: no frame to collect in, every step)
    if data is not None:
        layer._data_inputs = data
    try:
        with added_losses.collecting() as added:
            out = run(*args)
    finally:
        if data is not None:
            layer._data_inputs = None
    if terms is None and (added or added.metrics):
        what = "a loss (add_loss)" if added else "a metric (add_metric)"
        raise RuntimeError(f"Layer '{layer.name}' added {what} in a step gpunet fuses, which did not expect one: its "
                           "class's code does not name add_loss/add_metric, so gpunet took it for a layer that adds "
                           "no such term (layers/user_terms.py). Call self.add_loss/self.add_metric in a method of "
                           "the layer's class rather than through a function outside it.")
    if terms is not None:
        terms.collect(added)
    return out


def masked_tensors(nodes, outputs, kind_of, training=True):
    """The ids of the tensors that carry a mask (an ``Embedding(mask_zero=True)``'s or a ``Masking``'s, and
    what the layers after it hand on: layers/masking.py), where a plan can run them: each call that makes,
    takes or hands on a mask runs by its layer's own code (``kind_of`` the node: "Layer", one input), as
    the layer path runs it, mask and all; none reaches an output. None where a mask goes anywhere else
    (the layer path, which refuses what gpunet does not implement). ``training``: the step's mode, or
    the forward plan's."""
    from ..layers import masking
    masked = set()
    for node in nodes:
        into = any(id(t) in masked for t in node.inputs)
        if not (into or masking.makes_mask(node.layer)):
            continue
        if node.as_list or kind_of(node) != "Layer":
            return None
        mode = training if node.training is None else node.training
        if into and getattr(node.layer, "_reads_mask", False) and mode:
            return None  # (a BatchNormalization's statistics over the unmasked steps: its own code, on the layer path)
        try:
            if masking.carries_mask(node.layer, into, mode):
                masked.add(id(node.output))
        except NotImplementedError:
            return None
    return None if any(id(t) in masked for t in outputs) else masked


def constant_tensors(inputs, nodes):
    """The ids of the tensors no gradient flows to: the model's inputs, and the output of every call whose
    inputs are all such and whose layer has no trainable weights (a frozen base model, a lookup layer, a
    frozen Embedding): the plans skip their gradients, and a call whose output is one runs no backward."""
    constant = {id(t) for t in inputs}
    for node in nodes:
        if all(id(t) in constant for t in node.inputs) and not node.layer.trainable_weights:
            constant.add(id(node.output))
    return constant


def step_kinds(nodes, constant, dtype, kind_of=None):
    """Each node's kind in a training step (graph_plan.node_kind's, by id), but a frozen Dense layer that
    only the inputs reach (a frozen feature extractor: its output one of ``constant``, the
    `constant_tensors`, so no backward runs for it) is a "Dense" the plans run in their own buffers and
    kernels, forward only, rather than by the layer's own code (on a GPU: inside the step's captured graph)."""
    from ..layers.core import Dense
    from .graph_plan import node_kind, over_rows
    kinds = {}
    for node in nodes:
        kind, layer = (kind_of or node_kind)(node), node.layer
        if (kind == "Layer" and type(layer) is Dense and node.training is None and id(node.output) in constant
                and not layer.activation.custom and layer.kernel.value.dtype == dtype and over_rows(node)):
            kind = "Dense"
        kinds[id(node)] = kind
    return kinds
