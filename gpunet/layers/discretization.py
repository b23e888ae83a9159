"""tf.keras 2's `Discretization`: continuous values to the index of the bin they fall in
(``keras.layers.Discretization``; tf_keras 2.21's semantics, messages and config).

``adapt`` computes the bins as tf.keras does, with its approximate quantile summary (tf_keras's
``summarize``/``merge_summaries``/``compress``, here on NumPy arrays in float32 as there): each
batch (32 samples by default) is reduced to about ``1/epsilon`` weighted points, merged into the
running summary, and the ``num_bins - 1`` boundaries are read off it at the end. gpunet runs the
same arithmetic, so its boundaries are tf.keras's for the same data and batch size, not exact
quantiles (which they approach as ``epsilon`` shrinks). The summary is the layer's weight, as in
tf.keras: a ``.h5`` file carries it, and the boundaries are recomputed from it when it is loaded.
"""
import warnings

from .. import backend as B
from . import categorical as cat
from .base import Layer
from .symbolic import is_symbolic


def _np():
    return B.resolve("numpy").xp  # adapt's summaries are small host arrays, as tf.keras's (NumPy) ones


def summarize(values, epsilon):
    """tf_keras's ``summarize``: the sorted values (float32) at every ``len/(1/epsilon)``-th place,
    each weighing the number of values it stands for: a ``(2, k)`` array."""
    np = _np()
    values = np.sort(values.reshape(-1).astype("float32"), kind="stable")
    increment = int(np.float32(values.size) / np.float32(1.0 / epsilon))  # (tf: float32 division, truncated)
    step = max(increment, 1)
    points = values[increment::step]
    return np.stack([points, np.full(points.shape, step, dtype="float32")])


def compress(summary, epsilon):
    """tf_keras's ``_compress_summary_numpy``: the summary at ``1/epsilon`` evenly spaced cumulative
    weights (interpolated), or itself when it has fewer points than that."""
    np = _np()
    if summary.shape[1] * epsilon < 1:
        return summary
    percents = epsilon + np.arange(0.0, 1.0, epsilon)
    cum_weights = summary[1].cumsum()
    cum_weight_percents = cum_weights / cum_weights[-1]
    new_bins = np.interp(percents, cum_weight_percents, summary[0])
    cum_weights = np.interp(percents, cum_weight_percents, cum_weights)
    new_weights = cum_weights - np.concatenate((np.array([0]), cum_weights[:-1]))
    return np.stack((new_bins, new_weights)).astype("float32")


def merge_summaries(prev_summary, next_summary, epsilon):
    """tf_keras's ``merge_summaries``: both summaries' points in order of value, compressed."""
    np = _np()
    merged = np.concatenate((prev_summary, next_summary), axis=1)
    merged = merged[:, np.argsort(merged[0], kind="stable")]
    return compress(merged, epsilon)


def bin_boundaries_of(summary, num_bins):
    """The ``num_bins - 1`` boundaries a summary gives (tf_keras's ``get_bin_boundaries``), as floats."""
    return compress(summary, 1.0 / num_bins)[0, :-1].astype("float32").tolist()


class _Summary(cat.StateWeight):
    """The quantile summary: tf.keras 2 saves it (its ``summary`` variable); Keras 3 keeps the
    boundaries in the config instead and has no variable, so gpunet writes none in Keras 3's
    layouts (.keras, .weights.h5) either (saving/model_state.py, weight_matching.py ask ``in_keras3``)."""

    __slots__ = ()
    in_keras3 = False


