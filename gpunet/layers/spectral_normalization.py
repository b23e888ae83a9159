"""tf.keras 2.21's `SpectralNormalization` (Miyato et al. 2018, "Spectral Normalization for GANs"): a wrapper
that keeps the spectral norm of the wrapped layer's kernel near 1, as GAN discriminators use it::

    SpectralNormalization(Dense(10))              # or Conv1D/2D/3D, Conv*Transpose, Embedding, ...
    SpectralNormalization(Conv2D(64, 3), power_iterations=2)

As tf.keras computes it: the wrapped layer (one with a ``kernel`` weight, or ``embeddings``) is built on the
wrapper's input, and the wrapper adds ``vector_u``, a non-trainable ``(1, kernel.shape[-1])`` weight of the
kernel's dtype drawn from ``TruncatedNormal(stddev=0.02)``. Each call in training first runs
``power_iterations`` steps of the power iteration on the kernel seen as a ``(-1, kernel.shape[-1])`` matrix
``W`` (``v = l2_normalize(u W^T)``, ``u = l2_normalize(v W)``), then assigns ``W / sigma`` (``sigma = v W u^T``)
to the kernel and ``u`` to ``vector_u``, in place (an all-zero kernel is left as it is); the wrapped layer then
runs on the kernel so assigned, its gradient the kernel's own (none through sigma), and the optimizer updates
the normalized kernel. In inference the kernel is used as it is. Forward and backward are the wrapped layer's.

Weights: the wrapped layer's (trainable first), then ``vector_u``: tf.keras's order in its ``.h5`` group (which
names them ``<wrapper>/kernel:0``, ``<wrapper>/bias:0``, ``<wrapper>/vector_u:0`` and reads them by position).
The config holds the wrapped layer's under ``"layer"`` and ``power_iterations``, as tf.keras writes it. A ``.keras``
file keeps them as Keras 3 does: the wrapper's ``vars`` the kernel and ``vector_u``, the wrapped layer's weights
under ``layer/vars``.
"""
from .base import Layer
from .wrapper import Wrapper
from .weight import Weight


def _checked_iterations(power_iterations):
    if isinstance(power_iterations, bool) or not isinstance(power_iterations, int):
        try:
            ok = int(power_iterations) == power_iterations
        except (TypeError, ValueError):
            ok = False
        if not ok or isinstance(power_iterations, bool):
            raise ValueError("`power_iterations` should be an integer greater than zero. Received: "
                             f"`power_iterations={power_iterations!r}`")
        power_iterations = int(power_iterations)
    if power_iterations <= 0:
        raise ValueError("`power_iterations` should be greater than zero. Received: "
                         f"`power_iterations={power_iterations}`")
    return power_iterations


def _kernel_of(layer):
    """The weight SpectralNormalization normalizes: ``layer.kernel``, else ``layer.embeddings`` (tf.keras's
    choice; a recurrent layer's is its cell's kernel, as tf.keras's ``LSTM.kernel`` property gives it)."""
    for owner, name in ((layer, "kernel"), (layer, "embeddings"), (getattr(layer, "cell", None), "kernel")):
        weight = getattr(owner, name, None) if owner is not None else None
        if isinstance(weight, Weight):
            return weight
    raise ValueError(f"{type(layer).__name__} object has no attribute 'kernel' nor 'embeddings': "
                     "SpectralNormalization expects a layer with a `kernel` weight (Dense, Conv1D, Conv2D, Conv3D, "
                     f"...) or an `embeddings` weight (Embedding). Received: layer={layer!r}")


