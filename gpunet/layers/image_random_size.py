"""tf.keras 2's ``keras.layers.RandomHeight`` and ``RandomWidth``: while training (and when called directly,
as tf.keras 2's ``call(..., training=True)``) the batch is resized, as ``tf.image.resize`` resizes, to a random
share of its height (or width): one draw for the whole batch, ``1 + f`` for ``f`` uniform in the factor's
range, the new size ``int(float32(1 + f) * size)`` as tf.keras casts it; in inference the identity. The resize
is Resizing's (image_resizing.py: half-pixel centres, no antialiasing); the draw comes from gpunet's generator
(or the layer's, with a ``seed``), as the other augmentation layers' draws, so it repeats with
``set_random_seed`` but is not TensorFlow's draw."""
import numbers


from .. import backend as B
from .image_augmentation import _Random
from .image_resizing import resize

# tf.keras 2's names (image_utils.get_interpolation); gpunet resizes with the first two only
_TF_INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5", "gaussian", "mitchellcubic")


def _factor_range(factor, less):
    """tf.keras 2's bounds of ``factor``: a number ``f`` for ``[-f, f]``, or a pair ``(lower, upper)``."""
    if isinstance(factor, (tuple, list)):
        lower, upper = factor[0], factor[1]
    elif isinstance(factor, numbers.Real) and not isinstance(factor, bool):
        lower, upper = -factor, factor
    else:  # (tf.keras fails on `-factor`; a message that says what was expected instead)
        raise ValueError(f"`factor` must be a number or a pair of numbers. Received: factor={factor!r}")
    if upper < lower:
        raise ValueError(f"`factor` argument cannot have an upper bound {less} than the "
                         f"lower bound. Received: factor={factor}")
    if lower < -1.0 or upper < -1.0:
        raise ValueError(f"`factor` argument must have values larger than -1. Received: factor={factor}")
    return float(lower), float(upper)


class _RandomSize(_Random):
    """The batch resized along one axis (``_AXIS``: 1 for the height, 2 for the width) by a random factor."""

    _AXIS = None
    _LESS = "lesser"  # (tf.keras 2's RandomWidth says "less", RandomHeight "lesser")

    def __init__(self, factor, interpolation="bilinear", seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.factor = factor
        self.lower, self.upper = _factor_range(factor, self._LESS)
        if interpolation.lower() not in _TF_INTERPOLATIONS:
            raise NotImplementedError(f"Value not recognized for `interpolation`: {interpolation}. Supported "
                                      f"values are: {list(_TF_INTERPOLATIONS)}")
        if interpolation.lower() not in ("bilinear", "nearest"):  # (tf.image.resize's other kernels are not ported)
            raise NotImplementedError(f"{type(self).__name__}(interpolation={interpolation!r}) is not implemented "
                                      "in gpunet ('bilinear' and 'nearest' are).")
        self.interpolation = interpolation

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        shape[self._AXIS - 4] = None  # (the size is drawn per call: unknown, as tf.keras's)
        return tuple(shape)

    def _augment(self, x, ops):
        # tf.keras draws a float32 factor and truncates float32(factor * size) to an int (xp.float32: NumPy's scalar
        # type on either backend)
        float32 = B.get_backend().xp.float32
        factor = float32(self._uniform(1.0 + self.lower, 1.0 + self.upper, 1)[0])
        size = int(factor * float32(x.shape[self._AXIS]))
        if size < 1:
            raise ValueError(f"{type(self).__name__} '{self.name}' drew a factor of {factor} for a size of "
                             f"{x.shape[self._AXIS]}: no pixels would be left.")
        height, width = (size, x.shape[2]) if self._AXIS == 1 else (x.shape[1], size)
        return resize(x, height, width, self.interpolation.lower(), ops)

    def get_config(self):
        return self._config(factor=self.factor, interpolation=self.interpolation)


class RandomHeight(_RandomSize):
    """In training, the images' height multiplied by a random ``1 + f`` (``factor``: a number ``f`` for
    ``f`` in ``[-f, f]``, or a pair ``(lower, upper)`` with values above -1), one draw a batch; ``interpolation``
    "bilinear" or "nearest"; the identity in inference."""

    _AXIS = 1


class RandomWidth(_RandomSize):
    """In training, the images' width multiplied by a random ``1 + f`` (``factor``: a number ``f`` for
    ``f`` in ``[-f, f]``, or a pair ``(lower, upper)`` with values above -1), one draw a batch; ``interpolation``
    "bilinear" or "nearest"; the identity in inference."""

    _AXIS = 2
    _LESS = "less"
