"""Running a functional model's layer calls: forward in graph order, backward in reverse.

A layer keeps what its backward needs from its last forward (``self._x``...). A layer called
several times in one model (a shared layer: one set of weights) therefore runs its second and
later calls on shallow copies of itself (`copy.copy`: the same `Weight` objects, its own record
of the call), and its weight gradients, which a backward writes rather than adds, are gathered
call by call and summed. A tensor read by several layers gets the sum of their gradients.
"""
from ..autodiff import Tensor, tape_losses
from ..backend.io_packing import layout_of, packed, unpacked
from ..layers import added_losses, masking
from ..layers.sublayers import backward_adding, call_copy, summed_weights


def forward(model, x, training, penalty=True, in_mask=None):
    """``(output, activity penalty)`` as the engine's ``_forward``; several inputs come packed side
    by side in ``x`` and several outputs go out packed (models/functional_io.py). ``in_mask``: the mask
    of its one input (a nested model's, handed in by the model around it); the outputs' go to
    ``model._nested_out_masks``."""
    ops = model.ops
    if model._in_layout:
        values = {id(t): part for t, part in zip(model._inputs, unpacked(x, model._in_layout))}
    else:
        values = {id(model._inputs[0]): x}
    total, runners, seen = 0.0, [], set()
    masks = {} if in_mask is None else {id(model._inputs[0]): in_mask}
    copies = getattr(model, "_inner_copies", False)  # this model is itself a copy: a nested model's 2nd call
    for node in model._nodes:
        layer = node.layer
        runner = call_copy(layer) if copies or id(layer) in seen or id(layer) in model._copied else layer
        seen.add(id(layer))
        runners.append(runner)
        args = [values[id(t)] for t in node.inputs]
        on_tape = runner._uses_call
        if on_tape:  # (a loss function on the model's input: y_true, needing no gradient; for this call only)
            runner._data_inputs = [t.node.is_input for t in node.inputs]
        mode = training if node.training is None else node.training  # (a training= given in the call: kept)
        runner._call_args = node.call_args  # (a call with more arguments than its input: layers/call_args.py)
        out, masks[id(node.output)] = _call(runner, node, args, [masks.get(id(t)) for t in node.inputs], mode)
        runner._call_args = None
        if on_tape:
            runner._data_inputs = None
        if node.several is not None:  # a nested model with several outputs: a list of them
            if not isinstance(out, list):  # (a subclassed model's, side by side as its call holder packs them)
                out = unpacked(out, runner._out_layout)
            if layer.activity_regularizer is not None:
                raise NotImplementedError(f"Model '{layer.name}' has several outputs and activity regularizers: "
                                          "gpunet does not nest such a model yet.")
            runner._out_specs = [(o.shape, o.dtype) for o in out]  # (zeros for those no layer reads, in backward)
            values.update((id(t), o) for t, o in zip(node.several, out))
            continue
        if layer.activity_regularizer is not None:
            if penalty:
                total += ops.to_scalar(layer.activity_regularizer(out)) / out.shape[0]
            runner._activity_output = out  # (for backward; and for the penalty when nested in another model)
        values[id(node.output)] = out
    model._ran = runners  # (NestingMixin's _activity_penalty reads them, as a nested model's)
    if model._loss_tensors or model._metric_tensors:  # model.add_loss/add_metric: to the step around (if any)
        model._loss_shapes = [values[id(t)].shape for t in model._loss_tensors]
        model._loss_values = [Tensor(values[id(t)]) for t in model._loss_tensors]  # (a GradientTape counts by them)
        added_losses.hand_on(added_losses.Frame(list(model._loss_values),
                                                [(name, Tensor(values[id(t)])) for name, t in model._metric_tensors]))
    model._nested_out_masks = out_masks = [masks.get(id(t)) for t in model._outputs]
    if not penalty:  # (predict, or a nested model: no loss here)
        out_masks = []
    several = len(out_masks) > 1 and any(m is not None for m in out_masks)  # (then one per output, None for some)
    # (the loss and the metrics weigh the steps by them: output_masks.py)
    model._output_mask = out_masks if several else out_masks[0] if out_masks else None
    if model._out_layout:
        outs = [values[id(t)] for t in model._outputs]
        if getattr(model, "_open_outputs", False):  # (outputs of unknown lengths: this call's settle the layout)
            model._out_layout = layout_of([tuple(o.shape[1:]) for o in outs])
        return packed(ops, outs), total
    return values[id(model._outputs[0])], total


