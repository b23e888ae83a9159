"""``model.summary()`` in Keras 2's layout."""


def _shape_str(shape):
    if isinstance(shape, list):  # several outputs, as tf.keras 2 prints them
        return "[" + ", ".join(_shape_str(s) for s in shape) + "]"
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def print_summary(model, line_length=None, positions=None, print_fn=None):
    """A functional model (``model._nodes``) gets Keras 2's fourth column, "Connected to", with a
    line per input a layer takes (``dense[0][0]``)."""
    print_fn = print_fn or print
    graph = hasattr(model, "_nodes")
    line_length = line_length or (98 if graph else 65)
    positions = positions or ([0.33, 0.55, 0.67, 1.0] if graph else [0.45, 0.85, 1.0])
    if positions[-1] <= 1:
        positions = [int(line_length * p) for p in positions]
    cols = ["Layer (type)", "Output Shape", "Param #"] + (["Connected to"] if graph else [])
    inbound = {}
    if graph:
        from .graph import call_indices
        index = call_indices(model)
        for n in model._nodes:  # a shared layer: every call's inputs
            inbound.setdefault(id(n.layer), []).extend(f"{t.node.layer.name}[{index[id(t.node)]}][{t._keras_history.tensor_index}]" for t in n.inputs)

    def row(fields):
        line = ""
        for i, field in enumerate(fields):
            if i > 0:
                line = line[:-1] + " "
            line += str(field)
            line = line[:positions[i]]
            line += " " * (positions[i] - len(line))
        print_fn(line)

    print_fn(f'Model: "{model.name}"')
    print_fn("_" * line_length)
    row(cols)
    print_fn("=" * line_length)
    for i, layer in enumerate(model.layers):
        shape = _shape_str(layer.output_shape) if layer.built else "(unbuilt)"
        fields = [f"{layer.name} ({type(layer).__name__})", shape, layer.count_params() if layer.built else "0 (unbuilt)"]
        sources = inbound.get(id(layer), [])
        row(fields + [sources[0] if sources else ""] if graph else fields)
        for source in sources[1:]:
            row(["", "", "", source])
        print_fn(("=" if i == len(model.layers) - 1 else "_") * line_length)
    if not model.layers:
        print_fn("=" * line_length)
    trainable = sum(_count(w.shape) for w in model.trainable_weights)
    non_trainable = sum(_count(w.shape) for w in model.non_trainable_weights)
    print_fn(f"Total params: {trainable + non_trainable:,}")
    print_fn(f"Trainable params: {trainable:,}")
    print_fn(f"Non-trainable params: {non_trainable:,}")
    print_fn("_" * line_length)


def _count(shape):
    n = 1
    for d in shape:
        n *= d
    return n
