"""Keras's mixed precision API (``keras.mixed_precision``; Keras 3's ``keras.config.set_dtype_policy``), so
that programs written for it run unchanged. gpunet computes a mixed policy (``"mixed_float16"``,
``"mixed_bfloat16"``) in float32 throughout, as it already reads such a layer dtype from a file, and says so
once: float16 speed is not what gpunet's kernels give. ``"float32"``, ``"float64"`` and ``"float16"`` set
the float type (`gpunet.config.set_floatx`). `LossScaleOptimizer` gives its inner optimizer back: loss
scaling guards float16 gradients against underflow, and float32 gradients need no guard.
"""
import warnings

from . import backend as _B

_MIXED = ("mixed_float16", "mixed_bfloat16")
_PLAIN = ("float16", "float32", "float64")
_said = []


class DTypePolicy:
    """A dtype policy by name (Keras's ``Policy`` / ``DTypePolicy``): ``compute_dtype`` and ``variable_dtype``
    as gpunet computes them (float32 for a mixed policy)."""

    def __init__(self, name=None):
        name = _B.floatx() if name is None else getattr(name, "name", name)
        if name not in _MIXED + _PLAIN:
            raise ValueError(f"Cannot convert value {name!r} to a mixed precision DTypePolicy: expected one of "
                             f"{list(_MIXED + _PLAIN)}.")
        self.name = name

    @property
    def compute_dtype(self):
        return "float32" if self.name in _MIXED else self.name

    @property
    def variable_dtype(self):
        return self.compute_dtype

    def get_config(self):
        return {"name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __eq__(self, other):
        return isinstance(other, DTypePolicy) and other.name == self.name

    def __repr__(self):
        return f'<DTypePolicy "{self.name}">'


Policy = FloatDTypePolicy = DTypePolicy  # (tf.keras 2's and Keras 3's other names)
_global = []


def set_global_policy(policy):
    """Set the policy new layers take: a plain float type becomes gpunet's float type; a mixed one computes in
    float32 (with a warning, once)."""
    policy = policy if isinstance(policy, DTypePolicy) else DTypePolicy(policy)
    if policy.name in _MIXED and not _said:
        _said.append(True)
        warnings.warn(f"gpunet computes the dtype policy {policy.name!r} in float32 (its layers, losses and "
                      "optimizer state alike): the same model, at float32's precision, without float16's speed.",
                      UserWarning, stacklevel=2)
    _B.set_floatx(policy.compute_dtype)
    _global[:] = [policy]


def global_policy():
    """The policy `set_global_policy` set, else the float type's."""
    if _global and _global[0].compute_dtype == _B.floatx():
        return _global[0]
    return DTypePolicy(_B.floatx())


def LossScaleOptimizer(inner_optimizer, dynamic=True, initial_scale=None, dynamic_growth_steps=None, **kwargs):
    """Keras's loss-scaling wrapper: gpunet's gradients are float32 (see the module doc), so the inner
    optimizer itself, which saves, loads and resumes as it always does."""
    from .optimizers import get
    return get(inner_optimizer)


__all__ = ["DTypePolicy", "Policy", "FloatDTypePolicy", "set_global_policy", "global_policy", "LossScaleOptimizer"]
