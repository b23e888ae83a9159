"""Keras 2's `Dot` merge layer and its functional form ``dot`` (re-exported by merge.py, as Keras
2's ``keras.layers.merge`` holds them): per-sample dot products of two inputs along one axis each,
tf.keras 2.21's ``backend.batch_dot``, optionally of L2-normalized inputs (cosine similarity)."""
import math

from .merge_base import _Merge, _shape_text

_L2_EPSILON = 1e-12  # tf.linalg.l2_normalize's default, which tf.keras's Dot uses


class Dot(_Merge):
    """Dot product of two inputs per sample, along ``axes``.

    ``axes`` is one axis for both inputs or a pair ``(axis_of_x1, axis_of_x2)``; negative axes
    count from the end, axis 0 (the batch) is refused. The output holds the remaining axes of the
    first input, then those of the second: ``Dot(axes=1)`` of two ``(batch, n)`` inputs gives
    ``(batch, 1)``; ``Dot(axes=(1, 2))`` of ``(batch, 5, 2)`` and ``(batch, 2, 5)`` gives
    ``(batch, 2, 2)``. With ``normalize=True`` both inputs are first L2-normalized along their
    axis (``x / sqrt(max(sum(x**2), 1e-12))``, as ``tf.linalg.l2_normalize``), so the output is
    the cosine similarity.
    """

    _min_inputs = _max_inputs = 2

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(axes, int):  # tf.keras's checks and messages
            if not isinstance(axes, (list, tuple)):
                raise TypeError(f"Invalid type for argument `axes`: it should be a list or an int. Received: "
                                f"axes={axes}")
            if len(axes) != 2:
                raise ValueError(f"Invalid format for argument `axes`: it should contain two elements. Received: "
                                 f"axes={axes}")
            if not isinstance(axes[0], int) or not isinstance(axes[1], int):
                raise ValueError(f"Invalid format for argument `axes`: list elements should be integers. "
                                 f"Received: axes={axes}")
        self.axes = axes
        self.normalize = normalize

    def _axes_for(self, shapes):
        """``axes`` as two non-negative axes of inputs of ``shapes``, or tf.keras's error."""
        pair = (self.axes, self.axes) if isinstance(self.axes, int) else tuple(self.axes)
        axes = []
        for a, s in zip(pair, shapes):
            if not -len(s) <= a < len(s):
                raise ValueError(f"{self._what()}: axes={self.axes} is out of range for input shapes "
                                 f"{_shape_text(shapes)}.")
            axes.append(a % len(s))
        if 0 in axes:
            raise ValueError(f"Cannot perform batch_dot over axis 0 (axes={self.axes}) in {self._what()}: the "
                             f"batch axis. If your inputs are not batched, add a batch axis of size 1.")
        return axes

    def _validate(self, shapes):
        if len(shapes) != 2:
            raise ValueError(f"A `Dot` layer should be called on a list of 2 inputs. Received: input_shape="
                             f"{_shape_text(shapes)} in {self._what()}.")
        s1, s2 = shapes
        if len(s1) < 2 or len(s2) < 2:
            raise ValueError(f"Cannot do batch_dot on inputs with rank < 2. Received inputs with shapes {s1} and "
                             f"{s2} in {self._what()}.")
        a1, a2 = self._axes_for(shapes)
        if s1[0] is not None and s2[0] is not None and s1[0] != s2[0]:
            raise ValueError(f"Cannot do batch_dot on inputs with different batch sizes. Received inputs with "
                             f"shapes {s1} and {s2} in {self._what()}.")
        if s1[a1] != s2[a2]:  # tf.keras refuses an unknown size against a known one too
            raise ValueError(f"Incompatible input shapes: axis values {s1[a1]} (at axis {a1}) != {s2[a2]} (at axis "
                             f"{a2}). Full input shapes: {s1}, {s2} in {self._what()}.")
        out = s1[:a1] + s1[a1 + 1:] + s2[1:a2] + s2[a2 + 1:]
        return out if len(out) > 1 else out + (1,)

    # ---- computing -----------------------------------------------------------------------
    def forward(self, xs, training=False):
        out_shape = self._check_inputs(xs)
        x1, x2 = xs
        a1, a2 = self._axes_for([x1.shape, x2.shape])
        self._dtypes = [x1.dtype, x2.dtype]
        self._norms = None
        if self.normalize:
            (x1, *n1), (x2, *n2) = self._l2_normalize(x1, a1), self._l2_normalize(x2, a2)
            self._norms = ((xs[0], *n1), (xs[1], *n2))
        batch = x1.shape[0]
        # batch_dot as batched matrices: x1 to (batch, rest, k), x2 to (batch, k, rest)
        self._perm1 = [i for i in range(x1.ndim) if i != a1] + [a1]
        self._perm2 = [0, a2] + [i for i in range(1, x2.ndim) if i != a2]
        t1, t2 = x1.transpose(self._perm1), x2.transpose(self._perm2)
        self._t_shapes = (t1.shape, t2.shape)
        k = x1.shape[a1]
        self._m1 = t1.reshape(batch, math.prod(t1.shape[1:-1]), k)
        self._m2 = t2.reshape(batch, k, math.prod(t2.shape[2:]))
        y = self.ops.batch_matmul(self._m1, self._m2)
        return y.reshape((batch,) + out_shape[1:])

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return [None, None]
        m1, m2 = self._m1, self._m2
        d = dy.reshape(m1.shape[0], m1.shape[1], m2.shape[2])
        g1 = self.ops.batch_matmul(d, m2, trans_b=True).reshape(self._t_shapes[0])
        g2 = self.ops.batch_matmul(m1, d, trans_a=True).reshape(self._t_shapes[1])
        # undo the transposes; copy() makes the C-contiguous arrays later kernels expect
        g1 = g1.transpose(_inverse(self._perm1)).copy()
        g2 = g2.transpose(_inverse(self._perm2)).copy()
        if self._norms is not None:
            g1 = self._l2_normalize_backward(g1, *self._norms[0], self._perm1[-1])
            g2 = self._l2_normalize_backward(g2, *self._norms[1], self._perm2[1])
        return [g if g.dtype == dtype else g.astype(dtype) for g, dtype in zip((g1, g2), self._dtypes)]

    def _l2_normalize(self, x, axis):
        """``x / sqrt(max(sum(x**2, axis), eps))``, the factor ``r = 1 / sqrt(max(...))`` and where the
        sum won the maximum (``sum >= eps``: TensorFlow's maximum sends the gradient to its first
        argument on ties)."""
        ops = self.ops
        squares = ops.sum(x * x, axis=axis, keepdims=True)
        r = 1 / ops.sqrt(ops.maximum(squares, _L2_EPSILON))
        return x * r, r, squares >= _L2_EPSILON

    def _l2_normalize_backward(self, g, x, r, active, axis):
        """The gradient through `_l2_normalize`: ``g * r - x * sum(g * x) * r**3`` where the sum of
        squares counted, ``g * r`` where eps took its place (r is then a constant)."""
        return g * r - x * (self.ops.sum(g * x, axis=axis, keepdims=True) * (r * r * r) * active)

    def compute_mask(self, inputs, mask=None):
        return None  # tf.keras's Dot drops masks

    def get_config(self):
        config = super().get_config()
        config.update({"axes": self.axes, "normalize": self.normalize})
        return config


def _inverse(perm):
    inverse = [0] * len(perm)
    for i, p in enumerate(perm):
        inverse[p] = i
    return inverse


def dot(inputs, axes, normalize=False, **kwargs):
    """Functional form of `Dot`: ``dot([x1, x2], axes=1)`` is ``Dot(axes=1)([x1, x2])``."""
    return Dot(axes=axes, normalize=normalize, **kwargs)(inputs)
