"""A subclassed model fed several arrays, as in Keras: ``model.fit([x_wide, x_deep], y)`` with a ``call``
that unpacks them (``input_a, input_b = inputs``: the Wide & Deep model of Hands-On Machine Learning).

The first call given a list or tuple of arrays (or ``build`` given a list of shapes) sets the model's
inputs, one per array, shaped as its rows; later calls must agree. The loops then take them packed side
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

    def _take_inputs(self, x):
        """Set the inputs from ``x``, a list or tuple of arrays, where the model is not built yet."""
        if (getattr(self, "_is_graph", False) or self._layers or not isinstance(x, (list, tuple)) or len(x) < 2
                or not all(len(getattr(a, "shape", ())) >= 1 for a in x)):
            return
        self._take_shapes([(None,) + tuple(a.shape[1:]) for a in x], type(x))

    def _take_shapes(self, shapes, kind):
        self._inputs = [_Input(f"input_{k + 1}", tuple(s)) for k, s in enumerate(shapes)]
        self._in_layout, self._in_kind = layout_of([s[1:] for s in shapes]), kind

    def _pack_call(self, method, args, kwargs, targets=True):
        self._take_inputs(_arguments(method, args, kwargs).get("x"))
        return super()._pack_call(method, args, kwargs, targets)

    def _pack_x(self, x):
        self._take_inputs(x)
        return super()._pack_x(x)

    def _data_input_shape(self):
        return (None, self._in_layout[-1][0] + self._in_layout[-1][1]) if self._in_layout else self.input_shape

    def _call_arguments(self, x):
        """What ``call`` receives for the (packed) tensor ``x``: itself, or its parts as they came."""
        if not self._in_layout:
            return x
        parts = [x[:, offset:offset + width] if len(shape) == 1 else K.reshape(x[:, offset:offset + width], (-1,) + shape)
                 for offset, width, shape in self._in_layout]
        return self._in_kind(parts)
