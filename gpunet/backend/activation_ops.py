"""Activation functions and their backward passes, as backend methods.

Each activation ``name`` has ``name(x, **params)`` and
``name_backward(dy, x, y, **params)`` where ``x`` is the pre-activation and
``y`` the output; both return new arrays of ``x``'s dtype. `output_suffices(name)`
says whether backward needs only ``y`` (then callers may pass ``x=None``).
The formulas are Keras 2's (tf-keras); a fused CUDA kernel must match them.
"""
import math

from .activation_ops_keras3 import KERAS3_ACTIVATION_NAMES, Keras3ActivationOps
from .erfc import erfc
from .fp_quiet import fp_quiet

# Activations whose derivative is a function of the output alone.
_OUTPUT_ONLY = frozenset({"linear", "sigmoid", "hard_sigmoid", "keras3_hard_sigmoid", "tanh", "softmax", "log_softmax",
                          "exponential", "softplus", "selu", "relu6"})

ACTIVATION_NAMES = ("linear", "relu", "sigmoid", "hard_sigmoid", "tanh", "softmax", "log_softmax",
                    "softplus", "softsign", "elu", "selu", "exponential", "swish", "gelu", "leaky_relu",
                    "relu6", "mish") + KERAS3_ACTIVATION_NAMES
_KNOWN = frozenset(ACTIVATION_NAMES)

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_GELU_C = math.sqrt(2.0 / math.pi)
_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _relu6(max_value, threshold):
    """Whether tf-keras's relu(max_value=..., threshold=...) runs as tf.nn.relu6 (kink at 6 cut)."""
    return max_value == 6 and threshold == 0


def _leaky(alpha, max_value, threshold):
    """Whether tf-keras's relu(alpha=...) runs as tf.nn.leaky_relu (gradient alpha at 0)."""
    return alpha != 0 and max_value is None and threshold == 0


