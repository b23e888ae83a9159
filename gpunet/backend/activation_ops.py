"""Activation functions and their backward passes, as backend methods.

Each activation ``name`` has ``name(x, **params)`` and
``name_backward(dy, x, y, **params)`` where ``x`` is the pre-activation and
``y`` the output. `output_suffices(name)` says whether backward needs only ``y``
(then layers need not keep ``x``).
"""

# Activations whose derivative is a function of the output alone.
_OUTPUT_ONLY = frozenset({"linear", "sigmoid", "tanh", "softmax", "exponential"})


class ActivationOps:
    def output_suffices(self, name):
        return name in _OUTPUT_ONLY

    def activation_forward(self, name, x, params):
        return getattr(self, name)(x, **params)

    def activation_backward(self, name, dy, x, y, params):
        return getattr(self, name + "_backward")(dy, x, y, **params)

    def linear(self, x):
        return x

    def linear_backward(self, dy, x, y):
        return dy

    def relu(self, x, alpha=0.0, max_value=None, threshold=0.0):
        xp = self.xp
        if alpha == 0.0 and max_value is None and threshold == 0.0:
            return xp.maximum(x, 0, out=xp.empty_like(x))
        y = xp.where(x > threshold, x, alpha * (x - threshold)).astype(x.dtype, copy=False)
        if max_value is not None:
            xp.minimum(y, max_value, out=y)
        return y

    def relu_backward(self, dy, x, y, alpha=0.0, max_value=None, threshold=0.0):
        xp = self.xp
        if alpha == 0.0 and max_value is None and threshold == 0.0:
            return dy * (x > 0)
        g = xp.where(x > threshold, 1.0, alpha)
        if max_value is not None:
            g = g * (y < max_value)
        return (dy * g).astype(dy.dtype, copy=False)

    def sigmoid(self, x):
        xp = self.xp
        y = xp.negative(x)
        xp.exp(y, out=y)
        y += 1
        xp.reciprocal(y, out=y)
        return y

    def sigmoid_backward(self, dy, x, y):
        return dy * y * (1 - y)

    def tanh(self, x):
        return self.xp.tanh(x)

    def tanh_backward(self, dy, x, y):
        return dy * (1 - y * y)

    def softmax(self, x, axis=-1):
        xp = self.xp
        e = xp.exp(x - x.max(axis=axis, keepdims=True))
        e /= e.sum(axis=axis, keepdims=True)
        return e

    def softmax_backward(self, dy, x, y, axis=-1):
        return y * (dy - (dy * y).sum(axis=axis, keepdims=True))
