"""Keras-style layers written by users (``build`` with ``add_weight``, then ``call``) trained
through the tape: the forward pass records, the backward pass replays it for the input
and every trainable weight. gpunet's built-in layers never come here (they define
``forward``/``backward`` by hand).

Inside ``call`` the layer's weights are tensors: ``K.dot(inputs, self.kernel)`` or
``inputs @ self.kernel`` record the product with the kernel's gradient.
"""
import contextlib
import functools
import inspect

from .. import backend as B
from ..autodiff import Tensor, gradient_tape, gradients, lift, tape_losses
from ..autodiff.tensor import is_tensor
from . import added_losses, masking, sublayers


def setup_subclass(cls, base):
    """Mark a Layer subclass whose ``call`` is its most derived computation (a user's layer, or a user's
    subclass of a built-in overriding ``call``): it then runs ``call`` on the tape, and its ``build``
    is wrapped by `finishing_build`."""
    if getattr(cls, "_nests_layers", False):  # a model (a subclassed Model's call runs through models/model.py)
        cls._uses_call = False
        return

    def owner(name):
        return next(k for k in cls.__mro__ if name in k.__dict__)
    call_owner, forward_owner = owner("call"), owner("forward")
    cls._uses_call = call_owner is not base and issubclass(call_owner, forward_owner)
    if not cls._uses_call:
        return
    if forward_owner is not base:  # call overrides a built-in's hand-written passes
        cls.forward, cls.backward = base.forward, base.backward
    cls._call_takes_training = takes_training(cls.call)
    cls._call_training_default = training_default(cls.call)
    build = cls.__dict__.get("build")
    if build is not None and not getattr(build, "finishes_build", False):
        cls.build = finishing_build(build)


def takes_training(call):
    """True when ``call`` accepts a ``training`` argument (Keras passes it when it can)."""
    try:
        params = inspect.signature(call).parameters
    except (TypeError, ValueError):
        return False
    return "training" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def training_default(call):
    """The default of ``call``'s ``training`` argument when it is a bool (tf.keras 2 uses it for a direct call
    with no learning phase set), else False."""
    try:
        default = inspect.signature(call).parameters.get("training")
    except (TypeError, ValueError):
        return False
    return default is not None and default.default is True


_BASE_CONFIG = ("name", "trainable", "dtype", "batch_input_shape")


def accepted(cls, config):
    """``config`` without the base layer keys (name, trainable, dtype, batch_input_shape) that
    ``cls.__init__`` does not take, when it takes no ``**kwargs`` (the Keras guide's
    ``LogisticEndpoint(name=None)``): tf.keras 2 leaves them out likewise. Other keys stay, to fail
    loudly if they do not fit."""
    try:
        params = inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        return config
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return config
    return {k: v for k, v in config.items() if k in params or k not in _BASE_CONFIG}


_INERT_WEIGHT_ARGS = ("use_resource", "autocast", "aggregation", "synchronization")  # tf.keras's, no effect here


def weight_name_and_shape(layer, name, shape, kwargs):
    """`Layer.add_weight`'s checked name (``variable``, ``variable_1``, ... when None, as Keras 3) and shape."""
    unknown = sorted(k for k in kwargs if k not in _INERT_WEIGHT_ARGS)
    if unknown:
        raise TypeError(f"add_weight got unexpected keyword argument(s): {unknown}")
    if shape is None:
        raise ValueError(f"Layer '{layer.name}': add_weight needs a shape, e.g. shape=(input_shape[-1], units).")
    taken = {w.name for w in layer._weights}
    if name is None:
        name = next(n for n in (f"variable_{i}" if i else "variable" for i in range(len(taken) + 1)) if n not in taken)
    if name in taken:
        raise ValueError(f"Layer '{layer.name}' already has a weight named {name!r}: weight names must be unique "
                         f"within a layer (they are its keys in saved files).")
    return name, tuple(int(d) for d in shape)


def finishing_build(user_build):
    """Wrap a user's ``build`` so the layer ends up built whether or not it calls
    ``super().build(input_shape)`` (Keras 3 code does not): shapes and ``built`` are set
    after the weights exist, so the output shape can be found by running ``call``."""
    @functools.wraps(user_build)
    def build(self, input_shape, *args, **kwargs):  # (more arguments: Keras 3's guide's build_from_config)
        self._in_user_build = True
        try:
            user_build(self, input_shape, *args, **kwargs)
        finally:
            self._in_user_build = False
        self.input_shape = [tuple(s) for s in input_shape] if isinstance(input_shape, list) else tuple(input_shape)
        try:
            self.output_shape = self.compute_output_shape(self.input_shape)
        except Exception:  # noqa: BLE001 - (Keras 3 builds without running call: a shape given without its
            self.output_shape = None  # batch axis, as its saving guide does, fails only there; a real call tells)
        self.built = True
        sublayers.adopt_weights(self)  # (sublayers are built by now: the output shape ran call once)
    build.finishes_build = True
    return build


