"""Keras's ``add_loss`` (and ``add_metric``): loss terms a layer's ``call`` (or a user) adds to the model's
loss, and values it logs.

- Inside ``call`` (a user's layer, run on the tape): ``self.add_loss(K.mean(...))`` adds a tensor
  computed from that call's inputs and weights. It joins the loss of the batch in fit, evaluate and
  train_on_batch, and its gradient flows back through the layer's tape (user_code.py).
- Anywhere, a zero-argument callable (``layer.add_loss(lambda: 1e-3 * K.sum(K.square(layer.kernel)))``)
  is kept and computed again at every step, on the current weights, with their gradients.
- On a functional model, a symbolic tensor built from the model's tensors
  (``vae.add_loss(K.mean(kl))``) is computed from each batch (models/functional.py).

A non-scalar loss counts as the sum of its values (as Keras 3 reduces it; tf.keras 2 expected
scalars). Unlike the compiled loss it is not divided by the batch size: write ``K.mean`` for that.
"""
from contextlib import contextmanager

from .. import backend as B
from ..autodiff import Tensor, gradient_tape, gradients, lift, tape_losses
from ..autodiff.tensor import Operators
from . import symbolic

_added_count = [0]  # callable losses added so far, anywhere: models look theirs up again when it changes
_frames = []  # the calls running now, innermost last: each collects the loss tensors its call adds


class Frame(list):
    """The loss tensors added during a call or a step (the list itself), and its ``metrics``: the
    ``(name, tensor)`` pairs given to ``add_metric``."""

    def __init__(self, losses=(), metrics=()):
        super().__init__(losses)
        self.metrics = list(metrics)


@contextmanager
def collecting():
    """Collect the loss tensors (and metric values) added while the block runs, in a `Frame`."""
    frame = Frame()
    _frames.append(frame)
    try:
        yield frame
    finally:
        _frames.pop()


def collecting_now():
    """Whether a call or step around collects the losses added now."""
    return bool(_frames)


def hand_on(frame):
    """Pass a finished call's `Frame` to the call or the model step around it, if any."""
    if _frames:
        _frames[-1].extend(frame)
        _frames[-1].metrics.extend(frame.metrics)


def add_metric(owner, value, name, aggregation):
    """``owner.add_metric(value, name)``: a tensor of a call, logged as its mean over each epoch's batches
    (tf.keras 2's ``Mean``); on a functional model, a symbolic tensor of its graph."""
    if aggregation not in (None, "mean"):
        raise ValueError(f"add_metric on '{owner.name}': gpunet logs the mean of the values (aggregation='mean'), "
                         f"received aggregation={aggregation!r}.")
    from_metric = getattr(value, "metric", None) is not None and hasattr(value.metric, "reset_state")
    if not from_metric and (not isinstance(name, str) or not name):  # (a metric object's result has its name)
        raise ValueError(f"add_metric on '{owner.name}' needs a name for the metric (add_metric(value, name='kl')), "
                         f"received name={name!r}.")
    if symbolic.is_symbolic(value):
        adder = getattr(owner, "_add_symbolic_metric", None)
        if adder is None:
            raise ValueError(f"add_metric on layer '{owner.name}' received the symbolic tensor {value!r}: a layer adds "
                             "metrics computed in its call(); a functional Model takes one built from its tensors.")
        adder(value, name)
    elif _frames and from_metric:
        # a metric object's result: the object itself is logged, under its own name (as tf.keras 2 does)
        _frames[-1].metrics.append((value.metric.name, value.metric))
    elif _frames:
        _frames[-1].metrics.append((name, _checked(lift(value), f"'{owner.name}'")))
    else:
        raise ValueError(f"add_metric on '{owner.name}' outside call() received {type(value).__name__}: a layer adds "
                         "a metric of the tensors of its call().")


def add(owner, losses):
    """``owner.add_loss(losses)``: a tensor, a zero-argument callable, or a list of them."""
    items = list(losses) if isinstance(losses, (list, tuple)) else [losses]
    for loss in items:
        if loss is None:
            continue
        if symbolic.is_symbolic(loss):
            adder = getattr(owner, "_add_symbolic_loss", None)
            if adder is None:
                raise ValueError(f"add_loss on layer '{owner.name}' received the symbolic tensor {loss!r}: a layer "
                                 "adds losses computed in its call(); a functional Model (Model(inputs, outputs)) "
                                 "takes a loss built from its symbolic tensors.")
            adder(loss)
        elif callable(loss) and not isinstance(loss, (Tensor, Operators)):
            owner.__dict__.setdefault("_callable_losses", []).append(loss)
            _added_count[0] += 1
        elif _frames:
            _frames[-1].append(_checked(lift(loss), f"'{owner.name}'"))
        else:
            raise ValueError(f"add_loss on '{owner.name}' outside call() received {type(loss).__name__}: a loss added "
                             f"outside call() must be a zero-argument callable (lambda: ...), computed again at "
                             f"each step; a tensor is added from inside the layer's call().")


