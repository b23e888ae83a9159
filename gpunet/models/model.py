"""Keras's ``Model``: ``Model(inputs, outputs)`` is a functional model (models/functional.py); a
subclass that writes its layers in ``__init__`` and its computation in ``call`` is a subclassed
model, as in Keras::

    class TwoLayers(Model):
        def __init__(self):
            super().__init__()
            self.hidden = Dense(12, activation="relu")
            self.out = Dense(1, activation="sigmoid")

        def call(self, inputs, training=None):
            return self.out(self.hidden(inputs))

A subclassed model is built at its first call (fit, predict, ``model(x)``, ``build``): its ``call``
runs on the tape (gpunet.autodiff) through a hidden layer that holds it, each built-in layer
recording its hand-written backward (layers/sublayers.py), so it trains, evaluates, predicts and
saves its weights (``save_weights``/``load_weights``) as a Sequential does, layer by layer. The fused
steps run ``call`` traced once into a graph of the same layers where the trace trains as the tape
does (models/call_trace.py); several inputs come as a list or tuple (models/subclass_inputs.py), several
outputs as call returns them (models/subclass_outputs.py), and the model may have weights of its own
(models/own_weights.py). As in Keras 3, ``save`` to a ``.keras`` archive keeps its class's name and its
constructor's arguments (its ``get_config``), and ``load_model`` with the class in ``custom_objects`` (or
registered) makes it again; as in tf.keras 2, ``.h5`` and ``to_json`` cannot hold it.
"""
import weakref

from .. import backend as B
from ..layers.base import Layer
from ..layers.naming import snake_case, unique_name
from ..layers import sublayers
from .sequential import Sequential
from .own_weights import OwnWeightsMixin
from .subclass_outputs import SeveralOutputsMixin, packed_outputs

