"""`Layer` and `Weight`: what every gpunet layer is made of.

A layer owns its config, its weights (with their gradients) and a backend
reference (``self.ops``). ``forward(x, training)`` computes the output and keeps
what ``backward(dy)`` needs; ``backward`` writes weight gradients into
``weight.grad`` and returns the gradient with respect to the input.
"""
import contextlib
import math
import threading

from .. import backend as B
from .. import initializers, regularizers, constraints
from ..autodiff import gradient_tape
from ..autodiff.tensor import is_tensor
from . import added_losses, call_args, input_spec, sublayers, symbolic, user_code
from .layer_args import _batch_input_shape, _dtype_name, set_initial_weights, weight_arguments
from .naming import snake_case, unique_name
from .weight import Weight

_skip = threading.local()
KERAS2_WEIGHT_ARGS = ("name", "shape", "dtype", "initializer", "regularizer", "trainable", "constraint")
KERAS3_WEIGHT_ARGS = ("shape", "initializer", "dtype", "trainable", "autocast", "regularizer", "constraint")


@contextlib.contextmanager
def skip_initializers():
    """Inside this block ``add_weight`` allocates zeros instead of running initializers:
    loaders use it because the file's values overwrite every weight anyway (and drawing
    random values for a big model takes longer than reading it)."""
    previous = getattr(_skip, "on", False)
    _skip.on = True
    try:
        yield
    finally:
        _skip.on = previous


