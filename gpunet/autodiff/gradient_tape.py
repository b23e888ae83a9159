"""`GradientTape`: TensorFlow's ``tf.GradientTape`` for a training loop of your own on gpunet's models.

Keras's guides "Writing a training loop from scratch" and "Customizing what happens in fit" write::

    with gpunet.GradientTape() as tape:
        logits = model(x, training=True)
        loss = loss_fn(y, logits)
    grads = tape.gradient(loss, model.trainable_weights)
    optimizer.apply_gradients(zip(grads, model.trainable_weights))

While a tape is open, a layer or model called on arrays records the call: it returns a `Tensor` whose backward
is the layer's own (the hand-written backward and fused kernels fit uses; a layer of yours runs its ``call`` on
the tape), so losses, metrics and `gpunet.ops` applied to it are recorded as well. ``tape.gradient`` runs the
record backwards from the target, only through what leads to the sources asked for, and gives each weight's
gradient (None for a weight the target does not depend on, as TensorFlow gives). ``model.losses`` read inside
the tape are tensors, so ``loss + sum(model.losses)`` trains the weight regularizers' penalties too.
"""
import contextlib
import contextvars

from .. import backend as B
from .tape import _reverse_topological
from .tape_losses import _LOSS_UPSTREAMS
from .tensor import Tensor, lift

_TAPES = contextvars.ContextVar("gpunet_gradient_tapes", default=())
_CALL_LEAF = contextvars.ContextVar("gpunet_gradient_tape_call_leaf", default=None)


_KEEP_RECORDS = contextvars.ContextVar("gpunet_gradient_tape_keeps_records", default=False)
def keeps_records():
    """Whether a backward running now must keep its call's record (a persistent tape's `gradient`)."""
    return _KEEP_RECORDS.get()


def recording():
    """Whether a `GradientTape` is open and recording here."""
    return bool(_TAPES.get())


def in_recorded_call():
    """Whether the layer call running now is one a `GradientTape` records (`record_call`): its backward may run
    even where the call is not a training one (``model(x)`` inside a tape, as in TensorFlow)."""
    return _CALL_LEAF.get() is not None


