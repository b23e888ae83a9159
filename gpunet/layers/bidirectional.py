"""`Bidirectional` (Keras's wrapper): a recurrent layer run forwards and a copy of it backwards over the same
sequence, their outputs merged (``merge_mode``: "concat", "sum", "mul" or "ave"; None: the two as a list). With
``return_state=True`` on the layer, the output(s) then the forward layer's final states and the backward's;
``initial_state`` is split in halves likewise (Keras's seq2seq with a bidirectional encoder). As Keras does it: the two
layers are rebuilt from the given layer's config (``forward_<name>``, ``backward_<name>``, ``go_backwards``
flipped, or ``backward_layer`` as given), a masked step outputs zeros when they return sequences, and the
backward outputs are turned back into time order before the merge. Weights: the forward layer's, then the
backward's (tf.keras 2's .h5 order; Keras 3's .keras keeps them under ``forward_layer`` and ``backward_layer``).
"""
from .base import Layer

_MERGES = ("concat", "sum", "mul", "ave")


def _rebuilt(layer, name, **changes):
    from ..saving.registry import layer_from_config, serialize_object
    from ..saving.config import to_plain
    entry = to_plain(serialize_object(layer), "layer")
    entry["config"].update(name=name, **changes)
    _rename_cells(entry["config"], lambda cell: name.split("_")[0] + "_" + cell)
    return layer_from_config(entry)


def _rename_cells(config, rename):
    """An `RNN`'s cells (a stack's too) renamed in its ``config``: the forward and backward copies of one cell
    must not share weight names (gpunet's keys are ``<cell>/<weight>``); the config written keeps Keras's."""
    cells = [config["cell"]] if isinstance(config.get("cell"), dict) else config.get("cells") or []
    for cell in cells:
        cell["config"]["name"] = rename(cell["config"]["name"])
        _rename_cells(cell["config"], rename)


class Bidirectional(Layer):
    """Runs ``layer`` (a `SimpleRNN`, `LSTM` or `GRU`) both ways over its input and merges the two outputs."""

    _binds_last_axis = True  # (a shared call may take other sizes: layers/symbolic.py)

    supports_masking = True
    _reads_input_masks = True  # (called with initial_state: its sequence's mask still reaches call)

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        from .recurrent import _RNN
        if isinstance(layer, dict):
            from ..saving.registry import layer_from_config
            layer = layer_from_config(layer)
        if isinstance(backward_layer, dict):
            from ..saving.registry import layer_from_config
            backward_layer = layer_from_config(backward_layer)
        if not isinstance(layer, _RNN):
            raise ValueError(f"Please initialize `Bidirectional` layer with a recurrent layer (SimpleRNN, LSTM or "
                             f"GRU). Received: {layer!r}")
        if merge_mode is not None and merge_mode not in _MERGES:
            raise ValueError(f"Invalid merge mode. Received: {merge_mode!r}. Merge mode should be one of "
                             f"{list(_MERGES) + [None]}")
        super().__init__(weights=weights, **kwargs)
        base = layer.name[len("forward_"):] if layer.name.startswith("forward_") else layer.name
        sequences = layer.return_sequences
        self.forward_layer = _rebuilt(layer, "forward_" + base, zero_output_for_mask=sequences)
        if backward_layer is None:
            self.backward_layer = _rebuilt(layer, "backward_" + base, go_backwards=not layer.go_backwards,
                                           zero_output_for_mask=sequences)
            self._custom_backward = False
        else:
            if backward_layer.go_backwards == layer.go_backwards:
                raise ValueError("Forward layer and backward layer should have different `go_backwards` value. "
                                 f"Received: forward go_backwards={layer.go_backwards}, backward go_backwards="
                                 f"{backward_layer.go_backwards}")
            self.backward_layer = backward_layer
            self._custom_backward = True
        self.merge_mode, self.return_sequences, self._base_name = merge_mode, sequences, base
        self.return_state = layer.return_state

    def __call__(self, x, *args, **kwargs):
        from .recurrent_state import initial_state_form
        x, kwargs = initial_state_form(x, args, kwargs)
        return super().__call__(x, *args, **kwargs)

    @property
    def _several_outputs(self):  # (the two directions' outputs unmerged, and/or their final states)
        return self.return_state or self.merge_mode is None

    def build(self, input_shape):
        for inner in (self.forward_layer, self.backward_layer):
            if not inner.built:
                inner.build(input_shape)
                inner.built = True

    def compute_output_shape(self, input_shape):
        forward, backward = (layer.compute_output_shape(input_shape)
                             for layer in (self.forward_layer, self.backward_layer))
        states = []
        if self.return_state:
            (forward, *forward_states), (backward, *backward_states) = forward, backward
            states = [tuple(s) for s in forward_states + backward_states]
        forward, backward = tuple(forward), tuple(backward)
        if self.merge_mode is None:
            outputs = [forward, backward]
        else:
            outputs = [forward[:-1] + (forward[-1] + backward[-1],) if self.merge_mode == "concat" else forward]
        return outputs + states if self._several_outputs else outputs[0]

    def call(self, inputs, mask=None, training=None, initial_state=None):
        from .. import ops
        forward_start = backward_start = None
        if initial_state is not None:  # (the forward layer's states, then the backward's, as Keras splits them)
            half = len(initial_state) // 2
            forward_start, backward_start = list(initial_state[:half]), list(initial_state[half:])
        forward = self.forward_layer.call(inputs, mask=mask, training=training, initial_state=forward_start)
        backward = self.backward_layer.call(inputs, mask=mask, training=training, initial_state=backward_start)
        states = []
        if self.return_state:
            (forward, *forward_states), (backward, *backward_states) = forward, backward
            states = forward_states + backward_states
        if self.return_sequences:
            backward = ops.flip(backward, axis=1)
        if self.merge_mode is None:
            return [forward, backward] + states
        if self.merge_mode == "concat":
            merged = ops.concatenate([forward, backward], axis=-1)
        elif self.merge_mode == "sum":
            merged = forward + backward
        elif self.merge_mode == "mul":
            merged = forward * backward
        else:
            merged = (forward + backward) / 2
        return [merged] + states if self.return_state else merged

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, list):
            mask = mask[0]
        return mask if self.return_sequences else None  # (the outputs' mask; states carry none)

    def get_config(self):
        from ..saving.registry import serialize_object
        from ..saving.config import to_plain
        config = super().get_config()
        config["layer"] = to_plain(serialize_object(self.forward_layer), "layer")
        config["layer"]["config"]["name"] = self._base_name  # (tf.keras 2 writes the wrapped layer's own name)
        _rename_cells(config["layer"]["config"], lambda cell: cell[len("forward_"):])
        config["merge_mode"] = self.merge_mode
        if self._custom_backward:
            config["backward_layer"] = to_plain(serialize_object(self.backward_layer), "layer")
        return config