class Layer(added_losses.AddLossMixin):
    """Base class of gpunet layers, with Keras's constructor arguments.

    Write your own as in Keras: ``build(input_shape)`` creates weights with `add_weight`,
    ``call(inputs)`` computes the output with `gpunet.ops` / ``K.*`` functions (or
    operators on the weights), ``get_config()`` adds the constructor's arguments for
    saving. The gradient of ``call`` comes from the tape (gpunet.autodiff); gpunet's own
    layers instead define ``forward``/``backward`` by hand.
    """

    # (tf.keras 2's base Layer takes an activity_regularizer and initial weights for any layer)
    _allowed_kwargs = ("input_shape", "batch_input_shape", "batch_size", "input_dim", "batch_shape",
                       "activity_regularizer", "weights")
    _uses_call = False
    _call_takes_training = False
    _call_training_default = False  # (a call's own ``training=True`` default: layers/user_code.py)
    _in_user_build = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        user_code.setup_subclass(cls, Layer)

    def __init__(self, trainable=True, name=None, dtype=None, **kwargs):
        unknown = set(kwargs) - set(self._allowed_kwargs)
        if unknown:
            raise TypeError(f"{type(self).__name__} got unexpected keyword argument(s): {sorted(unknown)}")
        self.name = name if name is not None else unique_name(snake_case(type(self).__name__))
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"A layer name must be a non-empty string, received {name!r}")
        self.trainable = bool(trainable)
        self.dtype = _dtype_name(dtype)
        self.ops = B.get_backend()
        self.built = False
        self._weights = []
        self.input_shape = None
        self.output_shape = None
        self.batch_input_shape = _batch_input_shape(kwargs)
        self.activity_regularizer = regularizers.get(kwargs.get("activity_regularizer"))
        self._initial_weights = kwargs.get("weights")  # set once built (Keras 2's ``Dense(2, weights=[w, b])``)

    def __setattr__(self, name, value):
        if type(value).__name__ == "Variable":  # (Keras 3's keras.Variable: it becomes this layer's weight)
            from ..variables import adopt
            adopt(self, value)
        object.__setattr__(self, name, value)

    # ---- weights ------------------------------------------------------------
    def add_weight(self, *args, **kwargs):
        """Create a weight: ``add_weight(name=None, shape=None, dtype=None, initializer=None, regularizer=None,
        trainable=True, constraint=None)`` as tf.keras 2 (positional arguments in that order), or in Keras 3's
        order where the first is a shape (``add_weight(shape, initializer, dtype)``). ``name`` defaults to
        ``variable``, ``variable_1``, ...; a None initializer is Keras's default, glorot_uniform; ``dtype``
        must be the layer's."""
        kwargs = weight_arguments(type(self).__name__, args, kwargs, KERAS2_WEIGHT_ARGS, KERAS3_WEIGHT_ARGS)
        w = self._new_weight(**kwargs)
        self._weights.append(w)
        return w

    def add_variable(self, shape, initializer, dtype=None, trainable=True, autocast=True, regularizer=None,
                     constraint=None, name=None):
        """Keras 3's name for `add_weight`, its arguments in Keras 3's order."""
        return self.add_weight(name=name, shape=shape, initializer=initializer, regularizer=regularizer,
                               constraint=constraint, trainable=trainable, dtype=dtype, autocast=autocast)

    def _new_weight(self, name=None, shape=None, initializer=None, regularizer=None, constraint=None, trainable=True,
                    dtype=None, **kwargs):
        """`add_weight`'s new weight, not yet held (a model keeps its own apart: models/own_weights.py)."""
        if dtype is not None and _dtype_name(dtype) != self.dtype:
            raise ValueError(f"Layer '{self.name}': add_weight dtype {dtype!r} differs from the layer's dtype "
                             f"{self.dtype!r}; gpunet keeps one dtype per layer (pass dtype= to the layer).")
        name, shape = user_code.weight_name_and_shape(self, name, shape, kwargs)
        init = initializers.get(initializer) or initializers.get("glorot_uniform")
        value = (self.ops.zeros(tuple(shape), self.dtype) if getattr(_skip, "on", False)  # (a file fills it)
                 else self.ops.asarray(init(tuple(shape), dtype=self.dtype), dtype=self.dtype))
        return Weight(self, name, value, trainable, regularizers.get(regularizer), constraints.get(constraint))

    @property
    def weights(self):
        """All weights, trainable first (Keras order within the layer is kept)."""
        return self.trainable_weights + self.non_trainable_weights

    @property
    def trainable_weights(self):
        # (a sublayer's weights, adopted by a user's layer: the sublayer's own trainable flag counts too)
        return [w for w in self._weights if w.trainable and self.trainable and (w.layer is self or w.layer.trainable)]

    @property
    def non_trainable_weights(self):
        return [w for w in self._weights
                if not (w.trainable and self.trainable and (w.layer is self or w.layer.trainable))]

    # tf.keras 2's names for the same lists (also on models)
    variables = property(lambda self: self.weights, doc="The same as ``weights``.")
    trainable_variables = property(lambda self: self.trainable_weights, doc="The same as ``trainable_weights``.")
    non_trainable_variables = property(lambda self: self.non_trainable_weights,
                                       doc="The same as ``non_trainable_weights``.")

    def get_weights(self):
        """The weights as a list of NumPy arrays, in Keras's order."""
        return [w.numpy() for w in self.weights]

    def set_weights(self, arrays):
        """Set the weights from NumPy arrays; checks every shape before assigning any."""
        weights = self.weights
        arrays = list(arrays)
        if len(arrays) != len(weights):
            raise ValueError(f"Layer '{self.name}' expects {len(weights)} weight arrays, received {len(arrays)}.")
        for w, a in zip(weights, arrays):
            if tuple(getattr(a, "shape", ())) != w.shape:
                raise ValueError(f"Layer '{self.name}' weight '{w.name}' has shape {w.shape}, "
                                 f"received an array of shape {tuple(getattr(a, 'shape', ()))}.")
        for w, a in zip(weights, arrays):
            w.assign(a)

    def count_params(self):
        return sum(math.prod(w.shape) for w in self._weights)

    # ---- building and running ------------------------------------------------
    def build(self, input_shape):
        """Create the weights for inputs of ``input_shape`` (batch dimension included; a list of
        shapes for a layer called on several tensors)."""
        self.input_shape = [tuple(s) for s in input_shape] if isinstance(input_shape, list) else tuple(input_shape)
        if self._in_user_build:  # a user's build calling super().build(): shapes are set once it returns
            return
        self.output_shape = self.compute_output_shape(self.input_shape)
        self.built = True
        set_initial_weights(self)
        if self._uses_call:  # a user layer without its own build: its sublayers' weights are its own too
            sublayers.adopt_weights(self)

    def compute_output_shape(self, input_shape):
        """The output shape for ``input_shape``; a layer with ``call`` finds it by running ``call`` once."""
        if self._uses_call:
            from .shape_probe import infer_output_shape
            return infer_output_shape(self, input_shape)
        return tuple(input_shape)

    def get_build_config(self):
        """Keras 3's: ``{"input_shape": ...}`` once built (None before): what a ``.keras`` file records to
        build the layer again. Override it with `build_from_config` where building needs more."""
        shape = self.input_shape if self.built else None
        if shape is None:
            return None
        return {"input_shape": [list(s) for s in shape] if isinstance(shape, list) else list(shape)}

    def build_from_config(self, config):
        """Keras 3's: build from what `get_build_config` gave (``load_model`` calls it when the file has it)."""
        shape = (config or {}).get("input_shape")
        if shape is not None and not self.built:
            several = isinstance(shape, list) and shape and all(isinstance(s, (list, tuple)) for s in shape)
            self.build([tuple(s) for s in shape] if several else tuple(shape))

    def compute_mask(self, inputs, mask=None):
        """The mask the output carries (tf.keras 2's default: the input's where the layer's
        ``supports_masking`` is True, else None). Define it in a layer of your own to hand on another
        mask, or to start one (layers/masking.py)."""
        if getattr(self, "supports_masking", False):
            return mask
        if mask is not None and not (isinstance(mask, (list, tuple)) and all(m is None for m in mask)):
            raise TypeError(f"Layer {self.name} does not support masking, but was passed an input_mask: {mask}")
        return None

    def call(self, inputs, training=None):
        """Keras-style computation on tensors; define it (with ``build``) in your own layers."""
        raise NotImplementedError(f"{type(self).__name__} defines neither call(inputs) nor forward/backward.")

    def forward(self, x, training=False):
        """The output for the backend array ``x``; runs ``call`` on the tape in user layers."""
        if self._uses_call:
            return user_code.tape_forward(self, x, training)
        raise NotImplementedError(f"{type(self).__name__} defines neither call(inputs) nor forward/backward.")

    def backward(self, dy, need_dx=True):
        """The input gradient for ``dy``, writing weight gradients into ``weight.grad``."""
        if self._uses_call:
            return user_code.tape_backward(self, dy, need_dx)
        raise NotImplementedError(f"{type(self).__name__} defines neither call(inputs) nor forward/backward.")

    def __call__(self, x, *args, training=None, **kwargs):
        """Apply the layer to an array (building it on first use); returns a backend array.
        On a tensor (inside another layer's ``call``) a user layer returns a tensor; on a symbolic
        `KerasTensor` (``Dense(4)(Input((8,)))``) the call is recorded for a functional `Model`.
        A layer with ``call`` also takes more arguments, passed on to ``call`` (layers/call_args.py);
        ``layer(x, True)`` is ``training=True``, as Keras's."""
        if len(args) == 1 and (args[0] is None or isinstance(args[0], bool)) and training is None:
            training, args = args[0], ()
        if kwargs.get("mask", 0) is None:
            del kwargs["mask"]  # (Keras's default; masks travel by themselves in gpunet's models)
        if gradient_tape.recording() and not (args or kwargs or symbolic.is_symbolic(x)):  # (tape tensors too)
            training = B.phase_functions.default_training(training, self._call_training_default)
            step = (lambda t, tr: sublayers.call_on_tape(self, t, tr)) if self._uses_call else self.__call__
            return gradient_tape.record_call(self, x, training, step)
        if args or kwargs:
            return call_args.call(self, x, args, kwargs, training)
        if symbolic.is_symbolic(x):
            return symbolic.call_layer(self, x, training)
        if isinstance(x, (list, tuple)) and x and self._uses_call:  # your layer on several tensors or arrays
            return sublayers.penalized(self, user_code.call_on_several(self, x, training))
        if is_tensor(x) and self._uses_call:  # (inside another call: its activity penalty is that call's loss)
            if not self.built:
                self.build((None,) + tuple(x.shape[1:]))
            return sublayers.penalized(self, user_code.run_call(self, x, training))
        if is_tensor(x):  # a built-in layer inside a user's call(): on the tape too
            return sublayers.call_on_tape(self, x, training)
        x = self.ops.asarray(x)
        input_spec.check(self, x.shape)
        if not self.built:
            self.build((None,) + tuple(x.shape[1:]))
            input_spec.check(self, x.shape)  # (a spec build() sets, as Keras's Dense does)
        training = B.phase_functions.default_training(training, self._call_training_default)  # (a phase set wins)
        out = self.forward(x, training)  # (a list from a layer with several outputs: an RNN's return_state)
        return [self.ops.eager(o) for o in out] if isinstance(out, list) else self.ops.eager(out)  # (.numpy() too)

    # ---- the functional API's view of the layer's calls ---------------------------
    @property
    def input(self):
        """The symbolic tensor(s) of the layer's one call (Keras's ``layer.input``), e.g. for
        ``Model(model.input, model.get_layer("dense").output)``."""
        return symbolic.call_of(self, None, "input")

    @property
    def output(self):
        """The symbolic output of the layer's one call (Keras's ``layer.output``)."""
        return symbolic.call_of(self, None, "output")

    def get_input_at(self, node_index):
        """The input tensor(s) of the layer's call ``node_index`` (a shared layer has several)."""
        return symbolic.call_of(self, node_index, "input")

    def get_output_at(self, node_index):
        return symbolic.call_of(self, node_index, "output")

    def to_backend(self, ops):
        """Move this layer's weights to another backend (``model.to``)."""
        for w in self._weights:
            w.value = ops.asarray(self.ops.to_host(w.value))
            w.grad = None
        self.ops = ops

    # ---- config ---------------------------------------------------------------
    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        if self.batch_input_shape is not None:
            config["batch_input_shape"] = list(self.batch_input_shape)
        if type(self).get_config is Layer.get_config:  # your layer without get_config: what __init__ takes
            config = user_code.accepted(type(self), config)  # (tf.keras 2 writes these only, and reads them back)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**user_code.accepted(cls, config))

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"
