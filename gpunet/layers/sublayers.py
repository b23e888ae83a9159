"""Layers inside a user's layer: ``self.dense = Dense(4)`` in ``__init__``, ``self.dense(x)`` in ``call``.

As in Keras, their weights are the outer layer's too (`adopt_weights`, after its build: they are
trained, saved and counted with it), and a built-in layer called on a tape tensor inside ``call``
(`call_on_tape`) records its hand-written backward on the tape: the input gradient flows back
through it and its weights' gradients are summed over its calls (each call runs on a shallow copy
of the layer, with its own record of the call, as a shared layer in a functional model does).
Whether such a call trains (Dropout, BatchNormalization) follows the outer ``call``'s ``training``
unless the call passes its own.
"""
import contextvars
import copy

from ..autodiff import Tensor, gradient_tape, lift, tape_losses
from ..backend.io_packing import layout_of, packed, unpacked
from . import added_losses, masking

_TRAINING = contextvars.ContextVar("gpunet_outer_call_training", default=False)


def found_in(layer, skip=()):
    """The layers held in ``layer``'s attributes (directly, or in a list, tuple or dict), but ``skip``."""
    from .base import Layer
    out = []
    for value in vars(layer).values():
        items = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else [value]
        for item in items:
            if (isinstance(item, Layer) and item is not layer and all(item is not o for o in out)
                    and all(item is not s for s in skip)):
                out.append(item)
    return out


def held(layer):
    """The layers ``layer`` holds, to walk down a tree of them: those in its attributes (`found_in`) and a
    model's own list (perhaps again: walkers skip what they have seen)."""
    return found_in(layer) + list(getattr(layer, "_layers", None) or ())


def adopt_weights(layer):
    """Append the weights of ``layer``'s sublayers (their own sublayers' included) to its own, in
    the order Keras lists them: the layer's own first, then each sublayer's in attribute order."""
    known = {id(w) for w in layer._weights}
    tracked = getattr(layer, "_tracked_weights", None)  # (a subclassed model's call holder: models/model.py)
    for w in tracked() if tracked is not None else [w for sub in found_in(layer) for w in sub._weights]:
        if id(w) not in known:
            layer._weights.append(w)
            known.add(id(w))


def on_tape(weight):
    """Whether a weight takes part in the tape as a tensor (a user layer's), rather than through a
    built-in sublayer's hand-written backward."""
    return getattr(weight.layer, "_uses_call", False) or getattr(weight.layer, "_own_weights_on_tape", False)


def call_copy(layer):
    """A shallow copy of ``layer`` to run one more call on: the same weights, its own record of the
    call. A nested model's copy runs its own layers on copies in turn (``_inner_copies``)."""
    runner = copy.copy(layer)
    if getattr(type(layer), "_nests_layers", False):
        runner._inner_copies = True
    return runner


def summed_weights(layer):
    """The weights of ``layer`` whose gradients a backward writes (the model's packed ones)."""
    return [w for w in layer._weights if w.grad is not None]


def backward_adding(runner, weights, dy, need_dx):
    """``runner.backward(dy, need_dx)`` for one call of a layer called several times: ``weights``'
    gradients keep what the earlier calls' backwards left in them (a backward writes its gradient
    rather than adding it), so after the last call they hold the sum. Start them from 0."""
    ops = runner.ops
    earlier = [ops.xp.array(w.grad, copy=True) for w in weights]
    dx = runner.backward(dy, need_dx)
    for w, before in zip(weights, earlier):
        w.grad += before
    return dx


