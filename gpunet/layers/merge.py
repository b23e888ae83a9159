"""Keras 2's merge layers (``keras.layers.merge``): gpunet's first layers with several inputs.

`Add`, `Subtract`, `Multiply`, `Average`, `Maximum` and `Minimum` combine their inputs element by
element, `Concatenate` (merge_concat.py) joins them along an axis and `Dot` (merge_dot.py) takes
per-sample dot products; ``add``, ``subtract``, ... are tf.keras's functional forms (``add([a, b])``
is ``Add()([a, b])``). Names, defaults, configs, output shapes and error conditions are tf.keras
2.21's.

The multi-input interface (what the functional engine relies on):

* ``_multi_input = True`` marks the class;
* ``build(input_shape)`` takes a list of shape tuples (batch axis first, None allowed) and sets
  ``input_shape`` to that list and ``output_shape`` to `compute_output_shape` of it;
* ``forward(xs, training)`` maps a list of backend arrays to one array; ``backward(dy, need_dx)``
  returns a list with one gradient per input, shaped and typed as that input (a list of None
  when ``need_dx`` is false: merge layers have no weights). Each gradient is a fresh array that
  aliases neither ``dy`` nor another input's gradient, so callers may accumulate into it in place;
* called on a list of arrays (``Add()([a, b])``) a merge layer builds from their shapes (batch
  None) and returns ``forward``'s result; on a list holding symbolic tensors (anything with
  ``_keras_history``) it defers to `Layer.__call__`, which builds the functional graph.

Broadcasting, as tf.keras 2's ``_Merge``: shapes after the batch axis combine by NumPy's rules
aligned to the right, so ``(None, 4)`` adds to ``(None, 1)`` and to ``(None, 3, 4)`` (tf.keras
inserts the missing axes right after the batch axis); gradients are summed back to each input's
shape. The batch sizes must agree (no broadcasting along the batch axis, as in tf.keras).
"""
from .merge_base import _Merge
# Keras 2's keras.layers.merge holds Concatenate and Dot too
from .merge_concat import Concatenate, concatenate
from .merge_dot import Dot, dot


class Add(_Merge):
    """Adds a list of inputs element by element: ``Add()([x1, x2])`` is ``x1 + x2``. The inputs
    have the same shape (or shapes that broadcast), and so has the output."""

    _keeps_inputs = False

    def _merge(self, xs):
        y = xs[0] if len(xs) > 1 else self.ops.copy(xs[0])  # never hand the input itself on
        for x in xs[1:]:
            y = self.ops.add(y, x)
        return y

    def _gradients(self, dy):
        return [dy] * len(self._shapes)


class Subtract(_Merge):
    """Subtracts two inputs: ``Subtract()([x1, x2])`` is ``x1 - x2`` (exactly two inputs)."""

    _min_inputs = _max_inputs = 2
    _keeps_inputs = False

    def _merge(self, xs):
        return xs[0] - xs[1]

    def _gradients(self, dy):
        return [dy, -dy]


class Multiply(_Merge):
    """Multiplies a list of inputs element by element: ``Multiply()([x1, x2])`` is ``x1 * x2``."""

    def _merge(self, xs):
        y = xs[0] if len(xs) > 1 else self.ops.copy(xs[0])
        for x in xs[1:]:
            y = self.ops.multiply(y, x)
        return y

    def _gradients(self, dy):
        # d/dx_i = dy * (product of the other inputs): prefix and suffix products, no division
        # (an input holding zeros must still get its gradient)
        xs, n = self._xs, len(self._xs)
        suffix = [None] * n
        for i in range(n - 2, -1, -1):
            suffix[i] = xs[i + 1] if suffix[i + 1] is None else xs[i + 1] * suffix[i + 1]
        grads, prefix = [], None
        for i in range(n):
            g = dy if prefix is None else dy * prefix
            grads.append(g if suffix[i] is None else g * suffix[i])
            prefix = xs[i] if prefix is None else prefix * xs[i]
        return grads


class Average(_Merge):
    """The element-wise mean of a list of inputs: ``(x1 + x2 + ...) / n``, as tf.keras computes it."""

    _keeps_inputs = False

    def _merge(self, xs):
        y = xs[0]
        for x in xs[1:]:
            y = self.ops.add(y, x)
        return y / len(xs)

    def _gradients(self, dy):
        return [dy / len(self._shapes) for _ in self._shapes]


class _Extremum(_Merge):
    """`Maximum` and `Minimum`: the extremum over the inputs, element by element.

    The gradient of each element goes to the first input (in list order) holding the extremum,
    which is TensorFlow's rule for tf.keras's chain ``max(max(x1, x2), x3)``: ``tf.maximum``'s
    gradient goes to its first argument where ``x >= y`` (``tf.minimum``'s where ``x <= y``), so
    ties go to the earlier input. Where the output is NaN no input gets a gradient.
    """

    def _merge(self, xs):
        pick = self.ops.maximum if self._is_max else self.ops.minimum
        y = xs[0] if len(xs) > 1 else self.ops.copy(xs[0])
        for x in xs[1:]:
            y = pick(y, x)
        self._y = y
        return y

    def _gradients(self, dy):
        grads, taken = [], None
        for x in self._xs:
            hit = x == self._y
            if taken is not None:
                hit = hit & ~taken
            taken = hit if taken is None else taken | hit
            grads.append(dy * hit)
        return grads


class Maximum(_Extremum):
    """The element-wise maximum of a list of inputs (ties: the gradient goes to the first)."""

    _is_max = True


class Minimum(_Extremum):
    """The element-wise minimum of a list of inputs (ties: the gradient goes to the first)."""

    _is_max = False


# ---- tf.keras's functional forms -------------------------------------------------------------
def add(inputs, **kwargs):
    """Functional form of `Add`: ``add([x1, x2])`` is ``Add()([x1, x2])``."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    """Functional form of `Subtract`: ``subtract([x1, x2])`` is ``Subtract()([x1, x2])``."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    """Functional form of `Multiply`."""
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    """Functional form of `Average`."""
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    """Functional form of `Maximum`."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    """Functional form of `Minimum`."""
    return Minimum(**kwargs)(inputs)


__all__ = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot", "add", "subtract",
           "multiply", "average", "maximum", "minimum", "concatenate", "dot"]
