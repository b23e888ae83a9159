"""A subclassed model's own weights, as in Keras: ``self.add_weight`` in the model's ``__init__`` or in a
``build`` of its own::

    class Tempered(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(3)
            self.temperature = self.add_weight(name="temperature", shape=(), initializer="ones")

        def build(self, input_shape):  # (gpunet builds the rest, whether or not it calls super().build)
            self.scale = self.add_weight(name="scale", shape=(input_shape[-1],), initializer="ones")

        def call(self, inputs):
            return self.dense(inputs * self.scale) / self.temperature

They are the model's call holder's weights after its layers' (tf.keras 2's ``model.weights`` lists them
last), take part in ``call`` on the tape (layers/sublayers.py `on_tape`), and train, regularize, save and
load as a layer's: tf.keras 2's .h5 keeps them in ``top_level_model_weights``, Keras 3's layout in the
model's own ``vars``. A model naming ``add_weight`` is not traced (models/call_trace.py): the tape runs it.
"""
import functools

from ..layers import sublayers
from ..layers.base import KERAS2_WEIGHT_ARGS, KERAS3_WEIGHT_ARGS, Layer
from ..layers.layer_args import weight_arguments


class OwnWeightsMixin:
    """``add_weight`` on a subclassed model (see the module docstring)."""

    _own_weights_on_tape = True  # (layers/sublayers.py: a weight of the model itself is a tensor in call)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        build = cls.__dict__.get("build")
        if build is not None and not getattr(cls, "_is_graph", False) and not getattr(build, "finishes_model_build",
                                                                                       False):
            cls.build = _finishing_model_build(build)

    def add_weight(self, *args, **kwargs):
        """Create a weight of the model itself (Layer.add_weight's arguments)."""
        if getattr(self, "_is_graph", False):
            raise NotImplementedError(f"Model '{self.name}' is a functional model: its weights are its layers'; "
                                      "add_weight makes weights of a subclassed model or of a layer.")
        kwargs = weight_arguments(type(self).__name__, args, kwargs, KERAS2_WEIGHT_ARGS, KERAS3_WEIGHT_ARGS)
        weight = Layer._new_weight(self, **kwargs)
        self._keep_own_weight(weight)
        return weight

    def _keep_own_weight(self, weight):
        """Hold ``weight`` as the model's own (from add_weight, or a ``keras.Variable`` assigned to it)."""
        self.__dict__.setdefault("_own_weights", []).append(weight)  # (a model's _weights are its layers')
        holder = self._layers[0] if self._layers else None
        if holder is not None and holder.built:  # (made after the build: the holder takes it now)
            sublayers.adopt_weights(holder)
            self._invalidate()


def _finishing_model_build(user_build):
    """A subclassed model's own ``build``, then gpunet's (the call holder), whether or not it called
    ``super().build(input_shape)``: Keras marks a model built once its build returns."""
    @functools.wraps(user_build)
    def build(self, input_shape=None):
        if getattr(self, "_is_graph", False) or self.__dict__.get("_in_model_build"):
            return user_build(self, input_shape)  # (a subclass's build calling its parent's: the outermost finishes)
        self._in_model_build = True
        try:
            user_build(self, input_shape)
        finally:
            self._in_model_build = False
        if not self._layers or not self._layers[0].built:
            from .model import Model
            Model.build(self, input_shape)
    build.finishes_model_build = True
    return build