def _checked(tensor, where):
    if tensor.dtype.kind != "f":
        raise ValueError(f"add_loss on {where} received a tensor of dtype {tensor.dtype}; a loss must be "
                         f"floating point.")
    return tensor


def callables(model):
    """The zero-argument callable losses of ``model`` and of every layer in it (looked up again only
    after a callable was added somewhere: a step asks each time)."""
    cached = model.__dict__.get("_callables_seen")
    if cached is not None and cached[0] == _added_count[0]:
        return cached[1]
    found = [fn for layer in _walk(model) for fn in layer.__dict__.get("_callable_losses", ())]
    model.__dict__["_callables_seen"] = (_added_count[0], found)
    return found


def _walk(root):
    from .sublayers import found_in
    seen, stack = set(), [root]
    while stack:
        layer = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        yield layer
        stack.extend(reversed(found_in(layer)))


def total(ops, tensors):
    """The sum of loss tensors' values as a 0-d array of the backend (nothing is read to the host)."""
    result = None
    for t in tensors:
        value = ops.xp.sum(t.data) if t.data.ndim else t.data
        result = value if result is None else result + value
    return result


def listed(ops, arrays, fns):
    """``losses``' entries for added terms (0-d arrays): each loss a call added (summed), each callable's value now."""
    return [ops.xp.sum(v) for v in arrays] + [callable_terms(ops, [fn], (), False) for fn in fns]


def callable_terms(ops, fns, weights, add_gradient):
    """Run the callable losses ``fns`` on the current ``weights``; returns their sum (a 0-d array, or
    None when there are none), adding each trainable weight's gradient to ``weight.grad`` when asked."""
    if not fns:
        return None
    from ..autodiff.reductions import sum as _sum
    live = [w for w in weights if w.grad is not None] if add_gradient else []
    with B.use_backend(ops):
        for w in live:
            w.tensor = Tensor(w.value, requires_grad=True)
        try:
            summed = None
            for fn in fns:
                value = _checked(lift(fn()), f"(the callable {getattr(fn, '__name__', fn)!r})")
                value = _sum(value) if value.data.ndim else value
                summed = value if summed is None else summed + value
        finally:
            tensors = [w.tensor for w in live]
            for w in live:
                w.tensor = None
        for w, g in zip(live, gradients(summed, tensors) if live else ()):
            w.grad += g
    return summed.data


class AddLossMixin:
    """`Layer`'s ``add_loss``, ``losses`` (a model overrides it with its layers') and ``add_metric``."""

    def add_metric(self, value, name=None, aggregation=None, **kwargs):
        """Log ``value`` (a tensor of this call; on a functional model, a symbolic tensor of its graph)
        under ``name`` in fit and evaluate: its mean over the epoch's batches, as tf.keras 2's ``Mean``
        (``val_<name>`` for validation)."""
        add_metric(self, value, name, aggregation)

    def add_loss(self, losses, inputs=None, **kwargs):
        """Add a loss term to the model's loss: inside ``call``, a tensor computed from the call
        (``self.add_loss(1e-2 * K.mean(K.square(inputs)))``); anywhere, a zero-argument callable
        computed again at each step (``lambda: K.sum(K.abs(self.kernel))``); on a functional model, a
        symbolic tensor of its graph. ``inputs`` is accepted for Keras 2 compatibility; a non-scalar
        loss counts as the sum of its values."""
        add(self, losses)

    @property
    def losses(self):
        """Keras's ``layer.losses``: the weight regularizers' penalties on the current weights, the
        losses the layer's last call added, and its callable losses computed now (0-d arrays)."""
        if gradient_tape.recording():  # (tensors of the tape: their gradients flow)
            return tape_losses.losses(self, [w for w in self._weights if w.regularizer is not None])
        out = [w.regularizer(w.value) for w in self._weights if w.regularizer is not None]
        return out + listed(self.ops, self.__dict__.get("_call_losses", ()), self.__dict__.get("_callable_losses", ()))