class GradientTape:
    """Record the layer calls and tensor operations run inside ``with GradientTape() as tape:`` and give
    gradients with ``tape.gradient(target, sources)`` (TensorFlow's API).

    Args:
        persistent: TensorFlow's: a tape that gives gradients more than once (each call keeps its backward
            record until the tape is deleted; release it with ``del tape``).
        watch_accessed_variables: TensorFlow's; every weight of a layer called inside the tape is watched
            (``False`` is refused, as gpunet cannot leave them out).
    """

    def __init__(self, persistent=False, watch_accessed_variables=True):
        self.persistent = bool(persistent)
        if not watch_accessed_variables:
            raise NotImplementedError("GradientTape(watch_accessed_variables=False): gpunet watches every weight "
                                      "of the layers called inside the tape; leave it at True.")
        self._leaves = []  # (leaf tensor, ids of the weights whose gradients its backward writes)
        self._weights = {}  # id -> weight, of every layer called while recording
        self._watched = {}  # id(array) -> its leaf tensor (tape.watch)
        self._used = False
        self._token = None

    def __enter__(self):
        if self._token is not None:
            raise RuntimeError("This GradientTape is already open: open a new one for each `with` block.")
        self._token = _TAPES.set(_TAPES.get() + (self,))
        return self

    def __exit__(self, *exc):
        _TAPES.reset(self._token)
        self._token = None
        return False

    @contextlib.contextmanager
    def stop_recording(self):
        """TensorFlow's ``with tape.stop_recording():``: calls inside are not recorded (they return arrays)."""
        token = _TAPES.set(())
        try:
            yield
        finally:
            _TAPES.reset(token)

    def watch(self, tensor):
        """Watch inputs (arrays, or a list of them) so that ``gradient`` can give the target's gradient with
        respect to them: pass the same array object to the layer and to ``gradient``."""
        for x in tensor if isinstance(tensor, (list, tuple)) else [tensor]:
            if isinstance(x, Tensor):
                x.requires_grad = True
            elif id(x) not in self._watched:
                self._watched[id(x)] = (x, Tensor(B.get_backend().asarray(x), requires_grad=True))

    def watched(self):
        """The weights and watched inputs recorded so far (TensorFlow's ``watched_variables``)."""
        return list(self._weights.values()) + [t for _, t in self._watched.values()]

    watched_variables = watched

    def gradient(self, target, sources, output_gradients=None, unconnected_gradients="none"):
        """The gradient of ``target`` (a tensor of this tape, or a list of them: their sum) with respect to
        each of ``sources`` (weights, watched arrays or tensors; one, or a list, tuple or dict of them, the
        result in the same structure). A source the target does not depend on gets None, or zeros with
        ``unconnected_gradients="zero"``. ``output_gradients``: the target's upstream gradient (ones)."""
        if unconnected_gradients not in ("none", "zero"):
            raise ValueError(f"unconnected_gradients must be 'none' or 'zero', received {unconnected_gradients!r}")
        if self._used and not self.persistent:
            raise RuntimeError("A non-persistent GradientTape can only be used to compute one set of gradients "
                               "(TensorFlow's rule): open a new tape for another.")
        self._used = True
        flat, rebuild = _flatten(sources)
        targets = [_target(t) for t in (target if isinstance(target, (list, tuple)) else [target])]
        ups = (list(output_gradients) if isinstance(output_gradients, (list, tuple)) else [output_gradients]
               if output_gradients is not None else [None] * len(targets))
        wanted_weights = {id(s) for s in flat if _is_weight(s)}
        leaves = [self._source_tensor(s) for s in flat]
        inputs = [t for t in leaves if t is not None]
        inputs += [leaf for leaf, ids in self._leaves if ids & wanted_weights]
        for w in self._weights.values():  # the backwards write (and sum) into these
            if w.grad is not None:
                w.grad[...] = 0
        token = _KEEP_RECORDS.set(self.persistent)  # (a layer of yours keeps its call's tape for the next one)
        loss_token = _LOSS_UPSTREAMS.set({})
        try:
            reached = _run_backward(targets, ups, inputs)
        finally:
            _KEEP_RECORDS.reset(token)
            _LOSS_UPSTREAMS.reset(loss_token)
        out = []
        for s, leaf in zip(flat, leaves):
            if leaf is not None:
                g = reached.get(id(leaf))
                out.append(_finish(g, leaf.shape, leaf.dtype, unconnected_gradients))
            elif _is_weight(s) and any(id(leaf) in reached for leaf, ids in self._leaves if id(s) in ids):
                out.append(B.get_backend().xp.array(s.grad, copy=True))
            else:
                out.append(_finish(None, s.shape, s.value.dtype, unconnected_gradients) if _is_weight(s) else None)
        # Tensors, as TensorFlow's are: np.asarray(g) and g.numpy() copy a GPU's gradient to the host
        return rebuild([None if g is None else Tensor(g) for g in out])

    def _source_tensor(self, s):
        if isinstance(s, Tensor):
            return s
        if _is_weight(s):
            return None
        found = self._watched.get(id(s))
        if found is None:
            raise ValueError(f"GradientTape.gradient: a source of type {type(s).__name__} was neither a weight nor "
                             f"watched; call tape.watch(x) before using x to get its gradient.")
        return found[1]

    # ---- what the layers' calls register ------------------------------------------------------------
    def _add_leaf(self, leaf, weights):
        self._leaves.append((leaf, {id(w) for w in weights}))
        for w in weights:
            self._weights.setdefault(id(w), w)


def _is_weight(x):
    return hasattr(x, "regularizer") and hasattr(x, "grad") and hasattr(x, "value")


def _target(t):
    if isinstance(t, Tensor):
        return t
    raise TypeError(f"GradientTape.gradient: the target must be a tensor computed inside the tape (from a layer "
                    f"or model called there), received {type(t).__name__}: was the loss computed outside `with`?")


def _flatten(sources):
    if isinstance(sources, dict):
        keys = list(sources)
        return [sources[k] for k in keys], lambda out: dict(zip(keys, out))
    if isinstance(sources, (list, tuple)):
        kind = type(sources) if isinstance(sources, tuple) else list
        return list(sources), lambda out: kind(out)
    return [sources], lambda out: out[0]


