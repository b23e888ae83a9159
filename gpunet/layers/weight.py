"""`Weight`: a layer's variable (its value, gradient buffer, regularizer and constraint)."""
from ..autodiff.tensor import Operators, value_of


class Weight(Operators):
    """A layer variable: its value, its gradient buffer and how it is trained.

    ``value`` may be a view into the model's flat parameter buffer, so it is
    always updated in place (`assign`), never rebound by user code. In a user
    layer's ``call`` a weight acts as a tensor (``inputs @ self.kernel``,
    ``K.dot(inputs, self.kernel)``): ``tensor`` is then its place on the tape.
    """

    __slots__ = ("name", "value", "grad", "trainable", "regularizer", "constraint", "layer", "tensor")

    def __init__(self, layer, name, value, trainable=True, regularizer=None, constraint=None):
        self.layer = layer
        self.name = name
        self.value = value
        self.grad = None
        self.trainable = trainable
        self.regularizer = regularizer
        self.constraint = constraint
        self.tensor = None

    @property
    def dtype(self):
        return self.value.dtype

    @property
    def path(self):
        """``layer_name/weight_name``: the key used for saving and optimizer slots."""
        return f"{self.layer.name}/{self.name}"

    @property
    def shape(self):
        return tuple(self.value.shape)

    def numpy(self):
        return self.layer.ops.to_host(self.value).copy()

    def assign(self, array):
        """Copy ``array`` (or a tensor's values: no gradient flows through) into the weight in place."""
        array = value_of(array)
        if not hasattr(array, "shape"):  # (a list or a number, as Keras takes them)
            array = self.layer.ops.asarray(array, dtype=self.value.dtype)
        shape = tuple(array.shape)
        if shape != self.shape:
            raise ValueError(f"Layer '{self.layer.name}' weight '{self.name}' has shape {self.shape}, "
                             f"received an array of shape {shape}.")
        self.value[...] = self.layer.ops.asarray(array, dtype=self.value.dtype)

    def assign_add(self, delta):
        """Add ``delta`` (an array, tensor or number) to the weight in place (Keras's variable method)."""
        self.value += self.layer.ops.asarray(value_of(delta), dtype=self.value.dtype)
        return self

    def assign_sub(self, delta):
        """Subtract ``delta`` from the weight in place."""
        self.value -= self.layer.ops.asarray(value_of(delta), dtype=self.value.dtype)
        return self

    def __repr__(self):
        return f"<Weight {self.path} shape={self.shape} trainable={self.trainable}>"
