"""Keras 2's `Masking` (``keras.layers.Masking``, a core layer): marks the steps whose every
feature equals ``mask_value`` as padding.

``Masking(mask_value=0.0)`` on ``(batch, steps, features)`` outputs its input with the padded steps
zeroed (tf.keras multiplies by the mask, so a padded step's features come out 0 whatever
``mask_value`` is) and a ``(batch, steps)`` mask that the next layers see by tf.keras 2's rules
(layers/masking.py): Dense and Dropout pass it on, ``GlobalAveragePooling1D`` averages over the
unpadded steps only, Flatten drops it. The gradient flows to the unpadded steps only.
"""
import numbers

from .base import Layer


class Masking(Layer):
    """Skips the timesteps whose every feature equals ``mask_value`` in the layers after it that
    use masks: ``Masking(mask_value=0.0, input_shape=(steps, features))``."""

    supports_masking = True
    _mask_aware = True  # makes a mask (layers/masking.py)
    _makes_mask = True

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(mask_value, bool) or not isinstance(mask_value, numbers.Real):
            raise ValueError(f"Masking expects a number `mask_value`, received {mask_value!r}")
        self.mask_value = mask_value

    _last = None  # (the input forward last saw, its mask) until compute_mask takes it

    def compute_mask(self, inputs, mask=None):
        """True where a step holds a value other than ``mask_value`` (tf.keras's ``reduce_any``
        over the last axis); a NaN feature counts as one."""
        last, self._last = self._last, None
        if last is not None and last[0] is inputs:
            # the model asks right after forward on the same batch: forward's mask serves (one
            # reduction a batch, not two). Taken once: a refilled buffer is the same object.
            return last[1]
        return self._mask_of(inputs)

    def _mask_of(self, inputs):
        return (inputs != self.mask_value).any(axis=-1)

    def forward(self, x, training=False, mask=None):
        keep = self._mask_of(x)
        self._last = (x, keep)
        self._keep = keep[..., None].astype(x.dtype)
        return x * self._keep

    def backward(self, dy, need_dx=True):
        return dy * self._keep if need_dx else None

    def get_config(self):
        config = super().get_config()
        config["mask_value"] = self.mask_value
        return config
