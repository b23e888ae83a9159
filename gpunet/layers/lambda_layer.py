"""`Lambda`: a function of tensors as a layer (Keras's ``keras.layers.Lambda``).

Saving writes the function's registered or own name, never its code (Keras 2 marshals a
lambda's bytecode into the file; gpunet refuses such files). Loading resolves the name
from ``custom_objects`` or ``register_serializable``, and says which name is missing.
"""
from .base import Layer


def _function_name(fn, layer_name):
    from ..saving.registry import get_registered_name
    name = get_registered_name(fn)
    if not isinstance(name, str) or not name.rsplit(">", 1)[-1].isidentifier():
        raise ValueError(f"Lambda layer '{layer_name}' wraps an anonymous function ({fn!r}): gpunet saves a Lambda's "
                         f"function by name and never its code. Define it with `def name(x): ...` and pass it "
                         f"again when loading (custom_objects={{'name': name}}).")
    return name


class Lambda(Layer):
    """Wraps ``function(inputs, **arguments)`` (written with `gpunet.ops` / ``K.*``) as a layer;
    its gradient comes from the tape. ``output_shape`` (a tuple without the batch dimension,
    or a function of the input shape) is found by running the function when not given."""

    def __init__(self, function, output_shape=None, mask=None, arguments=None, function_type=None, module=None,
                 output_shape_type=None, output_shape_module=None, **kwargs):
        # function_type, module, output_shape_*: Keras 2 config keys; only names are ever read (from_config)
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"Lambda expects a function, received {function!r}")
        if mask is not None:
            raise ValueError("Lambda(mask=...) is not supported: gpunet makes masks only in Embedding(mask_zero=True) "
                             "and Masking, and passes them by tf.keras 2's rules (layers/masking.py); a Lambda "
                             "drops them.")
        self.function = function
        self.arguments = dict(arguments or {})
        self._output_shape = output_shape

    def call(self, inputs):
        return self.function(inputs, **self.arguments)

    def compute_output_shape(self, input_shape):
        spec = self._output_shape
        if spec is None:
            return super().compute_output_shape(input_shape)
        several = isinstance(input_shape, list)  # a Lambda over several tensors (the functional API)
        if callable(spec):
            return tuple(spec([tuple(s) for s in input_shape] if several else tuple(input_shape)))
        return ((input_shape[0][0] if several else input_shape[0]),) + tuple(spec)

    def get_config(self):
        config = super().get_config()
        spec = self._output_shape
        config.update({
            "function": _function_name(self.function, self.name),
            "function_type": "function",
            "module": getattr(self.function, "__module__", None),
            "output_shape": _function_name(spec, self.name) if callable(spec) else
            (None if spec is None else list(spec)),
            "output_shape_type": "function" if callable(spec) else "raw",
            "output_shape_module": getattr(spec, "__module__", None) if callable(spec) else None,
            "arguments": self.arguments,
        })
        return config

    @classmethod
    def from_config(cls, config):
        """Resolve the function (and a function ``output_shape``) by name; code is never read."""
        config = dict(config)
        config["function"] = _resolve(config.get("function"), config.get("name"), "function")
        if config.get("output_shape_type") == "function" or isinstance(config.get("output_shape"), dict):
            config["output_shape"] = _resolve(config.get("output_shape"), config.get("name"), "output_shape")
        return cls(**config)


def _resolve(ref, layer_name, what):
    from ..saving import registry
    from ..saving.errors import UnknownObjectError
    name = ref.get("config") if isinstance(ref, dict) and ref.get("class_name") == "function" else ref
    if not isinstance(name, str):
        raise registry.unsafe_error(f"the {what} of Lambda layer '{layer_name}' ({str(ref)[:80]!r}), which is not a "
                                    f"function name (serialized code?)", None)
    fn = registry.get_registered_object(name)
    if fn is None:
        plain = name.rsplit(">", 1)[-1]
        raise UnknownObjectError(
            f"Lambda layer '{layer_name}' calls the function {name!r} ({what}), which gpunet cannot find: files hold "
            f"a Lambda's function name, never its code. Pass it when loading, e.g. "
            f"custom_objects={{'{plain}': {plain if plain.isidentifier() else 'fn'}}}, or decorate it with "
            f"@gpunet.utils.register_serializable().")
    return fn