@contextlib.contextmanager
def arguments(layer, spec, shapes):
    """While a call with more arguments than its input is built, probed or run: ``spec`` (a
    `call_args.CallArgs`, or None for a plain call) and the shapes of its tensors, on the layer."""
    if spec is None:
        yield
        return
    saved = getattr(layer, "_call_args", None), getattr(layer, "_call_shapes", None)
    layer._call_args, layer._call_shapes = spec, shapes
    try:
        yield
    finally:
        layer._call_args, layer._call_shapes = saved


def run_call(layer, x, training):
    """``layer.call(x)`` with the right ``training`` argument; returns a tensor. The losses the call
    adds (``self.add_loss``) become the layer's ``losses`` and go to the call or step around it. A call
    with more arguments (`arguments`) gets them back from ``x``, the list of its tensors."""
    spec = getattr(layer, "_call_args", None)
    first, args, kwargs = spec.split(x) if spec is not None else (x, (), {})
    if layer._call_takes_training:
        kwargs["training"] = training
    mask = getattr(first, "_keras_mask", None)
    if "mask" not in kwargs and masking.takes_mask(layer):
        kwargs["mask"] = mask  # (tf.keras 2 passes the input's, None too)
    with added_losses.collecting() as losses:
        out = layer.call(first, *args, **kwargs)
    layer._call_losses = [t.data for t in losses]
    added_losses.hand_on(losses)
    if isinstance(out, (list, tuple)) and getattr(layer, "_several_outputs", False):  # (an RNN's return_state)
        outs = [lift(o) for o in out]
        first_out = _with_mask(outs[0], layer, first, mask, training)
        return [first_out] + outs[1:]
    return _with_mask(lift(out), layer, first, mask, training)


def _with_mask(out, layer, first, mask, training):
    """``out`` carrying the mask the call hands on."""
    # its output's mask: its compute_mask's, or its input's where it passes masks on, as in a functional graph
    # (whatever the layers inside made); a subclassed model's call keeps what its layers made (models/model.py)
    want = (out._keras_mask if getattr(layer, "_keeps_call_mask", False)
            else masking.mask_after(layer, first, mask, training))
    if out._keras_mask is not want:  # (a tensor of its own: the one returned may be its input, or used elsewhere)
        out = Tensor(out.data, requires_grad=out.requires_grad, parents=((out, _same),) if out.requires_grad else ())
        out._keras_mask = want
    return out


def _same(g):
    return g


def call_on_several(layer, parts, training):
    """``layer(parts)`` for a layer with ``call`` given a list or tuple: its ``call`` receives them as
    they came (the Keras guide's ``self.sampling((z_mean, z_log_var))``). Tensors (inside another
    layer's ``call``) give a tensor; arrays give an array, as a call on one array does."""
    if not layer.built:
        layer.build([(None,) + tuple(p.shape[1:]) for p in parts])
    if any(is_tensor(p) for p in parts):
        return run_call(layer, type(parts)(lift(p) for p in parts), training)
    ops = layer.ops
    training = B.phase_functions.default_training(training, layer._call_training_default)
    return ops.eager(layer.forward([ops.asarray(p) for p in parts], training))


def call_with_args(layer, x, args, kwargs, training):
    """``layer(x, *args, **kwargs)`` run at once: on a layer's tape tensors (inside another ``call``) a
    tensor back, on arrays an array (`Backend.eager`)."""
    from .call_args import template
    firsts = list(x) if isinstance(x, (list, tuple)) else [x]
    on_tape = any(is_tensor(v) for v in firsts + list(args) + list(kwargs.values()))
    ops = layer.ops

    def is_data(v):  # (what becomes one of the call's tensors: arrays and tensors, not numbers or None; nested
        # Python lists are one array, a list of arrays is a list of tensors: an RNN's initial_state)
        return is_tensor(v) or hasattr(v, "shape") or (isinstance(v, (list, tuple)) and v and hasattr(v[0], "__len__")
                                                       and not (is_tensor(v[0]) or hasattr(v[0], "shape")))
    parts, spec = template(x, args, kwargs, is_data)
    parts = [p if is_tensor(p) else ops.asarray(p) for p in parts]
    with arguments(layer, spec, [(None,) + tuple(p.shape[1:]) for p in parts]):
        if not layer.built:
            first = spec.first_of([(None,) + tuple(p.shape[1:]) for p in parts])
            layer.build(first)
        if on_tape:
            return run_call(layer, [lift(p) for p in parts], training)
        with B.use_backend(ops):
            out = run_call(layer, [Tensor(p) for p in parts],
                           B.phase_functions.default_training(training, layer._call_training_default))
    return [ops.eager(o.data) for o in out] if isinstance(out, list) else ops.eager(out.data)


