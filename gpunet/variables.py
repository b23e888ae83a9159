"""Keras 3's ``keras.Variable``: a weight made on its own, which a layer (or a subclassed model) takes as its
weight when assigned to one of its attributes in ``__init__`` or ``build``::

    class Scale(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.factor = keras.Variable(initializer=2.0, trainable=True, name="factor")

        def call(self, x):
            return x * self.factor

It trains, saves and loads as one `add_weight` makes; outside a layer it is a value with ``assign``,
``assign_add``, ``assign_sub``, ``numpy()`` and arithmetic.
"""
import itertools

from . import backend as B
from .layers.weight import Weight

_numbers = itertools.count()


class _Unowned:
    """The owner of a variable no layer has taken yet: where its values live, and no name."""

    name = ""
    trainable = True

    def __init__(self, ops):
        self.ops = ops


class Variable(Weight):
    """A variable of ``initializer`` (an array or number, or an initializer and a ``shape``), of ``dtype``
    (floatx by default); ``trainable``, ``name`` as Keras 3's (``autocast``, ``aggregation`` and
    ``synchronization`` are taken and mean nothing in gpunet)."""

    __slots__ = ()

    def __init__(self, initializer, shape=None, dtype=None, trainable=True, autocast=True, aggregation="none",
                 synchronization="auto", name=None):
        from . import initializers
        ops = B.get_backend()
        dtype = B.standardize_dtype(dtype)
        if isinstance(initializer, str) or (callable(initializer) and not hasattr(initializer, "shape")):
            if shape is None:
                raise ValueError(f"Variable: an initializer ({initializer!r}) needs a `shape`; received shape=None")
            value = ops.asarray(initializers.get(initializer)(tuple(shape), dtype=dtype), dtype=dtype)
        else:
            value = ops.asarray(getattr(initializer, "value", initializer), dtype=dtype)
            if shape is not None and tuple(shape) != tuple(value.shape):
                raise ValueError(f"Variable: initial value of shape {tuple(value.shape)} does not match shape="
                                 f"{tuple(shape)}")
            value = value.copy()
        if name is None:
            n = next(_numbers)
            name = f"variable_{n}" if n else "variable"
        super().__init__(_Unowned(ops), name, value, bool(trainable))

    @property
    def path(self):
        return f"{self.layer.name}/{self.name}" if self.layer.name else self.name

    def __repr__(self):
        return f"<Variable {self.path} shape={self.shape} trainable={self.trainable}>"


def adopt(owner, value):
    """``owner.<attribute> = value``: a `Variable` no layer holds yet becomes ``owner``'s weight."""
    if not isinstance(value, Variable) or not isinstance(value.layer, _Unowned):
        return
    if hasattr(owner, "_keep_own_weight"):  # a subclassed model: its own weights (models/own_weights.py)
        if getattr(owner, "_is_graph", False):
            raise NotImplementedError(f"Model '{owner.name}' is a functional model: its weights are its layers'.")
        value.layer = owner
        owner._keep_own_weight(value)
        return
    if "_weights" not in owner.__dict__:
        raise RuntimeError(f"{type(owner).__name__}: call super().__init__() before assigning a Variable to "
                           f"an attribute (it becomes the layer's weight then).")
    value.layer = owner
    owner._weights.append(value)
