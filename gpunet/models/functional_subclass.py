"""A subclass of ``Model`` that builds a graph in its ``__init__`` and hands it to ``Model``::

    class Classifier(keras.Model):
        def __init__(self, units=12, **kwargs):
            inputs = keras.Input(shape=(8,))
            hidden = keras.layers.Dense(units, activation="relu")(inputs)
            outputs = keras.layers.Dense(1, activation="sigmoid")(hidden)
            super().__init__(inputs=inputs, outputs=outputs, **kwargs)
            self.units = units

As in Keras (tf.keras 2 and Keras 3 alike), such a class becomes a functional model: the first time
one is made, ``Functional`` takes ``Model``'s place among its bases (`make_functional`), so it
trains on the fused plans, summarizes and saves as ``Model(inputs, outputs)`` does, and keeps the
methods and attributes of its own.

Its config (`subclass_config`): a constructor that takes ``inputs`` and ``outputs`` (or ``*args,
**kwargs``) is rebuilt from the graph, as a functional model's; any other constructor is called with
what the class's own ``get_config`` returns, or else with the name and trainable flag where
``__init__`` takes them. tf.keras 2 writes the graph only for a constructor whose parameters are
exactly Functional's, and cannot load the ``*args, **kwargs`` form back; gpunet can.
"""
import inspect

_FUNCTIONAL_PARAMS = ("inputs", "outputs")


def make_functional(cls):
    """Put ``Functional`` in place of ``Model`` among the bases of ``cls`` and of its ancestors
    that derive from Model (Keras's ``inject_functional_model_class``); returns ``cls``."""
    from .functional import Functional
    from .model import Model
    if cls is Model or cls is Functional:
        return Functional
    if not issubclass(cls, Model) or issubclass(cls, Functional):
        return cls
    try:
        cls.__bases__ = tuple(make_functional(base) for base in cls.__bases__)
    except TypeError as exc:  # (a base with another memory layout: a C extension's class)
        raise TypeError(f"{cls.__name__} builds a functional model (inputs= and outputs= given to Model), but its "
                        f"bases cannot take Functional's place: {exc}") from exc
    return cls


def takes_graph(cls):
    """Whether ``cls.__init__`` takes the graph (``inputs`` and ``outputs``, or ``*args, **kwargs``):
    its config is then the graph's, and loading calls it with the rebuilt tensors."""
    params = _parameters(cls.__init__)
    if params is None:
        return False
    kinds = {p.kind for p in params.values()}
    if inspect.Parameter.VAR_POSITIONAL in kinds and inspect.Parameter.VAR_KEYWORD in kinds:
        return True
    return all(name in params for name in _FUNCTIONAL_PARAMS)


def subclass_config(model):
    """The config of a functional subclass whose ``__init__`` does not take the graph and that has no
    ``get_config`` of its own: its name and trainable flag where ``__init__`` takes them, and the
    arguments its constructor was called with that are plain values (numbers, strings, lists and dicts
    of them), as tf.keras 2 records them; the constructor builds the graph again on load. An argument
    of another kind (a function, a layer) is left out: the class's default comes back on load, unless
    the class writes a get_config that says how to save it."""
    params = _parameters(type(model).__init__) or {}
    open_ended = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    config = {k: v for k, v in (("name", model.name), ("trainable", model.trainable)) if open_ended or k in params}
    for name, value in _named_arguments(model):
        if name not in config and _plain(value):
            config[name] = value
    return config


def unsaved_arguments(model):
    """The names of the constructor arguments ``model`` was made with that `subclass_config` leaves out (not
    plain values: a layer, a function...; ``*args`` given)."""
    return [name for name, value in _named_arguments(model, positional=True) if not _plain(value)]


def _named_arguments(model, positional=False):
    """``(name, value)`` for each argument the constructor of ``model`` was called with (``**kwargs`` each by its
    own name; ``*args`` as one entry where ``positional`` and given, a tuple no config takes by name)."""
    params = _parameters(type(model).__init__) or {}
    args, kwargs = getattr(model, "_init_arguments", ((), {}))
    try:
        bound = inspect.signature(type(model).__init__).bind_partial(None, *args, **kwargs).arguments
    except TypeError:
        return []
    out = []
    for name, value in list(bound.items())[1:]:
        kind = params[name].kind
        if kind is inspect.Parameter.VAR_KEYWORD:
            out += list(value.items())
        elif kind is not inspect.Parameter.VAR_POSITIONAL:
            out.append((name, value))
        elif positional and value:
            out.append((name, object()))  # (not passable by name: never plain)
    return out


def _plain(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return isinstance(value, dict) and all(isinstance(k, str) and _plain(v) for k, v in value.items())


def config_of(model):
    """A functional model's config: its graph (tf.keras 2's form), or `subclass_config` for a subclass
    whose ``__init__`` does not take the graph."""
    from ..saving.functional_config import functional_config
    from .functional import Functional
    if type(model) is not Functional and not takes_graph(type(model)):
        return subclass_config(model)
    return functional_config(model)


def from_config(cls, config, custom_objects=None):
    """``cls`` (Functional, or a subclass of Model) from ``config``: a graph config goes to Functional,
    or to a subclass's constructor that takes the graph (`takes_graph`), rebuilt layer by layer; any
    other config is ``cls(**config)``."""
    from ..saving.functional_config import functional_from_config
    from .functional import Functional
    if cls is Functional:
        return functional_from_config(config, custom_objects)
    graph = isinstance(config, dict) and "input_layers" in config and "layers" in config
    if graph and takes_graph(cls):
        return functional_from_config(config, custom_objects, model_class=cls)
    if graph:
        raise TypeError(f"{cls.__name__}.from_config received a functional model's config (its layers and their "
                        f"connections), but {cls.__name__}.__init__ takes neither inputs= and outputs= nor "
                        "*args, **kwargs: define get_config() and from_config() for it, or give __init__ "
                        "inputs and outputs.")
    if not isinstance(config, dict):
        raise TypeError(f"{cls.__name__}.from_config expects a dict, received {type(config).__name__}.")
    return cls(**config)


def _parameters(fn):
    try:
        return inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return None
