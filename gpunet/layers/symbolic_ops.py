"""Tensor ops on symbolic tensors: ``x = Input((8,)); y = K.square(Dense(4)(x)) * 2`` records the ops
as layers of the graph, as tf.keras 2 does (its ``TFOpLambda`` layers).

`gpunet.ops` functions, their ``K.*`` names, the function forms of the losses and metrics and the
arithmetic operators of a `KerasTensor` come here when an argument is symbolic (symbolic.py's
`accepts_symbolic`).
The call becomes an `OpLayer`: a layer whose ``call`` runs the op on the tape with the other
arguments as they were given, so its gradient comes from the tape. Its output shape is found by
running it on small probes. Configs hold it as tf.keras 2 writes it, a ``TFOpLambda`` naming a TensorFlow
function, for the ops in saving/op_layers.py's table; for another op, saving says which and how to
wrap it in a ``Lambda`` of a named function instead.
"""
import warnings

from .. import backend as B
from ..autodiff import Tensor
from .base import Layer
from .naming import unique_name
from .symbolic import KerasTensor, call_layer, probing


class Slot:
    """Where the k-th symbolic tensor goes among an op's arguments (saving/op_layers.py writes and reads them)."""

    def __init__(self, index):
        self.index = index


def _template(value, tensors):
    """``value`` with each KerasTensor replaced by a `Slot` (the tensor appended to ``tensors``)."""
    if isinstance(value, KerasTensor):
        tensors.append(value)
        return Slot(len(tensors) - 1)
    if isinstance(value, (list, tuple)) and any(isinstance(v, KerasTensor) for v in value):
        return type(value)(_template(v, tensors) for v in value)
    return value


def filled(value, arrays):
    """``value`` with each `Slot` replaced by its entry of ``arrays``."""
    if isinstance(value, Slot):
        return arrays[value.index]
    if isinstance(value, (list, tuple)):
        return type(value)(filled(v, arrays) for v in value)
    return value


def apply(fn, args, kwargs, name=None):
    """Record ``fn(*args, **kwargs)`` (some arguments symbolic) as an `OpLayer` call, the layer named after ``name``
    (numbered if taken; ``ops.<fn>`` by default)."""
    tensors = []
    args = [_template(a, tensors) for a in args]
    kwargs = {k: _template(v, tensors) for k, v in kwargs.items()}
    layer = OpLayer(fn, args, kwargs, name=unique_name(name or f"ops.{fn.__name__}"))
    return call_layer(layer, tensors if len(tensors) > 1 else tensors[0])


class OpLayer(Layer):
    """One op of `gpunet.ops` on symbolic tensors, as a layer of the functional graph (see the module
    docstring); ``args``/``kwargs`` hold the op's other arguments, `Slot` where a tensor goes."""

    def __init__(self, function, args, kwargs, **layer_kwargs):
        super().__init__(**layer_kwargs)
        self.function, self.args, self.kwargs = function, args, kwargs

    def call(self, inputs):
        arrays = list(inputs) if isinstance(inputs, list) else [inputs]
        return self.function(*[filled(a, arrays) for a in self.args],
                             **{k: filled(v, arrays) for k, v in self.kwargs.items()})

    @property
    def _several_outputs(self):  # (an op giving a list or tuple: ops.split, top_k, moments...)
        return self.__dict__.get("_outputs", 0) > 0

    def compute_output_shape(self, input_shape):
        """Run the op on probes of two sizes: an axis whose size follows the unknown sizes' is unknown
        (None), so a reduction over the batch (``K.mean(x)``: a scalar) keeps no batch axis. An op giving
        several tensors (``a, b = ops.split(x, 2, axis=-1)``) gives their shapes, a list."""
        several = isinstance(input_shape, list)
        shapes = input_shape if several else [input_shape]
        outs = [self._probe(shapes, n) for n in (2, 3)]
        lists = [o for o in outs if isinstance(o, list)]
        if lists:
            if len(lists) != 2 or len(outs[0]) != len(outs[1]):
                raise ValueError(f"Layer '{self.name}': the op's number of outputs depends on the batch size.")
            self._outputs = len(outs[0])
            return [self._settled(a, b) for a, b in zip(*outs)]
        return self._settled(*outs)

    def _settled(self, small, large):
        if len(small) != len(large):
            raise ValueError(f"Layer '{self.name}': the op's output rank depends on the batch size.")
        return tuple(a if a == b else None for a, b in zip(small, large))

    def _probe(self, shapes, n):
        ops = self.ops
        probes = [Tensor(ops.ones(tuple((n if i == 0 else n + 2) if d is None else d for i, d in enumerate(s)),
                                  self.dtype)) for s in shapes]
        from . import added_losses
        with B.use_backend(ops), warnings.catch_warnings(), added_losses.collecting(), probing():
            warnings.simplefilter("ignore", RuntimeWarning)
            out = self.call(probes if len(probes) > 1 else probes[0])
        if isinstance(out, (tuple, list)):  # (several outputs: their shapes)
            return [tuple(getattr(o, "shape", ())) for o in out]
        return tuple(getattr(out, "shape", ()))

    def get_config(self):
        """tf.keras 2's ``TFOpLambda`` config (saving/op_layers.py); NotImplementedError for an op it has not."""
        from ..saving.op_layers import op_config
        return op_config(self)


def _operator(fn, reflected=False):
    def method(self, other):
        return apply(fn, [other, self] if reflected else [self, other], {})
    return method


def install_operators():
    """Give `KerasTensor` Python's arithmetic operators (``2 * x``, ``x[:, 0]``, ``-x``): each records an op."""
    from ..autodiff import elementwise as E, shape_ops as S
    for name, fn in (("add", E.add), ("sub", E.subtract), ("mul", E.multiply), ("truediv", E.divide),
                     ("pow", E.power), ("matmul", S.matmul)):
        setattr(KerasTensor, f"__{name}__", _operator(fn))
        setattr(KerasTensor, f"__r{name}__", _operator(fn, reflected=True))
    KerasTensor.__neg__ = lambda self: apply(E.negative, [self], {})
    KerasTensor.__abs__ = lambda self: apply(E.abs, [self], {})
    KerasTensor.__getitem__ = lambda self, key: apply(S.getitem, [self, key], {})
    KerasTensor.__array_ufunc__ = None  # numpy scalars on the left defer to the reflected operator
