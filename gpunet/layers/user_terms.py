"""What a layer of your own may add to the model's loss or logs when it is called (``self.add_loss(...)``,
``self.add_metric(...)`` in its ``call``).

The fused training steps (backend/graph_plan.py, backend/gpu_graph_plan.py) run a user's layer by its
own code on the tape, as the layer path runs it: its forward and its backward (which sends back the
gradients of the losses its call added, too), its weights' gradients and its input's. The losses it
adds they add to each step's loss, the metrics it logs to the model's (backend/step_terms.py), where its
code says it may add one; an activity regularizer of a layer it holds keeps the layer path.

"May" is decided without running anything (a training call would draw random numbers, update moving
statistics or a metric's state): the names ``add_loss`` and ``add_metric`` in the code of the layer's
own classes (every method: ``call`` may reach them through a helper method), any of its sublayers that
may (a built-in one with an activity regularizer, or of your own in turn), or what its output-shape
probe (a call in inference, run when it was built) added. The steps check each call as it runs as
well (backend/graph_flow.forward_marked): a term added through code outside the layer's classes (a
module function given ``self``) stops training with an error naming the layer, never a silently
smaller loss.
"""
import inspect
import weakref

_by_class = weakref.WeakKeyDictionary()  # (classes made in a loop go with their layers)


def added_terms(layer):
    """What calling ``layer`` (a layer of your own, with the layers it holds) may add: a set of "loss"
    (``add_loss``), "metric" (``add_metric``: the plans take both, backend/step_terms.py) and "other" (an
    activity regularizer's penalty, a held model's symbolic losses or metrics: the layer path's alone)."""
    found = set()
    _collect(layer, set(), found)
    return found


def model_names_its_own(model):
    """Whether the code of a subclassed ``model``'s own classes names ``add_loss``, ``add_metric`` or
    ``add_weight``: terms or weights of the model itself, which neither its trace (models/call_trace.py)
    nor a plan running it nested (backend/graph_flow.py) follows; the tape runs such a model."""
    names = _class_names(type(model))
    return any(name in names for name in ("add_loss", "add_metric", "add_weight"))


def _collect(layer, seen, found):
    from . import sublayers
    if id(layer) in seen:
        return
    seen.add(id(layer))
    found |= layer.__dict__.get("_probe_terms", set())
    if getattr(layer, "activity_regularizer", None) is not None:
        found.add("other")
    if getattr(layer, "_loss_tensors", None) or getattr(layer, "_metric_tensors", None):  # (a model it holds)
        found.add("other")
    names = _class_names(type(layer))
    if "add_loss" in names:
        found.add("loss")
    if "add_metric" in names:
        found.add("metric")
    for sub in sublayers.held(layer):
        _collect(sub, seen, found)


def _class_names(cls):
    """The global and attribute names the code of ``cls``'s own classes (not gpunet's) uses."""
    names = _by_class.get(cls)
    if names is None:
        names = set()
        for klass in cls.__mro__:
            if klass.__module__.split(".")[0] in ("gpunet", "builtins"):
                continue
            for value in vars(klass).values():
                for fn in _functions(value):
                    names |= _code_names(fn.__code__)
        _by_class[cls] = names = frozenset(names)
    return names


def _functions(value):
    """The plain functions behind a class attribute (a method, static or class method, property)."""
    if isinstance(value, (staticmethod, classmethod)):
        value = value.__func__
    if isinstance(value, property):
        return [f for fn in (value.fget, value.fset, value.fdel) if fn is not None for f in _functions(fn)]
    value = inspect.unwrap(value) if callable(value) else value  # (a wrapped build: the user's own)
    return [value] if inspect.isfunction(value) else []


def _code_names(code):
    names = set(code.co_names)
    for const in code.co_consts:  # (functions and comprehensions defined inside)
        if inspect.iscode(const):
            names |= _code_names(const)
    return names
