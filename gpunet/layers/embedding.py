"""Keras 2's `Embedding` (``keras.layers.Embedding``): integer indices to dense vectors.

``Embedding(10000, 8, input_length=20)`` turns a batch of index sequences ``(batch, 20)`` into
``(batch, 20, 8)``: row ``i`` of the ``embeddings`` weight, shape ``(input_dim, output_dim)``, for
each index ``i``. tf.keras 2.21's semantics and config (``input_length`` sets the input shape
``(None, input_length)``, ``(None, None)`` without it); Keras 3's config (no ``input_length``) loads too.

Indices may come as integers or as integer-valued floats (fit and predict hand inputs over in the
first layer's dtype); anything else, or an index outside ``[0, input_dim)``, is a ValueError naming
the value and where it is (tf.keras on the CPU refuses out-of-range indices too, but truncates 1.5
to 1; gpunet refuses it). Where the layer is a model's first, fit, evaluate and predict check
their whole x once, before the first batch (layers/model_input.py): no batch trains before a bad
index fails the call, and the batches skip the check (a reduction, and on a GPU a sync, each); the
position named is then the value's in x. The weight's gradient is dense, summed over repeated
indices, as Keras 3's; tf.keras 2.21 hands its optimizers sparse slices, which they apply to the
same effect (duplicates summed first, every row's slots decayed).

``mask_zero=True`` makes index 0 padding: the layer then emits a mask that the next layers of the
Sequential see as Keras 2 lets them (layers/masking.py). Train layer by layer: the fused plans run
Dense stacks only.
"""
import numbers

from .. import constraints, regularizers
from . import model_input
from .base import Layer
from .core import _serialize_constraint, _serialize_init

# The largest integer each dtype holds exactly: fit converts the index sequences to the layer's dtype.
_EXACT_INTEGERS = {"float16": 2 ** 11, "float32": 2 ** 24, "float64": 2 ** 53}


def _positive(value, name):
    """Keras 3's check and message (tf.keras 2 says "Both `input_dim` and `output_dim` should be positive");
    NumPy integers pass (``np.max(x) + 1`` is a common vocabulary size)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r} "
                         f"(of type {type(value).__name__}).")
    return int(value)


class Embedding(Layer):
    """Looks up a dense vector of ``output_dim`` values for each integer index in ``[0, input_dim)``.

    Example (Deep Learning with Python's IMDB model)::

        model = Sequential()
        model.add(Embedding(10000, 8, input_length=20))
        model.add(Flatten())
        model.add(Dense(1, activation="sigmoid"))

    Args: ``embeddings_initializer`` (default ``"uniform"``: uniform in [-0.05, 0.05]),
    ``embeddings_regularizer``, ``activity_regularizer``, ``embeddings_constraint``, ``mask_zero``
    (index 0 is padding: later layers that support masks skip it), ``input_length`` (the sequence
    length, needed before a Flatten), ``weights`` (Keras's ``[matrix]`` to start from, e.g.
    pretrained word vectors) and the common layer arguments.
    """

    _binds_last_axis = "nothing"  # (a shared call may take other sizes: layers/symbolic.py)

    _mask_aware = True  # makes a mask (layers/masking.py)

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", embeddings_regularizer=None,
                 activity_regularizer=None, embeddings_constraint=None, mask_zero=False, input_length=None,
                 weights=None, **kwargs):
        if not any(kwargs.get(k) is not None for k in ("input_shape", "batch_input_shape", "batch_shape")):
            lengths = tuple(input_length) if isinstance(input_length, (list, tuple)) else (input_length or None,)
            kwargs["input_shape"] = lengths  # tf.keras 2: the model is built at once, (None, None) if unknown
        super().__init__(**kwargs)
        self.input_dim = _positive(input_dim, "input_dim")
        self.output_dim = _positive(output_dim, "output_dim")
        if self.input_dim - 1 > _EXACT_INTEGERS[self.dtype]:
            raise ValueError(f"Embedding layer '{self.name}' of dtype {self.dtype} cannot receive indices up to "
                             f"{self.input_dim - 1}: fit and predict pass the inputs in the layer's dtype, which "
                             f"holds integers exactly up to {_EXACT_INTEGERS[self.dtype]}. Use dtype='float64'.")
        from .. import initializers
        initializers.get(embeddings_initializer)  # a bad name fails here, not at build
        self.embeddings_initializer = embeddings_initializer
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.embeddings_constraint = constraints.get(embeddings_constraint)
        self.mask_zero = bool(mask_zero)
        self.supports_masking = self.mask_zero  # tf.keras 2's attribute
        self.input_length = list(input_length) if isinstance(input_length, tuple) else input_length
        self._initial_weights = weights
        self.embeddings = None

    def build(self, input_shape):
        self.embeddings = self.add_weight(name="embeddings", shape=(self.input_dim, self.output_dim),
                                          initializer=self.embeddings_initializer,
                                          regularizer=self.embeddings_regularizer,
                                          constraint=self.embeddings_constraint)
        super().build(input_shape)
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if self.input_length is None:
            return input_shape + (self.output_dim,)
        lengths = list(self.input_length) if isinstance(self.input_length, list) else [self.input_length]
        if len(lengths) != len(input_shape) - 1 or any(
                a is not None and b is not None and a != b for a, b in zip(lengths, input_shape[1:])):
            raise ValueError(f'"input_length" is {self.input_length}, but received input has shape {input_shape}')
        return (input_shape[0],) + tuple(b if a is None else a for a, b in zip(lengths, input_shape[1:])) + \
            (self.output_dim,)

    def compute_mask(self, inputs, mask=None):
        """Keras's mask for ``inputs``: True where the index is not 0; None without ``mask_zero``."""
        return (inputs != 0) if self.mask_zero else None

    def check_model_input(self, ops, x):
        """Raise the ValueError a batch of ``x`` would raise in `forward`, for the whole of a model's
        input at once (``ops``: the backend ``x`` lives on). fit, evaluate and predict call this once
        where this layer is the model's first (layers/model_input.py); their batches then skip the
        per-batch check, a reduction and, on a GPU, a sync each."""
        ops.check_indices(x, self.input_dim, self._what())

    def _what(self):
        return f"Embedding layer '{self.name}'"

    def __call__(self, *args, **kwargs):
        # a direct call's x was checked by no fit/evaluate/predict, even one running (a callback's call)
        with model_input.trusting(None):
            return super().__call__(*args, **kwargs)

    def forward(self, x, training=False, mask=None):
        if model_input.is_checked(self):  # the running fit/evaluate/predict checked all of its x
            self._ids = self.ops.to_indices(x)
        else:
            self._ids = self.ops.as_indices(x, self.input_dim, self._what())
        self._x_shape, self._x_dtype = x.shape, x.dtype
        return self.ops.take(self.embeddings.value, self._ids)

    def backward(self, dy, need_dx=True):
        grad = self.embeddings.grad
        if grad is not None:
            grad[...] = 0
            self.ops.scatter_add_rows(grad, self._ids, dy)
        if not need_dx:
            return None
        # indices have no gradient (Keras gives None); zeros let a layer before this one run its backward
        return self.ops.zeros(self._x_shape, self._x_dtype if self._x_dtype.kind == "f" else self.dtype)

    def get_config(self):
        config = super().get_config()
        config.update({
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": _serialize_init(self.embeddings_initializer),
            "embeddings_regularizer": regularizers.serialize(self.embeddings_regularizer),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "embeddings_constraint": _serialize_constraint(self.embeddings_constraint),
            "mask_zero": self.mask_zero,
            "input_length": self.input_length,
        })
        return config
