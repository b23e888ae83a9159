"""compile for a functional model with several outputs, as tf.keras 2 does it.

``loss``: one identifier for every output, a list (one per output) or a dict keyed by output
layer name (an output left out trains on no loss); ``loss_weights``: a list or dict of floats;
``metrics``: a list applied to every output, a list of lists, or a dict of lists. The total loss is
the weighted sum of the outputs' losses. Logs, History keys and ``metrics_names`` are tf.keras 2's:
``loss``, ``<output>_loss`` for each output (before its weight), then for each output its metrics
``<output>_<metric>`` and its weighted metrics (``<output>_weighted_<metric>`` where a metric of
that output has the name already).

``sample_weight`` comes as one array ``(n,)``, which weights every output, or as one column per
output ``(n, outputs)`` (fit's list or dict of weights per output, packed by
backend/io_packing.py's `pack_weights`): each output's loss and weighted metrics then take their
column, as tf.keras 2 gives each output its own weights.

The engine sees one loss (`MultiOutputLoss`) over the outputs packed side by side (the model's
forward packs them, `Functional._backward` splits the gradient) and targets packed the same way
(backend/io_packing.py): each output's columns go to its own loss and metrics.
"""
import copy

from .. import losses as _losses, metrics as _metrics
from ..backend import io_packing
from ..metrics.base import Metric


def per_output(value, names, what, default=None):
    """One entry per output from a single value, a list or a dict keyed by output name."""
    if isinstance(value, dict):
        io_packing.check_keys(value, names, f"compile's {what}", "outputs")
        return [value.get(n, default) for n in names]
    if isinstance(value, (list, tuple)) and what != "metrics":
        if len(value) != len(names):
            raise ValueError(f"compile's {what} list has {len(value)} entries; the model has {len(names)} outputs "
                             f"{names}.")
        return list(value)
    return [value if value is not None else default] * len(names)


