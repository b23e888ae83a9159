"""`Bidirectional` (Keras's wrapper): a recurrent layer run forwards and a copy of it backwards over the same
sequence, their outputs merged (``merge_mode``: "concat", "sum", "mul" or "ave"). As Keras does it: the two
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

    supports_masking = True

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
        if layer.return_state or getattr(backward_layer, "return_state", False):
            raise NotImplementedError("Bidirectional over a layer with return_state=True is not implemented in gpunet "
                                      "(its five outputs); return_state works on the recurrent layers themselves.")
        if merge_mode not in _MERGES:
            raise ValueError(f"Invalid merge mode. Received: {merge_mode!r}. Merge mode should be one of "
                             f"{list(_MERGES)} (None, which gives a list, is not implemented in gpunet).")
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

    def build(self, input_shape):
        for inner in (self.forward_layer, self.backward_layer):
            if not inner.built:
                inner.build(input_shape)
                inner.built = True

    def compute_output_shape(self, input_shape):
        shape = tuple(self.forward_layer.compute_output_shape(input_shape))
        return shape[:-1] + (shape[-1] * 2,) if self.merge_mode == "concat" else shape

    def call(self, inputs, mask=None, training=None):
        from .. import ops
        forward = self.forward_layer.call(inputs, mask=mask, training=training)
        backward = self.backward_layer.call(inputs, mask=mask, training=training)
        if self.return_sequences:
            backward = ops.flip(backward, axis=1)
        if self.merge_mode == "concat":
            return ops.concatenate([forward, backward], axis=-1)
        if self.merge_mode == "sum":
            return forward + backward
        if self.merge_mode == "mul":
            return forward * backward
        return (forward + backward) / 2

    def compute_mask(self, inputs, mask=None):
        return mask if self.return_sequences else None

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
