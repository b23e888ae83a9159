"""`StepTerms`: the loss terms layers of your own add in their calls (``self.add_loss(...)`` in ``call``:
the Keras guide's ``ActivityRegularizationLayer``) while a fused plan runs them by their own code, one
sum per step, as the layer path adds them to each batch's loss; and the values they log
(``self.add_metric``), given to the model's metrics as the layer path gives them.

Their gradients need nothing here: a layer's tape holds the terms its call added, and its backward sends
them back with an upstream gradient of 1 (layers/user_code.tape_backward), in the plans as on the layer
path. What the plans add is the value: each step's terms summed on the device (no read), then read with
the step's other penalties when the epoch's loss is tallied (`EpochTally` adds ``plan.penalties`` to the
batch losses), once an epoch unless a callback asks for batches. Evaluate's forward plan on a GPU adds
each batch's terms likewise (models/plan_inference.py). ``model.losses`` reads the last step's terms,
as on the layer path.
"""
from ..layers import added_losses


def terms_for(model, nodes, dtype):
    """``(StepTerms, the nodes whose calls hand it their terms)`` for a plan over ``nodes`` (graph calls), or
    ``(None, set())`` where no call run by its own code may add a loss or a metric (layers/user_terms.py)."""
    from ..layers.user_terms import added_terms
    adding = {id(n) for n in nodes if added_terms(n.layer) & {"loss", "metric"}}
    return (StepTerms(model, len(adding), dtype) if adding else None), adding


class StepTerms:
    """The loss terms of a step (or a batch of the forward plan): each of its ``calls`` own-code calls
    that may add one hands what it added (`collect`, once per call, graph_flow.forward_marked); the last
    of them closes the step. ``values``: each closed step's sum, a 0-d device array of ``dtype``."""

    log_metrics = True  # (False for predict: its calls' metrics go nowhere, as on the layer path)

    def __init__(self, model, calls, dtype):
        self.model, self.ops, self.calls, self.dtype = model, model.ops, calls, dtype
        self.reset()

    def collect(self, frame):
        """Take the loss tensors one call added (an `added_losses.Frame`, perhaps empty), and log its metrics."""
        self.running.extend(frame)
        if frame.metrics and self.log_metrics:  # (device sums: AddedMean.add_values reads nothing)
            self.model._log_added_metrics(frame.metrics)
        self.seen += 1
        if self.seen == self.calls:  # (the step's last such call: its terms' sum, 0 when none was added)
            total = added_losses.total(self.ops, self.running)
            self.values.append(self.ops.xp.zeros((), self.dtype) if total is None
                               else total.astype(self.dtype, copy=False))
            self.model._last_added = [t.data for t in self.running]  # (model.losses: the last step's, as Keras)
            self.running, self.seen = [], 0

    def reset(self):
        """A new epoch (or batch of a generator, or forward run): no step begun or closed."""
        self.values, self._read, self.running, self.seen = [], [], [], 0

    def read(self, count):
        """The first ``count`` steps' values as Python floats (new ones read from the device at once)."""
        if count > len(self._read):
            new = self.values[len(self._read):count]
            self._read += [float(v) for v in self.ops.to_host(self.ops.xp.stack(new))]
        return self._read[:count]


class TermsInPenalties:
    """Mixed into a GPU plan (before `GpuPlan`) whose ``terms`` (a `StepTerms`, or None) holds its steps'
    added losses: they join the regularizers' penalty of each step, which `EpochTally` adds to its loss."""

    terms = None

    def load(self, *args, **kwargs):
        super().load(*args, **kwargs)
        if self.terms is not None:
            self.terms.reset()

    @property
    def penalties(self):
        base = super().penalties
        if self.terms is None:
            return base
        added = self.terms.read(self._next)
        return [b + a for b, a in zip(base, added)] if base else added

    def step_penalty(self):
        base = super().step_penalty()
        if self.terms is None:
            return base
        return self.terms.values[-1] if base is None else base + self.terms.values[-1]
