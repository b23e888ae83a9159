"""``model.summary()`` in Keras 2's layout, with tf.keras 2's later options: ``show_trainable`` (a "Trainable"
column, Y or N), ``expand_nested`` (a nested model's layers inside a ``|`` border under its row) and
``layer_range`` (the rows from one layer to another, by name or pattern)."""
import re


def _shape_str(shape):
    if isinstance(shape, list):  # several outputs, as tf.keras 2 prints them
        return "[" + ", ".join(_shape_str(s) for s in shape) + "]"
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def print_summary(model, line_length=None, positions=None, print_fn=None, expand_nested=False, show_trainable=False,
                  layer_range=None):
    """A functional model (``model._nodes``) gets Keras 2's fourth column, "Connected to", with a
    line per input a layer takes (``dense[0][0]``)."""
    print_fn = print_fn or print
    graph = hasattr(model, "_nodes")
    line_length = line_length or (98 if graph else 65)
    positions = positions or ([0.33, 0.55, 0.67, 1.0] if graph else [0.45, 0.85, 1.0])
    if positions[-1] <= 1:
        positions = [int(line_length * p) for p in positions]
    cols = ["Layer (type)", "Output Shape", "Param #"] + (["Connected to"] if graph else [])
    if show_trainable:  # (tf.keras 2: 11 more characters, the column last)
        line_length += 11
        positions = list(positions) + [line_length]
        cols.append("Trainable")
    inbound = {}
    if graph:
        from .graph import call_indices
        index = call_indices(model)
        for n in model._nodes:  # a shared layer: every call's inputs
            inbound.setdefault(id(n.layer), []).extend(f"{t.node.layer.name}[{index[id(t.node)]}][{t._keras_history.tensor_index}]" for t in n.inputs)

    def row(fields, level=0):
        line = ""
        for i, field in enumerate(fields):
            if i > 0:
                line = line[:-1] + " "
            line += str(field)
            end = positions[i] - (4 if i == len(fields) - 1 else 2) * level  # (a nested row: inside its borders)
            line = line[:end]
            line += " " * (end - len(line))
        print_fn("| " * level + line + " |" * level if level else line)

    def rows_of(layer, level, trainable):
        shape = _shape_str(layer.output_shape) if layer.built else "(unbuilt)"
        fields = [f"{layer.name} ({type(layer).__name__})", shape,
                  layer.count_params() if layer.built else "0 (unbuilt)"]
        sources = inbound.get(id(layer), []) if level == 0 else []
        if graph:
            fields.append(sources[0] if sources else "")
        trainable = trainable and layer.trainable
        if show_trainable:
            fields.append("Y" if trainable else "N")
        row(fields, level)
        for source in sources[1:]:
            row(["", "", "", source] + ([""] if show_trainable else []), level)
        nests = expand_nested and getattr(type(layer), "_nests_layers", False)
        inner = getattr(layer, "layers", None) if nests else None
        if inner:
            width = line_length - 2 * level
            print_fn("|" * level + "|" + "¯" * (width - 2) + "|" + "|" * level)
            for k, sub in enumerate(inner):
                rows_of(sub, level + 1, trainable)
                if k < len(inner) - 1:
                    print_fn("|" * (level + 1) + "_" * (width - 2) + "|" * (level + 1))
            print_fn("|" * level + "¯" * width + "|" * level)

    layers = _in_range(model.layers, layer_range)
    print_fn(f'Model: "{model.name}"')
    print_fn("_" * line_length)
    row(cols)
    print_fn("=" * line_length)
    for i, layer in enumerate(layers):
        rows_of(layer, 0, True)
        print_fn(("=" if i == len(layers) - 1 else "_") * line_length)
    if not layers:
        print_fn("=" * line_length)
    trainable = sum(_count(w.shape) for w in model.trainable_weights)
    non_trainable = sum(_count(w.shape) for w in model.non_trainable_weights)
    print_fn(f"Total params: {trainable + non_trainable:,}")
    print_fn(f"Trainable params: {trainable:,}")
    print_fn(f"Non-trainable params: {non_trainable:,}")
    print_fn("_" * line_length)


def _in_range(layers, layer_range):
    """The layers from the first whose name matches ``layer_range[0]`` to the last matching ``layer_range[1]``
    (patterns, as tf.keras 2's), both included; all without a range."""
    if layer_range is None:
        return list(layers)
    if not isinstance(layer_range, (list, tuple)) or len(layer_range) != 2 or not all(
            isinstance(p, str) for p in layer_range):
        raise ValueError(f"layer_range must be a list or tuple of two layer names or patterns, received "
                         f"{layer_range!r}")
    first = [i for i, layer in enumerate(layers) if re.match(layer_range[0], layer.name)]
    last = [i for i, layer in enumerate(layers) if re.match(layer_range[1], layer.name)]
    if not first or not last or first[0] > last[-1]:
        raise ValueError(f"layer_range {list(layer_range)} matches no run of the model's layers "
                         f"{[layer.name for layer in layers]}")
    return list(layers)[first[0]:last[-1] + 1]


def _count(shape):
    n = 1
    for d in shape:
        n *= d
    return n
