"""Keras 2's `Concatenate` merge layer and its functional form ``concatenate`` (re-exported by
merge.py, as Keras 2's ``keras.layers.merge`` holds them): inputs joined along one axis."""
import operator

from .merge_base import _Merge, _shape_text


class Concatenate(_Merge):
    """Joins a list of inputs along ``axis`` (default -1, the last): ``Concatenate()([a, b])`` of
    shapes ``(None, 3)`` and ``(None, 5)`` is ``(None, 8)``. All other dimensions must match."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool):
            raise TypeError(f"Concatenate expects an integer `axis`, received {axis!r}")
        try:
            self.axis = operator.index(axis)
        except TypeError:
            raise TypeError(f"Concatenate expects an integer `axis`, received {axis!r}") from None

    def _validate(self, shapes):
        """tf.keras's checks: every dimension but ``axis`` matches where both are known."""
        mismatch = ValueError(f"A `Concatenate` layer requires inputs with matching shapes except for the "
                              f"concatenation axis. Received: input_shape={_shape_text(shapes)} in {self._what()} "
                              f"(axis={self.axis}).")
        if len({len(s) for s in shapes}) > 1:
            raise mismatch
        rank = len(shapes[0])
        if not -rank <= self.axis < rank:
            raise ValueError(f"{self._what()}: axis {self.axis} is out of range for inputs of rank {rank} "
                             f"(shapes {_shape_text(shapes)}).")
        axis = self.axis % rank
        for i in range(rank):
            if i != axis and len({s[i] for s in shapes} - {None}) > 1:
                raise mismatch
        out = list(shapes[0])  # tf.keras's output: the first input's shape, summed along the axis
        for s in shapes[1:]:
            if out[axis] is None or s[axis] is None:
                out[axis] = None
                break
            out[axis] += s[axis]
        return tuple(out)

    def forward(self, xs, training=False):
        self._check_inputs(xs)
        self._sizes = [x.shape[self.axis] for x in xs]
        self._dtypes = [x.dtype for x in xs]
        return self.ops.concatenate(xs, axis=self.axis)

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return [None] * len(self._sizes)
        parts = self.ops.split(dy, self._sizes, self.axis)
        return [g if g.dtype == dtype else g.astype(dtype) for g, dtype in zip(parts, self._dtypes)]

    def compute_mask(self, inputs, mask=None):
        """tf.keras's: the masks joined along ``axis`` (all True for an input without one), then
        reduced over the last axis with AND."""
        if mask is None:
            return None
        if not isinstance(mask, (list, tuple)) or not isinstance(inputs, (list, tuple)) or len(mask) != len(inputs):
            raise ValueError(f"{self._what()} expects `inputs` and `mask` as lists of the same length. Received: "
                             f"{type(inputs).__name__} and {type(mask).__name__} mask.")
        if all(m is None for m in mask):
            return None
        parts = []
        for x, m in zip(inputs, mask):
            if m is None:
                parts.append(self.ops.ones(tuple(x.shape), "bool"))
            elif m.ndim < x.ndim:
                parts.append(m[..., None])
            else:
                parts.append(m)
        return self.ops.concatenate(parts, axis=self.axis).all(axis=-1)

    def get_config(self):
        config = super().get_config()
        config["axis"] = self.axis
        return config


def concatenate(inputs, axis=-1, **kwargs):
    """Functional form of `Concatenate`: ``concatenate([a, b], axis=1)``."""
    return Concatenate(axis=axis, **kwargs)(inputs)
