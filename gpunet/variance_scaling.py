"""The variance-scaling initializers: `VarianceScaling` and its named forms (Glorot, He, LeCun).

All are importable from `gpunet.initializers`, where ``get`` finds them by name.
"""
import math

from .initializer_base import Initializer, _check_seed, _dtype, _ops, _shape


def _compute_fans(shape):
    """Keras's ``(fan_in, fan_out)``: 2-D ``(in, out)``; conv kernels ``(..., in, out)`` times the receptive field."""
    if len(shape) < 2:
        return (shape[0], shape[0]) if shape else (1, 1)
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


class VarianceScaling(Initializer):
    """Values whose variance is ``scale / n``, ``n`` being fan_in, fan_out or their mean (``mode``).

    ``distribution``: "truncated_normal" (its standard deviation corrected for the
    truncation, as Keras), "untruncated_normal" or "uniform" (limit ``sqrt(3 * scale / n)``).
    """

    _MODES = ("fan_in", "fan_out", "fan_avg")
    _DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        if not isinstance(scale, (int, float)) or isinstance(scale, bool) or not scale > 0:
            raise ValueError(f"VarianceScaling `scale` must be a positive float, received scale={scale!r}.")
        if mode not in self._MODES:
            raise ValueError(f"VarianceScaling `mode` must be one of {list(self._MODES)}, received {mode!r}.")
        dist = distribution.lower() if isinstance(distribution, str) else distribution
        dist = "truncated_normal" if dist == "normal" else dist  # Keras 1 name
        if dist not in self._DISTRIBUTIONS:
            raise ValueError(f"VarianceScaling `distribution` must be one of {list(self._DISTRIBUTIONS)}, "
                             f"received {distribution!r}.")
        self.scale, self.mode, self.distribution, self.seed = scale, mode, dist, _check_seed(seed)

    def __call__(self, shape, dtype=None, **kwargs):
        ops, shape, dtype = _ops(), _shape(shape), _dtype(dtype, True)
        fan_in, fan_out = _compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        scale = self.scale / max(1.0, n)
        gen = self._generator()
        if self.distribution == "truncated_normal":
            # std of a standard normal truncated to [-2, 2] (scipy.stats.truncnorm.std(-2, 2)), as Keras
            stddev = math.sqrt(scale) / 0.87962566103423978
            return ops.draw_truncated_normal(shape, 0.0, stddev, dtype, gen)
        if self.distribution == "untruncated_normal":
            return ops.draw_normal(shape, 0.0, math.sqrt(scale), dtype, gen)
        limit = math.sqrt(3.0 * scale)
        return ops.draw_uniform(shape, -limit, limit, dtype, gen)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, "seed": self.seed}


def _variance_scaling(name, scale, mode, distribution, doc):
    def __init__(self, seed=None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed)

    def get_config(self):
        return {"seed": self.seed}

    return type(name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config, "__doc__": doc,
                                           "__module__": __name__})


GlorotUniform = _variance_scaling("GlorotUniform", 1.0, "fan_avg", "uniform",
                                  "Glorot (Xavier) uniform: limit ``sqrt(6 / (fan_in + fan_out))``.")
GlorotNormal = _variance_scaling("GlorotNormal", 1.0, "fan_avg", "truncated_normal",
                                 "Glorot (Xavier) normal: truncated, stddev ``sqrt(2 / (fan_in + fan_out))``.")
HeUniform = _variance_scaling("HeUniform", 2.0, "fan_in", "uniform", "He uniform: limit ``sqrt(6 / fan_in)``.")
HeNormal = _variance_scaling("HeNormal", 2.0, "fan_in", "truncated_normal",
                             "He normal: truncated, stddev ``sqrt(2 / fan_in)``.")
LecunUniform = _variance_scaling("LecunUniform", 1.0, "fan_in", "uniform",
                                 "LeCun uniform: limit ``sqrt(3 / fan_in)``.")
LecunNormal = _variance_scaling("LecunNormal", 1.0, "fan_in", "truncated_normal",
                                "LeCun normal: truncated, stddev ``sqrt(1 / fan_in)``.")