class ActivationOps(Keras3ActivationOps):
    def output_suffices(self, name):
        """True when ``name``'s backward needs only the output ``y`` (``x`` may be None)."""
        return name in _OUTPUT_ONLY

    def activation_forward(self, name, x, params):
        """``y = name(x, **params)``."""
        return self._activation(name)(x, **params)

    def activation_backward(self, name, dy, x, y, params):
        """``dx`` for ``dy``, given the pre-activation ``x`` and output ``y`` of the forward."""
        return self._activation(name, "_backward")(dy, x, y, **params)

    def _activation(self, name, suffix=""):
        if name not in _KNOWN:
            raise ValueError(f"Unknown activation {name!r}. Valid names: {sorted(ACTIVATION_NAMES)}")
        return getattr(self, name + suffix)

    def _quiet(self):
        # exp overflowing to inf gives the right limit in these formulas; NumPy would warn.
        return fp_quiet(self.xp, over="ignore")

    def linear(self, x):
        return x

    def linear_backward(self, dy, x, y):
        return dy

    def relu(self, x, alpha=0.0, max_value=None, threshold=0.0):
        """Keras: ``x`` above ``threshold`` (clipped to [0, max_value] if given), ``alpha * (x - threshold)`` below."""
        xp = self.xp
        if alpha == 0.0 and threshold == 0.0:
            y = xp.maximum(x, 0)
            if max_value is not None:
                xp.minimum(y, max_value, out=y)
            return y
        # Keras's order: x * (x > threshold), then the clip, then minus alpha * relu(threshold - x).
        y = x * (x > threshold)
        if max_value is not None:
            xp.clip(y, 0, max_value, out=y)
        if alpha != 0.0:
            neg = xp.subtract(threshold, x)
            xp.maximum(neg, 0, out=neg)
            neg *= alpha
            y -= neg
        return y

    def relu_backward(self, dy, x, y, alpha=0.0, max_value=None, threshold=0.0):
        if alpha == 0.0 and max_value is None and threshold == 0.0:
            return dy * (x > 0)
        passed = x > threshold
        if max_value is not None:  # the clip passes gradient inside [0, max_value], as TF's clip does,
            # except that tf-keras computes max_value 6 as tf.nn.relu6 (threshold 0), cut at 6 itself
            passed &= (x >= 0) & ((x < max_value) if _relu6(max_value, threshold) else (x <= max_value))
        dx = dy * passed
        if alpha != 0.0:
            # tf-keras computes alpha alone as tf.nn.leaky_relu, whose gradient at 0 is alpha
            dx += (dy * alpha) * ((x <= 0) if _leaky(alpha, max_value, threshold) else (x < threshold))
        return dx

    def leaky_relu(self, x, alpha=0.2):
        """``x`` where positive, ``alpha * x`` elsewhere (tf.nn.leaky_relu; Keras 3's negative_slope)."""
        y = x * alpha
        self.xp.copyto(y, x, where=x > 0)
        return y

    def leaky_relu_backward(self, dy, x, y, alpha=0.2):
        dx = dy * alpha
        self.xp.copyto(dx, dy, where=x > 0)
        return dx

    def relu6(self, x):
        return self.xp.clip(x, 0, 6)

    def relu6_backward(self, dy, x, y):
        return dy * ((y > 0) & (y < 6))

    def sigmoid(self, x):
        xp = self.xp
        with self._quiet():  # exp(-x) = inf for very negative x gives exactly 0, the right limit
            y = xp.negative(x)
            xp.exp(y, out=y)
            y += 1
            xp.reciprocal(y, out=y)
        return y

    def sigmoid_backward(self, dy, x, y):
        dx = 1 - y
        dx *= y
        dx *= dy
        return dx

    def hard_sigmoid(self, x):
        """Keras 2's ``clip(0.2 * x + 0.5, 0, 1)``; Keras 3 changed it to ``relu6(x + 3) / 6``."""
        y = x * 0.2
        y += 0.5
        self.xp.clip(y, 0.0, 1.0, out=y)
        return y

    def hard_sigmoid_backward(self, dy, x, y):
        return (dy * 0.2) * ((y > 0) & (y < 1))

    def tanh(self, x):
        return self.xp.tanh(x)

    def tanh_backward(self, dy, x, y):
        dx = y * y
        self.xp.subtract(1, dx, out=dx)
        dx *= dy
        return dx

    def softmax(self, x, axis=-1):
        xp = self.xp
        y = x - x.max(axis=axis, keepdims=True)  # no overflow: the largest exponent is 0
        xp.exp(y, out=y)
        y /= y.sum(axis=axis, keepdims=True)
        return y

    def softmax_backward(self, dy, x, y, axis=-1):
        dx = dy - (dy * y).sum(axis=axis, keepdims=True)
        dx *= y
        return dx

    def log_softmax(self, x, axis=-1):
        xp = self.xp
        y = x - x.max(axis=axis, keepdims=True)
        y -= xp.log(xp.exp(y).sum(axis=axis, keepdims=True))
        return y

    def log_softmax_backward(self, dy, x, y, axis=-1):
        return dy - self.xp.exp(y) * dy.sum(axis=axis, keepdims=True)

    def softplus(self, x):
        return self.xp.logaddexp(x, 0)  # log(1 + exp(x)) without overflow

    def softplus_backward(self, dy, x, y):
        # sigmoid(x) = 1 - exp(-y); -expm1 keeps precision where sigmoid(x) is tiny
        dx = self.xp.negative(y)
        self.xp.expm1(dx, out=dx)
        dx *= dy
        self.xp.negative(dx, out=dx)
        return dx

    def softsign(self, x):
        d = self.xp.abs(x)
        d += 1
        return x / d

    def softsign_backward(self, dy, x, y):
        d = self.xp.abs(x)
        d += 1
        d *= d
        return dy / d

    def _elu(self, x, alpha):
        xp = self.xp
        y = xp.minimum(x, 0)  # expm1 of min(x, 0): no overflow for large x
        xp.expm1(y, out=y)
        y *= alpha
        y += xp.maximum(x, 0)
        return y

    def elu(self, x, alpha=1.0):
        return self._elu(x, alpha)

    def elu_backward(self, dy, x, y, alpha=1.0):
        dx = y + alpha  # alpha * exp(x) for x <= 0
        self.xp.copyto(dx, 1, where=x > 0)
        dx *= dy
        return dx

    def selu(self, x):
        y = self._elu(x, _SELU_ALPHA)
        y *= _SELU_SCALE
        return y

    def selu_backward(self, dy, x, y):
        dx = y + _SELU_SCALE * _SELU_ALPHA
        self.xp.copyto(dx, _SELU_SCALE, where=y >= 0)  # TensorFlow's SeluGrad: scale at 0
        dx *= dy
        return dx

    def exponential(self, x):
        return self.xp.exp(x)

    def exponential_backward(self, dy, x, y):
        return dy * y

    def swish(self, x):
        """``x * sigmoid(x)`` (also called silu)."""
        y = self.sigmoid(x)
        y *= x
        return y

    def swish_backward(self, dy, x, y):
        s = self.sigmoid(x)
        dx = 1 - s
        dx *= x
        dx += 1
        dx *= s
        dx *= dy
        return dx

    def mish(self, x):
        y = self.xp.logaddexp(x, 0)
        self.xp.tanh(y, out=y)
        y *= x
        return y

    def mish_backward(self, dy, x, y):
        t = self.xp.tanh(self.xp.logaddexp(x, 0))
        dx = t * t
        self.xp.subtract(1, dx, out=dx)
        dx *= self.sigmoid(x)
        dx *= x
        dx += t
        dx *= dy
        return dx

    def gelu(self, x, approximate=False):
        """``x * Phi(x)`` (normal CDF); ``approximate=True`` uses the tanh formula."""
        if approximate:
            y = self.xp.tanh(_GELU_C * (x + 0.044715 * (x * x * x)))
            y += 1
        else:
            y = erfc(self.xp, x * -_INV_SQRT2)  # 1 + erf(x / sqrt 2), accurate in the negative tail too
        y *= x
        y *= 0.5
        return y

    def gelu_backward(self, dy, x, y, approximate=False):
        xp = self.xp
        if approximate:
            x2 = x * x
            t = xp.tanh(_GELU_C * (x + 0.044715 * (x2 * x)))
            dt = t * t
            xp.subtract(1, dt, out=dt)  # 1 - tanh^2
            dt *= x * (_GELU_C * (1 + 0.134145 * x2))
            dx = t + 1
            dx += dt
            dx *= 0.5
        else:
            dx = erfc(self.xp, x * -_INV_SQRT2)
            dx *= 0.5  # Phi(x)
            pdf = x * x
            pdf *= -0.5
            xp.exp(pdf, out=pdf)
            pdf *= x * _INV_SQRT_2PI
            dx += pdf
        dx *= dy
        return dx
