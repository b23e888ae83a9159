"""What calling a layer, a model or a loss on data hands back (``model(x)``, ``loss_fn(y, p)``):
the backend's own array, viewed (no copy) as a subclass that adds tf.keras 2's ``.numpy()``.

TensorFlow's quickstart writes ``predictions = model(x_train[:1]).numpy()`` and
``loss_fn(y_train[:1], predictions).numpy()``; these run unchanged. Everything else an array
does, the view does (it is an ndarray: NumPy functions, indexing, arithmetic).
"""
import numpy


class EagerArray(numpy.ndarray):
    """A NumPy array with ``.numpy()``, as tf.keras 2's eager tensors have."""

    def numpy(self):
        """The values as a plain NumPy array (a view of the same memory, as TensorFlow's on the CPU); a NumPy
        scalar where there are no axes, as TensorFlow's scalars give."""
        return self.view(numpy.ndarray) if self.ndim else self.view(numpy.ndarray)[()]


class EagerFloat(float):
    """A Python float with ``.numpy()`` (a metric's result from calling it, as tf.keras 2's scalar tensors)."""

    def numpy(self):
        return numpy.float32(self)


class EagerBytes(bytes):
    """Bytes with ``.numpy()`` (one text of a dataset, as tf.data's scalar string tensors)."""

    def numpy(self):
        return bytes(self)


_subclasses = {numpy: EagerArray}


def _cupy_subclass(xp):
    class EagerCupyArray(xp.ndarray):
        """A CuPy array with ``.numpy()``: its values copied to the host."""

        def numpy(self):
            host = xp.asnumpy(self)
            return host if host.ndim else host[()]

    return EagerCupyArray


def view(xp, x):
    """``x`` (an array of ``xp``, or a scalar) as an eager result: ``.numpy()`` added, no copy.
    Where the array module refuses a subclass view, ``x`` itself."""
    x = xp.asarray(x)
    cls = _subclasses.get(xp, False)
    if cls is False:
        cls = _subclasses[xp] = _cupy_subclass(xp) if hasattr(xp, "asnumpy") else None
    if cls is None or type(x) is not xp.ndarray:
        return x
    try:
        return x.view(type=cls)
    except (TypeError, ValueError, NotImplementedError):  # an array module without subclass views
        _subclasses[xp] = None
        return x
