"""Keras's step methods that a model of yours may override (tf.keras 2's ``train_step``, ``test_step``,
``predict_step``, ``compute_loss``, ``compute_metrics``; Keras 3's too): gpunet's loops never call them (its
steps are its own: fused forward, loss, backward and update, on NumPy's plan or the GPU's), so a model that
overrides one is refused by name, where it would otherwise train, evaluate or predict without your code."""
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


def refuse_own_steps(model, loop):
    """Raise NotImplementedError where a class of ``model`` outside gpunet defines a method Keras's ``loop``
    would call."""
    found = _own_step(type(model), loop)
    if found is not None:
        owner, name = found
        raise NotImplementedError(
            f"{owner} overrides `{name}`, which Keras's {loop} calls: gpunet's {loop} runs steps of its own and "
            f"never calls it, so it would run without your code. Give your loss to compile (a function or a Loss "
            f"subclass of yours) or add it with add_loss, and your metrics to compile or add_metric; a step "
            f"written with tf.GradientTape or torch's backward cannot run on gpunet.")


@functools.lru_cache(maxsize=256)
def _own_step(klass, loop):
    """The first ``(class name, method)`` of ``klass``'s own classes that ``loop`` would call, or None: once per
    class (train_on_batch and predict_on_batch run it every batch)."""
    for cls in klass.__mro__:
        if cls is object or (cls.__module__ or "").split(".")[0] == "gpunet":
            continue
        for name in _READ_BY[loop]:
            if name in vars(cls):
                return cls.__name__, name
    return None
