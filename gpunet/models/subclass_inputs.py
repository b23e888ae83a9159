"""A subclassed model fed several arrays, as in Keras: ``model.fit([x_wide, x_deep], y)`` with a ``call``
that unpacks them (``input_a, input_b = inputs``: the Wide & Deep model of Hands-On Machine Learning).

The first call given a list or tuple of arrays (or ``build`` given a list of shapes) sets the model's
inputs, one per array, shaped as its rows; a dict of arrays (one entry or more) likewise, named by its
keys in sorted order (as Keras flattens a dict), and ``call`` then receives a dict; later calls must agree. The loops then take them packed side
by side, as a functional model's several inputs (models/functional_io.py: batching, shuffling,
validation, streaming are the single-input ones), and the model's call holder hands ``call`` the parts
again, in a list or a tuple as they came, on the tape and in the trace (models/call_trace.py) alike.
"""
from types import SimpleNamespace

from .. import backend as K
from ..backend.io_packing import layout_of
from .functional_io import MultiIOMixin, _arguments


class _Input:
    """What the packing reads of one input of a subclassed model: its shape and name (``input_1``, ...)."""

    def __init__(self, name, shape):
        self.shape, self.node = shape, SimpleNamespace(layer=SimpleNamespace(name=name))


class SeveralInputsMixin(MultiIOMixin):
    """Several inputs for a subclassed model (see the module docstring); a functional model's are its graph's."""

    def _setup_inputs(self):
        self._inputs, self._outputs = [_Input("input_1", None)], [_Input("output_1", None)]
        self._in_layout = self._out_layout = self._in_kind = None

    @property
    def _multi_in(self):
        return len(self._inputs) > 1 or getattr(self, "_in_kind", None) is dict  # (a dict of one: still a dict)

    def _take_inputs(self, x):
        """Set the inputs from ``x``, a list or tuple of arrays or a dict of them, where the model is not
        built yet."""
        if getattr(self, "_is_graph", False) or self._layers:
            return
        if isinstance(x, dict) and x and all(isinstance(k, str) for k in x):
            names = sorted(x)
            arrays = [x[k] for k in names]
        elif isinstance(x, (list, tuple)) and len(x) >= 2:
            names, arrays = None, list(x)
        else:
            return
        if all(len(getattr(a, "shape", ())) >= 1 for a in arrays):
            self._take_shapes([(None,) + tuple(a.shape[1:]) for a in arrays], type(x) if names is None else dict,
                              names)

    def _take_shapes(self, shapes, kind, names=None):
        names = names or [f"input_{k + 1}" for k in range(len(shapes))]
        self._inputs = [_Input(name, tuple(s)) for name, s in zip(names, shapes)]
        self._in_layout, self._in_kind = layout_of([s[1:] for s in shapes]), kind

    def _pack_call(self, method, args, kwargs, targets=True):
        self._take_inputs(_arguments(method, args, kwargs).get("x"))
        return super()._pack_call(method, args, kwargs, targets)

    def _pack_x(self, x):
        self._take_inputs(x)
        return super()._pack_x(x)

    def _data_input_shape(self):
        """The shape of the x the loops see: several inputs come packed side by side (a functional model's
        too: this serves both)."""
        return (None, self._in_layout[-1][0] + self._in_layout[-1][1]) if self._in_layout else self.input_shape

    def _call_arguments(self, x):
        """What ``call`` receives for the (packed) tensor ``x``: itself, or its parts as they came."""
        if not self._in_layout:
            return x
        parts = [x[:, offset:offset + width] if len(shape) == 1 else K.reshape(x[:, offset:offset + width], (-1,) + shape)
                 for offset, width, shape in self._in_layout]
        if self._in_kind is dict:
            return dict(zip(self.input_names, parts))
        return self._in_kind(parts)
