"""Keras 2's backend functions on variables and on its global state: ``K.batch_get_value``,
``K.batch_set_value``, ``K.update``/``update_add``/``update_sub``, ``K.moving_average_update``,
``K.random_normal_variable``/``random_uniform_variable``, ``K.get_uid``/``reset_uids``, ``K.name_scope``
and ``K.manual_variable_initialization``.

A variable is what ``K.variable`` returns or a layer's weight (``model.layers[0].kernel``,
``layer.weights``); the updates change it in place and return it, as tf.keras 2's ``assign`` ops do.
"""
import collections
import contextlib
import contextvars

from ..autodiff.tensor import value_of

_uids = collections.defaultdict(int)
_scope = contextvars.ContextVar("gpunet_name_scope", default="")
_manual_init = False


def _host(value):
    """A backend array (NumPy's or CuPy's) as a NumPy array; anything else as it is."""
    from . import backend_for
    ops = backend_for(value)
    return ops.to_host(value) if isinstance(value, ops.xp.ndarray) else value


def batch_get_value(tensors):
    """Keras 2's ``K.batch_get_value``: the values of a list of variables or tensors, as NumPy arrays."""
    from . import get_value
    return [_host(get_value(x)) for x in tensors]


def _variable(x, what):
    if not hasattr(x, "assign"):
        raise TypeError(f"{what} expects a variable (K.variable, a layer weight or an optimizer hyperparameter), "
                        f"received {type(x).__name__}.")
    return x


def _value_for(x, value):
    """``value`` (a list, array or tensor) as an array of variable ``x``'s dtype on its backend, as tf.keras 2
    converts it with ``np.asarray(value, dtype)``; a hyperparameter's number as it is."""
    from . import backend_for
    current = value_of(x)
    if not hasattr(current, "dtype"):
        return value
    return backend_for(current).asarray(_host(value_of(value)), dtype=current.dtype)


def batch_set_value(tuples):
    """Keras 2's ``K.batch_set_value([(variable, value), ...])``: each variable set to its value (cast to its
    dtype), in place."""
    pairs = list(tuples)
    for x, _ in pairs:  # every variable checked first: nothing is set when one is wrong
        _variable(x, "K.batch_set_value")
    for x, value in pairs:
        x.assign(_value_for(x, value))


def update(x, new_x):
    """Keras 2's ``K.update``: set variable ``x`` to ``new_x`` (a tensor's values; no gradient flows through
    it) in place; returns ``x``."""
    _variable(x, "K.update").assign(_value_for(x, new_x))
    return x


def _shift(x, delta, method, sign, what):
    _variable(x, what)
    step = getattr(x, method, None)
    if step is None:  # an optimizer hyperparameter: a Python number, set with assign
        x.assign(x.numpy() + sign * float(_host(value_of(delta))))
    else:
        step(delta)
    return x


def update_add(x, increment):
    """Keras 2's ``K.update_add``: add ``increment`` to variable ``x`` in place; returns ``x``."""
    return _shift(x, increment, "assign_add", 1, "K.update_add")


def update_sub(x, decrement):
    """Keras 2's ``K.update_sub``: subtract ``decrement`` from variable ``x`` in place; returns ``x``."""
    return _shift(x, decrement, "assign_sub", -1, "K.update_sub")


def moving_average_update(x, value, momentum):
    """Keras 2's ``K.moving_average_update``: ``x = x * momentum + value * (1 - momentum)``, computed as
    tf.keras 2 does (``x -= (x - value) * (1 - momentum)`` in ``x``'s dtype), in place; returns ``x``."""
    from . import backend_for
    current = value_of(_variable(x, "K.moving_average_update"))
    if not hasattr(current, "dtype"):
        raise TypeError(f"K.moving_average_update expects an array variable (K.variable or a layer weight), "
                        f"received {type(x).__name__}.")
    ops = backend_for(current)
    momentum = ops.asarray(value_of(momentum), dtype=current.dtype)
    value = ops.asarray(value_of(value), dtype=current.dtype)
    x.assign_sub((current - value) * (1 - momentum))
    return x


def random_normal_variable(shape, mean, scale, dtype=None, name=None, seed=None):
    """Keras 2's ``K.random_normal_variable``: a `variable` of normal values (``scale``: their standard
    deviation), from gpunet's seeded generator or ``seed``'s own."""
    from .keras_functions import random_normal, variable
    return variable(random_normal(shape, mean, scale, dtype, seed), dtype, name)


def random_uniform_variable(shape, low, high, dtype=None, name=None, seed=None):
    """Keras 2's ``K.random_uniform_variable``: a `variable` of uniform values in ``[low, high)``, from
    gpunet's seeded generator or ``seed``'s own."""
    from .keras_functions import random_uniform, variable
    return variable(random_uniform(shape, low, high, dtype, seed), dtype, name)


def get_uid(prefix=""):
    """Keras 2's ``K.get_uid``: 1, 2, 3, ... on successive calls with the same ``prefix`` (a counter per
    prefix, apart from layer names), until `reset_uids` or ``K.clear_session()``."""
    _uids[prefix] += 1
    return _uids[prefix]


def reset_uids():
    """Keras 2's ``K.reset_uids``: `get_uid` counts from 1 again, and generated layer names start afresh
    (``dense``, ``dense_1``, ...), as tf.keras 2's reset both."""
    from ..layers.naming import reset_names
    _uids.clear()
    reset_names()


@contextlib.contextmanager
def name_scope(name):
    """Keras 2's ``with K.name_scope(name) as scope:``: ``scope`` is the nested prefix (``'outer/inner/'``,
    as ``tf.name_scope``). gpunet names nothing by it; it is kept so code that opens one runs."""
    if not isinstance(name, str):
        raise ValueError("name for name_scope must be a string.")
    outer = _scope.get()
    full = name if name.endswith("/") or not name else outer + name + "/"
    token = _scope.set(full)
    try:
        yield full
    finally:
        _scope.reset(token)


def manual_variable_initialization(value):
    """Keras 2's ``K.manual_variable_initialization``: kept as a flag. gpunet's variables and weights have
    their values when made, as tf.keras 2's do in eager execution, so it changes nothing."""
    global _manual_init
    _manual_init = bool(value)


__all__ = ["batch_get_value", "batch_set_value", "update", "update_add", "update_sub", "moving_average_update",
           "random_normal_variable", "random_uniform_variable", "get_uid", "reset_uids", "name_scope",
           "manual_variable_initialization"]