class Discretization(Layer):
    """Buckets continuous values: the output is the index of the range each value falls in.

    ``bin_boundaries=[0., 1., 2.]`` makes the bins ``(-inf, 0)``, ``[0, 1)``, ``[1, 2)`` and
    ``[2, inf)`` (indices 0 to 3; NaN goes to the last bin, as in tf.keras). Or give ``num_bins``
    and call ``adapt(data)`` to place the boundaries at (approximate) quantiles of your data;
    ``epsilon`` is the summary's precision. Boundaries are float32 values, as tf.keras's.

    ``output_mode``: ``"int"`` (the indices, int64), ``"one_hot"``, ``"multi_hot"`` or ``"count"``
    (vectors of ``len(bin_boundaries) + 1`` values, as `CategoryEncoding` makes them). Any input
    rank in ``"int"`` mode; the vector modes give at most 2-D outputs.

    Example::

        layer = Discretization(bin_boundaries=[0., 1., 2.])
        layer([[-1.5, 1.0, 3.4, .5], [0.0, 3.0, 1.3, 0.0]])  # [[0, 2, 3, 1], [1, 3, 2, 1]]

    ``sparse=True`` is refused (gpunet has no sparse tensors).
    """

    _allowed_kwargs = Layer._allowed_kwargs + ("bins",)  # (tf.keras's old argument for either)

    def __init__(self, bin_boundaries=None, num_bins=None, epsilon=0.01, output_mode="int", sparse=False, **kwargs):
        if "bins" in kwargs:  # tf.keras's old argument for either
            warnings.warn("bins is deprecated, please use bin_boundaries or num_bins instead.", DeprecationWarning,
                          stacklevel=2)
            bins = kwargs.pop("bins")
            if isinstance(bins, int) and num_bins is None:
                num_bins = bins
            elif bin_boundaries is None:
                bin_boundaries = bins
        int_dtype = cat.split_dtype(kwargs)
        super().__init__(**kwargs)
        self.output_dtype = int_dtype or ("int64" if output_mode == cat.INT else self.dtype)
        cat.validate_string_arg(output_mode, (cat.INT, cat.ONE_HOT, cat.MULTI_HOT, cat.COUNT),
                                "Discretization", "output_mode")
        if sparse and output_mode == cat.INT:
            raise ValueError(f"`sparse` may only be true if `output_mode` is `'one_hot'`, `'multi_hot'`, or "
                             f"`'count'`. Received: sparse={sparse} and output_mode={output_mode}")
        cat.refuse_sparse(sparse, "Discretization")
        if num_bins is not None and (isinstance(num_bins, bool) or not isinstance(num_bins, int)):
            raise ValueError(f"`num_bins` must be an integer or None. Received: num_bins={num_bins!r}")
        if num_bins is not None and num_bins < 0:
            raise ValueError(f"`num_bins` must be greater than or equal to 0. You passed `num_bins={num_bins}`")
        if num_bins is not None and bin_boundaries is not None:
            raise ValueError(f"Both `num_bins` and `bin_boundaries` should not be set. You passed "
                             f"`num_bins={num_bins}` and `bin_boundaries={bin_boundaries}`")
        self.input_bin_boundaries = None if bin_boundaries is None else _float_list(bin_boundaries)
        self.num_bins = num_bins
        self.epsilon = epsilon
        self.output_mode = output_mode
        self.sparse = bool(sparse)
        self.summary = None
        self._keras3_num_bins = None  # (read from a Keras 3 config that holds both: written back there)
        self._adapted = (None, [])  # (the summary array they come from, the boundaries)
        self._device = None  # (backend, summary array, float32 boundaries, float64 boundaries)

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.get("bin_boundaries") is not None and config.get("num_bins") is not None:
            # Keras 3 writes an adapted layer's boundaries beside num_bins: static bins here
            num_bins = config.pop("num_bins")
            layer = cls(**config)
            layer._keras3_num_bins = num_bins
            return layer
        return cls(**config)

    def build(self, input_shape):
        if self.input_bin_boundaries is None and self.summary is None:
            empty = self.ops.zeros((2, 0), "float32")
            self.summary = _Summary(self, "summary", empty, trainable=False)
            self._weights.append(self.summary)
        super().build(input_shape)

    @property
    def bin_boundaries(self):
        """The boundaries in use: those given, or those ``adapt`` found (``[]`` before it)."""
        if self.input_bin_boundaries is not None:
            return list(self.input_bin_boundaries)
        if self.summary is None:
            return []
        value = self.summary.value
        if self._adapted[0] is not value:  # a new summary (adapt, a loaded file): its boundaries
            bounds = bin_boundaries_of(self.ops.to_host(value), self.num_bins) if value.shape[1] and self.num_bins \
                else []
            self._adapted = (value, bounds)
        return list(self._adapted[1])

    def compute_output_shape(self, input_shape):
        bins = len(self.bin_boundaries) + 1
        if self.input_bin_boundaries is None and bins == 1 and self.num_bins:
            # not adapted yet (a model read from a file, its summary loaded after the model is built):
            # the width adapt will give (tf.keras takes 1 here, and cannot reload its own .h5 then)
            bins = self.num_bins
        return cat.encoded_shape(input_shape, self.output_mode, bins)

    def __call__(self, x, *args, **kwargs):
        if isinstance(x, (list, tuple, float)) and not is_symbolic(x):
            # Python floats become float32 in tf.keras (a NumPy float64 array stays float64): compared so here too
            x = self.ops.asarray(x)
            x = x.astype("float32") if x.dtype == "float64" else x
        with cat.called_directly():
            return super().__call__(x, *args, **kwargs)

    def forward(self, x, training=False):
        self._x = x
        ops = self.ops
        bounds = self.bin_boundaries
        key = self.summary.value if self.summary is not None else None
        if self._device is None or self._device[0] is not ops or self._device[1] is not key:
            b32 = ops.asarray(bounds, dtype="float32").reshape(-1)
            self._device = (ops, key, b32, b32.astype("float64"))
        _, _, b32, b64 = self._device
        # tf's Bucketize compares each value with float32 boundaries: doubles as doubles, the rest as float32
        if x.dtype == b64.dtype:
            indices = ops.xp.searchsorted(b64, x, side="right")
        else:
            indices = ops.xp.searchsorted(b32, x.astype("float32"), side="right")
        return cat.encode(ops, indices.astype("int64", copy=False), self.output_mode, len(bounds) + 1,
                          cat.result_dtype(self))

    def backward(self, dy, need_dx=True):
        return cat.no_input_gradient(self, self._x) if need_dx else None

    def adapt(self, data, batch_size=None, steps=None):
        """Place the boundaries at approximate quantiles of ``data``: an array (in batches of
        ``batch_size`` samples, 32 by default, as tf.keras: the summary depends on it), or the
        batches of a generator or `gpunet.utils.Sequence` (``steps``: how many). Replaces what an
        earlier ``adapt`` found; a model holding the layer uses the new boundaries at once (tf.keras
        needs it compiled again). NaN in the data is a ValueError (tf.keras makes it a boundary)."""
        if self.input_bin_boundaries is not None:
            raise ValueError(f"Cannot adapt a Discretization layer that has been initialized with `bin_boundaries`, "
                             f"use `num_bins` instead. You passed `bin_boundaries={self.input_bin_boundaries}`.")
        self._check_num_bins()
        summary = None
        for batch in cat.host_batches(data, batch_size, steps):
            _refuse_nan(batch, self.name)
            if summary is None:
                cat.adapt_build(self, batch)
                summary = _np().zeros((2, 0), "float32")
            summary = merge_summaries(summarize(batch, self.epsilon), summary, self.epsilon)
        if summary is None:
            raise ValueError(f"Discretization '{self.name}': adapt received no data from {type(data).__name__}.")
        self.summary.assign(summary)
        self.output_shape = self.compute_output_shape(self.input_shape)  # (the vector modes' width)

    def update_state(self, data):
        """Merge one batch into the summary (what ``adapt`` does per batch); `finalize_state` is a no-op."""
        if self.input_bin_boundaries is not None:
            raise ValueError(f"Cannot adapt a Discretization layer that has been initialized with `bin_boundaries`, "
                             f"use `num_bins` instead. You passed `bin_boundaries={self.input_bin_boundaries}`.")
        if not self.built:
            raise RuntimeError("`build` must be called before `update_state`.")
        batch = cat.host_array(data)
        _refuse_nan(batch, self.name)
        self.summary.assign(merge_summaries(summarize(batch, self.epsilon), self.ops.to_host(self.summary.value),
                                            self.epsilon))

    def finalize_state(self):
        """tf.keras's step after the batches: the boundaries follow the summary here, so nothing to do."""
        if self.summary is not None and self.summary.value.shape[1]:
            self._check_num_bins()

    def reset_state(self):
        """Forget what ``adapt`` summarized (the boundaries become ``[]``)."""
        if self.summary is not None:
            self.summary.assign(self.ops.zeros((2, 0), "float32"))

    def _check_num_bins(self):
        if self.num_bins is None or self.num_bins < 1:
            raise ValueError(f"Discretization '{self.name}' needs `num_bins` >= 1 to adapt (the number of bins to "
                             f"place), received num_bins={self.num_bins}.")
        if not isinstance(self.epsilon, (int, float)) or not self.epsilon > 0:
            raise ValueError(f"Discretization '{self.name}': `epsilon` must be a number > 0 (the summary keeps "
                             f"about 1/epsilon points), received epsilon={self.epsilon!r}.")

    def get_config(self):
        config = super().get_config()
        config["dtype"] = self.output_dtype
        config.update({"bin_boundaries": self.input_bin_boundaries, "num_bins": self.num_bins,
                       "epsilon": self.epsilon, "output_mode": self.output_mode, "sparse": self.sparse})
        return config

    def keras3_config(self, config):
        """Keras 3's form of `get_config`'s (saving/keras3_config.py): the boundaries in use beside
        ``num_bins`` (Keras 3 keeps an adapted layer's there, and no summary), its float dtype, and
        no ``trainable`` (which Keras 3's Discretization does not take)."""
        config = dict(config)
        if self.input_bin_boundaries is None and self.summary is not None and self.summary.value.shape[1]:
            config["bin_boundaries"] = self.bin_boundaries
        elif self._keras3_num_bins is not None:
            config["num_bins"] = self._keras3_num_bins
        config["dtype"] = self.dtype
        config.pop("trainable", None)  # (Keras 3's Discretization takes no such argument)
        return config


def _refuse_nan(batch, name):
    """NaN in adapt's data would end up among the boundaries (tf.keras sorts it first and interpolates
    with it): refused here, naming where it is."""
    np = _np()
    if batch.dtype.kind == "f" and np.isnan(batch).any():
        at = tuple(int(i) for i in np.argwhere(np.isnan(batch))[0])
        raise ValueError(f"Discretization '{name}': adapt received NaN (at position {at} of a batch of shape "
                         f"{tuple(batch.shape)}); quantiles of data with NaN are undefined (tf.keras would make "
                         f"NaN a bin boundary). Drop or replace the NaN values first.")


def _float_list(values):
    """Given boundaries as a list of floats (from a list, tuple, or array of either backend)."""
    if isinstance(values, (list, tuple)):
        out = [float(v) for v in values]
    else:
        out = [float(v) for v in cat.host_array(values).reshape(-1).tolist()]
    if any(b > a for a, b in zip(out[1:], out)):
        raise ValueError(f"Discretization: `bin_boundaries` must be sorted in increasing order (tf.keras's "
                         f"Bucketize: \"Expected sorted boundaries\"), received {out}")
    return out