def _finish(g, shape, dtype, unconnected):
    ops = B.get_backend()
    if g is None:
        return ops.zeros(tuple(shape), dtype) if unconnected == "zero" else None
    if tuple(g.shape) != tuple(shape):
        g = g.reshape(tuple(shape))
    return g.astype(dtype, copy=False)


def _run_backward(targets, upstreams, inputs):
    """Reverse-mode over the recorded graph from ``targets``, calling a vector-Jacobian product only where
    it leads to one of ``inputs`` (a layer call's backward writes its weights' gradients as it runs, so one
    that does not lead to a wanted weight must not run: it may have run for another tape). Returns
    ``{id(tensor): gradient}`` of the inputs reached."""
    ops = B.get_backend()
    order = _reverse_topological(targets)
    wanted = {id(t) for t in inputs}
    leads = set(wanted)
    for node in reversed(order):  # (parents before their children)
        if any(id(p) in leads for p, _ in node.parents):
            leads.add(id(node))
    grads = {}
    for t, up in zip(targets, upstreams):
        up = ops.ones(t.shape, t.dtype) if up is None else ops.asarray(up, dtype=t.dtype)
        grads[id(t)] = grads[id(t)] + up if id(t) in grads else up
    for node in order:
        g = grads.get(id(node))
        if g is None or id(node) not in leads or not node.parents:
            continue
        if id(node) not in wanted:
            del grads[id(node)]
        for parent, vjp in node.parents:
            if id(parent) in leads:
                contribution = vjp(g)
                previous = grads.get(id(parent))
                grads[id(parent)] = contribution if previous is None else previous + contribution
    return {k: v for k, v in grads.items() if k in wanted}


# ---- the layers' side (layers/base.py, models/training.py, layers/sublayers.py) --------------------------
def record_call(layer, x, training, call):
    """``layer(x)`` on arrays while a tape records: the arrays become tape tensors (watched ones the tape's
    own), ``call(tensors, training)`` runs the layer on them (its tensor path), and the call's backward is
    tied to a leaf each open tape knows, so its weights' gradients are found from it."""
    tapes = _TAPES.get()
    ops = layer.ops
    tensors = _lift_inputs(tapes, ops, x, getattr(layer, "_input_dtype", None))
    holder = {"leaf": Tensor(ops.zeros((), B.floatx()), requires_grad=True), "taken": False}
    from ..layers import added_losses
    token, leaf_token = _TAPES.set(()), _CALL_LEAF.set(holder)
    try:
        with added_losses.collecting() as added:
            out = call(tensors, training)
    finally:
        _TAPES.reset(token)
        _CALL_LEAF.reset(leaf_token)
    layer._tape_added = list(added)  # (``model.losses`` inside the tape: `losses`)
    # (a call through its hand-written backward: the losses its layers of yours added count through it, `_counted`)
    first = next(iter(out), None) if isinstance(out, (list, tuple)) else out
    layer._tape_out = first if holder["taken"] else None
    weights = layer.trainable_weights
    if not holder["taken"] and weights:
        raise NotImplementedError(f"Layer '{layer.name}' ({type(layer).__name__}) called inside a GradientTape "
                                  f"took a path gpunet does not record; its weights would get no gradient.")
    for tape in tapes:
        tape._add_leaf(holder["leaf"], weights)
    return out


def take_call_leaf(layer):
    """For `sublayers.call_on_tape`, while a tape records a call: the call's leaf (to the outermost call only;
    None after), and gradient buffers for weights that have none (a model never fitted), which the backwards
    write and sum into."""
    holder = _CALL_LEAF.get()
    if holder is None:
        return None
    ops = layer.ops
    for w in layer.trainable_weights:
        if w.grad is None:
            w.grad = ops.zeros(w.shape, w.value.dtype)
    if holder["taken"]:
        return None
    holder["taken"] = True
    return holder["leaf"]


def _lift_inputs(tapes, ops, x, input_dtype):
    if isinstance(x, dict):
        return {k: _lift_inputs(tapes, ops, v, input_dtype) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_lift_inputs(tapes, ops, v, input_dtype) for v in x)
    if isinstance(x, Tensor):
        return x
    for tape in tapes:
        found = tape._watched.get(id(x))
        if found is not None:
            return found[1]
    if input_dtype is not None:
        from ..backend import edge
        return Tensor(edge.to_input(ops, x, input_dtype()))
    return lift(ops.asarray(x))
