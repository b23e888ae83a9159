"""gpunet's one random generator: initial weights, shuffles and dropout masks.

A single host-side NumPy ``Generator`` makes runs repeatable on every backend
and lets a saved model carry the generator state for an exact resume.
Until `set_seed` is called, the generator is seeded lazily from NumPy's global
random state, so ``numpy.random.seed(7)`` at the top of a Keras-style script
(as in the tutorials) also makes gpunet repeatable.
"""
import numpy

_generator = None


def generator():
    """The process-wide ``numpy.random.Generator`` gpunet draws from."""
    global _generator
    if _generator is None:
        _generator = numpy.random.Generator(numpy.random.PCG64(numpy.random.randint(0, 2**31 - 1)))
    return _generator


def set_seed(seed):
    """Re-seed gpunet's generator (``gpunet.utils.set_random_seed`` calls this)."""
    global _generator
    if not isinstance(seed, (int, numpy.integer)) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, received {type(seed).__name__}: {seed!r}")
    _generator = numpy.random.Generator(numpy.random.PCG64(int(seed)))


def get_state():
    """The generator state as a JSON-serializable dict (saved for exact resume)."""
    return generator().bit_generator.state


def set_state(state):
    """Restore a state returned by `get_state`."""
    gen = numpy.random.Generator(numpy.random.PCG64())
    gen.bit_generator.state = state
    global _generator
    _generator = gen


def make_generator(seed):
    """A separate generator for a layer created with an explicit ``seed``."""
    if not isinstance(seed, (int, numpy.integer)) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, received {type(seed).__name__}: {seed!r}")
    return numpy.random.Generator(numpy.random.PCG64(int(seed)))


def categorical(logits, num_samples, gen=None):
    """``num_samples`` class indices per row of the host array ``logits`` (rows, classes), drawn from their
    softmax by inverting the cumulative probabilities (gpunet.random.categorical)."""
    values = numpy.asarray(logits, dtype="float64")
    if values.ndim != 2:
        raise ValueError(f"categorical: logits must be 2-D (rows, classes), received shape {values.shape}")
    p = numpy.exp(values - values.max(axis=1, keepdims=True))
    cumulative = numpy.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)
    draws = (gen or generator()).random((values.shape[0], num_samples))
    return (draws[:, :, None] >= cumulative[:, None, :-1]).sum(axis=2)
