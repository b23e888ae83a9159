"""Host scalars rounded to the parameters' precision, as Keras rounds its hyperparameters.

tf.keras and Keras 3 cast each hyperparameter to the variable's dtype before the step's
arithmetic (``tf.cast(self.beta_1, variable.dtype)``) and derive the others from the cast
value in that dtype: ``1 - beta_2`` is ``1 - float32(0.99)`` = 0.0099999905, not float32(0.01),
a relative difference of 1e-6 that a step carries into its slots. The optimizers that must
match Keras to that level fold their scalars through `rounder` (on the host, without a device
array or NumPy).
"""
import math
import struct

_FORMATS = {2: struct.Struct("<e"), 4: struct.Struct("<f")}


def rounder(dtype):
    """A function rounding a Python float to ``dtype``'s precision (float16, float32; float64 and
    anything else unchanged), to nearest even as a cast does."""
    fmt = _FORMATS.get(getattr(dtype, "itemsize", 8))
    if fmt is None:
        return float

    def rounded(value):
        try:
            return fmt.unpack(fmt.pack(value))[0]
        except OverflowError:  # beyond the type's range: what the cast gives
            return math.copysign(math.inf, value)
    return rounded
