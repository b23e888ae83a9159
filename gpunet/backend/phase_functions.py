"""Keras 2's learning-phase functions: ``K.in_train_phase``, ``K.in_test_phase``, ``K.set_learning_phase``
and ``K.learning_phase_scope``.

As tf.keras 2 decides ``training`` when none is given: first the layer call running now (``fit``
trains, ``predict``/``evaluate`` do not: a ``Lambda`` with ``K.in_train_phase(K.dropout(x, 0.5), x)``
drops only in ``fit``), then the phase set with `set_learning_phase` or inside `learning_phase_scope`,
else 0 (inference). A layer or model called on arrays without ``training`` (``model(x)``) follows a
phase that was set, as tf.keras 2's ``Layer.__call__`` does; ``fit``, ``predict`` and ``evaluate`` say
their own.
"""
import contextlib
import warnings

_phase = None  # set_learning_phase's 0 or 1; None: never set (tf.keras 2 reads 0)


def _checked(value):
    if value not in {0, 1}:
        raise ValueError(f"Expected learning phase to be 0 or 1, received {value!r}.")
    return int(value)


def _warn(name):
    # tf.keras 2 warns too: both are deprecated in favour of the call's own argument
    warnings.warn(f"`K.{name}` is deprecated in tf.keras 2: pass training=True/False to the call of your layer or "
                  "model instead.", UserWarning, stacklevel=3)


def set_learning_phase(value):
    """Keras 2's ``K.set_learning_phase(value)``: 0 (inference) or 1 (training) for calls that do not say
    (`in_train_phase` outside a layer call, ``model(x)`` and ``layer(x)`` on arrays), until changed or
    `gpunet.backend.clear_session`. ValueError for another value; warns as tf.keras 2 (deprecated)."""
    global _phase
    value = _checked(value)
    _warn("set_learning_phase")
    _phase = value


@contextlib.contextmanager
def learning_phase_scope(value):
    """Keras 2's ``with K.learning_phase_scope(value):``: the learning phase is ``value`` (0 or 1) inside
    the block and what it was (set or not) afterwards."""
    global _phase
    value = _checked(value)
    _warn("learning_phase_scope")
    previous, _phase = _phase, value
    try:
        yield
    finally:
        _phase = previous


def phase_value():
    """The learning phase that was set, else 0: what tf.keras 2's ``K.learning_phase()`` returns eagerly."""
    return 0 if _phase is None else _phase


def default_training(training, fallback=False):
    """``training`` for a call on arrays: as given, else the learning phase when one was set, else ``fallback``
    (a layer's own default: the ``training=True`` of the image augmentation layers' ``call``, as tf.keras 2)."""
    if training is not None:
        return bool(training)
    return bool(_phase) if _phase is not None else bool(fallback)


def reset_phase():
    """Forget a phase set with `set_learning_phase` (`gpunet.backend.clear_session` does, as tf.keras 2's)."""
    global _phase
    _phase = None


def _pick(branch):
    return branch() if callable(branch) else branch


def in_train_phase(x, alt, training=None):
    """Keras 2's ``K.in_train_phase``: ``x`` in the training phase, else ``alt`` (either may be a callable
    returning it, called only when chosen). ``training`` (None: the layer call's, else the learning phase;
    see the module docstring) is a bool, 0/1, ``K.learning_phase()`` (the phase set, else 0) or a tensor
    (then `switch` picks: a scalar picks a whole branch, as tf.keras 2's ``tf.cond``). On the functional
    API's symbolic tensors the choice is made at once, as tf.keras 2 makes it there (inference, unless
    a phase was set): use it inside a ``Lambda`` to follow ``fit`` and ``predict``."""
    from .graph_functions import learning_phase
    from ..layers.sublayers import enclosing_training
    if training is None:
        training = enclosing_training()
    if training is None or training is learning_phase():
        training = phase_value()
    from ..ops import is_tensor, switch
    if not is_tensor(training) and getattr(training, "ndim", 0) == 0:  # a Python or NumPy value, as tf.keras 2
        if training is True or training == 1:
            return _pick(x)
        if training is False or training == 0:
            return _pick(alt)
    return switch(training, x, alt)


def in_test_phase(x, alt, training=None):
    """Keras 2's ``K.in_test_phase``: ``x`` in the test (inference) phase, else ``alt``; `in_train_phase`
    with the two swapped."""
    return in_train_phase(alt, x, training=training)


__all__ = ["set_learning_phase", "learning_phase_scope", "in_train_phase", "in_test_phase"]