class SpectralNormalization(Wrapper):
    """Normalizes the wrapped ``layer``'s kernel by its spectral norm (``power_iterations`` steps of the power
    iteration a training call) before the layer runs; see the module doc."""

    _keras3_by_attributes = True  # (a .keras file holds the wrapped layer under "layer", as Keras 3 writes it)
    _keras3_skip = ("_runner",)  # (a call's copy of the wrapped layer: not Keras 3's)

    def __init__(self, layer, power_iterations=1, **kwargs):
        super().__init__(layer, **kwargs)
        self.power_iterations = _checked_iterations(power_iterations)
        self.kernel = self.vector_u = self.kernel_shape = None

    # ---- building ---------------------------------------------------------------------------------------------
    def build(self, input_shape):
        from .input_spec import InputSpec
        input_shape = tuple(input_shape)
        if not self.layer.built:
            self.layer.build(input_shape)
            self.layer.built = True
        self.input_spec = InputSpec(shape=(None,) + input_shape[1:])
        self.kernel = _kernel_of(self.layer)
        self.kernel_shape = list(self.kernel.shape)
        known = {id(w) for w in self._weights}
        self._weights.extend(w for w in self.layer._weights if id(w) not in known)  # (the wrapped layer's first)
        self.vector_u = self._add_vector_u((1, self.kernel_shape[-1]), str(self.kernel.dtype))
        Layer.build(self, input_shape)

    def _add_vector_u(self, shape, dtype):
        from .. import initializers
        init = initializers.TruncatedNormal(stddev=0.02)
        if dtype == self.dtype:
            return self.add_weight(name="vector_u", shape=shape, initializer=init, trainable=False)
        # (tf.keras: the kernel's dtype, whatever the wrapper's; gpunet's add_weight keeps the layer's)
        weight = Weight(self, "vector_u", self.ops.asarray(init(shape, dtype=dtype), dtype=dtype), trainable=False)
        self._weights.append(weight)
        return weight

    def keras3_own_weights(self):
        """What Keras 3 keeps in a ``.keras`` file's ``vars`` of this layer: the kernel (its attribute there too,
        so written twice, as Keras 3 does: read back from the wrapped layer's group), then ``vector_u``."""
        return [self.kernel, self.vector_u] if self.built else []

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    @property
    def supports_masking(self):
        """Whether a mask passes through: the wrapped layer's rule (Dense passes it on, as in tf.keras)."""
        from .masking import _passes
        return _passes(self.layer, False)

    # ---- running ------------------------------------------------------------------------------------------------
    def forward(self, x, training=False):
        if training:
            self._update_weights()
        from .sublayers import call_copy
        self._runner = call_copy(self.layer)  # (its own record of this call: a shared wrapper is called again)
        return self._runner.forward(x, training)

    def backward(self, dy, need_dx=True):
        return self._runner.backward(dy, need_dx)

    def _update_weights(self):
        """tf.keras's: ``kernel`` and ``vector_u`` assigned their normalized values (left as they are when the
        kernel is all zeros)."""
        xp = self.ops.xp
        if not self.ops.to_scalar(xp.any(self.kernel.value != 0)):
            return
        kernel, vector_u = self._normalized()
        self.kernel.assign(kernel)
        self.vector_u.assign(vector_u)

    def _normalized(self):
        xp = self.ops.xp
        weights = self.kernel.value.reshape(-1, self.kernel_shape[-1])
        vector_u = vector_v = self.vector_u.value
        for _ in range(self.power_iterations):
            vector_v = _l2_normalize(xp, xp.matmul(vector_u, weights.T))
            vector_u = _l2_normalize(xp, xp.matmul(vector_v, weights))
        sigma = xp.matmul(xp.matmul(vector_v, weights), vector_u.T)
        return (weights / sigma).reshape(tuple(self.kernel_shape)), vector_u

    def normalize_weights(self):
        """tf.keras's: ``(normalized kernel, new vector_u)`` from the current weights, assigning nothing."""
        kernel, vector_u = self._normalized()
        return self.ops.eager(kernel), self.ops.eager(vector_u)

    def to_backend(self, ops):
        self.layer.to_backend(ops)
        for w in self._weights:
            if w.layer is self:
                w.value = ops.asarray(self.ops.to_host(w.value))
                w.grad = None
        self.ops = ops
        if self.kernel is not None:
            self.kernel = _kernel_of(self.layer)

    # ---- config -------------------------------------------------------------------------------------------------
    def get_config(self):
        return {**super().get_config(), "power_iterations": self.power_iterations}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """The wrapper again; its ``"layer"`` a layer config (made a layer here) or a layer already (a file's,
        resolved by the loader)."""
        config = dict(config)
        layer = config.pop("layer")
        if isinstance(layer, dict):
            from . import deserialize
            layer = deserialize(layer, custom_objects=custom_objects)
        return cls(layer, **config)


def _l2_normalize(xp, x):
    """``tf.math.l2_normalize`` over all of ``x`` (a row): ``x * rsqrt(max(sum(x**2), 1e-12))``."""
    return x / xp.sqrt(xp.maximum(xp.sum(x * x), x.dtype.type(1e-12)))
