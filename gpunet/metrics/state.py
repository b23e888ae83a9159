"""The state variables of a user's Keras-style metric (``Metric.add_weight``)."""
from ..autodiff.tensor import Operators, value_of


class MetricVariable(Operators):
    """A metric's accumulator, as Keras's ``add_weight`` gives one: ``assign``, ``assign_add``,
    ``assign_sub`` update it in place; in expressions (``self.tp / (self.tp + self.fp)``) and in
    ``gpunet.ops`` / ``K.*`` functions it acts as its current value."""

    __slots__ = ("name", "value", "ops", "_initial")

    def __init__(self, ops, name, value):
        self.ops, self.name, self.value = ops, name, value
        self._initial = value.copy()

    @property
    def shape(self):
        return tuple(self.value.shape)

    @property
    def dtype(self):
        return self.value.dtype

    def assign(self, value):
        self.value[...] = self.ops.asarray(value_of(value), dtype=self.value.dtype)
        return self

    def assign_add(self, value):
        return self.assign(self.value + self.ops.asarray(value_of(value), dtype=self.value.dtype))

    def assign_sub(self, value):
        return self.assign(self.value - self.ops.asarray(value_of(value), dtype=self.value.dtype))

    def add_in_order(self, *batches):
        """Add each row of ``batches`` (arrays whose first axis is the batches, each row one batch's
        sums) to the value, one after another: a cumulative sum adds row after row, as updating
        batch after batch does (a sum over the axis may add in another order)."""
        xp = self.ops.xp
        self.assign(xp.cumsum(xp.concatenate([self.value[None], *batches]), axis=0)[-1])

    def reset(self):
        self.value[...] = self._initial

    def to_backend(self, ops):
        """Move the variable (its value and initial value) to the backend ``ops``, if not there."""
        if ops is not self.ops:
            old = self.ops
            self.value = ops.asarray(old.to_host(self.value))
            self._initial = ops.asarray(old.to_host(self._initial))
            self.ops = ops
        return self

    def numpy(self):
        return self.ops.to_host(self.value).copy()

    def __float__(self):
        return float(self.ops.to_host(self.value))

    def __repr__(self):
        return f"<MetricVariable {self.name} shape={self.shape}>"