def _call(runner, node, args, in_masks, training):
    """One call's output and the mask it hands on (tf.keras 2's rules: layers/masking.py)."""
    if node.as_list:
        # (a layer that reads the masks its inputs carry (the attention and recurrent layers, called with more
        # tensors than their input): they ride on its call's tensors)
        masked = getattr(runner, "_reads_input_masks", False) and any(m is not None for m in in_masks)
        runner._input_masks = in_masks if masked else None
        try:
            out = runner.forward(args, training)
        finally:
            runner._input_masks = None
        given = node.call_args.keywords.get("mask") if node.call_args is not None else None
        if given is not None and given[0] == "tensor":  # ``layer(x, mask=m)`` (Keras 3's files write it so): the
            return out, runner.compute_mask(args[0], args[given[1]])  # mask given, not the one x carries
        if all(m is None for m in in_masks):
            return out, None
        if not (masked or getattr(runner, "_multi_input", False)):  # a Lambda or a user's layer over several tensors
            raise NotImplementedError(f"Layer '{runner.name}' receives the mask of an Embedding(mask_zero=True) or "
                                      "Masking layer on one of its inputs: gpunet hands masks on through merge layers "
                                      "only.")
        return out, runner.compute_mask(args, in_masks)
    if in_masks[0] is None and not masking.makes_mask(runner):
        return runner.forward(args[0], training), None
    return masking.forward(runner, args[0], in_masks[0], training)


def backward(model, dy, need_dx=False):
    """The weights' gradients for the output gradient ``dy`` (packed, for several outputs); with
    ``need_dx``, returns the gradient with respect to the (one) input, as a nested model's backward."""
    ops = model.ops
    grads = {}
    if model._out_layout:
        for t, part in zip(model._outputs, unpacked(dy, model._out_layout)):
            grads[id(t)] = grads[id(t)] + part if id(t) in grads else part
    else:
        grads[id(model._outputs[0])] = dy
    ups = tape_losses.added_loss_upstreams()  # (in a GradientTape, what the target gave each through model.losses)
    for t, shape, value in zip(model._loss_tensors, model._loss_shapes, model._loss_values, strict=True):
        if ups is None:  # (each added loss counts once in fit's loss)
            one = ops.ones(shape, dy.dtype)
        elif id(value) in ups:
            one = ops.xp.broadcast_to(ops.asarray(ups[id(value)], dtype=dy.dtype), shape)
        else:
            continue
        grads[id(t)] = grads[id(t)] + one if id(t) in grads else one
    shared = {id(n.layer): n.layer for n in model._nodes if id(n.layer) in model._shared}
    for layer in shared.values():  # a shared layer's weight gradients: summed over its calls from 0
        for w in summed_weights(layer):
            w.grad[...] = 0
    counted = tape_losses.activity_upstream()
    for node, runner in zip(reversed(model._nodes), reversed(model._ran)):
        layer = node.layer
        if node.several is not None:
            g = [grads.pop(id(t)) if id(t) in grads else ops.zeros(*spec) for t, spec in zip(node.several,
                                                                                          runner._out_specs)]
        elif id(node.output) in grads:
            g = grads.pop(id(node.output))
        else:  # a call only a metric reads (model.add_metric): nothing flows back
            continue
        if node.several is None and layer.activity_regularizer is not None and counted is not None:
            term = layer.activity_regularizer.gradient(runner._activity_output) / g.shape[0]
            g = g + (term if counted is tape_losses.COUNTED_ONCE else term * counted)  # (a GradientTape's factor)
        need = need_dx or any(not t.node.is_input for t in node.inputs)
        is_shared = id(layer) in shared
        dx = backward_adding(runner, summed_weights(layer), g, need) if is_shared else runner.backward(g, need)
        if not need:
            continue
        for t, d in zip(node.inputs, dx if node.as_list else [dx]):
            if t.node.is_input and not need_dx:
                continue
            key = id(t)
            if key in grads:
                grads[key] = grads[key] + d
            elif is_shared or any(d is other for other in grads.values()):
                # Add hands one array to each input, and a shared layer's copies may return buffers it
                # reuses: a layer's backward may work in place on its dy
                grads[key] = ops.xp.array(d, copy=True)
            else:
                grads[key] = d
    if need_dx:  # (one gradient per input, for a nested model with several)
        dxs = [grads[id(t)] if id(t) in grads else ops.zeros((dy.shape[0],) + tuple(t.shape[1:]), dy.dtype)
               for t in model._inputs]
        return dxs if model._in_layout else dxs[0]
