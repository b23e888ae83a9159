"""The activations Keras 3 added (``keras.activations.celu``, ``hard_silu``, ``sparsemax``, ...), with their
backward passes, as `ActivationOps` methods: the same contract (``name(x, **params)``,
``name_backward(dy, x, y, **params)``, ``x`` the pre-activation). The formulas are Keras 3's NumPy backend's;
no fused CUDA kernel implements them, so on the GPU they run as this reference code.
"""

KERAS3_ACTIVATION_NAMES = ("keras3_hard_sigmoid", "celu", "hard_silu", "hard_tanh", "hard_shrink", "soft_shrink",
                           "tanh_shrink", "log_sigmoid", "sparse_plus", "sparse_sigmoid", "squareplus", "sparsemax",
                           "threshold")


class Keras3ActivationOps:
    def keras3_hard_sigmoid(self, x):
        """Keras 3's ``hard_sigmoid``, ``relu6(x + 3) / 6`` (Keras 2's, gpunet's ``hard_sigmoid``, is
        ``clip(0.2 x + 0.5, 0, 1)``): a Keras 3 file's "hard_sigmoid" reads as this one."""
        return self.xp.clip(x + 3, 0, 6) / 6

    def keras3_hard_sigmoid_backward(self, dy, x, y):
        return dy * ((y > 0) & (y < 1)) / 6

    def celu(self, x, alpha=1.0):
        """``max(x, 0) + alpha * expm1(min(x, 0) / alpha)``."""
        xp = self.xp
        return xp.maximum(x, 0) + alpha * xp.expm1(xp.minimum(x, 0) / alpha)

    def celu_backward(self, dy, x, y, alpha=1.0):
        xp = self.xp
        return dy * xp.where(x > 0, 1, xp.exp(xp.minimum(x, 0) / alpha))

    def hard_silu(self, x):
        """Keras 3's ``x * relu6(x + 3) / 6`` (also ``hard_swish``)."""
        return x * (self.xp.clip(x + 3, 0, 6) / 6)

    def hard_silu_backward(self, dy, x, y):
        xp = self.xp
        return dy * xp.where(x < -3, 0, xp.where(x > 3, 1, (2 * x + 3) / 6))

    def hard_tanh(self, x):
        """``clip(x, -1, 1)``."""
        return self.xp.clip(x, -1, 1)

    def hard_tanh_backward(self, dy, x, y):
        return dy * ((x > -1) & (x < 1))

    def hard_shrink(self, x, threshold=0.5):
        """``x`` where ``|x| > threshold``, else 0."""
        return self.xp.where(self.xp.abs(x) > threshold, x, 0).astype(x.dtype, copy=False)

    def hard_shrink_backward(self, dy, x, y, threshold=0.5):
        return dy * (self.xp.abs(x) > threshold)

    def soft_shrink(self, x, threshold=0.5):
        """``x - threshold`` above ``threshold``, ``x + threshold`` below ``-threshold``, else 0."""
        xp = self.xp
        return xp.where(x > threshold, x - threshold, xp.where(x < -threshold, x + threshold, 0)).astype(
            x.dtype, copy=False)

    def soft_shrink_backward(self, dy, x, y, threshold=0.5):
        return dy * (self.xp.abs(x) > threshold)

    def tanh_shrink(self, x):
        """``x - tanh(x)``."""
        return x - self.xp.tanh(x)

    def tanh_shrink_backward(self, dy, x, y):
        t = self.xp.tanh(x)
        return dy * (t * t)

    def log_sigmoid(self, x):
        """``-softplus(-x)``, without overflow."""
        return -self.xp.logaddexp(-x, 0)

    def log_sigmoid_backward(self, dy, x, y):
        return dy * self.sigmoid(-x)  # 1 - sigmoid(x), exact where sigmoid(x) is near 1

    def sparse_plus(self, x):
        """0 up to -1, ``(x + 1)**2 / 4`` between, ``x`` from 1."""
        xp = self.xp
        return xp.where(x <= -1, 0, xp.where(x < 1, (x + 1) ** 2 / 4, x)).astype(x.dtype, copy=False)

    def sparse_plus_backward(self, dy, x, y):
        xp = self.xp
        return dy * xp.where(x <= -1, 0, xp.where(x < 1, (x + 1) / 2, 1))

    def sparse_sigmoid(self, x):
        """0 up to -1, ``(x + 1) / 2`` between, 1 from 1."""
        xp = self.xp
        return xp.where(x <= -1, 0, xp.where(x >= 1, 1, (x + 1) / 2)).astype(x.dtype, copy=False)

    def sparse_sigmoid_backward(self, dy, x, y):
        return dy * ((x > -1) & (x < 1)) * 0.5

    def squareplus(self, x, b=4):
        """``(x + sqrt(x**2 + b)) / 2``."""
        return (x + self.xp.sqrt(x * x + b)) / 2

    def squareplus_backward(self, dy, x, y, b=4):
        return dy * (1 + x / self.xp.sqrt(x * x + b)) / 2

    def threshold(self, x, threshold, default_value):
        """``x`` above ``threshold``, ``default_value`` elsewhere."""
        return self.xp.where(x > threshold, x, default_value).astype(x.dtype, copy=False)

    def threshold_backward(self, dy, x, y, threshold, default_value):
        return dy * (x > threshold)

    def sparsemax(self, x, axis=-1):
        """The Euclidean projection of ``x`` onto the probability simplex along ``axis`` (Martins & Astudillo
        2016): ``max(x - tau, 0)``, ``tau`` chosen so that each slice sums to 1."""
        xp = self.xp
        ordered = -xp.sort(-x, axis=axis)
        cumulative = xp.cumsum(ordered, axis=axis)
        shape = [1] * x.ndim
        shape[axis] = -1
        rank = xp.arange(1, x.shape[axis] + 1, dtype=x.dtype).reshape(shape)
        support = ordered - (cumulative - 1) / rank > 0
        k = support.sum(axis=axis, keepdims=True)
        tau = (xp.take_along_axis(cumulative, k - 1, axis=axis) - 1) / k.astype(x.dtype)
        return xp.maximum(x - tau, 0).astype(x.dtype, copy=False)

    def sparsemax_backward(self, dy, x, y, axis=-1):
        support = (y > 0).astype(dy.dtype)
        mean = (dy * support).sum(axis=axis, keepdims=True) / support.sum(axis=axis, keepdims=True)
        return support * (dy - mean)
