"""`InputSpec`: what a layer accepts (rank, sizes on some axes), as Keras layers declare it.

Keras 2 code sets ``self.input_spec = InputSpec(min_ndim=2)`` in ``__init__`` and
``InputSpec(min_ndim=2, axes={-1: input_dim})`` in ``build`` (Keras's own Dense does). gpunet
checks a layer's spec where Keras does, when the layer is called (on arrays or on the functional
API's symbolic tensors) and when a Sequential model builds it, with Keras's messages.
"""


class InputSpec:
    """Keras's ``InputSpec``: ``ndim``, ``max_ndim``, ``min_ndim``, ``shape`` (None for any size),
    ``axes`` (``{axis: size}``), ``dtype`` and ``name`` are recorded; the shape checks are enforced."""

    def __init__(self, dtype=None, shape=None, ndim=None, max_ndim=None, min_ndim=None, axes=None,
                 allow_last_axis_squeeze=False, name=None):
        self.dtype = None if dtype is None else str(dtype)
        self.shape = None if shape is None else tuple(shape)
        self.ndim = len(self.shape) if self.shape is not None else ndim
        self.max_ndim, self.min_ndim = max_ndim, min_ndim
        self.allow_last_axis_squeeze, self.name = allow_last_axis_squeeze, name
        self.axes = dict(axes or {})
        try:
            self.axes = {int(k): v for k, v in self.axes.items()}
        except (TypeError, ValueError):
            raise TypeError(f"InputSpec: the keys of `axes` must be integers, received {list(self.axes)}") from None
        if self.axes and (self.ndim is not None or self.max_ndim is not None):
            rank = self.ndim if self.ndim is not None else self.max_ndim
            if max(self.axes) > rank - 1:
                raise ValueError(f"Axis {max(self.axes)} is greater than the maximum allowed value: {rank - 1}")

    def get_config(self):
        return {"dtype": self.dtype, "shape": self.shape, "ndim": self.ndim, "max_ndim": self.max_ndim,
                "min_ndim": self.min_ndim, "axes": self.axes}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        parts = [f"{k}={v}" for k, v in (("dtype", self.dtype), ("shape", self.shape), ("ndim", self.ndim),
                                          ("max_ndim", self.max_ndim), ("min_ndim", self.min_ndim),
                                          ("axes", self.axes or None)) if v is not None]
        return f"InputSpec({', '.join(parts)})"


def check(layer, shape):
    """Raise Keras's ValueError where ``shape`` (a tuple, or a list of them for a layer called on
    several tensors) does not fit ``layer.input_spec`` (nothing to check when it has none)."""
    spec = getattr(layer, "input_spec", None)
    if spec is None:
        return
    specs = list(spec) if isinstance(spec, (list, tuple)) else [spec]
    shapes = [tuple(s) for s in shape] if isinstance(shape, list) else [tuple(shape)]
    if len(specs) != len(shapes):
        raise ValueError(f'Layer "{layer.name}" expects {len(specs)} input(s), but it received {len(shapes)} input '
                         f"tensors. Inputs received: {shapes}")
    for index, (s, got) in enumerate(zip(specs, shapes)):
        if s is not None:
            _check_one(layer.name, index, s, got)


def _check_one(name, index, spec, shape):
    where = f'Input {index} of layer "{name}" is incompatible with the layer'
    rank = len(shape)
    if spec.ndim is not None and not spec.allow_last_axis_squeeze and rank != spec.ndim:
        raise ValueError(f"{where}: expected ndim={spec.ndim}, found ndim={rank}. Full shape received: {shape}")
    if spec.max_ndim is not None and rank > spec.max_ndim:
        raise ValueError(f"{where}: expected max_ndim={spec.max_ndim}, found ndim={rank}. Full shape received: {shape}")
    if spec.min_ndim is not None and rank < spec.min_ndim:
        raise ValueError(f"{where}: expected min_ndim={spec.min_ndim}, found ndim={rank}. Full shape received: {shape}")
    for axis, value in spec.axes.items():
        if value is None:
            continue
        if not -rank <= axis < rank:
            raise ValueError(f"{where}: expected axis {axis} of input shape to have value {value}, but received "
                             f"input with shape {shape}")
        if shape[axis] not in (value, None):
            raise ValueError(f"{where}: expected axis {axis} of input shape to have value {value}, but received "
                             f"input with shape {shape}")
    if spec.shape is not None and rank == len(spec.shape):
        for want, got in zip(spec.shape, shape):
            if want is not None and got is not None and want != got:
                raise ValueError(f"{where}: expected shape={spec.shape}, found shape={shape}")
