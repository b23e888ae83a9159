"""Array operations for weight initializers, regularizers and constraints.

`InitOps` is a `Backend` mixin. Its draws take an optional ``generator``: a
seeded initializer passes its own (``random.make_generator(seed)``) so that it
gives the same values on every call; without one they use gpunet's global
generator, which ``gpunet.utils.set_random_seed`` re-seeds. Draws are made on
the host and then moved to the backend, so a seed gives the same numbers on
NumPy and CuPy.
"""
from . import random as _random


class InitOps:
    """Random draws, QR and the small elementwise helpers the weight utilities use."""

    # ---- random draws ------------------------------------------------------------
    def draw_uniform(self, shape, minval, maxval, dtype, generator=None):
        """Uniform values in ``[minval, maxval)``."""
        gen = generator or _random.generator()
        return self.asarray(gen.uniform(minval, maxval, size=shape), dtype)

    def draw_normal(self, shape, mean, stddev, dtype, generator=None):
        """Normal values with the given mean and standard deviation."""
        gen = generator or _random.generator()
        return self.asarray(gen.normal(mean, stddev, size=shape), dtype)

    def draw_truncated_normal(self, shape, mean, stddev, dtype, generator=None):
        """Normal values, re-drawn until within two standard deviations of the mean (as Keras)."""
        gen = generator or _random.generator()
        out = gen.standard_normal(size=shape)
        bad = abs(out) > 2.0
        while bad.any():
            out[bad] = gen.standard_normal(size=int(bad.sum()))
            bad = abs(out) > 2.0
        return self.asarray(out * stddev + mean, dtype)

    def orthogonal(self, rows, cols, dtype, generator=None):
        """A ``(rows, cols)`` matrix with orthonormal columns (rows when ``rows < cols``).

        Keras's recipe: QR of a normal matrix, with Q's columns multiplied by the
        signs of R's diagonal so that the result is uniformly distributed.
        """
        gen = generator or _random.generator()
        a = self.asarray(gen.standard_normal(size=(max(rows, cols), min(rows, cols))))
        q, r = self.qr(a)
        q = q * self.sign(self.xp.diagonal(r))
        if rows < cols:
            q = q.T
        return self.xp.ascontiguousarray(q, dtype=dtype)

    # ---- linear algebra and elementwise helpers ---------------------------------------
    def qr(self, a):
        """Reduced QR factorization of a 2-D array: ``(q, r)``."""
        return self.xp.linalg.qr(a, mode="reduced")

    def eye(self, rows, cols, dtype):
        return self.xp.eye(rows, cols, dtype=dtype)

    def sign(self, x):
        return self.xp.sign(x)

    def abs(self, x):
        return self.xp.abs(x)

    def clip(self, x, lo, hi):
        return self.xp.clip(x, lo, hi)

    def maximum(self, a, b):
        return self.xp.maximum(a, b)
