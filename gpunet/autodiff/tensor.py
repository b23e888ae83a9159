"""`Tensor`: a backend array that remembers how it was computed, when a gradient is wanted.

A tensor made with ``requires_grad=True`` is a leaf of the tape; every op applied to
it returns a tensor holding its parents and one vector-Jacobian product per parent
(see tape.py). A tensor that needs no gradient holds no parents, so code run without
a gradient (predict, evaluate) records nothing.
"""
from .. import backend as B


class Operators:
    """Python's operators and a few array attributes, for any object `lift` accepts
    (`Tensor` and, through it, a layer's `Weight`): ``x + y``, ``x @ w``, ``-x``, ``x[i]``."""

    __slots__ = ()

    def __add__(self, other):
        return _math().add(self, other)

    def __radd__(self, other):
        return _math().add(other, self)

    def __sub__(self, other):
        return _math().subtract(self, other)

    def __rsub__(self, other):
        return _math().subtract(other, self)

    def __mul__(self, other):
        return _math().multiply(self, other)

    def __rmul__(self, other):
        return _math().multiply(other, self)

    def __truediv__(self, other):
        return _math().divide(self, other)

    def __rtruediv__(self, other):
        return _math().divide(other, self)

    def __pow__(self, other):
        return _math().power(self, other)

    def __rpow__(self, other):
        return _math().power(other, self)

    def __matmul__(self, other):
        return _shape().matmul(self, other)

    def __rmatmul__(self, other):
        return _shape().matmul(other, self)

    def __neg__(self):
        return _math().negative(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _math().abs(self)

    def __getitem__(self, index):
        return _shape().getitem(self, index)

    # Comparisons give constant boolean tensors (no gradient), as in TensorFlow.
    def __lt__(self, other):
        return _math().less(self, other)

    def __le__(self, other):
        return _math().less_equal(self, other)

    def __gt__(self, other):
        return _math().greater(self, other)

    def __ge__(self, other):
        return _math().greater_equal(self, other)

    @property
    def T(self):
        return _shape().transpose(self)

    @property
    def ndim(self):
        return len(self.shape)


def _math():
    from . import elementwise
    return elementwise


def _shape():
    from . import shape_ops
    return shape_ops


class Tensor(Operators):
    """A backend array (``data``) plus, when it needs a gradient, its place on the tape.

    ``Tensor(x, requires_grad=True)`` starts a tape; `gpunet.autodiff.gradients` runs it
    backwards. ``numpy()`` (or ``float(t)`` for one value) gives host values.
    """

    # _keras_mask: the mask an Embedding(mask_zero=True) or Masking layer called inside a call() put on its
    # output (as on tf.keras's tensors), handed from layer to layer by layers/masking.py's rules
    __slots__ = ("data", "requires_grad", "parents", "_keras_mask", "__weakref__")
    __array_priority__ = 1000  # numpy_array + tensor calls Tensor.__radd__, not NumPy's broadcasting

    def __init__(self, data, requires_grad=False, parents=()):
        self.data = data
        self.requires_grad = bool(requires_grad)
        #: ``((parent, vjp), ...)``: ``vjp(g)`` is the gradient for ``parent`` given this tensor's ``g``.
        self.parents = parents
        self._keras_mask = None

    @property
    def shape(self):
        return tuple(self.data.shape)

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def size(self):
        return self.data.size

    def __len__(self):
        return len(self.data)

    def numpy(self):
        """The values as a NumPy array (a copy from the GPU)."""
        getter = getattr(self.data, "get", None)  # CuPy's device-to-host copy; NumPy arrays have none
        return getter() if callable(getter) else self.data

    def __array__(self, dtype=None, copy=None):
        host = self.numpy()
        return host if dtype is None else host.astype(dtype)

    def __float__(self):
        return float(self.data)

    def __int__(self):
        return int(self.data)

    def __bool__(self):
        return bool(self.data)

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({self.data!r}{grad})"

    # == and != compare elementwise, as TensorFlow 2's tensors do (the Keras guide's metric writes
    # ``K.cast(y_true, "int32") == K.cast(y_pred, "int32")``). A layer's Weight keeps Python's
    # identity comparison: weights are looked up in lists.
    def __eq__(self, other):
        return _math().equal(self, other)

    def __ne__(self, other):
        return _math().not_equal(self, other)

    __hash__ = object.__hash__  # comparisons return tensors, so identity hashing


def is_tensor(x):
    """True for a `Tensor` or a layer weight (which becomes one inside a layer's ``call``)."""
    return isinstance(x, Operators)


def lift(x, dtype=None):
    """``x`` as a `Tensor`: tensors as they are, a layer's `Weight` as its tape tensor (or a
    constant outside ``call``), anything else as a constant backend array (Python numbers
    and lists of them in floatx, as Keras's constants)."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, Operators):  # a Weight
        tensor = getattr(x, "tensor", None)
        return tensor if tensor is not None else Tensor(x.value)
    ops = B.get_backend()
    if isinstance(x, (bool, int, float)):
        return Tensor(ops.asarray(x, dtype=dtype or B.floatx()))
    arr = ops.asarray(x)
    if dtype is not None and arr.dtype != dtype:
        arr = arr.astype(dtype)
    elif arr.dtype.kind in "iub" and dtype is None and not hasattr(x, "dtype"):
        arr = arr.astype(B.floatx())  # Python lists of numbers: floatx, as Keras's constants
    return Tensor(arr)


def value_of(x):
    """The backend array of a tensor or weight; other values unchanged."""
    if isinstance(x, Tensor):
        return x.data
    if isinstance(x, Operators):
        return x.value
    return x


def raw(x):
    """An operand for an array expression: a tensor's array, or a Python number as it is."""
    if isinstance(x, (bool, int, float)):
        return x
    return lift(x).data


def result(data, *parents):
    """A new tensor for ``data`` computed from ``parents`` = ``(operand, vjp)`` pairs; only
    operands that need a gradient are recorded (none: a constant, nothing kept alive)."""
    kept = tuple((p, fn) for p, fn in parents if isinstance(p, Tensor) and p.requires_grad)
    return Tensor(data, bool(kept), kept)


def unbroadcast(g, shape):
    """``g`` summed back to ``shape`` over the axes broadcasting added or stretched."""
    if tuple(g.shape) == tuple(shape):
        return g
    extra = g.ndim - len(shape)
    if extra:
        g = g.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if stretched:
        g = g.sum(axis=stretched, keepdims=True)
    return g.reshape(shape)