def tape_forward(layer, x, training):
    """The output array of ``call``; in training, or in a call a GradientTape records, the tape is kept for
    `tape_backward`."""
    weights = [w for w in layer._weights if sublayers.on_tape(w)]  # (built-in sublayers' go through their backward)
    keep = bool(training) or gradient_tape.in_recorded_call()  # (model(x) in a GradientTape: inference, gradients)
    trainable = {id(w) for w in layer.trainable_weights} if keep else ()
    token = sublayers.training_scope(training)
    with B.use_backend(layer.ops):
        for w in weights:
            w.tensor = Tensor(w.value, requires_grad=id(w) in trainable)
        several = isinstance(x, list)  # a call on several tensors (the functional API)
        data = getattr(layer, "_data_inputs", None) or ()  # which inputs are a model's own (graph_run.py): no gradient
        needs = [keep and not (i < len(data) and data[i]) for i in range(len(x) if several else 1)]
        inputs = ([Tensor(a, requires_grad=n) for a, n in zip(x, needs)] if several
                  else Tensor(x, requires_grad=needs[0]))
        if not several:  # (the mask layers/masking.py's forward hands this call)
            inputs._keras_mask = getattr(layer, "_in_mask", None)
        else:  # (a layer that reads each input's mask: models/graph_run.py hands them)
            for t, m in zip(inputs, getattr(layer, "_input_masks", None) or ()):
                t._keras_mask = m
        x = x[0] if several else x
        try:
            with added_losses.collecting() as losses:  # what call() adds with self.add_loss
                out = run_call(layer, inputs, training)
        finally:
            recorded = [(w, w.tensor) for w in weights if w.tensor.requires_grad]
            for w in weights:
                w.tensor = None
            sublayers.reset_training(token)
    layer._tape = (out, inputs, recorded, losses) if keep else None
    outs = out if isinstance(out, list) else [out]  # (a list: a layer with several outputs, an RNN's states)
    layer._call_mask = outs[0]._keras_mask  # (a subclassed model's output mask: models/model.py; layers/masking.py's)
    added_losses.hand_on(losses)
    ys = []
    for o in outs:
        y = o.data
        if y.dtype.kind == "f" and y.dtype != x.dtype and x.dtype.kind == "f":
            y = y.astype(x.dtype)  # NumPy float64 constants in user code must not widen the model's dtype
        ys.append(y)
    return ys if isinstance(out, list) else ys[0]


def tape_backward(layer, dy, need_dx):
    """Replay the tape of the last training forward: weight gradients into ``weight.grad``,
    returns the input gradient (None when ``need_dx`` is false)."""
    tape = getattr(layer, "_tape", None)
    if tape is None:
        raise RuntimeError(f"Layer '{layer.name}': backward() needs a forward(x, training=True) first.")
    out, inputs, recorded, losses = tape
    if not gradient_tape.keeps_records():  # (a persistent GradientTape runs this backward again)
        layer._tape = None
    several = isinstance(inputs, list)
    sources = inputs if several else [inputs]
    sublayers.zero_grads(layer)
    ups = tape_losses.added_loss_upstreams()
    # in fit the losses call() added count once each in the model's loss: their upstream gradient is 1; in a
    # GradientTape's gradient, what the target gave them through model.losses (those it left out: nothing)
    counted = [(t, None) for t in losses] if ups is None else [(t, ups[id(t)]) for t in losses if id(t) in ups]
    with B.use_backend(layer.ops):
        outs, dys = (out, dy) if isinstance(out, list) else ([out], [dy])
        grads = gradients(outs + [t for t, _ in counted], sources + [t for _, t in recorded],
                          [d.astype(o.dtype, copy=False) for o, d in zip(outs, dys)] + [u for _, u in counted])
    for (w, _), g in zip(recorded, grads[len(sources):]):
        if w.grad is not None:
            w.grad[...] = g
    if not need_dx:
        return [None] * len(sources) if several else None
    dxs = [layer.ops.xp.ascontiguousarray(g) if g.ndim else g for g in grads[:len(sources)]]  # (it makes 0-d 1-d)
    return dxs if several else dxs[0]
