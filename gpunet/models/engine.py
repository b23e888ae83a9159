"""The per-batch engine under fit/evaluate/predict: flat parameters, forward, backward.

Trainable weights live in one flat parameter buffer (and one flat gradient
buffer) with per-layer views, so an optimizer step is a handful of vectorized
operations whatever the number of layers.
"""
from .. import backend as B
from . import output_masks
from ..backend.dense_plan import build_plan
from ..backend.gpu_graph_plan import build_gpu_graph_plan
from ..backend.gpu_plan_build import build_gpu_plan
from ..backend.graph_plan import build_graph_plan
from ..autodiff import gradient_tape, tape_losses
from ..autodiff.tensor import value_of
from ..layers import added_losses, masking
from ..metrics.added import AddedMean, TrackedMetric
from ..metrics.base import Metric


class EngineMixin:
    # ---- parameter packing ---------------------------------------------------------------
    def _pack(self):
        """Move every trainable weight into one flat buffer (views per weight) and build
        the optimizer over it. Weight values are copied, so nothing is lost."""
        ops = self.ops
        weights = self.trainable_weights
        for w in self.non_trainable_weights:
            w.grad = None
        dtypes = {str(w.value.dtype) for w in weights}
        if len(dtypes) > 1:
            raise ValueError(f"All trainable weights must share one dtype, found {sorted(dtypes)}")
        dtype = dtypes.pop() if dtypes else B.floatx()
        total = sum(_size(w.shape) for w in weights)
        params, grads = ops.empty((total,), dtype), ops.zeros((total,), dtype)
        layout, offset = [], 0
        for w in weights:
            n = _size(w.shape)
            view = params[offset:offset + n].reshape(w.shape)
            view[...] = w.value
            w.value = view
            w.grad = grads[offset:offset + n].reshape(w.shape)
            layout.append((w.path, offset, w.shape))
            offset += n
        self._params, self._grads, self._layout = params, grads, layout
        self._regularized = [w for l in self._layers for w in l._weights if w.regularizer is not None]
        self._constrained = [w for w in weights if w.constraint is not None]
        self._activity = [l for l in self._layers if getattr(l, "activity_regularizer", None) is not None]
        self.optimizer.build(ops, params, layout)
        self._plan = None

    def _train_plan(self):
        """The fused step when the model qualifies (backend/dense_plan.py on NumPy, backend/gpu_plan.py
        on CuPy; a chain's plans refuse a layer the graph plans take: backend/graph_plan.py,
        backend/gpu_graph_plan.py), else None (the layer path). Built on first use after each pack;
        rebuilt if the model changed since."""
        plan = self._plan
        if plan is False or getattr(self._loss_fn, "takes_no_targets", False) or added_losses.callables(self):
            return None  # (the plans compute the compiled loss only; added losses take the layer path)
        if plan is None or not plan.matches(self):
            plan = self._plan = self._build_plan() or False
        return plan or None

    def _build_plan(self):
        return build_plan(self) or build_gpu_plan(self) or build_graph_plan(self) or build_gpu_graph_plan(self)

    def _ensure_ready(self, x_shape, train):
        if not self.built:
            self.build((None,) + tuple(x_shape[1:]))
        expected = self._data_input_shape()
        if expected is not None and (len(expected) != len(x_shape) or any(
                e is not None and e != d for e, d in zip(expected[1:], x_shape[1:]))):  # None: any size
            raise ValueError(f"Model '{self.name}' expects input shape {tuple(expected)}, "
                             f"received input of shape {tuple(x_shape)}.")
        if train and self._params is None:
            self._pack()

    def _data_input_shape(self):
        """The shape of the x arrays fit/evaluate/predict hand the model (a functional model with several
        inputs takes them packed into one: models/functional_io.py)."""
        return self.input_shape

    def _data_output_shape(self):
        return self.output_shape

    # ---- one batch -----------------------------------------------------------------------
    def _forward(self, x, training, penalty=True):
        """The output, and the activity regularizers' penalty (in training and in evaluation,
        as Keras adds ``model.losses`` to both; 0.0 with ``penalty=False``: predict)."""
        total, mask = 0.0, None
        for i, layer in enumerate(self._layers):
            data_input = training and i == 0 and layer._uses_call
            if data_input:  # its input is the data: `_backward` wants no gradient of it (user_code.tape_forward)
                layer._data_inputs = [True]
            try:
                if mask is None and not masking.makes_mask(layer):
                    x = layer.forward(x, training)
                else:  # an Embedding(mask_zero=True) or Masking and the layers after it: tf.keras 2's rules
                    x, mask = masking.forward(layer, x, mask, training)
            finally:
                if data_input:
                    layer._data_inputs = None
            if penalty and layer.activity_regularizer is not None:
                total += self.ops.to_scalar(layer.activity_regularizer(x)) / x.shape[0]
                if training:
                    layer._activity_output = x
        self._output_mask = mask if penalty else None  # (the loss and metrics weigh the steps by it: output_masks.py)
        return x, total

    def _backward(self, dy):
        """Back from the loss gradient ``dy`` through every layer, writing the weights' gradients
        (the first layer's input gradient is not computed: nothing needs it)."""
        layers = self._layers
        for i in range(len(layers) - 1, -1, -1):
            layer = layers[i]
            if layer.activity_regularizer is not None:
                dy = dy + layer.activity_regularizer.gradient(layer._activity_output) / dy.shape[0]
            dy = layer.backward(dy, i > 0)

    @property
    def losses(self):
        """Keras's ``model.losses``: each weight regularizer's penalty on the current weights, the
        losses the layers' calls added in the last batch (``add_loss``), and the callable losses
        computed now, as 0-d backend arrays (a layer's ``activity_regularizer`` enters the loss in
        fit and evaluate, computed from that batch's outputs)."""
        regularized = [w for layer in self._layers for w in layer._weights if w.regularizer is not None]
        if gradient_tape.recording():  # (tensors of the tape: their gradients flow)
            return tape_losses.losses(self, regularized)
        out = [w.regularizer(w.value) for w in regularized]
        return out + added_losses.listed(self.ops, self.__dict__.get("_last_added", ()), added_losses.callables(self))

    def _weight_penalty(self, add_gradient):
        total = 0.0
        for w in self._regularized:
            total += self.ops.to_scalar(w.regularizer(w.value))
            if add_gradient and w.grad is not None:
                w.grad += w.regularizer.gradient(w.value)
        return total

    def _train_batch(self, x, y, sw):
        """Train on one batch; returns its loss as a Python float (one device read)."""
        loss, penalty = self._train_batch_terms(x, y, sw)
        return self.ops.to_scalar(loss) + penalty

    def _train_batch_terms(self, x, y, sw, plain_sw=None):
        """Train on one batch; returns (the loss as a backend 0-d array, the regularizers'
        penalty as a float): nothing is read from the device but what a regularizer adds.
        ``plain_sw``: the weights of the metrics that are not weighted_metrics (`_update_metrics`)."""
        with added_losses.collecting() as added:
            out, penalty = self._forward(x, True)
        loss_sw, metric_sw, plain_sw = output_masks.weights(self, out, sw, plain_sw)
        loss, dy = self._loss_fn.compute(self.ops, y, out, loss_sw)
        self._backward(dy)
        loss = self._with_added_losses(loss, added, True)
        if self._regularized:
            penalty += self._weight_penalty(True)
        self.optimizer.apply(self._params, self._grads)
        for w in self._constrained:
            w.value[...] = w.constraint(w.value)
        self._update_metrics(y, out, metric_sw, plain_sw)
        return loss, penalty

    def _test_batch(self, x, y, sw):
        """Evaluate one batch; returns its loss as a Python float (one device read)."""
        loss, penalty = self._test_batch_terms(x, y, sw)
        return self.ops.to_scalar(loss) + penalty

    def _test_batch_terms(self, x, y, sw):
        """Evaluate one batch; returns (the loss as a backend 0-d array, the penalty as a float)."""
        with added_losses.collecting() as added:
            out, penalty = self._forward(x, False)
        loss_sw, metric_sw, plain_sw = output_masks.weights(self, out, sw, None)
        loss = self._with_added_losses(self._loss_fn.compute(self.ops, y, out, loss_sw)[0], added, False)
        self._update_metrics(y, out, metric_sw, plain_sw)
        return loss, penalty

    def _with_added_losses(self, loss, added, train):
        """The batch's loss plus the losses its forward added (``added``: tensors) and the callable
        losses (in training, after the backward pass: their weight gradients are added to it). Stays
        on the device. The values the forward gave ``add_metric`` (``added.metrics``) update their
        `AddedMean` metrics. Raises ValueError when ``compile(loss=None)`` left nothing to train on."""
        self._last_added = [t.data for t in added]
        self._log_added_metrics(added.metrics)
        fns = added_losses.callables(self)  # (trainable_weights only then: this runs every step of the layer path)
        terms = [added_losses.total(self.ops, added),
                 added_losses.callable_terms(self.ops, fns, self.trainable_weights, train) if fns else None]
        terms = [t for t in terms if t is not None]
        if not terms and getattr(self._loss_fn, "takes_no_targets", False):
            raise ValueError(f"Model '{self.name}' has no loss to train on: it was compiled with loss=None and none of "
                             "its layers added a loss (add_loss). Pass a loss to compile(), e.g. loss='mse'.")
        for t in terms:
            loss = loss + t.astype(loss.dtype, copy=False)
        return loss

    def _log_added_metrics(self, metrics):
        """Update the metrics ``add_metric`` logs with one batch's ``(name, value)`` pairs (a tensor, or a
        metric object the call updated, whose result it gave to add_metric); the fused steps call it too
        (backend/step_terms.py)."""
        for name, value in metrics:
            if isinstance(value, Metric):
                self._added_metric(name, value)
            else:
                self._added_metric(name).add_values(self.ops, value.data)

    def _added_metric(self, name, tracked=None):
        """The `AddedMean` logging ``name`` (``add_metric``), or the `TrackedMetric` logging the metric
        object ``tracked``, made at its first value, after the compiled metrics (as tf.keras 2 lists them)."""
        kind = AddedMean if tracked is None else TrackedMetric
        for m in self._metrics:
            if m.name == name:
                if type(m) is not kind:
                    raise ValueError(f"add_metric's name {name!r} is already a compiled metric's of model "
                                     f"'{self.name}'.")
                return m
        if name == "loss":
            raise ValueError("add_metric cannot log a metric named 'loss': History keeps that name for the loss.")
        metric = AddedMean(name) if tracked is None else TrackedMetric(name, tracked)
        self._metrics.append(metric)
        self._metric_weighted.append(False)
        return metric

    def _update_metrics(self, y, out, sw, plain_sw=None):
        """Update each metric with one batch: compile's weighted_metrics with the sample weights
        ``sw``, the others unweighted, as in tf.keras 2 and Keras 3 (``plain_sw``: None, but 0 for
        the padding sample of a data-parallel fit, see epochs.py's `_plain_weights`)."""
        for m, weighted in zip(self._metrics, self._metric_weighted):
            m.update(self.ops, y, out, sw if weighted else plain_sw)

    def _logs(self, loss, prefix=""):
        logs = {prefix + "loss": loss}
        for m in self._metrics:
            result = m.result()  # a user's Keras-style metric may return a tensor or an array
            if not isinstance(result, float):
                host = self.ops.to_host(value_of(result))
                # one value per threshold (Precision(thresholds=[...])) stays an array, as tf.keras logs it
                result = float(host.reshape(())) if getattr(host, "size", 1) == 1 else host.copy()
            logs[prefix + m.name] = result
        return logs


