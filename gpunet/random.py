"""Keras 3's ``keras.random``: random tensors drawn from gpunet's generator (backend/random.py), so that
``gpunet.utils.set_random_seed`` makes them repeatable and a saved model's random state resumes them.

``seed`` follows Keras 3: None draws from the global generator; an int gives the same values at every call
(a generator of its own, made afresh); a `SeedGenerator` (the Keras guide's ``Sampling`` layer keeps one)
advances at every call, so successive calls differ and the sequence repeats from the same seed. The
results are constant tensors (no gradient), in floatx unless ``dtype`` says otherwise. Keras 3's values
themselves differ (another generator); their distributions are the same.
"""
import contextlib

from . import backend as B
from .autodiff import Tensor, lift
from .backend import keras_functions as K, random as _random
from .backend.keras_functions_more import truncated_normal as truncated


class SeedGenerator:
    """A generator of random seeds that advances at every draw (Keras 3's ``keras.random.SeedGenerator``):
    ``SeedGenerator(1337)`` gives the same sequence of draws in every run; ``seed=None`` starts from a seed
    drawn from gpunet's generator (repeatable after ``gpunet.utils.set_random_seed``)."""

    def __init__(self, seed=None, name=None, **kwargs):
        if seed is None:
            seed = int(_random.generator().integers(0, 2 ** 31 - 1))
        self.seed, self.name = seed, name
        self._generator = _random.make_generator(seed)

    def get_config(self):
        return {"seed": self.seed}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _generator(seed):
    return K._generator(seed)


def _shape(shape):
    return tuple(int(d) for d in (shape if isinstance(shape, (list, tuple)) else (shape,)))


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Normal values."""
    return K.random_normal(shape, mean, stddev, dtype, seed)


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """Uniform values in ``[minval, maxval)``."""
    return K.random_uniform(shape, minval, maxval, dtype, seed)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Normal values, those more than two ``stddev`` from ``mean`` drawn again."""
    return truncated(shape, mean, stddev, dtype, seed)


def randint(shape, minval, maxval, dtype="int32", seed=None):
    """Integers in ``[minval, maxval)``."""
    gen = _generator(seed) or _random.generator()
    return Tensor(B.get_backend().asarray(gen.integers(int(minval), int(maxval), size=_shape(shape)), dtype))


def categorical(logits, num_samples, dtype="int32", seed=None):
    """``num_samples`` class indices per row of ``logits`` (unnormalized log-probabilities), drawn from
    their softmax: shape ``(rows, num_samples)``."""
    ops = B.get_backend()
    picks = _random.categorical(ops.to_host(lift(logits).data), int(num_samples), _generator(seed))
    return Tensor(ops.asarray(picks, dtype))


def _drawn(method, shape, dtype, seed, *args):
    gen = _generator(seed) or _random.generator()
    return Tensor(B.get_backend().asarray(getattr(gen, method)(*args, size=_shape(shape)), dtype or B.floatx()))


def gamma(shape, alpha, dtype=None, seed=None):
    """Gamma-distributed values of shape parameter ``alpha`` (scale 1)."""
    return _drawn("gamma", shape, dtype, seed, float(alpha))


def beta(shape, alpha, beta, dtype=None, seed=None):
    """Beta-distributed values of parameters ``alpha`` and ``beta``."""
    return _drawn("beta", shape, dtype, seed, float(alpha), float(beta))


def binomial(shape, counts, probabilities, dtype=None, seed=None):
    """Binomial counts of successes in ``counts`` trials of success probability ``probabilities`` (floatx)."""
    return _drawn("binomial", shape, dtype, seed, int(counts), float(probabilities))


def dropout(inputs, rate, noise_shape=None, seed=None):
    """``inputs`` with each value zeroed with probability ``rate`` and the rest scaled by ``1 / (1 - rate)``;
    the gradient passes through the kept values (``K.dropout``)."""
    return K.dropout(inputs, rate, noise_shape, seed)


def shuffle(x, axis=0, seed=None):
    """``x`` with its entries along ``axis`` in a random order (the gradient follows them back)."""
    from .autodiff.array_ops import take
    t = lift(x)
    gen = _generator(seed) or _random.generator()
    return take(t, gen.permutation(t.shape[axis]), axis=axis)


@contextlib.contextmanager
def untouched(layer):
    """Draws inside leave gpunet's generator and the SeedGenerators ``layer`` holds (its sublayers' too) as they
    were: a probe of a layer's call for its output shape (Keras 3 traces it symbolically, drawing nothing) must
    not move them, or a model built anew (a resumed fit) would draw other values than one built before."""
    held = []
    _seed_generators_in(layer, held, set())
    states = [(g, g._generator.bit_generator.state) for g in held]
    outer = _random.get_state()
    try:
        yield
    finally:
        _random.set_state(outer)
        for g, state in states:
            g._generator.bit_generator.state = state


def _seed_generators_in(obj, found, seen):
    if id(obj) in seen:
        return
    seen.add(id(obj))
    for value in vars(obj).values() if hasattr(obj, "__dict__") else ():
        for item in value if isinstance(value, (list, tuple)) else (value,):
            if isinstance(item, SeedGenerator):
                found.append(item)
            elif hasattr(item, "_weights") and hasattr(item, "call"):  # (a layer it holds)
                _seed_generators_in(item, found, seen)


__all__ = ["SeedGenerator", "normal", "uniform", "truncated_normal", "randint", "categorical", "dropout", "shuffle",
           "gamma", "beta", "binomial"]
