"""Keras's functional API: ``Model(inputs, outputs)`` over a graph of layer calls.

Example::

    inputs = Input(shape=(8,))
    h = Dense(12, activation="relu")(inputs)
    skip = Dense(12)(inputs)
    outputs = Dense(1, activation="sigmoid")(Add()([h, skip]))
    model = Model(inputs, outputs)
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])

A functional model trains, evaluates, predicts and saves as a `Sequential` does (it is one, run
in graph order instead of list order): the engine's ``_forward``/``_backward`` walk the layer
calls (models/graph.py), and a graph that is a plain chain of layers keeps the fused plans.
Saved configs are tf.keras 2's ("Functional", ``inbound_nodes``); Keras 3's are read too.

Several inputs or outputs: x and y as lists or dicts, predict returning a list
(models/functional_io.py, models/multi_output.py).

A layer called on several tensors shares its weights between the calls (models/graph_run.py).

A functional model is also a layer: ``x = base(inputs)`` in another functional model (several
inputs or outputs too), or a layer of a Sequential; ``base(inputs, training=False)`` keeps that
call in inference mode (symbolic.Node.training).

Masks (Embedding(mask_zero=True), Masking) pass from call to call by tf.keras 2's rules
(layers/masking.py; merge layers combine them).
"""
from .. import backend as B
from ..backend.gpu_graph_plan import build_gpu_graph_plan
from ..backend.graph_plan import build_graph_plan
from ..backend.io_packing import layout_of, packed, unpacked
from ..layers.base import Layer
from ..layers.naming import snake_case, unique_name
from ..layers.symbolic import shapes_agree
from . import graph as _graph
from . import graph_run as _run
from . import summary as _summary
from .added_tensors import AddedTensorsMixin
from .model import Model
from .sequential import Sequential