def _size(shape):
    n = 1
    for d in shape:
        n *= d
    return n


class LossSum:
    """An epoch's running loss, weighted by batch rows, on the layer-by-layer path. Where a
    callback wants batch logs each batch's loss is read at once (the running mean is
    reported); otherwise, on a GPU, the sum stays on the device and is read once, at the
    end of the epoch, so the host queues the next batches instead of waiting for each one.
    The sum is taken in float64 either way, in the same order: the same value bit for bit."""

    def __init__(self, ops, per_batch):
        self.ops, self.seen, self._host, self._device = ops, 0, 0.0, None
        self._on_device = not per_batch and ops.device == "gpu"

    def add(self, loss, penalty, rows):
        """Add a batch of ``rows`` samples: its loss (a 0-d array) and regularizer penalty (a float)."""
        self.seen += rows
        if not self._on_device:
            self._host += (self.ops.to_scalar(loss) + penalty) * rows
            return
        term = (self.ops.asarray(loss, dtype="float64") + penalty) * rows  # the host's arithmetic, in order
        self._device = term if self._device is None else self._device + term

    @property
    def mean(self):
        """The mean loss so far (reads the device once when the sum is kept there)."""
        total = self._host if self._device is None else self.ops.to_scalar(self._device)
        return total / max(self.seen, 1)
