"""The NumPy backend: the reference behaviour, on the CPU."""
import numpy

from .base import Backend


class NumpyBackend(Backend):
    name = "numpy"
    device = "cpu"
    xp = numpy

    def to_host(self, x):
        return numpy.asarray(x)

    def gather_windows(self, padded, plan):
        """The windows of ``padded`` as the base class gives them, in one copy of a strided view (twice as
        fast as a copy per kernel position on the CPU)."""
        from numpy.lib.stride_tricks import as_strided
        rank, steps = len(plan), padded.strides
        shape = (padded.shape[0],) + tuple(p[5] for p in plan) + tuple(p[2] for p in plan) + (padded.shape[-1],)
        strides = ((steps[0],) + tuple(steps[i + 1] * p[3] for i, p in enumerate(plan))
                   + tuple(steps[i + 1] * p[4] for i, p in enumerate(plan)) + (steps[-1],))
        view = as_strided(padded, shape, strides, writeable=False)
        return numpy.ascontiguousarray(view).reshape(shape[:rank + 1] + (-1, padded.shape[-1]))
