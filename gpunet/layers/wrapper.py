"""tf.keras 2's ``keras.layers.Wrapper``: the base class of layers that wrap another layer (``self.layer``) and
augment it, as tf.keras's docs write one::

    class Scaled(gpunet.layers.Wrapper):
        def __init__(self, layer, scale=2.0, **kwargs):
            super().__init__(layer, **kwargs)
            self.scale = scale

        def call(self, inputs):
            return self.layer(inputs) * self.scale

        def get_config(self):
            return {**super().get_config(), "scale": self.scale}

``build`` builds the wrapped layer on the wrapper's input shape (when it is not built yet), ``get_config`` holds
the wrapped layer's config under ``"layer"`` and ``from_config`` rebuilds it from there; the wrapped layer's
weights are the wrapper's, saved and loaded with it. gpunet's `TimeDistributed` and `Bidirectional` count as
Wrappers (``isinstance`` says so, as in tf.keras) without inheriting from this class: their own building, configs
and weight layouts are what tf.keras's files hold, and a second copy of them here would have to agree."""
import copy

from .base import Layer


class _WrapperType(type):
    """``isinstance(layer, Wrapper)`` is True for gpunet's TimeDistributed and Bidirectional too (tf.keras's
    wrappers are subclasses: code that unwraps layers tests for it)."""

    def __instancecheck__(cls, instance):
        return super().__instancecheck__(instance) or (cls is Wrapper and _builtin_wrapper(type(instance)))

    def __subclasscheck__(cls, subclass):
        return super().__subclasscheck__(subclass) or (cls is Wrapper and _builtin_wrapper(subclass))


def _builtin_wrapper(klass):
    from .bidirectional import Bidirectional
    from .time_distributed import TimeDistributed
    return isinstance(klass, type) and issubclass(klass, (TimeDistributed, Bidirectional))


class Wrapper(Layer, metaclass=_WrapperType):
    """Abstract base of a layer that wraps ``layer`` (kept as ``self.layer``); subclasses define ``call``."""

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer):
            raise ValueError(f"Layer {layer} supplied to wrapper is not a supported layer type. Please ensure "
                             "wrapped layer is a valid TF-Keras layer.")
        self.layer = layer
        super().__init__(**kwargs)

    def build(self, input_shape=None):
        """Build the wrapped layer on ``input_shape`` (unless it is built), then this one."""
        if not self.layer.built:
            self.layer.build(input_shape)
            self.layer.built = True
        super().build(input_shape)

    @property
    def activity_regularizer(self):
        """The wrapped layer's (tf.keras's: the wrapper adds none of its own)."""
        return getattr(self.layer, "activity_regularizer", None)

    @activity_regularizer.setter
    def activity_regularizer(self, value):
        pass  # (Layer.__init__ sets one; tf.keras's property has no setter and reads the wrapped layer's)

    def get_config(self):
        from ..saving.config import to_plain
        from ..saving.registry import serialize_object
        config = super().get_config()
        config["layer"] = to_plain(serialize_object(self.layer), "layer")
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """The wrapper again, its ``"layer"`` entry made a layer first (``custom_objects`` resolve its class)."""
        from . import deserialize
        config = copy.deepcopy(config)  # (the caller's dict stays as it was)
        layer = deserialize(config.pop("layer"), custom_objects=custom_objects)
        return cls(layer, **config)
