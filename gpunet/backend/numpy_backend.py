"""The NumPy backend: the reference behaviour, on the CPU."""
import numpy

from .base import Backend


class NumpyBackend(Backend):
    name = "numpy"
    device = "cpu"
    xp = numpy

    def to_host(self, x):
        return numpy.asarray(x)
