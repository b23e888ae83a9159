"""`TimeDistributed`: one layer applied to every step of a sequence (Keras's wrapper): the input's first two
axes (samples, steps) are folded into one for the inner layer and unfolded after, so the steps share the
layer's weights. ``TimeDistributed(Dense(8))`` on ``(None, 10, 16)`` gives ``(None, 10, 8)``.

Its call runs on the tape (the inner layer records its own backward there). Its weights are the inner
layer's, saved where Keras keeps them: in .h5 in the wrapper's group (tf.keras 2 reads them there), in
.keras under the wrapper's ``layer`` attribute (Keras 3's layout).
"""
from .base import Layer


def _inner_layer(layer):
    if isinstance(layer, dict):  # (a config handed over by hand; files resolve it first: saving/layer_kwargs.py)
        from ..saving.registry import layer_from_config
        layer = layer_from_config(layer)
    if not isinstance(layer, Layer):
        raise ValueError(f"TimeDistributed expects a Layer instance to wrap (such as Dense(8)), received {layer!r}")
    return layer


class TimeDistributed(Layer):
    """Applies ``layer`` to each step (axis 1) of its input. A mask on the input passes through to the output."""

    supports_masking = True

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        self.layer = _inner_layer(layer)

    def _step_shape(self, input_shape):
        if len(input_shape) < 3:
            raise ValueError(f"TimeDistributed '{self.name}' expects inputs of rank 3 or more (samples, steps, "
                             f"...), received input shape {tuple(input_shape)}")
        return (None,) + tuple(input_shape[2:])

    def build(self, input_shape):
        step = self._step_shape(input_shape)
        if not self.layer.built:
            self.layer.build(step)
            if not getattr(self.layer, "built", False):  # (a layer of your own whose build left it unbuilt)
                self.layer.built = True

    def compute_output_shape(self, input_shape):
        inner = self.layer.compute_output_shape(self._step_shape(input_shape))
        return (input_shape[0], input_shape[1]) + tuple(inner[1:])

    def call(self, inputs, training=None):
        from .. import ops
        samples, steps = inputs.shape[0], inputs.shape[1]
        folded = ops.reshape(inputs, (samples * steps,) + tuple(inputs.shape[2:]))
        out = self.layer(folded, training=training)
        return ops.reshape(out, (samples, steps) + tuple(out.shape[1:]))

    def get_config(self):
        from ..saving.registry import serialize_object
        from ..saving.config import to_plain
        config = super().get_config()
        config["layer"] = to_plain(serialize_object(self.layer), "layer")
        return config
