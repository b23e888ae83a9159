"""`Sequential`: a linear stack of layers (Keras's ``keras.models.Sequential``)."""
from .. import backend as B
from ..layers.base import Layer
from ..layers.naming import unique_name
from ..layers.input_layer import InputLayer
from ..layers.symbolic import KerasTensor, shapes_agree
from ..layers import input_spec
from .training import TrainingMixin
from .legacy_predict import LegacyPredictMixin
from .nesting import NestingMixin, InnerActivity
from .symbolic_chain import SymbolicChainMixin
from ..saving.mixin import SavingMixin
from . import summary as _summary


class Sequential(SymbolicChainMixin, NestingMixin, TrainingMixin, LegacyPredictMixin, SavingMixin, Layer):
    """A linear stack of layers; also a layer itself, so a Sequential can be nested in another.

    Example::

        model = Sequential()
        model.add(Dense(12, input_dim=8, activation="relu"))
        model.add(Dense(1, activation="sigmoid"))
        model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
        model.fit(X, Y, epochs=150, batch_size=10)

    Layer names are unique across the whole model, nested models included (so each weight's
    ``path``, ``"<layer>/<weight>"``, names it alone in files and optimizer state).
    """

    _nests_layers = True  # saving and weight matching walk into a nested Sequential

    def __init__(self, layers=None, name=None, trainable=True):
        self.name = name or unique_name("sequential")
        self.ops = B.get_backend()
        self._layers = []
        self._layer_names = set()
        self._input_layer = None
        self._trainable = bool(trainable)
        self.built = False
        self._activity_proxy = InnerActivity(self)
        self._packed = []
        self._chain_tensors = []  # the symbolic outputs of the InputLayer and each layer (layer.output)
        self._init_training_state()
        for layer in layers or []:
            self.add(layer)

    # ---- structure ------------------------------------------------------------
    @property
    def layers(self):
        """The layers, without the InputLayer (as in Keras)."""
        return list(self._layers)

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)
        for layer in self._layers:
            layer.trainable = self._trainable

    @property
    def input_shape(self):
        if self._input_layer is not None:
            return self._input_layer.batch_input_shape
        return self._layers[0].input_shape if self.built else None

    @property
    def output_shape(self):
        if not self.built:
            raise AttributeError("The model has not been built yet: call build(input_shape) or fit/predict first.")
        return self._layers[-1].output_shape if self._layers else self.input_shape

    def add(self, layer):
        """Append a layer (or the tensor of an ``Input(...)``, which declares the input shape). A name
        already in the model is rejected here, not at save time."""
        if isinstance(layer, KerasTensor) and isinstance(layer._keras_history.layer, InputLayer):
            layer = layer._keras_history.layer  # Keras 2 and 3 accept Sequential([Input((8,)), ...])
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add expects a gpunet Layer, received {type(layer).__name__}: {layer!r}")
        if isinstance(layer, InputLayer):
            if self._layers or self._input_layer is not None:
                raise ValueError("An InputLayer can only be the first layer of a Sequential model.")
            self._input_layer = layer
            layer.ops = self.ops
            self._build_from(layer.batch_input_shape)
            return
        self._admit(layer)
        if not self._layers and self._input_layer is None and layer.batch_input_shape is not None:
            self._input_layer = InputLayer(batch_input_shape=layer.batch_input_shape, dtype=layer.dtype,
                                           name=layer.name + "_input")
            self._input_layer.ops = self.ops
        self._layers.append(layer)
        self._invalidate()
        if self.built and len(self._layers) > 1:
            # Only the new layer needs building: adding n layers stays O(n).
            self._build_from(self._layers[-2].output_shape, start=len(self._layers) - 1)
        elif self.built or self._input_layer is not None:
            self._build_from(self.input_shape)

    def _admit(self, layer):
        """Check that ``layer`` may join this model (a unique name; a nested model that fits), move it
        to this model's backend and take its names (returned: the nested model's layers' too)."""
        input_name = self._input_layer.name if self._input_layer is not None else None
        if layer.name in self._layer_names or layer.name == input_name:
            raise ValueError(f"Layer names must be unique: the model already has a layer named '{layer.name}'.")
        inner = []
        if isinstance(layer, NestingMixin):
            if (getattr(layer, "_is_graph", False) and (layer._in_layout or layer._out_layout)
                    and not getattr(self, "_is_graph", False)):
                raise ValueError(f"Cannot add the functional model '{layer.name}' to a Sequential model: it has "
                                 "several inputs or outputs. Call it on tensors in a functional model instead "
                                 "(outputs = model([a, b])).")
            inner = self._check_nested(layer)
            if layer.ops is not self.ops:
                layer.to_backend(self.ops)
            layer._invalidate()  # its weights move into this model's buffer when it packs
        layer.ops = self.ops
        self._layer_names.add(layer.name)
        self._layer_names.update(inner)
        return inner

    def pop(self):
        """Remove the last layer."""
        if not self._layers:
            raise TypeError("There are no layers in the model to pop.")
        layer = self._layers.pop()
        self._layer_names.discard(layer.name)
        if isinstance(layer, NestingMixin):
            self._layer_names.difference_update(layer._names_in_tree())
        self._invalidate()
        return layer

    def get_layer(self, name=None, index=None):
        """A layer by name or by index (among ``layers``)."""
        if index is not None:
            if not -len(self._layers) <= index < len(self._layers):
                raise ValueError(f"Layer index {index} is out of range: the model has {len(self._layers)} layers.")
            return self._layers[index]
        for layer in self._layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name!r}. Existing layers are: {[l.name for l in self._layers]}.")

    def build(self, input_shape=None):
        """Create every layer's weights for inputs of ``input_shape`` (batch dim included)."""
        if input_shape is None:
            input_shape = self.input_shape
        if input_shape is None:
            raise ValueError("build() needs an input_shape, e.g. model.build((None, 8)).")
        self._build_from(tuple(input_shape))

    def _build_from(self, shape, start=0):
        shape = input_shape = tuple(shape)
        for layer in self._layers[start:]:
            input_spec.check(layer, shape)
            if not layer.built:
                layer.build(shape)
                input_spec.check(layer, shape)
            elif tuple(layer.input_shape or ()) == shape[1:] and getattr(layer, "_uses_call", False):
                layer.input_shape = shape  # built by hand without the batch axis (as Keras 3's saving guide does)
            elif layer.input_shape is not None and not shapes_agree(tuple(layer.input_shape), shape):  # (None: any)
                raise ValueError(f"Layer '{layer.name}' was built for input shape {layer.input_shape}, "
                                 f"received {shape}.")
            shape = layer.compute_output_shape(shape)
        self.built = bool(self._layers) or self._input_layer is not None
        self._connect(None if start else input_shape)
        if self.built and self.optimizer is not None:
            self._pack()

    # ---- weights ----------------------------------------------------------------
    @property
    def weights(self):
        """Every weight, layer by layer (as Keras's ``Model.weights`` and ``get_weights``)."""
        return [w for layer in self._layers for w in layer.weights]

    @property
    def trainable_weights(self):
        """The trainable weights; none while the model itself is frozen (``trainable=False``), as in Keras."""
        if not self._trainable:
            return []
        return [w for layer in self._layers for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self):
        if not self._trainable:
            return self.weights
        return [w for layer in self._layers for w in layer.non_trainable_weights]

    @property
    def input_names(self):
        """The input layer's name in a list (``["dense_input"]``), as tf.keras 2's Sequential has it."""
        return [self.input.node.layer.name]

    @property
    def output_names(self):
        """The last layer's name in a list, as tf.keras 2's Sequential has it."""
        return [self.output.node.layer.name]

    @property
    def _weights(self):
        """Every `Weight` object of every layer below (regularizers are found through it)."""
        return [w for layer in self._layers for w in layer._weights]

    def get_weights(self):
        """All weights as NumPy arrays, layer by layer, in Keras's order."""
        return [a for layer in self._layers for a in layer.get_weights()]

    def set_weights(self, arrays):
        """Set all weights from NumPy arrays; every shape is checked before any is assigned."""
        arrays = list(arrays)
        weights = self.weights
        if len(arrays) != len(weights):
            raise ValueError(f"Model '{self.name}' has {len(weights)} weights, received {len(arrays)} arrays.")
        for w, a in zip(weights, arrays):
            if tuple(getattr(a, "shape", ())) != w.shape:
                raise ValueError(f"Layer '{w.layer.name}' weight '{w.name}' has shape {w.shape}, "
                                 f"received an array of shape {tuple(getattr(a, 'shape', ()))}.")
        for w, a in zip(weights, arrays):
            w.assign(a)

    def count_params(self):
        return sum(layer.count_params() for layer in self._layers)

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False, show_trainable=False,
                layer_range=None):
        """Print a Keras-style table of layers, output shapes and parameter counts."""
        _summary.print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn,
                              expand_nested=expand_nested, show_trainable=show_trainable, layer_range=layer_range)

    # ---- config -----------------------------------------------------------------
    def get_config(self):
        """Keras 2's Sequential config: ``{"name", "layers": [{"class_name", "config"}, ...]}``."""
        layers = []
        if self._input_layer is not None:
            layers.append({"class_name": "InputLayer", "config": self._input_layer.get_config()})
        for layer in self._layers:
            layers.append({"class_name": type(layer).__name__, "config": layer.get_config()})
        config = {"name": self.name, "layers": layers}
        first = self._layers[0] if self._layers else None
        if self._input_layer is None and first is not None and first.built and first.batch_input_shape is None:
            # built by build()/fit without an input shape: tf.keras 2 records the shape it was built for
            # (without it only a leading Dense's kernel tells a reader the input width)
            config["build_input_shape"] = list(first.input_shape)
        if not self._trainable:
            config["trainable"] = False
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from ..saving import registry
        return registry.sequential_from_config(config, custom_objects)

    # ---- devices ------------------------------------------------------------------
    def to(self, device):
        """Move parameters and optimizer state to "cpu" (NumPy) or "gpu" (CuPy); returns self."""
        names = {"cpu": "numpy", "numpy": "numpy", "gpu": "cupy", "cuda": "cupy", "cupy": "cupy"}
        if device not in names:
            raise ValueError(f"model.to expects 'cpu' or 'gpu', received {device!r}")
        ops = B.resolve(names[device])
        if ops is self.ops:
            return self
        for layer in ([self._input_layer] if self._input_layer else []) + self._layers:
            layer.to_backend(ops)
        self.ops = ops
        if self.optimizer is not None and self.built:
            self._pack()  # optimizer.build carries its slots over to the new backend
        return self

    def __repr__(self):
        return f"<Sequential name={self.name}, {len(self._layers)} layers>"
