"""Keras 2's noise layers (``keras.layers.noise``): `GaussianNoise`, `GaussianDropout` and
`AlphaDropout`.

Each adds noise only while training (``fit``, ``train_on_batch``) and is the identity in inference
(``predict``, ``evaluate``), as tf.keras 2's ``in_train_phase``. The noise is drawn as Dropout's
masks are: on the host, from gpunet's generator (``gpunet.utils.set_random_seed`` makes runs
repeatable, a saved model carries the generator state), or from the layer's own generator when it
has a ``seed`` (saved with the model too), then moved to the backend, so a seed gives the same
noise on NumPy and CuPy. Backward multiplies by the same noise, so the gradient is that of the
noisy function actually computed.

Configs are tf.keras 2.21's (``stddev``/``rate`` and ``seed``); AlphaDropout also writes
``noise_shape`` when one is set (tf.keras 2 leaves it out and so loses it; Keras 3 writes it).
"""
import math

from ..backend import random as _random
from .base import Layer


def _rate(value, layer, what="rate"):
    """A number in [0, 1] (Keras 3's check; tf.keras 2 checks nothing and treats rates outside
    (0, 1) as no noise at all)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        raise ValueError(f"{layer} {what} must be a float between 0 and 1, received {value!r}")
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"Invalid value received for argument `{what}` of {layer}: expected a float value "
                         f"between 0 and 1. Received: {what}={value}")
    return value


class _NoiseLayer(Layer):
    """A weightless layer with its own generator when given a ``seed`` (Dropout's rule)."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        # the attribute the savers look for: its state is saved with the model (saving/model_state.py)
        self._generator = None if seed is None else _random.make_generator(seed)
        self._noise = None

    def backward(self, dy, need_dx=True):
        return dy if self._noise is None else dy * self._noise


class GaussianNoise(_NoiseLayer):
    """Adds zero-centered Gaussian noise of standard deviation ``stddev`` while training
    (``GaussianNoise(0.1)``); the identity in inference. Keras 3 accepts ``stddev`` up to 1 only."""

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if isinstance(stddev, bool) or float(stddev) < 0 or math.isnan(float(stddev)):
            raise ValueError(f"GaussianNoise stddev must be a non-negative float, received {stddev!r}")
        self.stddev = stddev

    def forward(self, x, training=False):
        if not training or float(self.stddev) == 0.0:
            return x
        # added noise: the gradient passes unchanged (self._noise stays None)
        return x + self.ops.draw_normal(x.shape, 0.0, float(self.stddev), x.dtype, self._generator)

    def get_config(self):
        config = super().get_config()
        config.update({"stddev": self.stddev, "seed": self.seed})
        return config


class GaussianDropout(_NoiseLayer):
    """Multiplies the inputs by 1-centered Gaussian noise of standard deviation
    ``sqrt(rate / (1 - rate))`` while training; the identity in inference (and for a ``rate`` of
    0 or 1, as in tf.keras 2)."""

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.rate = _rate(rate, "GaussianDropout")

    def forward(self, x, training=False):
        rate = self.rate
        if not training or not 0.0 < rate < 1.0:
            self._noise = None
            return x
        self._noise = self.ops.draw_normal(x.shape, 1.0, math.sqrt(rate / (1.0 - rate)), x.dtype, self._generator)
        return x * self._noise

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "seed": self.seed})
        return config


# SELU's constants (tf.keras 2's AlphaDropout): the value a dropped unit takes is SELU's negative
# saturation, -alpha * scale.
_ALPHA = 1.6732632423543772848170429916717
_SCALE = 1.0507009873554804934193349852946


class AlphaDropout(_NoiseLayer):
    """Dropout for SELU networks: while training each unit is dropped with probability ``rate``
    to SELU's negative saturation value, then an affine map restores the inputs' mean and variance
    (``a * (x * keep + alpha_p * (1 - keep)) + b``); the identity in inference (and for a ``rate``
    of 0 or 1, as in tf.keras 2). ``noise_shape`` (None entries: the input's size) shares the mask
    along its size-1 axes, as Dropout's."""

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.rate = _rate(rate, "AlphaDropout")
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self._shift = None

    def forward(self, x, training=False):
        rate = self.rate
        if not training or not 0.0 < rate < 1.0:
            self._noise = None
            return x
        shape = x.shape
        if self.noise_shape is not None:
            shape = tuple(x.shape[i] if d is None else d for i, d in enumerate(self.noise_shape))
        # Uniform draws compared in float64, as Dropout's masks (rounding them to float32 first
        # would move the threshold).
        keep = (self.ops.draw_uniform(shape, 0.0, 1.0, "float64", self._generator) >= rate).astype(x.dtype)
        alpha_p = -_ALPHA * _SCALE
        a = ((1 - rate) * (1 + rate * alpha_p ** 2)) ** -0.5
        b = -a * alpha_p * rate
        self._noise = keep * a  # d(output)/dx
        # tf.keras's order of operations: x * keep + alpha_p * (1 - keep), then a * (...) + b
        return a * (x * keep + alpha_p * (1 - keep)) + b

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "seed": self.seed})
        if self.noise_shape is not None:
            config["noise_shape"] = list(self.noise_shape)
        return config