class Functional(AddedTensorsMixin, Model):  # (MultiIOMixin through Model's bases)
    """A model from symbolic tensors: ``Model(inputs=Input((8,)), outputs=<a layer's output>)``.

    Args:
        inputs: an ``Input()`` tensor, or a list of them.
        outputs: a tensor, or a list of them (several: compile takes a loss per output).
        name: the model's name (default ``"model"``, ``"model_1"``, ... as in tf.keras 2).

    Raises:
        TypeError: inputs or outputs that are not symbolic tensors.
        ValueError: an input not made by ``Input()``, a graph that does not connect the inputs to
            the outputs, duplicate layer names.
        NotImplementedError: what gpunet's functional models do not do yet (see the module doc).
    """

    _is_graph = True
    _builds_on_call = False

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        if inputs is None or outputs is None:
            raise NotImplementedError("gpunet.models.Model needs inputs= and outputs= (the functional API), or "
                                      "a subclass of Model that writes call() (models/model.py).")
        kwargs.pop("dynamic", None)  # tf.keras 2's, no meaning here
        kwargs.pop("dtype", None)  # (Keras 3 writes a model's dtype policy; its layers keep their own)
        if kwargs:
            raise TypeError(f"Model() got unexpected keyword argument(s): {sorted(kwargs)}")
        if type(self).call is not Layer.call:  # (gpunet runs the graph itself, never a call() over it)
            raise NotImplementedError(f"{type(self).__name__} hands Model inputs= and outputs= and also defines call(): "
                                      "gpunet runs a functional model's graph, not a call() of yours over it. Build "
                                      "the computation into outputs, or write a subclassed model (call() alone).")
        keys = _graph.dict_keys(inputs, "inputs")  # (a dict of inputs: tf.nest's order, its sorted keys)
        ins = _graph.as_tensor_list([inputs[k] for k in sorted(keys)] if keys else inputs, "inputs")
        out_keys = _graph.dict_keys(outputs, "outputs")
        outs = _graph.as_tensor_list([outputs[k] for k in sorted(out_keys)] if out_keys else outputs, "outputs")
        nodes, ordered = _graph.map_graph(ins, outs)
        default = "model" if type(self) is Functional else snake_case(type(self).__name__)
        Sequential.__init__(self, name=name or unique_name(default))
        self._inputs, self._outputs = ins, outs
        self._input_keys = keys  # (the dict's keys in its order, for the config; None: a tensor or a list)
        self._output_keys = out_keys  # (likewise: predict and model(x) give such a dict back)
        self._in_layout = _graph.packed_layout(ins, "input") if len(ins) > 1 else None
        self._out_layout = _graph.packed_layout(outs, "output") if len(outs) > 1 else None
        # (several inputs or outputs of unknown lengths: each call's arrays settle the layout; the layer path runs)
        self._open_inputs = bool(self._in_layout) and any(d is None for t in ins for d in t.shape[1:])
        self._open_outputs = bool(self._out_layout) and any(d is None for t in outs for d in t.shape[1:])
        self._input_layer = ins[0].node.layer
        for t in ins[1:]:
            if t.node.layer.name in self._layer_names or t.node.layer.name == self._input_layer.name:
                raise ValueError(f"Layer names must be unique: the model has two inputs named '{t.node.layer.name}'.")
            self._layer_names.add(t.node.layer.name)
        for t in ins:
            t.node.layer.ops = self.ops
        self._loss_tensors = []  # symbolic losses given to add_loss: computed with the outputs, summed into the loss
        self._loss_shapes = []  # (their values' shapes in the last forward)
        self._loss_values = []  # (and their values, as the step around and model.losses got them)
        self._metric_tensors = []  # (name, symbolic tensor) given to add_metric: logged as their means
        self._all_layers = []
        self._set_graph(nodes, ordered)
        self.built = True
        if not trainable:
            self.trainable = False

    def _set_graph(self, nodes, ordered):
        """Take the layer calls ``nodes`` (and the layers, in Keras's order) from the inputs to the outputs
        and the added losses."""
        self._nodes = [n for n in nodes if not n.is_input]
        self._ran = []  # the layers (or copies of a shared one) that ran the last forward's calls
        calls = [id(n.layer) for n in self._nodes]
        # A layer of a nested model may also be called here directly (the Keras VAE example's add_loss on
        # its encoder's z_mean): it stays the nested model's layer (not one of this model's), its direct
        # calls run on copies, and its gradients and the nested model's are summed, as a shared layer's.
        nested = [l for l in ordered if getattr(type(l), "_nests_layers", False)]
        below = {id(m): {id(l) for l in m._layers_in_tree()} for m in nested}
        self._copied = {key for key in calls if any(key in ids for ids in below.values())}
        self._shared = {key for key in calls if calls.count(key) > 1} | self._copied
        self._shared |= {id(m) for m in nested if below[id(m)] & self._copied}
        known, inputs = {id(l) for l in self._all_layers}, {id(t.node.layer) for t in self._inputs}
        self._ordered = ordered  # (configs list the copied layers too, as tf.keras 2 does)
        self._all_layers = [l for l in ordered if id(l) not in self._copied]
        self._layers = [l for l in self._all_layers if id(l) not in inputs]
        for layer in self._layers:
            if id(layer) not in known:
                self._admit(layer)
        # one input, one output, no merge layer: each call takes the one before it, a chain the fused plans run
        self._chain = (len(self._inputs) == 1 and len(self._outputs) == 1 and not self._shared
                       and not self._loss_tensors and not self._metric_tensors
                       and all(not n.as_list and n.training is None and n.call_args is None for n in self._nodes))

    # ---- structure ------------------------------------------------------------
    @property
    def layers(self):
        """The layers in Keras's order (by depth from the inputs), InputLayers included, as in Keras."""
        return list(self._all_layers)

    @property
    def inputs(self):
        return list(self._inputs)

    @property
    def outputs(self):
        return list(self._outputs)

    @property
    def input(self):
        """The input tensor (a list of them for several inputs; the dict for a model made from one), as in Keras."""
        return structured(self._inputs, self._input_keys)

    @property
    def output(self):
        return structured(self._outputs, self._output_keys)

    @property
    def input_shape(self):
        shapes = [t.shape for t in self._inputs]
        return shapes if len(shapes) > 1 else shapes[0]

    @property
    def output_shape(self):
        shapes = [t.shape for t in self._outputs]
        return shapes if len(shapes) > 1 else shapes[0]

    def add(self, layer):
        raise TypeError(f"Model '{self.name}' is a functional model: it has no add(); call the layer on a tensor "
                        "and build a new Model(inputs, outputs).")

    def pop(self):
        raise TypeError(f"Model '{self.name}' is a functional model: it has no pop().")

    def get_layer(self, name=None, index=None):
        """A layer by name or by index in ``layers`` (the InputLayer is index 0, as in Keras)."""
        layers = self.layers
        if index is not None:
            if not -len(layers) <= index < len(layers):
                raise ValueError(f"Layer index {index} is out of range: the model has {len(layers)} layers.")
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name!r}. Existing layers are: {[l.name for l in layers]}.")

    def build(self, input_shape=None):
        """A functional model is built when it is made; ``input_shape`` must agree with its input."""
        if input_shape is not None and not self._in_layout:
            want, got = self.input_shape, tuple(input_shape)
            if not shapes_agree(want, got):
                raise ValueError(f"Model '{self.name}' takes inputs of shape {want}, received build({got}).")
        self._build_from(None)

    def _build_from(self, shape, start=0):
        if self.optimizer is not None:
            self._pack()

    def _input_dtype(self):
        dtype = self._input_layer.dtype  # integer inputs (an Embedding's ids) are read as floats, as every input
        return dtype if dtype.startswith("float") else B.floatx()

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False, show_trainable=False,
                layer_range=None):
        """Keras 2's functional summary: layer, output shape, parameters and the layers it is connected to."""
        _summary.print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn,
                              expand_nested=expand_nested, show_trainable=show_trainable, layer_range=layer_range)

    # ---- running ------------------------------------------------------------------
    def _train_plan(self):
        graph = not self._chain  # (a chain takes the Sequential's plans; any other graph, backend/graph_plan.py's)
        if graph and (self._loss_tensors or self._metric_tensors):
            return None
        if graph and self._plan and not getattr(self._plan, "is_graph_plan", False):  # (a chain's, before an add_loss)
            self._plan = None
        return super()._train_plan()

    def _build_plan(self):
        if self._open_inputs or self._open_outputs:  # (the plans' buffers follow one layout; these change)
            return None
        return super()._build_plan() if self._chain else build_graph_plan(self) or build_gpu_graph_plan(self)

    def _forward(self, x, training, penalty=True):
        """The output for ``x``, each layer call in graph order, and the activity penalty (as the engine's)."""
        return _run.forward(self, x, training, penalty)

    def _backward(self, dy):
        """Back through the calls in reverse order (models/graph_run.py)."""
        _run.backward(self, dy)

    # ---- as a layer of another model ---------------------------------------------------
    @property
    def _multi_input(self):
        """Called on a list of tensors, one per input (symbolic.call_layer)."""
        return bool(self._in_layout)

    @property
    def _several_outputs(self):
        """A call returns a list of tensors, one per output (symbolic.call_layer)."""
        return bool(self._out_layout)

    def compute_output_shape(self, input_shape):
        """The output shape (a list of them for several outputs) for ``input_shape`` (a list of them
        for several inputs), each checked against the model's inputs."""
        shapes = list(input_shape) if self._in_layout else [tuple(input_shape)]
        if len(shapes) != len(self._inputs) or not all(isinstance(s, (list, tuple)) for s in shapes):
            raise ValueError(f"Model '{self.name}' takes {len(self._inputs)} input tensors, received {input_shape}.")
        for t, shape in zip(self._inputs, shapes):
            if not shapes_agree(t.shape, tuple(shape)):
                raise ValueError(f"Model '{self.name}' takes inputs of shape {[t.shape for t in self._inputs]}, "
                                 f"received {input_shape}.")
        outs = [tuple(shapes[0][:1]) + tuple(t.shape[1:]) for t in self._outputs]
        return outs if self._out_layout else outs[0]

    def forward(self, x, training=False):
        """As a nested model: several inputs come as a list (packed here as fit packs them), several
        outputs go out as a list."""
        return self.forward_and_mask(x, training, None)[0]

    def forward_and_mask(self, x, training, mask):
        """`forward`, its one input carrying ``mask`` (None: none), and the mask its output carries (a list of
        them for several outputs), as tf.keras 2 hands masks into a nested model and out of it."""
        if self._open_inputs:  # (as a nested model: its inputs' lengths settle its layout, as fit's do)
            self._in_layout = layout_of([tuple(a.shape[1:]) for a in x])
        out = _run.forward(self, packed(self.ops, x) if self._in_layout else x, training, penalty=False,
                           in_mask=mask)[0]
        masks = self._nested_out_masks
        return (unpacked(out, self._out_layout), masks) if self._out_layout else (out, masks[0])

    def backward(self, dy, need_dx=True):
        # (one gradient per output: packed as the outputs were)
        return _run.backward(self, packed(self.ops, dy) if self._out_layout else dy, need_dx)

    def _clone(self, clone_function):
        """`clone_model`: the same graph of new layers (models/functional_clone.py)."""
        from .functional_clone import clone_graph
        return clone_graph(self, clone_function)

    # ---- config -----------------------------------------------------------------
    def get_config(self):
        """tf.keras 2's functional config: layers with their ``inbound_nodes``, ``input_layers``, ``output_layers``
        (a subclass whose ``__init__`` does not take the graph: see models/functional_subclass.py)."""
        from .functional_subclass import config_of
        return config_of(self)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from .functional_subclass import from_config
        return from_config(cls, config, custom_objects)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, {len(self._layers)} layers>"


def structured(tensors, keys):
    """A model's inputs or outputs as it was made from them: one tensor, a list, or a dict keyed by ``keys``
    in their own order, as tf.keras 2 gives it back (``tensors`` in the sorted keys' order)."""
    if keys:
        from .graph import in_key_order
        return in_key_order(tensors, keys)
    return tensors[0] if len(tensors) == 1 else list(tensors)
