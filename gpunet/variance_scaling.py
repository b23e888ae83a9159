"""The variance-scaling initializers: `VarianceScaling` and its named forms (Glorot, He, LeCun).

All are importable from `gpunet.initializers`, where ``get`` finds them by name.
"""
import math

from .initializer_base import Initializer, _check_seed, _dtype, _ops, _shape


def _compute_fans(shape, input_axes=None, output_axes=None):
    """Keras's ``(fan_in, fan_out)``: 2-D ``(in, out)``; conv kernels ``(..., in, out)`` times the receptive field;
    with ``input_axes`` and ``output_axes`` (Keras 3's, as an `EinsumDense` kernel's), their sizes' products."""
    if input_axes is not None and output_axes is not None:
        return math.prod(shape[a] for a in input_axes), math.prod(shape[a] for a in output_axes)
    if len(shape) < 2:
        return (shape[0], shape[0]) if shape else (1, 1)
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


class VarianceScaling(Initializer):
    """Values whose variance is ``scale / n``, ``n`` being fan_in, fan_out or their mean (``mode``).

    ``distribution``: "truncated_normal" (its standard deviation corrected for the
    truncation, as Keras), "untruncated_normal" or "uniform" (limit ``sqrt(3 * scale / n)``).
    ``input_axes`` / ``output_axes`` (Keras 3's): the axes of the weight whose sizes make fan_in and fan_out.
    """

    _MODES = ("fan_in", "fan_out", "fan_avg")
    _DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None, input_axes=None,
                 output_axes=None):
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
        self.input_axes, self.output_axes = _axes(input_axes, "input_axes"), _axes(output_axes, "output_axes")

    def __call__(self, shape, dtype=None, **kwargs):
        ops, shape, dtype = _ops(), _shape(shape), _dtype(dtype, True)
        fan_in, fan_out = _compute_fans(shape, self.input_axes, self.output_axes)
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
        config = {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, "seed": self.seed}
        return {**config, **self._axes_config()}

    def _axes_config(self):
        # only when set: tf.keras 2 has no such arguments, and gpunet's files stay loadable there
        if self.input_axes is None and self.output_axes is None:
            return {}
        return {"input_axes": self.input_axes, "output_axes": self.output_axes}


def _axes(axes, what):
    if axes is None:
        return None
    if isinstance(axes, int) and not isinstance(axes, bool):
        return [axes]
    if not isinstance(axes, (list, tuple)) or not all(isinstance(a, int) and not isinstance(a, bool) for a in axes):
        raise TypeError(f"VarianceScaling `{what}` must be None or a list of ints, received {axes!r}.")
    return list(axes)


def _variance_scaling(name, scale, mode, distribution, doc):
    def __init__(self, seed=None, input_axes=None, output_axes=None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed, input_axes, output_axes)

    def get_config(self):
        return {"seed": self.seed, **self._axes_config()}

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
