"""A subclassed model whose ``call`` returns several tensors, as in Keras::

    def call(self, inputs):
        hidden = self.body(inputs)
        return self.main_head(hidden), self.aux_head(hidden)

    model.compile("adam", loss=["binary_crossentropy", "mse"], loss_weights=[1.0, 0.2])
    model.fit(x, [y_main, y_aux])

Its outputs are what ``call`` returns the first time it runs (the model's build): a list or tuple of
tensors is named ``output_1``, ``output_2``, ... and a dict by its keys in sorted order (tf.keras 2's
names for a subclassed model's outputs: History's ``output_1_loss``, a loss dict's keys). From then on
the model is a functional model with several outputs to the loops: the call holder packs the tensors
side by side (each flattened), `MultiOutputLoss` splits them (models/multi_output.py), ``predict`` and
``model(x)`` return them in the structure ``call`` returned, and the traced graph has them as its
outputs (models/call_trace.py). As only ``call`` tells how many outputs there are, ``fit``/``evaluate``
given targets build the model first, and a ``compile`` whose arguments are per output (a list or dict
of losses, say) before then completes when the model is built (Keras matches them to the outputs at
its first step likewise); a single loss given to several outputs serves each, as in Keras.
"""
from .. import optimizers as _optimizers
from ..autodiff.shape_ops import batch_flatten, concatenate, reshape
from ..autodiff.tensor import is_tensor, lift
from ..backend.io_packing import layout_of, packed, unpacked
from .batch_sources import is_batch_source
from .graph import in_key_order
from .functional_io import _arguments
from .multi_output import is_config
from .subclass_inputs import SeveralInputsMixin, _Input


def packed_outputs(model, out):
    """What the call holder hands on for ``call``'s return value ``out``: one tensor as it is, several
    (a list, tuple or dict of them) side by side in one; the first call sets the model's outputs."""
    if isinstance(out, (list, tuple)) and len(out) == 1:
        if not model.built:  # (predict and model(x) give it back in its list, as tf.keras 2 does)
            model._one_output_in = type(out)
        out = out[0]
    if not isinstance(out, (list, tuple, dict)):
        if model._out_layout:
            raise ValueError(f"Model '{model.name}': call returned one tensor, but it returned "
                             f"{len(model._out_layout)} ({model.output_names}) when the model was built.")
        return out
    names = sorted(out) if isinstance(out, dict) else [f"output_{k + 1}" for k in range(len(out))]
    parts = [lift(out[k]) for k in names] if isinstance(out, dict) else [lift(t) for t in out]
    shapes = [tuple(p.shape[1:]) for p in parts]
    if not model._out_layout:
        model._outputs = [_Input(name, (None,) + shape) for name, shape in zip(names, shapes)]
        model._out_layout = layout_of(shapes)
        model._out_kind = dict if isinstance(out, dict) else list if isinstance(out, list) else tuple
    elif names != model.output_names or [s for _, _, s in model._out_layout] != shapes:
        raise ValueError(f"Model '{model.name}': call returned outputs {dict(zip(names, shapes))}, but "
                         f"{dict(zip(model.output_names, (s for _, _, s in model._out_layout)))} when the model "
                         "was built: a model's outputs keep their number, names and shapes.")
    joined = concatenate([batch_flatten(p) for p in parts], axis=1)
    # (a mask on an output: the model refuses it in fit and evaluate, as one on a single output)
    joined._keras_mask = next((p._keras_mask for p in parts if p._keras_mask is not None), None)
    return joined


def _per_output(*arguments):
    """Whether compile's arguments name outputs (a list or dict of losses, metrics per output...)."""
    loss, metrics, loss_weights, weighted_metrics = arguments
    listed = [m for m in (metrics, weighted_metrics) if isinstance(m, (list, tuple))]
    return ((isinstance(loss, (list, tuple, dict)) and not is_config(loss)) or loss_weights is not None
            or any(isinstance(m, dict) for m in (metrics, weighted_metrics))
            or any(m and all(isinstance(v, (list, tuple)) for v in m) for m in listed))


