"""What makes a `Sequential` usable as a layer of another Sequential (a nested model).

The outer model's engine sees a nested model as one layer: ``forward``/``backward`` run its
layers, its weights are the outer model's weights (packed in the outer model's flat buffer,
with paths ``"<inner layer>/<weight>"``, unique because layer names are unique across the
whole model), and activity regularizers inside it are applied by it.
"""
from .. import backend as B
from ..autodiff import tape_losses


class NestingMixin:
    def _layers_in_tree(self):
        """Every layer below this model, those inside nested models included (depth first)."""
        for layer in self._layers:
            yield layer
            if isinstance(layer, NestingMixin):
                yield from layer._layers_in_tree()

    def _names_in_tree(self):
        """The names of every layer below this model, those inside nested models included."""
        return (layer.name for layer in self._layers_in_tree())

    def _models_in_tree(self):
        return (layer for layer in self._layers_in_tree() if isinstance(layer, NestingMixin))

    def _check_nested(self, model):
        """Refuse a Sequential that cannot be nested here; returns the names it brings."""
        if model is self or any(m is self for m in model._models_in_tree()):
            raise ValueError(f"Cannot add model '{model.name}' to itself (directly or through a nested model).")
        if not model._layers and not getattr(model, "_builds_on_call", False):
            raise ValueError(f"Cannot add the empty Sequential '{model.name}' as a layer: add layers to it first.")
        names = list(model._names_in_tree())
        clash = sorted(set(names) & (self._layer_names | {model.name}))
        if clash:
            raise ValueError(f"Layer names must be unique across a model and the models nested in it: nested "
                             f"model '{model.name}' has layer(s) {clash}, which model '{self.name}' already has. "
                             "Give one of them another name (e.g. Dense(..., name='head')).")
        return names

    # ---- as a layer of another model -----------------------------------------------------
    @property
    def dtype(self):
        if self._layers:
            return self._layers[0].dtype
        return self._input_layer.dtype if self._input_layer is not None else B.floatx()

    @property
    def batch_input_shape(self):
        return self._input_layer.batch_input_shape if self._input_layer is not None else None

    @property
    def activity_regularizer(self):
        """None, or what the outer model's engine calls for the inner layers' activity penalties."""
        return self._activity_proxy if any(l.activity_regularizer is not None for l in self._layers) else None

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        for layer in self._layers:
            shape = layer.compute_output_shape(shape)
        return shape

    def _layers_to_run(self):
        """The layers a forward runs: copies of them where this model is itself a copy, running a second
        call of a model shared in a functional graph (models/graph_run.py)."""
        if getattr(self, "_inner_copies", False):
            from ..layers.sublayers import call_copy
            return [call_copy(layer) for layer in self._layers]
        return self._layers

    def forward(self, x, training=False):
        return self.forward_and_mask(x, training, None)[0]

    def forward_and_mask(self, x, training, mask):
        """The output for ``x`` whose mask is ``mask`` (None: none), and the mask the output carries: as tf.keras 2
        hands a mask into a nested model and its last layer's out (layers/masking.py's rules within)."""
        from ..layers import masking
        self._ran = layers = self._layers_to_run()
        for layer in layers:
            if mask is None and not masking.makes_mask(layer):
                x = layer.forward(x, training)
            else:
                x, mask = masking.forward(layer, x, mask, training)
            if layer.activity_regularizer is not None:
                layer._activity_output = x  # for the penalty (computed only if asked) and backward
        return x, mask

    def _activity_penalty(self):
        """The inner layers' activity penalties on their last outputs (nested models' included),
        not yet divided by the batch size."""
        total = 0.0
        for layer in getattr(self, "_ran", self._layers):
            if layer.activity_regularizer is not None:
                total += self.ops.to_scalar(layer.activity_regularizer(layer._activity_output))
        return total

    def backward(self, dy, need_dx=True):
        layers = getattr(self, "_ran", self._layers)
        counted = tape_losses.activity_upstream()  # (1; in a GradientTape, as the target counts the penalty)
        for i in range(len(layers) - 1, -1, -1):
            layer = layers[i]
            if layer.activity_regularizer is not None and counted is not None:  # as the engine does (outer layers)
                term = layer.activity_regularizer.gradient(layer._activity_output) / dy.shape[0]
                dy = dy + (term if counted is tape_losses.COUNTED_ONCE else term * counted)
            dy = layer.backward(dy, need_dx or i > 0)
        return dy

    def to_backend(self, ops):
        for layer in ([self._input_layer] if self._input_layer else []) + self._layers:
            layer.to_backend(ops)
        self.ops = ops
        self._invalidate()

    # ---- the flat parameter buffer, shared weights --------------------------------------------
    def _pack(self):
        super()._pack()
        self._packed = [(w, w.value) for w in self.trainable_weights]

    def _packing_current(self):
        """False when another model packed these weights since (a nested or shared layer trained on its
        own): the weights no longer live in this model's buffer, so it must pack them again."""
        return all(w.value is view for w, view in self._packed)

    def _ensure_ready(self, x_shape, train):
        if train and self._params is not None and not self._packing_current():
            self._invalidate()
        super()._ensure_ready(x_shape, train)


class InnerActivity:
    """A nested model's activity regularizer as the outer engine sees it: the penalty its inner
    layers' regularizers give on their outputs of the last forward pass (the engine divides it
    by the batch size, as it does for its own layers). Their gradients are added inside
    ``backward``, so the gradient seen from outside is zero."""

    def __init__(self, model):
        self.model = model

    def __call__(self, x):
        return self.model._activity_penalty()

    def gradient(self, x):
        return 0.0
