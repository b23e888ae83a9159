"""Keras's `RNN` layer over a cell of your choice, and `StackedRNNCells`.

A cell is a layer with ``state_size`` (an int, or a list of ints: one per state) and ``call(inputs, states)``
returning ``(output, new_states)`` for one step of ``(batch, features)`` inputs; ``states`` is always a list.
gpunet's `SimpleRNNCell`, `LSTMCell` and `GRUCell` are such cells, and so is one of your own (the Keras guide's
``MinimalRNNCell``): its ``call`` runs on the tape, so it trains by backpropagation through time with no
backward pass written. ``output_size`` and ``get_initial_state(batch_size=...)`` are read when a cell has
them; a ``training`` argument of its ``call`` is passed. A list of cells is run as `StackedRNNCells`.

Configs and files as Keras writes them: the cell's entry nested under ``cell`` (tf.keras 2's .h5 and Keras 3's
.keras; a stack's under ``cells``), its weights the layer's (Keras 3: under ``cell``, a stack's under
``cell/cells/<class>``).
"""
from .base import Layer
from .recurrent import _RNN, build_cell, cell_step
from .recurrent_state import flat_sizes, output_size


def _as_cell(cell):
    if isinstance(cell, dict):
        from ..saving.registry import layer_from_config
        cell = layer_from_config(cell)
    if isinstance(cell, (list, tuple)):
        cell = StackedRNNCells(cell)
    if not callable(getattr(cell, "call", None)):
        raise ValueError(f"Argument `cell` should have a `call` method. The RNN was passed: cell={cell!r}")
    if not hasattr(cell, "state_size"):
        raise ValueError(f"The RNN cell should have a `state_size` attribute (tuple of integers, one integer per "
                         f"RNN state). Received: cell={cell!r}")
    return cell


class RNN(_RNN):
    """Keras's base recurrent layer: ``cell`` (see the module doc) run over the steps of ``(batch, steps,
    features)`` inputs, with Keras's ``return_sequences``, ``return_state``, ``go_backwards``, ``stateful``,
    ``unroll`` and ``zero_output_for_mask``; masks and ``initial_state`` as the built-in layers take them."""

    _allowed_kwargs = Layer._allowed_kwargs

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False, stateful=False,
                 unroll=False, time_major=False, zero_output_for_mask=False, **kwargs):
        cell = _as_cell(cell)
        Layer.__init__(self, **kwargs)
        self._setup(cell, return_sequences, return_state, go_backwards, stateful, unroll, time_major,
                    zero_output_for_mask)

    def __getattr__(self, name):
        raise AttributeError(f"'{type(self).__name__}' object has no attribute {name!r}")

    def get_config(self):
        from ..saving.config import to_plain
        from ..saving.registry import serialize_object
        config = self._loop_config()
        config["cell"] = to_plain(serialize_object(self.cell), "cell")
        return config


class StackedRNNCells(Layer):
    """Several cells run as one: each step's input goes through them in turn (a cell's output is the next
    one's input); the states are all of theirs, in order. ``RNN([cell_1, cell_2])`` makes one."""

    def __init__(self, cells, **kwargs):
        super().__init__(**kwargs)
        cells = [_as_cell(c) for c in cells]
        if not cells:
            raise ValueError("StackedRNNCells needs at least one cell, received an empty list.")
        self.cells = cells

    @property
    def state_size(self):
        return [c.state_size for c in self.cells]

    @property
    def output_size(self):
        return output_size(self.cells[-1])

    def build(self, input_shape):
        width = input_shape[-1]
        for cell in self.cells:
            build_cell(cell, (input_shape[0], width))
            width = output_size(cell)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.output_size)

    def dropout_masks(self, batch, width, training):
        """Each gpunet cell's dropout masks for a sequence (None for a cell of your own), in order."""
        masks = []
        for cell in self.cells:
            masks.append(cell.dropout_masks(batch, width, training) if hasattr(cell, "dropout_masks") else None)
            width = output_size(cell)
        return masks

    def call(self, inputs, states, masks=None, training=None):
        new_states, at = [], 0
        masks = masks if masks is not None else [None] * len(self.cells)
        for cell, cell_masks in zip(self.cells, masks):
            count = len(flat_sizes(cell.state_size))
            inputs, new = cell_step(cell, inputs, list(states[at:at + count]), cell_masks, training)
            at += count
            new_states.extend(new)
        return inputs, new_states

    def get_config(self):
        from ..saving.config import to_plain
        from ..saving.registry import serialize_object
        config = super().get_config()
        config["cells"] = [to_plain(serialize_object(c), "cell") for c in self.cells]
        return config