class SeveralOutputsMixin(SeveralInputsMixin):
    """Several outputs for a subclassed model (see the module docstring); a functional model's (Functional
    derives from Model) are its graph's, built when it is made: for it these change nothing."""

    _out_kind = list  # (what predict returns several outputs in: a functional model's list)
    _one_output_in = None  # (list or tuple where call returns its one tensor in one)
    _compile_call, _compile_pending = None, False

    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None, weighted_metrics=None,
                **kwargs):
        self._compile_call = (loss, metrics, loss_weights, weighted_metrics, kwargs)
        self._compile_pending = not self.built and _per_output(loss, metrics, loss_weights, weighted_metrics)
        if not self._compile_pending:
            return super().compile(optimizer, loss, metrics, loss_weights, weighted_metrics, **kwargs)
        # (the outputs are not known before call has run: build completes it, `_finish_compile`)
        self.run_eagerly = bool(kwargs.get("run_eagerly"))
        self._set_compiled(_optimizers.get(optimizer), loss, None, [], [], metrics, weighted_metrics, loss_weights)

    def _finish_compile(self):
        """After the build: compile again where it waited for the outputs or they are several (one loss then
        serves each); True where it did (it packed the model)."""
        if self._compile_call is None or not (self._compile_pending or self._multi_out):
            return False
        loss, metrics, loss_weights, weighted_metrics, kwargs = self._compile_call
        self.compile(self.optimizer, loss, metrics, loss_weights, weighted_metrics, **kwargs)
        return True

    def _check_compiled(self, what, own_steps=False):
        if not self._compile_pending:  # (a pending compile completes at the build, at the first batch)
            super()._check_compiled(what, own_steps)

    @property
    def _several_io(self):
        return super()._several_io or not self.built  # (unbuilt: a generator's first batch tells)

    def _pack_call(self, method, args, kwargs, targets=True):
        if targets:
            a = _arguments(method, args, kwargs)
            if not is_batch_source(a.get("x")):
                self._build_for(a.get("x"))
        return super()._pack_call(method, args, kwargs, targets)

    def _pack_batch(self, batch, role=""):
        if isinstance(batch, (tuple, list)) and len(batch) in (2, 3):
            self._build_for(batch[0])
        return super()._pack_batch(batch, role)

    def _build_for(self, x):
        """Build for inputs like ``x`` before targets are packed: only ``call`` tells the outputs."""
        if self.built:
            return
        self._take_inputs(x)
        if self._in_layout:
            self.build(self._data_input_shape())
        elif len(getattr(x, "shape", ())) >= 1:
            self.build((None,) + tuple(x.shape[1:]))

    @property
    def output_shape(self):
        if self._out_layout:
            return [(None,) + shape for _, _, shape in self._out_layout]
        return super().output_shape

    def _data_output_shape(self):
        """The shape of what predict's loops see: several outputs come packed side by side (a functional
        model's too: this serves both)."""
        return (None, self._out_layout[-1][0] + self._out_layout[-1][1]) if self._out_layout else self.output_shape

    def _split_outputs(self, out):
        """Packed outputs (arrays, or tensors on the tape) in the structure ``call`` returned them."""
        keys = getattr(self, "_output_keys", None)  # (a functional model made from a dict of outputs)
        if not self._out_layout:
            if keys:
                return {keys[0]: out}
            return out if self._one_output_in is None else self._one_output_in([out])
        if is_tensor(out):
            parts = [out[:, offset:offset + width] for offset, width, _ in self._out_layout]
            parts = [p if len(shape) == 1 else reshape(p, (-1,) + shape)
                     for p, (_, _, shape) in zip(parts, self._out_layout)]
        else:
            parts = unpacked(out, self._out_layout)
        if keys:  # (in the dict's own order, as tf.keras 2 and Keras 3 give it back)
            return in_key_order(parts, keys)
        if self._out_kind is dict:
            return dict(zip(self.output_names, parts))
        return self._out_kind(parts)

    def __call__(self, x, training=None):
        out = super().__call__(x, training)
        if is_tensor(out):  # (inside another model's call, on the tape)
            return self._split_outputs(out)
        return out

    # ---- as a layer of a functional model: one symbolic tensor per output (layers/symbolic.py) -------------
    @property
    def _several_outputs(self):
        return bool(self._out_layout)

    def compute_output_shape(self, input_shape):
        if self._out_layout:
            return [(tuple(input_shape)[0],) + shape for _, _, shape in self._out_layout]
        return super().compute_output_shape(input_shape)

    def backward(self, dy, need_dx=True):
        """(Several outputs' gradients come as a list, as a functional model's: packed as call's outputs are.)"""
        return super().backward(packed(self.ops, dy) if isinstance(dy, list) else dy, need_dx)