class MultiOutputLoss:
    """The weighted sum of each output's loss, over packed outputs and targets."""

    name = "loss"
    sparse_labels = False

    @property
    def weight_columns(self):
        """How many columns sample weights per output come in (backend/edge.py keeps them 2-D)."""
        return len(self.names)

    def __init__(self, names, losses, weights, out_layout):
        self.names, self.losses, self.weights, self.out_layout = names, losses, weights, out_layout
        self.target_layout = None  # set when targets are packed (their widths: a sparse label is a column, a step's)
        self.last = [None] * len(names)
        self.last_batches = None  # per output, its loss over each batch of the last `batch_losses` (an epoch's tally)
        self._labels = [(None, None)] * len(names)  # per sparse output: (the batch's targets, its int64 labels)

    @property
    def packed_target_shape(self):
        return (sum(width for _, width, _ in self.target_layout),)

    def target_part(self, ops, y, i):
        """Output ``i``'s targets, as the single-output path hands them to a loss."""
        offset, width, shape = self.target_layout[i]
        part = y[:, offset:offset + width]
        if getattr(self.losses[i], "sparse_labels", False):  # converted once a batch (`compute` starts it)
            seen, labels = self._labels[i]
            if seen is not y:  # (one column, or one a step: a label per step of a sequence output)
                over_steps = len(self.out_layout[i][2]) > 1  # (an output (steps, classes): a label per step)
                steps = part.reshape((part.shape[0],) + tuple(shape)) if over_steps else part[:, 0]
                labels = ops.asarray(steps, dtype="int64")
                self._labels[i] = (y, labels)
            return labels
        return part.reshape((part.shape[0],) + tuple(shape))

    def output_part(self, out, i):
        offset, width, shape = self.out_layout[i]
        return out[:, offset:offset + width].reshape((out.shape[0],) + tuple(shape))

    @staticmethod
    def weight_part(sample_weight, i):
        """Output ``i``'s sample weights: None, one array ``(n,)`` for every output, column ``i``, or item ``i`` of a
        list of them (each output's own: the weights of masked outputs, models/output_masks.py)."""
        if isinstance(sample_weight, list):
            return sample_weight[i]
        if sample_weight is None or sample_weight.ndim == 1:
            return sample_weight
        return sample_weight[:, i]

    def batch_losses(self, ops, y, out, sample_weight, batch_size):
        """`compute`'s total loss for each consecutive batch of ``batch_size`` samples, from each output's
        own `batch_losses` (kept in ``last_batches`` for the ``<output>_loss`` logs): how a fused plan's
        epoch of packed outputs is tallied."""
        self._labels = [(None, None)] * len(self.names)
        totals = [0.0] * (-(-out.shape[0] // batch_size))
        self.last_batches = [None] * len(self.names)
        for i, (loss, weight) in enumerate(zip(self.losses, self.weights)):
            if loss is None:
                continue
            values = loss.batch_losses(ops, self.target_part(ops, y, i), self.output_part(out, i),
                                       self.weight_part(sample_weight, i), batch_size)
            self.last_batches[i] = values
            totals = [t + v * weight for t, v in zip(totals, values)]
        return totals

    def compute(self, ops, y, out, sample_weight=None):
        # a new batch: labels converted for an earlier one are dropped, even where the targets come in the same
        # (refilled) buffer; this batch's metrics then reuse this batch's
        self._labels = [(None, None)] * len(self.names)
        self.last_batches = None
        total, grads, n = None, [], out.shape[0]
        for i, (loss, weight) in enumerate(zip(self.losses, self.weights)):
            if loss is None:
                self.last[i] = None
                grads.append(ops.zeros((n, self.out_layout[i][1]), out.dtype))
                continue
            value, grad = loss.compute(ops, self.target_part(ops, y, i), self.output_part(out, i),
                                       self.weight_part(sample_weight, i))
            self.last[i] = value
            total = value * weight if total is None else total + value * weight
            grads.append((grad * weight if weight != 1 else grad).reshape(n, -1))
        if total is None:
            total = ops.zeros((), out.dtype)
        return total, ops.concatenate(grads, axis=1)


class OutputLoss(Metric):
    """``<output>_loss``: that output's loss (before its weight), averaged over samples as the total is."""

    def __init__(self, composite, index):
        self._composite, self._index = composite, index
        super().__init__(f"{composite.names[index]}_loss")

    def update(self, ops, y_true, y_pred, sample_weight=None):
        value = self._composite.last[self._index]
        if value is not None:
            n = y_pred.shape[0]
            self._total = self._total + value * n
            self._count += n

    def update_batches(self, ops, y_true, y_pred, sample_weight, batch_size):
        """After the composite's `batch_losses` over the same batches (`EpochTally`): its values per batch."""
        values = None if self._composite.last_batches is None else self._composite.last_batches[self._index]
        if values is None:
            return super().update_batches(ops, y_true, y_pred, sample_weight, batch_size)
        n = y_pred.shape[0]
        for k, value in enumerate(values):
            size = min(batch_size, n - k * batch_size)
            self._total = self._total + value * size
            self._count += size


class OutputMetric(Metric):
    """A metric of one output: it sees that output's columns of the packed targets and outputs."""

    def __init__(self, metric, composite, index):
        self.metric, self._composite, self._index = metric, composite, index
        prefix = f"{composite.names[index]}_"
        # a metric read back from a Keras file is named for its output already ("o1_accuracy")
        super().__init__(metric.name if metric.name.startswith(prefix) else prefix + metric.name)

    def reset_state(self):
        self.metric.reset_state()

    def update(self, ops, y_true, y_pred, sample_weight=None):
        self.metric.update(ops, self._composite.target_part(ops, y_true, self._index),
                           self._composite.output_part(y_pred, self._index),
                           self._composite.weight_part(sample_weight, self._index))

    def result(self):
        return self.metric.result()


def compile_outputs(names, out_layout, loss, loss_weights, metrics, weighted_metrics):
    """``(loss_fn, metric objects, weighted flags)`` for a model with outputs ``names``."""
    loss_ids = per_output(loss, names, "loss")
    if all(l is None for l in loss_ids):
        raise ValueError("compile() needs a loss, e.g. loss='binary_crossentropy' (or one per output).")
    loss_fns = [None if l is None else _losses.get(l) for l in loss_ids]
    weights = [1.0 if w is None else float(w) for w in per_output(loss_weights, names, "loss_weights", 1.0)]
    composite = MultiOutputLoss(names, loss_fns, weights, out_layout)
    objects = [OutputLoss(composite, i) for i in range(len(names)) if loss_fns[i] is not None]
    flags = [True] * len(objects)
    plain_lists, weighted_lists = _metric_lists(metrics, names), _metric_lists(weighted_metrics, names)
    for i, name in enumerate(names):  # each output's metrics, then its weighted metrics (tf.keras 2's order)
        own = []
        for entry, weighted in ((plain_lists[i], False), (weighted_lists[i], True)):
            for m in entry:
                metric = _metrics.get(_fresh(m, i), loss_fns[i])
                if any(metric is o.metric for o in own):
                    raise ValueError("A Metric object cannot be in both metrics and weighted_metrics (it would be "
                                     "updated twice per batch): pass two instances.")
                out = OutputMetric(metric, composite, i)
                if weighted and any(o.name == out.name for o in own):
                    # tf.keras 2: a weighted metric named as one of that output's metrics logs as
                    # "<output>_weighted_<name>"
                    prefix = f"{name}_"
                    base = metric.name[len(prefix):] if metric.name.startswith(prefix) else metric.name
                    metric.name = f"{prefix}weighted_{base}"
                    out = OutputMetric(metric, composite, i)
                own.append(out)
                objects.append(out)
                flags.append(weighted)
    seen = [m.name for m in objects]
    if len(set(seen)) != len(seen):
        raise ValueError(f"Metric names must be unique, received {seen}")
    return composite, objects, flags


def one_output(names, loss, metrics, weighted_metrics):
    """compile's ``loss``, ``metrics`` and ``weighted_metrics`` for a model with one output (``names``), where
    they may come per output as for several (``loss=["mse"]``, ``metrics={"dense_1": ["mae"]}``): tf.keras 2
    takes those too."""
    if (isinstance(loss, dict) and not is_config(loss)) or (isinstance(loss, (list, tuple)) and len(loss) == 1):
        loss = per_output(loss, names, "loss")[0]
    return (loss,) + tuple(m if m is None or not _per_output_metrics(m) else _metric_lists(m, names)[0]
                           for m in (metrics, weighted_metrics))


def is_config(value):
    """Whether a dict is one identifier's config (``{"class_name": ..., "config": ...}``), not one per output."""
    return isinstance(value, dict) and "class_name" in value


def _per_output_metrics(ids):
    return isinstance(ids, dict) or (isinstance(ids, (list, tuple)) and len(ids) == 1
                                     and isinstance(ids[0], (list, tuple)))


def _metric_lists(ids, names):
    """Each output's metric identifiers: a flat list applies to every output (tf.keras 2)."""
    if ids is None:
        return [[] for _ in names]
    if isinstance(ids, dict):
        return [list(v) if isinstance(v, (list, tuple)) else ([] if v is None else [v])
                for v in per_output(ids, names, "metrics")]
    ids = list(ids)
    if ids and all(isinstance(v, (list, tuple)) for v in ids):
        if len(ids) != len(names):
            raise ValueError(f"compile's metrics list of lists has {len(ids)} entries; the model has {len(names)} "
                             f"outputs {names}.")
        return [list(v) for v in ids]
    return [ids for _ in names]


def _fresh(identifier, index):
    """A Metric object given once for several outputs is copied for each after the first (each
    output keeps its own totals)."""
    return copy.deepcopy(identifier) if isinstance(identifier, Metric) and index > 0 else identifier
