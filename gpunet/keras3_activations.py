"""The activation functions Keras 3 added, as ``gpunet.activations.<name>`` (importable from there; this
module only keeps `activations` short). Each applies to an array or a tensor with the current backend, and
its name works wherever an activation is named: ``Dense(8, activation="celu")``."""
from .activations import _apply


def keras3_hard_sigmoid(x):
    """Keras 3's ``hard_sigmoid``: ``relu6(x + 3) / 6``. gpunet's ``hard_sigmoid`` is Keras 2's,
    ``clip(0.2 x + 0.5, 0, 1)``; ``gpunet.ops.hard_sigmoid`` (Keras 3's ``keras.ops``) is this one, and a Keras 3
    file's "hard_sigmoid" loads as it."""
    return _apply("keras3_hard_sigmoid", x)


def celu(x, alpha=1.0):
    """Continuously differentiable ELU: ``max(x, 0) + alpha * (exp(min(x, 0) / alpha) - 1)``."""
    return _apply("celu", x, alpha=alpha)


def hard_silu(x):
    """Keras 3's hard SiLU: ``x * relu6(x + 3) / 6``."""
    return _apply("hard_silu", x)


hard_swish = hard_silu


def hard_tanh(x):
    """``clip(x, -1, 1)``."""
    return _apply("hard_tanh", x)


def hard_shrink(x, threshold=0.5):
    """``x`` where ``|x| > threshold``, else 0."""
    return _apply("hard_shrink", x, threshold=threshold)


def soft_shrink(x, threshold=0.5):
    """``x`` moved ``threshold`` toward 0, and 0 within ``threshold`` of it."""
    return _apply("soft_shrink", x, threshold=threshold)


def tanh_shrink(x):
    """``x - tanh(x)``."""
    return _apply("tanh_shrink", x)


def log_sigmoid(x):
    """``log(sigmoid(x))``, computed stably."""
    return _apply("log_sigmoid", x)


def sparse_plus(x):
    """A piecewise-quadratic softplus: 0 up to -1, ``(x + 1)**2 / 4`` between, ``x`` from 1."""
    return _apply("sparse_plus", x)


def sparse_sigmoid(x):
    """A piecewise-linear sigmoid: 0 up to -1, ``(x + 1) / 2`` between, 1 from 1."""
    return _apply("sparse_sigmoid", x)


def squareplus(x, b=4):
    """``(x + sqrt(x**2 + b)) / 2``."""
    return _apply("squareplus", x, b=b)


def sparsemax(x, axis=-1):
    """Like softmax a probability distribution along ``axis``, but sparse: the projection of ``x`` onto the
    simplex, exactly 0 below a threshold."""
    return _apply("sparsemax", x, axis=axis)


def threshold(x, threshold, default_value):
    """``x`` above ``threshold``, ``default_value`` elsewhere."""
    return _apply("threshold", x, threshold=threshold, default_value=default_value)


def glu(x, axis=-1):
    """Keras 3's gated linear unit: ``a * sigmoid(b)`` for the halves ``a``, ``b`` of ``x`` along ``axis`` (whose
    size must be even): the output has half that size. A function only, not an activation name: gpunet's
    layers take activations that keep their input's shape, so ``Dense(8, activation=glu)`` is refused with a
    message (Keras 3's Dense gives 4 units); call it on a layer's output instead (``Lambda(glu)``)."""
    from . import ops
    from .autodiff import is_tensor, value_of
    y = ops.glu(x, axis=axis)  # (the tape's op: gradients flow when x is a tensor)
    return y if is_tensor(x) else value_of(y)


NAMES = ("celu", "hard_silu", "hard_swish", "hard_tanh", "hard_shrink", "soft_shrink", "tanh_shrink", "log_sigmoid",
         "sparse_plus", "sparse_sigmoid", "squareplus", "sparsemax", "threshold")
