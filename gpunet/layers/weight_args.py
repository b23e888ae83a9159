"""The initializer, regularizer and constraint arguments of a layer's weights (``kernel_initializer``,
``bias_regularizer``, ...): kept resolved (a typo fails at construction, as in Keras), and written back in a
config in Keras's order."""
from .. import constraints, initializers, regularizers

_KINDS = (("initializer", initializers), ("regularizer", regularizers), ("constraint", constraints))


def keep_weight_arguments(layer, arguments, names):
    """Set ``<name>_initializer``, ``<name>_regularizer`` and ``<name>_constraint`` on ``layer`` for each of
    ``names`` (``("kernel", "bias")``), from ``arguments`` (its ``__init__``'s ``locals()``)."""
    for kind, module in _KINDS:
        for name in names:
            setattr(layer, f"{name}_{kind}", module.get(arguments[f"{name}_{kind}"]))


def weight_arguments_config(layer, names, activity=True):
    """The config entries of those arguments in Keras's order: initializers, regularizers (then the layer's
    ``activity_regularizer``), constraints."""
    config = {}
    for kind, module in _KINDS:
        config.update((f"{name}_{kind}", module.serialize(getattr(layer, f"{name}_{kind}"))) for name in names)
        if kind == "regularizer" and activity:
            config["activity_regularizer"] = regularizers.serialize(layer.activity_regularizer)
    return config
