"""Keras's step methods that a model of yours may override (tf.keras 2's ``train_step``, ``test_step``,
``predict_step``, ``compute_loss``, ``compute_metrics``; Keras 3's too). gpunet's loops run fused steps of their
own; a model that overrides one of these runs through them instead (tape_steps.py, step_loops.py). One that
overrides ``make_train_function`` (and the like: TensorFlow's compiled functions) is refused by name, where it
would otherwise train, evaluate or predict without your code."""
import functools

_READ_BY = {  # (what each Keras loop calls of a model: tf.keras 2.21's and Keras 3's engines)
    "fit": ("train_step", "test_step", "compute_loss", "compute_metrics", "make_train_function",
            "make_test_function"),
    "train_on_batch": ("train_step", "compute_loss", "compute_metrics", "make_train_function"),
    "evaluate": ("test_step", "compute_loss", "compute_metrics", "make_test_function"),
    "test_on_batch": ("test_step", "compute_loss", "compute_metrics", "make_test_function"),
    "predict": ("predict_step", "make_predict_function"),
    "predict_on_batch": ("predict_step", "make_predict_function"),
}
_COMPILED = ("make_train_function", "make_test_function", "make_predict_function")


def refuse_own_steps(model, loop):
    """Whether ``model`` runs its own steps in ``loop`` (a class of it outside gpunet overrides a step method
    Keras's ``loop`` calls); raise NotImplementedError where one overrides a ``make_*_function``."""
    found = _own_steps(type(model), loop)
    for owner, name in found:
        if name in _COMPILED:
            raise NotImplementedError(
                f"{owner} overrides `{name}`, which Keras's {loop} calls: it builds TensorFlow's compiled function, "
                f"which gpunet has none of, so it would run without your code. Override train_step, test_step or "
                f"predict_step instead (they run on gpunet, with gpunet.GradientTape).")
    return bool(found)


def runs_own_steps(model):
    """Whether ``model``'s class overrides any of Keras's step methods (its ``metrics`` then list ``loss``)."""
    return any(_own_steps(type(model), loop) for loop in ("fit", "predict"))


@functools.lru_cache(maxsize=256)
def _own_steps(klass, loop):
    """The ``(class name, method)`` pairs of ``klass``'s own classes that ``loop`` would call: once per class
    (train_on_batch and predict_on_batch run it every batch)."""
    found = []
    for cls in klass.__mro__:
        if cls is object or (cls.__module__ or "").split(".")[0] == "gpunet":
            continue
        found += [(cls.__name__, name) for name in _READ_BY[loop] if name in vars(cls)]
    return tuple(found)
