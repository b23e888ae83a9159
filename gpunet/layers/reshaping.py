"""Keras 2's `RepeatVector` and `Permute` (``keras.layers.core`` in Keras 2.0-2.3). Weightless;
they train layer by layer (the fused plans run Dense stacks only)."""
from .base import Layer


def _check_rank(layer, shape, rank):
    if len(shape) != rank:
        raise ValueError(f'Input 0 of layer "{layer.name}" is incompatible with the layer: expected ndim={rank}, '
                         f"found ndim={len(shape)}. Full shape received: {tuple(shape)}")


class RepeatVector(Layer):
    """Repeats each sample's feature vector ``n`` times: ``(batch, features)`` becomes
    ``(batch, n, features)`` (an encoder's output fed to every step of a decoder)."""

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        if isinstance(n, bool) or not isinstance(n, int):  # tf.keras 2 and Keras 3 refuse 2.0 too
            raise TypeError(f"Expected an integer value for `n`, got {type(n)}.")
        if n < 0:
            raise ValueError(f"RepeatVector expects a non-negative `n`, received {n}")
        self.n = n

    def build(self, input_shape):
        _check_rank(self, input_shape, 2)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n, input_shape[1])

    def forward(self, x, training=False):
        _check_rank(self, x.shape, 2)
        return x[:, None, :].repeat(self.n, axis=1)  # a new contiguous array, as tf.tile makes

    def backward(self, dy, need_dx=True):
        return self.ops.sum(dy, axis=1)  # each input feature reached n outputs

    def get_config(self):
        config = super().get_config()
        config["n"] = self.n
        return config


class Permute(Layer):
    """Permutes the axes after the batch axis: ``Permute((2, 1))`` turns ``(batch, 10, 64)`` into
    ``(batch, 64, 10)``. ``dims`` numbers the axes from 1 (the batch axis stays first)."""

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        dims = tuple(dims)
        if any(isinstance(d, bool) or int(d) != d for d in dims) or \
                sorted(int(d) for d in dims) != list(range(1, len(dims) + 1)):
            raise ValueError("Invalid permutation argument `dims` for Permute Layer. The set of indices in `dims` "
                             f"must be consecutive and start from 1. Received dims={dims}")
        self.dims = tuple(int(d) for d in dims)
        self._perm = (0,) + self.dims
        inverse = [0] * len(self._perm)
        for i, d in enumerate(self._perm):
            inverse[d] = i
        self._inverse = tuple(inverse)

    def build(self, input_shape):
        _check_rank(self, input_shape, len(self.dims) + 1)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[d] for d in self._perm)

    def forward(self, x, training=False):
        _check_rank(self, x.shape, len(self.dims) + 1)
        # A C-ordered copy rather than a strided view: later layers (and CUDA kernels) get the
        # layout they expect, and nothing written in place downstream reaches this layer's input.
        return x.transpose(self._perm).copy()

    def backward(self, dy, need_dx=True):
        return dy.transpose(self._inverse).copy()

    def get_config(self):
        config = super().get_config()
        config["dims"] = list(self.dims)
        return config
