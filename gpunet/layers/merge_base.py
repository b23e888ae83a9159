"""`_Merge`: the base of Keras 2's merge layers (merge.py, merge_concat.py, merge_dot.py), with the
multi-input interface the functional engine relies on (see merge.py's docstring)."""
import operator

from ..autodiff.tensor import is_tensor
from ..backend.phase_functions import default_training
from .base import Layer


def _shape_text(shapes):
    return "[" + ", ".join(str(tuple(s)) for s in shapes) + "]"


class _Merge(Layer):
    """Base of the merge layers (tf.keras's ``_Merge``): several inputs in, one output out.

    Subclasses define ``_merge(xs)`` (the output for inputs of equal rank, broadcasting as NumPy)
    and ``_gradients(dy)`` (one gradient per input, possibly in the broadcast shape: the base
    class sums them back). ``_min_inputs``/``_max_inputs`` bound the number of inputs.
    """

    _multi_input = True
    supports_masking = True
    _min_inputs = 1  # tf.keras 2.21 accepts a single input (the layer is then an identity)
    _max_inputs = None
    _keeps_inputs = True  # whether backward needs the input values (not only their shapes)

    # ---- shapes ------------------------------------------------------------------------
    def _what(self):
        return f"layer '{self.name}' ({type(self).__name__})"

    def _shape_list(self, input_shape):
        """``input_shape`` as a list of tuples, or the tf.keras error for anything else."""
        if not isinstance(input_shape, (list, tuple)) or not all(isinstance(s, (list, tuple)) for s in input_shape):
            raise ValueError(f"A merge layer should be called on a list of inputs. Received: input_shape="
                             f"{input_shape!r} (not a list of shapes) in {self._what()}.")
        if not input_shape:
            raise ValueError(f"A merge layer should be called on a list of at least {self._min_inputs} input"
                             f"{'s' if self._min_inputs > 1 else ''}. Got 0 inputs in {self._what()}.")
        return [tuple(None if d is None else operator.index(d) for d in s) for s in input_shape]

    def _check_count(self, shapes):
        n, low, high = len(shapes), self._min_inputs, self._max_inputs
        if n < low or (high is not None and n > high):
            want = f"exactly {low}" if low == high else f"at least {low}"
            raise ValueError(f"A `{type(self).__name__}` layer should be called on {want} inputs. Received: "
                             f"input_shape={_shape_text(shapes)} ({n} inputs) in {self._what()}.")

    def _check_batch(self, shapes):
        batch_sizes = {s[0] for s in shapes if s} - {None}
        if len(batch_sizes) > 1:
            raise ValueError(f"Cannot merge tensors with different batch sizes. Got tensors with shapes "
                             f"{_shape_text(shapes)} in {self._what()}.")

    def _elemwise_shape(self, shape1, shape2):
        """tf.keras's ``_compute_elemwise_op_output_shape``: NumPy broadcasting of two shapes (batch
        axis left out) aligned to the right, None where either dimension is unknown."""
        if len(shape1) < len(shape2):
            shape1, shape2 = shape2, shape1
        if not shape2:
            return tuple(shape1)
        out = list(shape1[:len(shape1) - len(shape2)])
        for i, j in zip(shape1[len(shape1) - len(shape2):], shape2):
            if i is None or j is None:
                out.append(None)
            elif i == 1 or j == 1:
                out.append(j if i == 1 else i)
            elif i != j:
                raise ValueError(f"Inputs have incompatible shapes. Received shapes {tuple(shape1)} and "
                                 f"{tuple(shape2)} (batch axis left out) in {self._what()}: each dimension must "
                                 f"match or be 1 (shapes align to the right).")
            else:
                out.append(i)
        return tuple(out)

    def _validate(self, shapes):
        """The output shape for the input ``shapes`` (a list of tuples), raising tf.keras's errors."""
        self._check_batch(shapes)
        body = shapes[0][1:]
        for s in shapes[1:]:
            body = self._elemwise_shape(body, s[1:])
        self._check_count(shapes)
        batch_sizes = {s[0] for s in shapes} - {None}
        return (batch_sizes.pop() if len(batch_sizes) == 1 else None,) + body

    def build(self, input_shape):
        """Check the list of input shapes as tf.keras does and record it (``input_shape`` is a list)."""
        shapes = self._shape_list(input_shape)
        self.output_shape = self._validate(shapes)
        self.input_shape = shapes
        self.built = True

    def compute_output_shape(self, input_shape):
        """One output shape tuple for a list of input shape tuples."""
        return self._validate(self._shape_list(input_shape))

    # ---- running -----------------------------------------------------------------------
    def __call__(self, inputs, training=None):
        """Apply the layer to a list of arrays (building it on first use); returns a backend array.
        A list holding symbolic tensors of the functional API goes to `Layer.__call__`."""
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"A merge layer should be called on a list of inputs. Received: inputs of type "
                             f"{type(inputs).__name__} (not a list of tensors) in {self._what()}.")
        if any(hasattr(x, "_keras_history") for x in inputs):
            # Functional API: the engine (models/functional.py) records the node on symbolic inputs.
            return super().__call__(inputs, training)
        if any(is_tensor(x) for x in inputs):  # inside a layer's or a subclassed model's call()
            from .sublayers import merge_on_tape
            return merge_on_tape(self, inputs, training)
        xs = [self.ops.asarray(x) for x in inputs]
        if not self.built:
            self.build([(None,) + tuple(x.shape[1:]) for x in xs])
        training = default_training(training)  # (K.set_learning_phase's, if set)
        return self.ops.eager(self.forward(xs, training))  # (with tf.keras 2's .numpy())

    def _check_inputs(self, xs):
        """``xs`` as a list of arrays with a batch axis, as many as the layer was built for; returns
        the output shape (the shapes are checked as build checks them)."""
        if not isinstance(xs, (list, tuple)):
            raise ValueError(f"A merge layer should be called on a list of inputs. Received: inputs of type "
                             f"{type(xs).__name__} (not a list of tensors) in {self._what()}.")
        if any(x.ndim == 0 for x in xs):
            raise ValueError(f"{self._what()} needs inputs with a batch axis, received shapes "
                             f"{_shape_text(x.shape for x in xs)}.")
        if self.built and len(xs) != len(self.input_shape):
            raise ValueError(f"{self._what()} was built for {len(self.input_shape)} inputs "
                             f"{_shape_text(self.input_shape)}, received {len(xs)}.")
        return self._validate(self._shape_list([tuple(x.shape) for x in xs]))

    def forward(self, xs, training=False):
        """The merged output of the list of arrays ``xs``."""
        out_shape = self._check_inputs(xs)
        self._in_shapes = [tuple(x.shape) for x in xs]
        self._dtypes = [x.dtype for x in xs]
        rank = len(out_shape)
        # tf.keras's reshape for inputs of lower rank: size-1 axes right after the batch axis
        xs = [x if x.ndim == rank else x.reshape(x.shape[:1] + (1,) * (rank - x.ndim) + x.shape[1:]) for x in xs]
        self._shapes = [tuple(x.shape) for x in xs]
        y = self._merge(xs)
        self._xs = xs if self._keeps_inputs else None
        return y

    def backward(self, dy, need_dx=True):
        """One gradient per input (input shapes and dtypes), each a fresh array; Nones without ``need_dx``."""
        if not need_dx:
            return [None] * len(self._in_shapes)
        out = []
        for g, shape, full, dtype in zip(self._gradients(dy), self._in_shapes, self._shapes, self._dtypes):
            g = self.ops.sum_to_shape(g, full)
            if g is dy:
                g = self.ops.copy(g)  # the gradients must not alias each other or dy
            if g.dtype != dtype:  # mixed input dtypes: the output took NumPy's promoted type
                g = g.astype(dtype)
            out.append(g.reshape(shape))
        return out

    def _merge(self, xs):
        raise NotImplementedError

    def _gradients(self, dy):
        raise NotImplementedError

    def compute_mask(self, inputs, mask=None):
        """tf.keras's: the elementwise AND of the inputs' masks (None where no input has one)."""
        if mask is None:
            return None
        if not isinstance(mask, (list, tuple)) or not isinstance(inputs, (list, tuple)) or len(mask) != len(inputs):
            raise ValueError(f"{self._what()} expects `inputs` and `mask` as lists of the same length. Received: "
                             f"{type(inputs).__name__} and {type(mask).__name__} mask.")
        masks = [m for m in mask if m is not None]
        if not masks:
            return None
        out = masks[0]
        for m in masks[1:]:
            out = out & m
        return out
