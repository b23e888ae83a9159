"""How a `GradientTape` counts the losses ``model.losses`` gives inside it: weight regularizers' penalties as tape
tensors, and the losses a call added (a layer of yours's ``add_loss``, activity regularizers), which enter a
gradient only where the target includes them, as in TensorFlow. A model's recorded call runs its hand-written
backward, which adds those losses' gradients itself (as ``fit`` needs): inside a tape's ``gradient`` it adds
them by the upstream gradient the target gave them (`added_loss_upstreams`, `activity_upstream`), none where the
target left them out."""
import contextlib
import contextvars

from .. import backend as B
from .tensor import Tensor

_LOSS_UPSTREAMS = contextvars.ContextVar("gpunet_gradient_tape_loss_upstreams", default=None)


COUNTED_ONCE = 1.0  # (activity_upstream's value in fit: the penalty's gradient added as it is)
_ACTIVITY_UPSTREAM = contextvars.ContextVar("gpunet_gradient_tape_activity_upstream", default=COUNTED_ONCE)


def activity_upstream():
    """The factor a nested model's backward gives its inner layers' activity penalties: 1 in ``fit``; in a
    GradientTape's gradient, what the target gave the penalty through ``model.losses``, None where it left it
    out (TensorFlow counts it only there)."""
    return _ACTIVITY_UPSTREAM.get()


@contextlib.contextmanager
def activity_counted(runner):
    """While a recorded model call's backward runs inside a GradientTape's gradient: its activity penalties
    count by the upstream its ``_activity_marker`` (sublayers.penalized) got (`activity_upstream`)."""
    ups = _LOSS_UPSTREAMS.get()
    marker = getattr(runner, "_activity_marker", None)
    token = _ACTIVITY_UPSTREAM.set(ups.get(id(marker)) if ups is not None and marker is not None else
                                   _ACTIVITY_UPSTREAM.get())
    try:
        yield
    finally:
        _ACTIVITY_UPSTREAM.reset(token)


def added_loss_upstreams():
    """While a tape's `gradient` runs: ``{id(loss): upstream}`` for the losses layers of yours added inside
    recorded calls that the target reached through ``model.losses`` (`tape_backward` counts those only, as
    TensorFlow does); None elsewhere (``fit``'s steps, where each added loss counts once)."""
    return _LOSS_UPSTREAMS.get()


def penalty_tensor(weight):
    """A weight regularizer's penalty as a tape tensor (``model.losses`` inside a tape): its backward adds the
    regularizer's gradient to the weight's, through a leaf every open tape knows."""
    ops = B.get_backend()
    value = ops.asarray(weight.regularizer(weight.value), dtype=weight.value.dtype)
    if weight.grad is None:
        weight.grad = ops.zeros(weight.shape, weight.value.dtype)
    leaf = Tensor(ops.zeros((), value.dtype), requires_grad=True)

    def vjp(g):
        weight.grad += g * weight.regularizer.gradient(weight.value)
        return ops.zeros((), value.dtype)
    from .gradient_tape import _TAPES  # (it imports this module)
    for tape in _TAPES.get():
        tape._add_leaf(leaf, [weight])
    return Tensor(value, requires_grad=True, parents=((leaf, vjp),))


def losses(layer, regularized):
    """``layer.losses`` read while a tape records: the penalties of the ``regularized`` weights as tape tensors
    (`penalty_tensor`), then the losses the layer's last recorded call added (``add_loss``, activity
    regularizers), tensors of the tape too (`_counted`)."""
    out = layer.__dict__.get("_tape_out")
    return [penalty_tensor(w) for w in regularized] + [_counted(a, out) for a in layer.__dict__.get("_tape_added", ())]


def _counted(added, out):
    """A loss a layer of yours added inside a recorded call that ran its hand-written backward (a model's), as a
    tape tensor after the call's output ``out``: the upstream gradient the target gives it is kept for that
    backward (which runs after it, ``out`` being its input), and the layer's `tape_backward` counts the loss by
    it, as TensorFlow counts an added loss only where the target includes it (a target without ``model.losses``:
    not at all). ``added`` itself where the call ran on this tape (a layer of yours called alone)."""
    if not isinstance(out, Tensor) or not out.requires_grad or not isinstance(added, Tensor):
        return added
    ops = B.get_backend()

    def vjp(g):
        ups = _LOSS_UPSTREAMS.get()
        if ups is not None:
            ups[id(added)] = g + ups[id(added)] if id(added) in ups else g
        return ops.zeros(out.data.shape, out.data.dtype)
    return Tensor(added.data, requires_grad=True, parents=((out, vjp),))