def call_on_tape(layer, x, training=None):
    """A built-in layer (hand-written forward/backward) called on tape tensor ``x`` inside a user's ``call``;
    a model of several inputs takes a list of them, and one of several outputs gives them packed side by side
    (its caller splits them: models/subclass_outputs.py)."""
    several = isinstance(x, (list, tuple))
    xs = [lift(p) for p in x] if several else [lift(x)]
    if not layer.built:
        shapes = [(None,) + tuple(p.shape[1:]) for p in xs]
        layer.build(shapes if several else shapes[0])
    tape_leaf = gradient_tape.take_call_leaf(layer)  # (a call a GradientTape records: models/tape_steps.py)
    training = _TRAINING.get() if training is None else bool(training)
    runner = call_copy(layer)
    if several:
        y, mask = runner.forward([p.data for p in xs], training), None
    elif xs[0]._keras_mask is None and not masking.makes_mask(layer):
        y, mask = runner.forward(xs[0].data, training), None
    else:  # (an Embedding(mask_zero=True)'s mask, and the layers after it: tf.keras 2's rules)
        y, mask = masking.forward(runner, xs[0].data, xs[0]._keras_mask, training)
    ops = layer.ops
    layout = None
    if isinstance(y, list):  # a model of several outputs: packed side by side, as the model's caller splits them
        layout = layout_of([p.shape[1:] for p in y])
        y = packed(ops, y)
    need = any(p.requires_grad for p in xs)
    if not (training or need or tape_leaf is not None):
        return penalized(layer, masked(Tensor(y), mask), runner)
    weights, done = summed_weights(layer), {}

    def vjp_of(k):
        def vjp(g):  # (zero_grads started the weights' gradients from 0 before the outer backward)
            if done.get("g") is not g:  # (the tape hands each input the same upstream gradient: one backward)
                dy = [part.copy() for part in unpacked(g, layout)] if layout is not None else g  # (views of g)
                with tape_losses.activity_counted(runner):
                    done["g"], done["dx"] = g, backward_adding(runner, weights, dy, need)
            if k is None or not xs[k].requires_grad:
                return ops.zeros((), y.dtype)
            return ops.xp.array(done["dx"][k], copy=True) if several else done["dx"]
        return vjp
    # without an input gradient to pass, a leaf of its own keeps the call on the tape for its weights
    parents = tuple((p, vjp_of(k)) for k, p in enumerate(xs) if p.requires_grad)
    parents += ((tape_leaf, vjp_of(None)),) if tape_leaf is not None else ()
    parents = parents or ((Tensor(ops.zeros((), y.dtype), requires_grad=True), vjp_of(None)),)
    return penalized(layer, masked(Tensor(y, requires_grad=True, parents=parents), mask), runner)


def penalized(layer, out, runner=None):
    """``out``, the layer's activity penalty on it (its regularizer's value over the batch size, as the engine
    takes a model's own layers') added as a loss of the call around (tf.keras 2 adds it to ``model.losses``);
    it used to be left out of the loss. A nested model's inner layers add their gradients in its backward: their
    penalties are those of the ``runner`` that ran the call (the model's copy), which keeps the loss added as its
    ``_activity_marker`` (a GradientTape counts them by it: tape_losses.activity_counted)."""
    reg = getattr(layer, "activity_regularizer", None)
    if reg is None or not isinstance(out, Tensor) or not added_losses.collecting_now():  # (arrays: a call outside)
        return out
    n, data = out.shape[0], out.data
    nests = getattr(type(layer), "_nests_layers", False)
    total = runner._activity_penalty() if nests and runner is not None else reg(data)
    value = layer.ops.asarray(total, dtype=data.dtype) / n
    follows = out.requires_grad and not nests
    added = Tensor(value, requires_grad=follows,
                   parents=((out, lambda g: g * (reg.gradient(data) / n)),) if follows else ())
    if nests and runner is not None:
        runner._activity_marker = added
    added_losses.add(layer, added)
    return out


def masked(tensor, mask):
    """``tensor`` carrying ``mask`` (None: none) on to the next layer called in the same call()."""
    tensor._keras_mask = mask
    return tensor


def merge_on_tape(layer, parts, training=None):
    """A merge layer (``Concatenate()([a, b])``, Add, Dot...: no weights) called on tape tensors inside a
    user's ``call``: one backward gives each input its gradient (copies: a later backward may work in
    place on its dy, and Add hands one array to every input)."""
    xs = [lift(p) for p in parts]
    if not layer.built:
        layer.build([(None,) + tuple(x.shape[1:]) for x in xs])
    runner = call_copy(layer)
    y = runner.forward([x.data for x in xs], _TRAINING.get() if training is None else bool(training))
    masks = [x._keras_mask for x in xs]
    mask = None if all(m is None for m in masks) else runner.compute_mask([x.data for x in xs], masks)
    if not any(x.requires_grad for x in xs):
        return penalized(layer, masked(Tensor(y), mask))
    done = {}

    def vjp_of(k):
        def vjp(g):
            if done.get("g") is not g:  # (the tape hands every input the same upstream gradient)
                done["g"], done["dx"] = g, runner.backward(runner.ops.xp.array(g, copy=True), True)
            return runner.ops.xp.array(done["dx"][k], copy=True)
        return vjp
    return penalized(layer, masked(Tensor(y, requires_grad=True, parents=tuple((x, vjp_of(k)) for k, x in enumerate(xs)
                                                                               if x.requires_grad)), mask))


def zero_grads(layer):
    """Before a user layer's backward: its built-in sublayers' gradients start from 0 (summed over calls)."""
    for w in layer._weights:
        if w.grad is not None and not on_tape(w):
            w.grad[...] = 0


def training_scope(training):
    """Set the outer call's ``training`` for the sublayers called inside it; returns the token to reset."""
    return _TRAINING.set(bool(training))


def reset_training(token):
    _TRAINING.reset(token)


def enclosing_training():
    """The ``training`` of the layer call running now (tf.keras 2's call context), or None outside one."""
    return _TRAINING.get(None)