class Model(OwnWeightsMixin, SeveralOutputsMixin, Sequential):
    """``Model(inputs, outputs)``: a `Functional` model; subclass it with ``call`` for a subclassed model."""

    _builds_on_call = True  # (its layers exist once call has run: it may be nested before that)

    def __new__(cls, *args, **kwargs):
        if cls is Model:
            from .functional import Functional
            return object.__new__(Functional)  # (Python then runs Functional.__init__ with the same arguments)
        model = object.__new__(cls)
        # a subclass's constructor arguments, which a config without a get_config of its own records
        # (tf.keras 2 records them likewise: models/functional_subclass.py)
        object.__setattr__(model, "_init_arguments", (args, kwargs))
        return model

    def __init__(self, *args, name=None, trainable=True, **kwargs):
        if args or kwargs.get("inputs") is not None or kwargs.get("outputs") is not None:
            # a subclass handing Model a graph is a functional model, as in Keras (functional_subclass.py)
            from .functional import Functional
            from .functional_subclass import make_functional
            make_functional(type(self))
            Functional.__init__(self, *args, name=name, trainable=trainable, **kwargs)
            return
        kwargs.pop("dynamic", None)
        kwargs.pop("dtype", None)  # (Keras 3 writes a model's dtype policy; its layers keep their own)
        if kwargs:
            raise TypeError(f"Model() got unexpected keyword argument(s): {sorted(kwargs)}")
        if type(self).call is Layer.call:
            raise NotImplementedError(f"{type(self).__name__} subclasses Model but defines no call(inputs): write "
                                      "call(), or build the model with Model(inputs, outputs).")
        super().__init__(name=name or unique_name(snake_case(type(self).__name__)), trainable=trainable)
        self._setup_inputs()  # (one, until fit, predict or build is given several: subclass_inputs.py)

    @property
    def layers(self):
        """The layers the model holds in its attributes (in the order they were set), as Keras tracks them."""
        return sublayers.found_in(self, skip=tuple(self._layers))

    def build(self, input_shape=None):
        """Build for inputs of ``input_shape``: runs ``call`` once, which creates the layers' weights."""
        if input_shape is None:
            raise ValueError(f"Model '{self.name}' is a subclassed model: build() needs an input_shape, e.g. "
                             "model.build((None, 8)).")
        if isinstance(input_shape, list) and input_shape and all(isinstance(s, (list, tuple)) for s in input_shape):
            self._take_shapes(input_shape, list)  # (several inputs: call receives a list of them)
            input_shape = self._data_input_shape()
        if not self._layers:
            holder = _CallLayer(self)
            holder.ops = self.ops
            self._layers = [holder]
            self._layer_names.add(holder.name)
        self._layers[0].build(tuple(input_shape))
        self.built = True
        self._trace, self._call_shape = None, (None,) + tuple(input_shape)[1:]
        if not self._finish_compile() and self.optimizer is not None:  # (call has told its outputs now)
            self._pack()

    def _plan_graph(self):
        """``call`` as a graph of layer calls for the fused steps (models/call_trace.py; traced at its first
        use, again if the model's layers changed since), or None: the tape runs it (graph_plan.graph_of)."""
        if getattr(self, "run_eagerly", False):  # (Keras's: call runs at every step)
            return None
        key, shape = tuple(id(layer) for layer in self.layers), self.__dict__.get("_call_shape")
        trace = self.__dict__.get("_trace")
        if (trace is None or self._traced_for != key) and self._layers and shape is not None:
            from .call_trace import trace as traced
            dtype = self._params.dtype if self._params is not None else B.floatx()
            trace = self._trace = traced(self, self._layers[0], shape, str(dtype)) or False
            self._traced_for = key
        return trace or None

    def _forward(self, x, training, penalty=True):
        out = super()._forward(x, training, penalty)
        if penalty and self._layers and self._layers[0].__dict__.get("_call_mask") is not None:
            self._output_mask = self._layers[0]._call_mask  # (the loss weighs the steps by it: output_masks.py)
        return out

    def _ensure_ready(self, x_shape, train):
        if not self._layers:
            self.build((None,) + tuple(x_shape[1:]))
        super()._ensure_ready(x_shape, train)

    def add(self, layer):
        raise TypeError(f"Model '{self.name}' is a subclassed model: set its layers as attributes in __init__.")

    def pop(self):
        raise TypeError(f"Model '{self.name}' is a subclassed model: it has no pop().")

    def get_config(self):
        """Keras 3's config of a subclassed model without a ``get_config`` of its own: the arguments its
        constructor was called with (plain values; models/functional_subclass.py), which a ``.keras`` archive
        keeps (``load_model`` calls the constructor with them). Raises NotImplementedError where an argument
        is not a plain value (a layer, a function): write ``get_config`` (and ``from_config``) for it."""
        from .functional_subclass import subclass_config, unsaved_arguments
        unsaved = unsaved_arguments(self)
        if unsaved:
            raise NotImplementedError(f"Model '{self.name}' ({type(self).__name__}) was made with arguments a config "
                                      f"cannot hold: {unsaved} (not numbers, strings, lists or dicts of them). Define "
                                      "get_config() (and from_config()) to say how to save them, or save its weights "
                                      "with save_weights().")
        return subclass_config(self)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """Keras's ``Model.from_config``: a functional model's config (``model.get_config()``, with
        ``layers``, ``input_layers`` and ``output_layers``) builds that graph again; a subclass's own
        config (its ``get_config()``) goes to its constructor."""
        if cls is Model and isinstance(config, dict) and "input_layers" in config and "layers" in config:
            from .functional import Functional
            return Functional.from_config(config, custom_objects)
        if cls is Model:
            raise ValueError("Model.from_config expects a functional model's config (keys 'layers', 'input_layers' "
                             f"and 'output_layers'), received keys {sorted(config) if isinstance(config, dict) else config!r}.")
        from .functional_subclass import from_config
        return from_config(cls, config, custom_objects)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name} (subclassed)>"


class _CallLayer(Layer):
    """The layer that runs a subclassed model's ``call`` on the tape; the model's layers are its sublayers."""

    _keeps_call_mask = True  # (its output's mask is what the layers in call made: user_code.run_call)

    def __init__(self, model):
        super().__init__(name=model.name + "_call")
        self._owner = weakref.ref(model)  # (not a Layer attribute: the model is not its sublayer)
        self._model_takes_training = "training" in _parameters(type(model).call)

    def call(self, inputs, training=None):
        model = self._owner()
        inputs = model._call_arguments(inputs)  # (several inputs: the parts, as fit was given them)
        out = model.call(inputs, training=training) if self._model_takes_training else model.call(inputs)
        return packed_outputs(model, out)  # (several outputs: side by side, models/subclass_outputs.py)

    def _tracked_weights(self):
        """The holder's weights (layers/sublayers.py `adopt_weights`): the model's layers', then its own
        (models/own_weights.py)."""
        model = self._owner()
        return [w for layer in model.layers for w in layer._weights] + model.__dict__.get("_own_weights", [])

    @property
    def weights(self):
        """tf.keras 2's ``Model.weights`` order: each layer's weights (its trainable first), then the model's
        own (trainable first); ``get_weights``/``set_weights`` follow it."""
        model, out, seen = self._owner(), [], set()
        own, mine = [w for w in self._weights if w.layer is model], {id(w) for w in self._weights}
        for w in [w for layer in model.layers for w in layer.weights] + [w for w in own if w.trainable] + own:
            if id(w) not in seen and id(w) in mine:
                out.append(w)
                seen.add(id(w))
        return out + [w for w in Layer.weights.fget(self) if id(w) not in seen]


def _parameters(fn):
    import inspect
    try:
        return inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return {}
