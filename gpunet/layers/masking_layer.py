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

    def compute_mask(self, inputs, mask=None):
        """True where a step holds a value other than ``mask_value`` (tf.keras's ``reduce_any``
        over the last axis); a NaN feature counts as one."""
        return self._mask_of(inputs)

    def _mask_of(self, inputs):
        return (inputs != self.mask_value).any(axis=-1)

    def forward(self, x, training=False, mask=None):
        return self.forward_and_mask(x, training, mask)[0]

    def forward_and_mask(self, x, training=False, mask=None):
        """The output and the mask it hands on, from one reduction: what a model's forward asks for
        (layers/masking.py), rather than forward and then compute_mask."""
        keep = self._mask_of(x)
        self._keep = keep[..., None].astype(x.dtype)
        return x * self._keep, keep

    def backward(self, dy, need_dx=True):
        return dy * self._keep if need_dx else None

    def get_config(self):
        config = super().get_config()
        config["mask_value"] = self.mask_value
        return config
