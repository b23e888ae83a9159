"""fit, evaluate and predict for a model that runs its own steps (``train_step``... overridden: tape_steps.py).

Batches come as Keras hands them to the steps: ``x`` alone, ``(x, y)`` or ``(x, y, sample_weight)``, each part an
array or a list or dict of them (floats as floatx), shuffled each epoch; or as a generator, `Sequence` or dataset
yields them. The logs are what the step returns (its metrics' results), read as floats; ``model.metrics`` are
reset at each epoch's start and before each evaluation, as in Keras.
"""
import math

from .. import backend as B
from ..callbacks import CallbackList, History
from .batch_sources import _Batches, is_batch_source
from .callback_setup import default_callbacks


def pack_x_y_sample_weight(x, y, sample_weight):
    from ..utils.py_dataset import pack_x_y_sample_weight as pack  # (gpunet.utils imports the models)
    return pack(x, y, sample_weight)


def _tree(fn, data):
    if isinstance(data, dict):
        return {k: _tree(fn, v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return type(data)(_tree(fn, v) for v in data)
    return None if data is None else fn(data)


def _leaves(data):
    if isinstance(data, dict):
        return [leaf for v in data.values() for leaf in _leaves(v)]
    if isinstance(data, (list, tuple)):
        return [leaf for v in data for leaf in _leaves(v)]
    return [] if data is None else [data]


class ArrayBatches:
    """Batches of ``batch_size`` rows of arrays (``data``: the step's tuple of them), in a new order each epoch
    when ``shuffle``."""

    def __init__(self, ops, data, batch_size, shuffle):
        def load(a):
            arr = ops.asarray(a)
            return arr.astype(B.floatx()) if arr.dtype.kind == "f" and str(arr.dtype) != B.floatx() else arr
        self.ops, self.data, self.batch_size, self.shuffle = ops, _tree(load, data), batch_size, shuffle
        sizes = {int(a.shape[0]) for a in _leaves(self.data)}
        if len(sizes) != 1:
            raise ValueError(f"The arrays given (x, y, sample_weight) must have the same number of samples, "
                             f"received {sorted(sizes)}.")
        self.n = sizes.pop()
        self.steps = math.ceil(self.n / batch_size)
        self.exhausted = False

    def split(self, fraction):
        """The last ``fraction`` of the samples as the validation `ArrayBatches` (as Keras takes them, before
        shuffling); this keeps the rest."""
        keep = int(self.n * (1.0 - fraction))
        if keep in (0, self.n):
            raise ValueError(f"validation_split={fraction} leaves {keep} of {self.n} samples to train on.")
        tail = ArrayBatches(self.ops, _tree(lambda a: a[keep:], self.data), self.batch_size, False)
        self.data, self.n = _tree(lambda a: a[:keep], self.data), keep
        self.steps = math.ceil(keep / self.batch_size)
        return tail

    def epoch(self):
        order = self.ops.permutation(self.n) if self.shuffle and self.n > 1 else None
        for lo in range(0, self.n, self.batch_size):
            if order is None:
                yield _tree(lambda a: a[lo:lo + self.batch_size], self.data)
            else:
                rows = order[lo:lo + self.batch_size]
                yield _tree(lambda a: self.ops.take(a, rows), self.data)


class ClassWeighted:
    """fit's batches with ``class_weight`` folded into their sample weights, as tf.keras 2 hands them to a
    train_step of yours: ``(x, y, sample_weight)``, the weight of each row's class (y's argmax where y has several
    columns, its value where it has one) times the row's own sample weight where it had one."""

    def __init__(self, batches, class_weight):
        if not isinstance(class_weight, dict):
            raise TypeError(f"fit: class_weight must be a dict {{class index: weight}}, received "
                            f"{type(class_weight).__name__}.")
        self.batches, self.class_weight, self.steps = batches, class_weight, batches.steps

    def epoch(self):
        from ..backend.edge import _class_weights
        from ..utils.py_dataset import unpack_x_y_sample_weight
        ops = B.get_backend()
        for data in self.batches.epoch():
            x, y, sw = unpack_x_y_sample_weight(data)
            if y is None or isinstance(y, (list, tuple, dict)):
                raise ValueError("fit: class_weight is only supported for models with a single output (as in "
                                 f"tf.keras): the batch's y is {'missing' if y is None else type(y).__name__}.")
            host_y = ops.to_host(getattr(y, "data", y))
            if host_y.ndim > 2:
                raise ValueError(f"fit: class_weight is not supported for targets of 3 or more dimensions, "
                                 f"received y of shape {tuple(host_y.shape)}.")
            weights = ops.asarray(_class_weights(host_y, self.class_weight).astype(B.floatx()))
            yield x, y, weights if sw is None else ops.asarray(sw).reshape(-1) * weights


def one_batch(model, x, y, sample_weight):
    """``train_on_batch``'s (and the like's) data for the step, as fit's batches come."""
    return next(ArrayBatches(model.ops, pack_x_y_sample_weight(x, y, sample_weight), 1 << 62, False).epoch())


def on_batch(model, step, x, y, sample_weight, reset_metrics, return_dict):
    """``train_on_batch``/``test_on_batch`` through the model's ``step`` (its train_step or test_step)."""
    if reset_metrics:
        reset(model)
    return results(model, log_values(step(one_batch(model, x, y, sample_weight))), return_dict)


def results(model, logs, return_dict):
    """evaluate's and test_on_batch's value: the logs, or their values in ``model.metrics``'s order (all of them
    when the step returned other names), one value as itself."""
    if return_dict:
        return dict(logs)
    names = [m.name for m in model.metrics]
    values = [logs[n] for n in names] if names and all(n in logs for n in names) else list(logs.values())
    return values[0] if len(values) == 1 else values


def batches(model, x, y, sample_weight, batch_size, shuffle, steps, what):
    """The batches of ``x`` (arrays, or a batch source: then y and sample_weight come in its batches)."""
    if is_batch_source(x):
        if y is not None or sample_weight is not None:
            raise ValueError(f"{what}: with a generator, Sequence or dataset as x, y and sample_weight come in its "
                             f"batches; received y or sample_weight too.")
        return _Batches(x, steps, shuffle=shuffle, what=what)
    if x is None:
        raise ValueError(f"{what}: x is required, received None.")
    return ArrayBatches(model.ops, pack_x_y_sample_weight(x, y, sample_weight), batch_size, shuffle)


def log_values(logs):
    """A step's returned logs as floats (a metric's result, a tensor, a 0-d array), arrays read to the host."""
    if not isinstance(logs, dict):
        raise TypeError(f"train_step/test_step must return a dict of logs ({{name: value}}), received "
                        f"{type(logs).__name__}.")
    ops, out = B.get_backend(), {}
    for name, value in logs.items():
        value = getattr(value, "data", value)  # (a tape tensor)
        if hasattr(value, "shape") and not isinstance(value, (int, float)):
            value = ops.to_host(value)
            out[name] = float(value) if value.size == 1 else value
        else:
            out[name] = float(value)
    return out


def reset(model):
    for metric in model.metrics:
        metric.reset_state()


def fit(model, x, y, sample_weight, batch_size, epochs, verbose, callbacks, validation_split, validation_data,
        shuffle, class_weight, initial_epoch, steps_per_epoch, validation_steps, validation_batch_size,
        validation_freq):
    """Keras's fit loop around the model's ``train_step`` (the module docstring)."""
    from .epochs import _validates
    train = batches(model, x, y, sample_weight, batch_size, shuffle, steps_per_epoch, "fit")
    val = None
    if validation_data is not None:
        if is_batch_source(validation_data):
            val = _Batches(validation_data, validation_steps, what="validation")
        else:
            vx, vy, vsw = (tuple(validation_data) + (None,))[:3]
            val = batches(model, vx, vy, vsw, validation_batch_size or batch_size, False, None, "validation")
    elif validation_split:
        if not isinstance(train, ArrayBatches):
            raise ValueError("fit: validation_split needs arrays; with a generator or Sequence pass validation_data.")
        val = train.split(validation_split)
    if class_weight:  # (after validation_split took its rows: the validation loss is never weighed by class)
        train = ClassWeighted(train, class_weight)
    history = History()
    cbs = CallbackList(default_callbacks(callbacks, verbose, history), model,
                       {"verbose": verbose, "epochs": epochs, "steps": train.steps, "do_validation": val is not None})
    model.stop_training, model.history, logs = False, history, {}
    cbs.on_train_begin()
    for epoch in range(initial_epoch, epochs):
        reset(model)
        cbs.on_epoch_begin(epoch)
        step_logs = None
        for step, data in enumerate(train.epoch()):
            cbs.on_train_batch_begin(step)
            step_logs = log_values(model.train_step(data))
            cbs.on_train_batch_end(step, step_logs)
            if model.stop_training:
                break
        if step_logs is None:  # (a generator that ran out: training ends, as Keras's)
            break
        logs = dict(step_logs)
        if val is not None and _validates(epoch, validation_freq):
            cbs.on_test_begin()
            val_logs = evaluate(model, val, cbs)
            cbs.on_test_end(val_logs)
            logs.update({"val_" + k: v for k, v in val_logs.items()})
        cbs.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    cbs.on_train_end(logs)
    return history


def evaluate(model, source, cbs):
    """The logs of the model's ``test_step`` after a pass through ``source``; ``cbs``'s test batch hooks run."""
    reset(model)
    logs = {}
    for step, data in enumerate(source.epoch()):
        if cbs is not None:
            cbs.on_test_batch_begin(step)
        logs = log_values(model.test_step(data))
        if cbs is not None:
            cbs.on_test_batch_end(step, logs)
    return logs


def predict(model, source, cbs):
    """The model's ``predict_step`` outputs over ``source``, concatenated batch after batch (on the host; a
    list or dict of outputs part by part)."""
    ops, outs = model.ops, []
    for step, data in enumerate(source.epoch()):
        if cbs is not None:
            cbs.on_predict_batch_begin(step)
        out = model.predict_step(data)
        outs.append(_tree(lambda a: ops.to_host(getattr(a, "data", a)), out))
        if cbs is not None:
            cbs.on_predict_batch_end(step, {"outputs": out})
    if not outs:
        raise ValueError("predict: the data gave no batches.")
    host = B.resolve("numpy")
    first = outs[0]
    if isinstance(first, dict):
        return {k: host.xp.concatenate([o[k] for o in outs]) for k in first}
    if isinstance(first, (list, tuple)):
        return [host.xp.concatenate([o[i] for o in outs]) for i in range(len(first))]
    return host.xp.concatenate(outs)
