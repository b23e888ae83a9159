"""The array operations gpunet needs, written once against an array module.

`Backend` is the reference behaviour: every method is plain array-module code
(``self.xp`` is ``numpy`` or ``cupy``). `CupyBackend` overrides only the
methods that have a custom CUDA kernel. Layers, losses, metrics and optimizers
call these methods and never import numpy or cupy themselves.
"""
import math

import numpy as _numpy

from .activation_ops import ActivationOps
from .optimizer_ops import OptimizerOps
from .init_ops import InitOps
from .einsum_ops import EinsumOps
from . import eager as _eager, random as _random


class Backend(ActivationOps, OptimizerOps, InitOps, EinsumOps):
    """Reference array operations. Subclasses set ``name`` and ``xp``."""

    name = "base"
    device = "cpu"
    xp = None

    # ---- arrays and transfers -------------------------------------------------
    def asarray(self, x, dtype=None):
        """Return ``x`` as an array of this backend (no copy when possible)."""
        return self.xp.asarray(x, dtype=dtype)

    def to_host(self, x):
        """Return ``x`` as a NumPy array (the API edge: predict output, saving)."""
        return x

    def eager(self, x):
        """``x`` as calling a layer, model or loss on data returns it: the same array (a view) with
        tf.keras 2's ``.numpy()`` (backend/eager.py)."""
        return _eager.view(self.xp, x)

    def zeros(self, shape, dtype):
        return self.xp.zeros(shape, dtype=dtype)

    def ones(self, shape, dtype):
        return self.xp.ones(shape, dtype=dtype)

    def empty(self, shape, dtype):
        return self.xp.empty(shape, dtype=dtype)

    def full(self, shape, value, dtype):
        return self.xp.full(shape, value, dtype=dtype)

    def copy(self, x):
        return self.xp.array(x, copy=True)

    def concatenate(self, arrays, axis=0):
        return self.xp.concatenate(arrays, axis=axis)

    def take(self, x, indices, out=None):
        """Rows of ``x`` at ``indices`` (batch gathering)."""
        return self.xp.take(x, indices, axis=0, out=out)

    def to_scalar(self, x):
        """A Python float from a 0-d array (one device sync on the GPU)."""
        return float(x)

    # ---- embedding lookups ------------------------------------------------------
    def as_indices(self, x, limit, what):
        """``x`` (integers, or integer-valued floats: fit hands inputs over in the layer's dtype) as
        int64 row indices into a table of ``limit`` rows: `check_indices` then `to_indices`."""
        self.check_indices(x, limit, what)
        return self.to_indices(x)

    def check_indices(self, x, limit, what):
        """Raise a ValueError unless every value of ``x`` is an integer (or an integer-valued float) in
        ``[0, limit)``: the message starts with ``what`` and names the first bad value, where it is
        and the range. NumPy would wrap a negative index around and CuPy any out-of-range one, reading
        the wrong row silently. Costs one reduction (one device read, so a sync, on a GPU) when every
        index is good: fit, evaluate and predict check a model's whole input once with it
        (models/checked_input.py) rather than every batch."""
        xp = self.xp
        if x.dtype.kind == "f":
            # NaN fails every comparison; inf fails the range test
            good = (x >= 0) & (x < limit) & (x == xp.floor(x))
        elif x.dtype.kind in "iub":
            good = (x >= 0) & (x < limit)
        else:
            raise ValueError(f"{what} expects integer indices, received an array of dtype {x.dtype}.")
        if not bool(good.all()):
            host = _numpy.asarray(self.to_host(x))
            at = tuple(int(i) for i in _numpy.argwhere(~_numpy.asarray(self.to_host(good)))[0])
            value = host[at].item()
            if x.dtype.kind == "f" and _numpy.isfinite(value) and value != int(value):
                raise ValueError(f"{what} expects integer indices, received {value!r} at input position {at} "
                                 f"(tf.keras would truncate it to {int(value)}).")
            raise ValueError(f"{what} expects indices in [0, {limit}) (input_dim={limit}), received {value!r} "
                             f"at input position {at}.")

    def to_indices(self, x):
        """``x``, already checked by `check_indices`, as int64 row indices (no copy when it is int64)."""
        return x.astype("int64", copy=False)

    def scatter_add_rows(self, out, indices, values):
        """``out[indices[i]] += values[i]`` for every i, repeated indices adding up (NumPy's ``add.at``;
        CuPy's runs on atomics): the gradient of ``take(out, indices)``. ``values`` has
        ``indices.shape + out.shape[1:]``."""
        xp, width = self.xp, math.prod(out.shape[1:])
        if not out.flags.c_contiguous:
            xp.add.at(out, indices.reshape(-1), values.reshape((indices.size,) + tuple(out.shape[1:])))
            return
        # One index per element rather than per row: NumPy's add.at on a flat array takes a fast path
        # (an Embedding's gradient, 1600 ids of 16 features: 86 us against 324 on 2 cores), and each
        # element still receives its additions in the ids' order, so the sums are the same bit for bit.
        flat = (indices.reshape(-1, 1) * width + xp.arange(width)).reshape(-1)
        xp.add.at(out.reshape(-1), flat, values.reshape(-1))

    def gather_windows(self, padded, plan):
        """Every window of ``padded`` ``(batch, *spatial, channels)`` as ``(batch, *outputs, window, channels)``,
        ``plan`` an index_maps.window_plan: one strided copy per kernel position."""
        from .index_maps import kernel_slices
        outputs = tuple(p[5] for p in plan)
        out = self.xp.empty((padded.shape[0],) + outputs + (math.prod(p[2] for p in plan), padded.shape[-1]),
                            padded.dtype)
        for k, slices in enumerate(kernel_slices(plan)):
            out[(Ellipsis, k, slice(None))] = padded[(slice(None),) + slices + (slice(None),)]
        return out

    def add_window_products(self, padded, g, per_position, plan):
        """Add into ``padded`` (a convolution's padded input shape, channels last) each kernel position's
        share of its input gradient: ``g`` ``(batch, *outputs, filters)`` times that position's kernel
        ``per_position[k]`` ``(channels, filters)`` transposed, added where the position's outputs read.
        One product buffer serves every position."""
        from .index_maps import kernel_slices
        rows, channels = math.prod(g.shape[:-1]), per_position.shape[1]
        g2 = g.reshape(rows, g.shape[-1])
        product = self.xp.empty((rows, channels), g.dtype)
        for k, slices in enumerate(kernel_slices(plan)):
            self.xp.matmul(g2, per_position[k].T, out=product)
            padded[(slice(None),) + slices + (slice(None),)] += product.reshape(g.shape[:-1] + (channels,))

    # ---- linear algebra -------------------------------------------------------
    def matmul(self, a, b, trans_a=False, trans_b=False, out=None):
        """``op(a) @ op(b)`` where ``op`` transposes when asked; writes into ``out``."""
        if trans_a:
            a = a.T
        if trans_b:
            b = b.T
        return self.xp.matmul(a, b, out=out)

    def bias_add(self, x, b, out=None):
        return self.xp.add(x, b, out=out)

    def dense_forward(self, x, w, b, activation, params):
        """Fused ``y = act(x @ w + b)``. Returns ``(y, z)``: ``z`` is the
        pre-activation the backward pass needs (None where it needs only ``y``).

        x: (M, K), w: (K, N), b: (N,) or None; ``activation`` is a Keras name,
        ``params`` its keyword arguments.
        """
        z = self.xp.matmul(x, w)
        if b is not None:
            z += b
        if activation == "linear":
            return z, None
        y = self.activation_forward(activation, z, params)
        return y, (None if self.output_suffices(activation) else z)

    def dense_backward(self, dy, x, w, z, y, activation, params, dw, db, need_dx=True):
        """Backward of `dense_forward`: writes ``dW = x^T dZ`` into ``dw`` and
        ``db = sum(dZ)`` into ``db`` (either may be None: frozen or no bias),
        returns ``dX = dZ w^T`` (or None when ``need_dx`` is false)."""
        dz = dy if activation == "linear" else self.activation_backward(activation, dy, z, y, params)
        if dw is not None:
            self.xp.matmul(x.T, dz, out=dw)
        if db is not None:
            dz.sum(axis=0, out=db)
        if not need_dx:
            return None
        return self.xp.matmul(dz, w.T)

    # ---- elementwise and reductions ---------------------------------------------
    def add(self, a, b, out=None):
        return self.xp.add(a, b, out=out)

    def multiply(self, a, b, out=None):
        return self.xp.multiply(a, b, out=out)

    def sum(self, x, axis=None, keepdims=False):
        if self.xp is _numpy:  # the same reduction, without np.sum's Python-level dispatch (~1 us)
            return _numpy.add.reduce(x, axis=axis, keepdims=keepdims)
        return self.xp.sum(x, axis=axis, keepdims=keepdims)

    def batch_sums(self, x, batch_size, dtype=None, by_rows=False):
        """Sums of ``x`` over consecutive batches of ``batch_size`` rows (the last may be
        shorter), as a 1-D array: each equals summing that batch alone (the same pairwise
        reduction over the same values), for a whole epoch in one or two calls. ``by_rows``:
        each batch's rows summed, its other axes kept (shape ``(batches,) + x.shape[1:]``)."""
        xp, n = self.xp, x.shape[0]
        tail = tuple(x.shape[1:]) if by_rows else ()
        full = n - n % batch_size
        parts = []
        if full:
            parts.append(x[:full].reshape((full // batch_size, -1) + tail).sum(axis=1, dtype=dtype))
        if n > full:
            parts.append(x[full:].reshape((1, -1) + tail).sum(axis=1, dtype=dtype))
        if len(parts) == 1:
            return parts[0]
        return xp.concatenate(parts) if parts else xp.zeros((0,) + tail, dtype or x.dtype)

    def mean(self, x, axis=None, keepdims=False):
        return self.xp.mean(x, axis=axis, keepdims=keepdims)

    def var(self, x, axis=None, keepdims=False):
        return self.xp.var(x, axis=axis, keepdims=keepdims)

    def max(self, x, axis=None, keepdims=False):
        return self.xp.max(x, axis=axis, keepdims=keepdims)

    def argmax(self, x, axis=-1):
        return self.xp.argmax(x, axis=axis)

    def sqrt(self, x, out=None):
        return self.xp.sqrt(x, out=out)

    # ---- merge layers (layers/merge.py) -------------------------------------------
    def maximum(self, a, b, out=None):
        """Elementwise maximum with broadcasting (NaN propagates, as in TensorFlow)."""
        return self.xp.maximum(a, b, out=out)

    def minimum(self, a, b, out=None):
        """Elementwise minimum with broadcasting (NaN propagates, as in TensorFlow)."""
        return self.xp.minimum(a, b, out=out)

    def batch_matmul(self, a, b, trans_a=False, trans_b=False):
        """``op(a) @ op(b)`` over stacks of matrices (``(..., M, K) @ (..., K, N)``), where ``op``
        swaps the last two axes when asked (`matmul`'s ``.T`` would reverse the batch axes too)."""
        if trans_a:
            a = a.swapaxes(-1, -2)
        if trans_b:
            b = b.swapaxes(-1, -2)
        return self.xp.matmul(a, b)

    def sum_to_shape(self, x, shape):
        """``x`` summed down to ``shape``, which broadcasts to ``x.shape`` (NumPy's rules: extra
        leading axes and size-1 axes are summed over): the gradient of broadcasting an array of
        ``shape``. Returns ``x`` itself when the shapes already match."""
        shape = tuple(shape)
        lead = x.ndim - len(shape)
        if lead > 0:
            x = self.sum(x, axis=tuple(range(lead)))
        axes = tuple(i for i, (want, have) in enumerate(zip(shape, x.shape)) if want == 1 and have != 1)
        if axes:
            x = self.sum(x, axis=axes, keepdims=True)
        return x

    def split(self, x, sizes, axis):
        """``x`` cut along ``axis`` into consecutive pieces of ``sizes`` (which add up to
        ``x.shape[axis]``): the gradient of `concatenate`. Each piece is a fresh C-contiguous
        copy, so later code (kernels wanting contiguous buffers, in-place accumulation) may use
        it freely."""
        axis = axis % x.ndim
        pieces, start = [], 0
        for size in sizes:
            index = (slice(None),) * axis + (slice(start, start + size),)
            pieces.append(x[index].copy())
            start += size
        return pieces

    def isfinite_all(self, x):
        return bool(self.xp.isfinite(x).all())

    # ---- random numbers (host generator: repeatable and saved for resume) -------
    # Weight draws (draw_uniform, draw_normal, ...) live in InitOps.
    def permutation(self, n):
        """A host index permutation (shuffling happens on the host side)."""
        return _random.generator().permutation(n)

    def dropout_mask(self, shape, rate, dtype, generator=None):
        """Inverted-dropout mask: 0 with probability ``rate``, else ``1/(1-rate)``.
        ``generator`` is a layer's own seeded generator (Dropout(seed=...))."""
        keep = (generator or _random.generator()).random(size=shape) >= rate
        return self.asarray(keep * (1.0 / (1.0 - rate)), dtype)
