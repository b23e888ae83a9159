"""Stateful metrics: a weighted mean of per-sample values accumulated over batches."""
import re

from .. import backend as B


def _snake(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class Metric:
    """Base class of gpunet's metrics (Keras's ``keras.metrics.Metric``).

    The training loop calls ``reset_state()``, then ``update(ops, y_true, y_pred,
    sample_weight)`` for every batch and ``result()`` (a Python float) when it reports.
    Users may call the Keras-style ``update_state(y_true, y_pred, sample_weight=None)``::

        m = BinaryAccuracy()
        m.update_state([[1], [0]], [[0.7], [0.8]])
        m.result()    # 0.5
    """

    def __init__(self, name=None, dtype=None):
        self.name = name or _snake(type(self).__name__)
        self.dtype = dtype or B.floatx()
        # the running mean starts empty; reset_state is not called here, as Keras does not call it: a
        # subclass's override reads the variables its __init__ makes after this (Keras's guide's
        # CategoricalTruePositives resets self.true_positives)
        self._total = 0.0
        self._count = 0.0

    def reset_state(self):
        """Forget everything accumulated (Keras calls this at each epoch start): gpunet's running
        mean, and every variable made with `add_weight` back to its initial value."""
        self._total = 0.0
        self._count = 0.0
        for variable in getattr(self, "_variables", ()):
            variable.reset()

    def add_weight(self, *args, **kwargs):
        """A state variable for a Keras-style subclass (``update_state`` / ``result``): a
        `MetricVariable` of ``shape``, initialised by ``initializer`` (None: zeros) and reset to that value
        by `reset_state`. ``aggregation``, ``synchronization`` and the like are accepted and ignored.
        Keras 3's positional order, ``add_weight(shape, initializer, dtype)``, is taken too."""
        from .. import initializers
        from .state import MetricVariable
        from ..layers.layer_args import weight_arguments
        kwargs = weight_arguments(type(self).__name__, args, kwargs, ("name", "shape", "aggregation", "synchronization",
                                                                       "initializer", "dtype"),
                                  ("shape", "initializer", "dtype", "name"))
        name, shape, dtype = kwargs.get("name"), kwargs.get("shape", ()), kwargs.get("dtype")
        initializer = "zeros" if kwargs.get("initializer") is None else kwargs["initializer"]
        taken = [v.name for v in getattr(self, "_variables", ())]
        name = name or next(n for n in (f"variable_{i}" if i else "variable" for i in range(len(taken) + 1))
                            if n not in taken)
        ops = B.get_backend()
        value = initializers.get(initializer)(tuple(shape), dtype or self.dtype)
        variable = MetricVariable(ops, name, ops.asarray(value, dtype=dtype or self.dtype))
        self.__dict__.setdefault("_variables", []).append(variable)
        return variable

    def add_variable(self, shape, initializer, dtype=None, aggregation="sum", name=None):
        """Keras 3's name for `add_weight`, its arguments in Keras 3's order."""
        return self.add_weight(name=name, shape=shape, initializer=initializer, dtype=dtype, aggregation=aggregation)

    @property
    def variables(self):
        """The state variables made with `add_weight` / `add_variable`, in order (Keras's ``variables``)."""
        return list(getattr(self, "_variables", ()))

    reset_states = reset_state  # Keras 2's older name

    def _variables_on(self, ops):
        """Move the `add_weight` variables to the backend ``ops`` (a metric may be made under one
        backend and updated under another)."""
        for v in getattr(self, "_variables", ()):
            v.to_backend(ops)

    def update(self, ops, y_true, y_pred, sample_weight=None):
        """Accumulate one batch of backend arrays; no host synchronization. A Keras-style
        subclass defines ``update_state`` instead, which the training loop then calls."""
        if type(self).update_state is not Metric.update_state:
            from .functions import as_column  # 1-D targets and weights as tf.keras 2 hands them over: (n, 1)
            self.update_state(as_column(y_true), y_pred, None if sample_weight is None else as_column(sample_weight))
            return
        raise NotImplementedError(f"{type(self).__name__} must define update_state(y_true, y_pred, "
                                  "sample_weight=None) and result(), as a Keras metric does")

    def update_batches(self, ops, y_true, y_pred, sample_weight, batch_size):
        """`update` for each consecutive batch of ``batch_size`` samples in turn (the last
        may be shorter): the training loop's way to hand over an epoch at once."""
        for lo in range(0, y_pred.shape[0], batch_size):
            hi = lo + batch_size
            self.update(ops, y_true[lo:hi], y_pred[lo:hi], None if sample_weight is None else sample_weight[lo:hi])

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Keras-style update with array-likes (or a layer's tape tensors, in its call), on the current backend."""
        from ..autodiff.tensor import value_of
        ops = B.get_backend()
        y_true, y_pred = value_of(y_true), value_of(y_pred)
        sample_weight = None if sample_weight is None else value_of(sample_weight)
        y_pred = ops.asarray(y_pred)
        if y_pred.dtype.kind != "f":
            y_pred = ops.asarray(y_pred, dtype=B.floatx())
        y_true = ops.asarray(y_true)
        if y_true.dtype.kind in "fb" and y_true.dtype != y_pred.dtype:
            y_true = y_true.astype(y_pred.dtype)
        if y_true.ndim == y_pred.ndim - 1 and y_pred.shape[-1] == 1:
            y_true = y_true.reshape(tuple(y_true.shape) + (1,))  # Keras squeezes (N, 1) against (N,); fit reshapes so
        if sample_weight is not None:
            sample_weight = ops.asarray(sample_weight, dtype=y_pred.dtype)
        self.update(ops, y_true, y_pred, sample_weight)

    def result(self):
        """The weighted mean so far, as a Python float (0.0 before any sample)."""
        count = float(self._count)
        return float(self._total) / count if count else 0.0

    def __call__(self, y_true, y_pred, sample_weight=None):
        """Keras's stateful call: update, then return the result (which remembers this metric: given to a
        layer's ``add_metric``, the metric itself is logged and reset each epoch, as in tf.keras 2)."""
        self.update_state(y_true, y_pred, sample_weight)
        value = self.result()
        if isinstance(value, float):
            from .added import MetricResult
            value = MetricResult(value)
            value.metric = self
        return value

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}>"


class MeanMetricWrapper(Metric):
    """The weighted mean of ``fn``'s per-sample values (Keras's ``MeanMetricWrapper``).

    ``fn(y_true, y_pred, **kwargs)`` may be a gpunet.metrics or gpunet.losses function
    or your own function of backend arrays.
    """

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        from . import functions
        self._fn_name = getattr(fn, "__name__", None)
        self._fn = functions.internal(fn)
        self._fn_kwargs = kwargs
        super().__init__(name or self._fn_name, dtype)

    def _values(self, ops, y_true, y_pred):
        return self._fn(ops, y_true, y_pred, **self._fn_kwargs)

    def update(self, ops, y_true, y_pred, sample_weight=None):
        xp = ops.xp
        v = self._values(ops, y_true, y_pred)
        # Sums in float64 on the device: exact for counts, no host round trip per batch.
        if sample_weight is None:
            self._total = self._total + xp.sum(v, dtype=xp.float64)
            self._count = self._count + v.size
            return
        w = _weights_for(sample_weight, v)
        self._total = self._total + xp.sum(v * w, dtype=xp.float64)
        # each weight counts once per value it weighs (a function returning one value for the batch
        # weighs it by the batch's total weight, as Keras's Mean does)
        self._count = self._count + xp.sum(w, dtype=xp.float64) * max(1, v.size // max(w.size, 1))

    def update_batches(self, ops, y_true, y_pred, sample_weight, batch_size):
        """As `update` batch after batch, with each function call and sum made once for all
        batches. Only for gpunet's own functions, whose values are per sample (a user's
        function may compute over the whole batch), and only where `update` is this class's."""
        from . import functions
        cls = type(self)
        if (not functions.per_sample(self._fn) or cls.update is not MeanMetricWrapper.update
                or cls._values.__module__ != __name__):
            return super().update_batches(ops, y_true, y_pred, sample_weight, batch_size)
        xp = ops.xp
        v = self._values(ops, y_true, y_pred)
        n = v.shape[0]
        sizes = [min(batch_size, n - lo) * (v.size // max(n, 1)) for lo in range(0, n, batch_size)]
        if sample_weight is None:
            sums, counts = ops.batch_sums(v, batch_size, xp.float64), sizes
        else:
            w = _weights_for(sample_weight, v)
            sums = ops.batch_sums(v * w, batch_size, xp.float64)
            w_sums = ops.to_host(ops.batch_sums(w, batch_size, xp.float64)).tolist()
            counts = [ws * (size // max(min(batch_size, n - lo), 1))
                      for ws, size, lo in zip(w_sums, sizes, range(0, n, batch_size))]
        total, count = self._total, self._count
        for s, c in zip(ops.to_host(sums).tolist(), counts):  # batch by batch, in `update`'s order
            total, count = total + s, count + c
        self._total, self._count = total, count

    def get_config(self):
        config = super().get_config()
        config.update(self._fn_kwargs)
        return config


def _weights_for(w, v):
    """Sample weights shaped against the values ``v`` as Keras's ``squeeze_or_expand_dimensions``
    does: ``(N, 1)`` weights for ``(N,)`` values lose their last axis (else they would broadcast
    to ``(N, N)``), lower-rank weights gain trailing axes."""
    if w.ndim == v.ndim + 1 and w.shape[-1] == 1:
        w = w.reshape(w.shape[:-1])
    if v.ndim > w.ndim:
        w = w.reshape(tuple(w.shape) + (1,) * (v.ndim - w.ndim))
    return w


class RootMeanSquaredError(MeanMetricWrapper):
    """``sqrt(weighted mean of (y_true - y_pred) ** 2)`` over all values seen."""

    def __init__(self, name="root_mean_squared_error", dtype=None):
        from .functions import squared_error
        super().__init__(squared_error, name, dtype)

    def result(self):
        return super().result() ** 0.5

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


class _Resolved(MeanMetricWrapper):
    """``"accuracy"``/``"acc"`` or ``"crossentropy"``/``"ce"``: the binary, categorical or sparse
    version, chosen as Keras 2 does. The user's spelling is the name.

    Keras 2.0-2.3 (``training_utils.get_metric_function``) picks binary when the loss is
    binary_crossentropy or the output has one unit, sparse when the loss is
    sparse_categorical_crossentropy, else categorical; tf-keras 2.x decides from the shapes
    alone (sparse when ``y_true`` has lower rank, or last dimension 1 against several
    outputs). Both rules are applied, the loss first; they differ only for a multi-unit
    output trained with binary_crossentropy (binary here, as in Keras 2.0-2.3).
    """

    def __init__(self, name, kind, loss=None, dtype=None):
        self._kind = kind
        self._loss_kind = _loss_kind(loss)
        super().__init__(_unresolved, name, dtype)
        self._fn, self._fn_name = _unresolved, None
        if self._loss_kind in ("binary", "sparse"):
            self._resolve(self._loss_kind)

    def _resolve(self, which):
        from . import functions
        self._fn_name = functions.RESOLVED[self._kind][which]
        self._fn = functions.internal(functions.PUBLIC[self._fn_name])

    def update_batches(self, ops, y_true, y_pred, sample_weight, batch_size):
        if self._fn is _unresolved:
            self.resolve_for(tuple(y_true.shape), tuple(y_pred.shape))
        super().update_batches(ops, y_true, y_pred, sample_weight, batch_size)

    def resolve_for(self, y_true_shape, y_pred_shape):
        """Fix the underlying function for targets/outputs of these shapes; returns its Keras name."""
        if self._fn is _unresolved:
            binary = y_pred_shape[-1] == 1
            sparse = (len(y_true_shape) < len(y_pred_shape)
                      or (y_true_shape[-1] == 1 and y_pred_shape[-1] > 1))
            self._resolve("binary" if binary else "sparse" if sparse else "categorical")
        return self._fn_name

    def _values(self, ops, y_true, y_pred):
        if self._fn is _unresolved:
            self.resolve_for(tuple(y_true.shape), tuple(y_pred.shape))
        return self._fn(ops, y_true, y_pred)

    @property
    def fn_name(self):
        """The resolved Keras function name (e.g. ``"binary_accuracy"``), None until known."""
        return None if self._fn is _unresolved else self._fn_name


def _unresolved(ops, y_true, y_pred):
    raise AssertionError("unresolved metric")  # _Resolved._values resolves before calling


def _loss_kind(loss):
    from .. import losses
    if isinstance(loss, (str, dict)):
        loss = losses.get(loss)
    if isinstance(loss, losses.BinaryCrossentropy):
        return "binary"
    if isinstance(loss, losses.SparseCategoricalCrossentropy) or getattr(loss, "sparse_labels", False):
        return "sparse"
    return None
