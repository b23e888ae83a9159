"""fit, evaluate and predict on data that comes batch by batch: a Python generator (or any
iterator), a `gpunet.utils.Sequence` (Keras's ``keras.utils.Sequence``), a `gpunet.utils.dataset.Dataset`
(what Keras's dataset utilities return: a pass an epoch, in its order; TensorFlow's tf.data datasets and
PyTorch's DataLoaders likewise: foreign_datasets.py), or arrays with
``steps_per_epoch`` (Keras 2 then takes that many batches an epoch from one stream through the
data, reshuffled each pass, as tf.keras's data handler does). Keras 2's ``fit_generator``,
``evaluate_generator`` and ``predict_generator`` are these calls under their old names.

Each batch is ``(x, y)`` or ``(x, y, sample_weight)`` (predict: ``x``, or a tuple whose first item
is x) and trains as ``train_on_batch`` would (through the model's fused step, NumPy's or the GPU's,
where it has one: models/source_steps.py; else layer by layer), with the epoch's running loss and metrics,
callbacks, History and validation as in an array fit.
"""
import warnings

from ..backend import edge as _data
from ..backend import random as _random
from ..distribute import sharding as _dist
from .batch_logs import running_logs
from .checked_input import checked_input
from .engine import LossSum
from .foreign_datasets import as_dataset, is_dataset
from .source_steps import SourceSteps


def is_batch_source(x):
    """Whether ``x`` delivers batches (an iterator, or an object with ``__getitem__`` and ``__len__``
    that is no array, list or table) rather than being the data itself."""
    if x is None or isinstance(x, (list, tuple, dict, str, bytes)) or hasattr(x, "__array__"):
        return False
    if is_dataset(x):
        return True
    if hasattr(x, "to_numpy") or hasattr(x, "__cuda_array_interface__") or hasattr(x, "__array_interface__"):
        return False
    return hasattr(x, "__next__") or (hasattr(x, "__getitem__") and hasattr(x, "__len__"))


def is_iterator(source):
    """Whether ``source`` is read with ``next`` (a generator): not a `Sequence`, read by index, even one that
    is an iterator too (ImageDataGenerator.flow's, as Keras 2's: tf.keras reads those by index)."""
    from ..utils import Sequence
    return hasattr(source, "__next__") and not isinstance(source, Sequence)


def adapt_batches(source, steps):
    """The x of each batch a batch source yields (the first of an ``(x, y)`` tuple), at most ``steps``
    batches (None: all): what a preprocessing layer's ``adapt`` reads from a generator or `Sequence`."""
    if is_dataset(source):
        batches = iter(as_dataset(source))
    else:
        batches = iter(source) if is_iterator(source) else (source[i] for i in range(len(source)))
    for i, batch in enumerate(batches):
        if steps is not None and i >= steps:
            return
        yield batch[0] if isinstance(batch, tuple) else batch


class _Batches:
    """An epoch at a time of a batch source; ``steps`` per epoch (None: until the source ends)."""

    def __init__(self, source, steps, shuffle=False, what="fit"):
        self.dataset = is_dataset(source)
        if self.dataset:
            source = as_dataset(source)
        self.source, self.shuffle, self.exhausted, self.what = source, shuffle, False, what
        self.sequence = not self.dataset and not is_iterator(source)
        if self.dataset:
            if steps is None and source.endless:
                raise ValueError(f"{what}: when passing an infinitely repeating dataset, please specify a "
                                 f"`steps_per_epoch` value (`steps` for evaluate and predict).")
            # (tf.keras: a new pass each epoch unless the steps asked for are not the dataset's length; then one
            # pass runs on across the epochs)
            self.new_pass, self.stream = steps is None or steps == source.known_length(), None
        if steps is None and (self.sequence or self.dataset):
            steps = source.known_length() if self.dataset else len(source)
        if steps is not None and (isinstance(steps, bool) or int(steps) != steps or steps <= 0):
            raise ValueError(f"{what}: steps must be a positive integer, received {steps!r}")
        self.steps = None if steps is None else int(steps)

    def epoch(self):
        """This epoch's batches (a Sequence's in shuffled order when asked, then its on_epoch_end; a `Dataset`'s
        next pass)."""
        if self.sequence:
            order = list(range(len(self.source)))
            if self.shuffle:
                order = [int(i) for i in _random.generator().permutation(len(order))]
            for i in order[:self.steps]:
                yield self.source[i]
            if hasattr(self.source, "on_epoch_end"):
                self.source.on_epoch_end()
            return
        done, stream = 0, self.source
        if self.dataset:
            if self.new_pass or self.stream is None:
                if self.new_pass and (self.stream is None or self.what != "fit") and hasattr(self.source,
                                                                                            "open_unread_pass"):
                    self.source.open_unread_pass()  # (tf.keras's order of tf.data's passes: foreign_datasets.py)
                self.stream = iter(self.source)
            stream = self.stream
        while self.steps is None or done < self.steps:
            try:
                batch = next(stream)
            except StopIteration:
                self.exhausted = True
                break
            yield batch
            done += 1
        if self.steps is None:
            self.steps = done  # as Keras: a generator's first epoch tells the steps of the next ones


def array_stream(xs, ys, sws, batch_size, shuffle, epochs, ops):
    """Batches of ``batch_size`` rows from one pass after another through the arrays (reshuffled
    at each pass), ``epochs`` passes in all: what ``steps_per_epoch`` takes its batches from."""
    n = xs.shape[0]
    for _ in range(epochs):
        order = ops.permutation(n) if shuffle and n > 1 else None
        for lo in range(0, n, batch_size):
            rows = slice(lo, lo + batch_size) if order is None else order[lo:lo + batch_size]
            take = (lambda a: a[rows]) if order is None else (lambda a: ops.take(a, rows))
            yield take(xs), take(ys), None if sws is None else take(sws)


def _unpack(batch, what):
    if isinstance(batch, (tuple, list)) and len(batch) in (2, 3):
        return batch[0], batch[1], batch[2] if len(batch) == 3 else None
    raise ValueError(f"{what}: each batch must be (x, y) or (x, y, sample_weight), received "
                     f"{type(batch).__name__}{f' of {len(batch)} items' if hasattr(batch, '__len__') else ''}.")


def _no_distribute(model, what):
    if _dist.shards(model):
        raise ValueError(f"{what} from a generator or Sequence under gpunet.distribute is not supported: pass "
                         f"arrays (fit gives each rank its share of them).")


def fit_source(model, batches, epochs, verbose, callbacks, validation, validation_freq, class_weight,
               initial_epoch, val_batch_size):
    """fit's epochs over `_Batches` ``batches``; ``validation``: None, prepared arrays, or `_Batches`."""
    from ..callbacks import CallbackList, History
    from .callback_setup import default_callbacks
    _no_distribute(model, "fit")
    history = History()
    cbs = CallbackList(default_callbacks(callbacks, verbose, history), model,
                       {"verbose": verbose, "epochs": epochs, "steps": batches.steps,
                        "do_validation": validation is not None})
    want, defer = cbs.wants_train_batches, cbs.defers_train_batches

    def run_epoch(epoch):
        losses, step = LossSum(model.ops, want and not defer), 0
        for batch in batches.epoch():
            xs, ys, sws = _data.prepare(model.ops, model, *_unpack(batch, "fit"), class_weight)
            model._ensure_ready(xs.shape, train=True)
            if step == 0:  # (looked up once an epoch, as an array fit does)
                plan = model._train_plan()
                if plan is not None:  # the fused step, tallied a run of batches at a time
                    losses = SourceSteps(model, plan, per_batch=want and not defer)
            if want:
                cbs.on_train_batch_begin(step)
            if isinstance(losses, SourceSteps):
                losses.train(xs, ys, sws)
            else:
                losses.add(*model._train_batch_terms(xs, ys, sws), xs.shape[0])
            if want:
                cbs.on_train_batch_end(step, running_logs(model, losses, defer))
            step += 1
            if model.stop_training:
                break
        if step == 0:
            warnings.warn("fit: the input ran out of data before this epoch; training stops (give the generator "
                          "steps_per_epoch * epochs batches, or repeat it).", RuntimeWarning, stacklevel=5)
            return None
        return model._logs(losses.mean)

    validate = None
    if isinstance(validation, _Batches):
        validate = lambda cbs: evaluate_source(model, validation, cbs)  # noqa: E731
    elif validation is not None:
        validate = lambda cbs: model._evaluate_arrays(*validation, val_batch_size, cbs)  # noqa: E731
    return model._train_epochs(cbs, history, initial_epoch, epochs, run_epoch, validate, validation_freq)


def evaluate_source(model, batches, cbs=None):
    """evaluate's logs over the batches of one epoch of `_Batches` ``batches``."""
    _no_distribute(model, "evaluate")
    for m in model._metrics:
        m.reset_state()
    if cbs is not None and not cbs.wants_test_batches:
        cbs = None  # no callback looks at batches: none of their logs is computed
    defer = cbs is not None and cbs.defers_test_batches
    losses = LossSum(model.ops, cbs is not None and not defer)
    with checked_input(model):  # batch by batch: each is checked by its layers (even as fit's validation)
        for step, batch in enumerate(batches.epoch()):
            xs, ys, sws = _data.prepare(model.ops, model, *_unpack(batch, "evaluate"), None)
            model._ensure_ready(xs.shape, train=False)
            if cbs is not None:
                cbs.on_test_batch_begin(step)
            losses.add(*model._test_batch_terms(xs, ys, sws), xs.shape[0])
            if cbs is not None:
                cbs.on_test_batch_end(step, running_logs(model, losses, defer))
    loss = losses.mean
    if model._regularized:
        loss += model._weight_penalty(False)
    return model._logs(loss)


def predict_source(model, batches, cbs=None):
    """predict's outputs (NumPy) for one epoch of `_Batches` ``batches``; ``cbs``: the predict
    `CallbackList` (or None)."""
    from .predict_loop import batch_end_logs
    _no_distribute(model, "predict")
    ops, outs = model.ops, []
    want = cbs is not None and cbs.wants_predict_batches
    if cbs is not None:
        cbs.on_predict_begin()
    with checked_input(model):  # batch by batch: each is checked by its layers
        for step, batch in enumerate(batches.epoch()):
            x = batch[0] if isinstance(batch, tuple) else batch
            xs = _data.to_input(ops, x, model._input_dtype())
            model._ensure_ready(xs.shape, train=False)
            if want:
                cbs.on_predict_batch_begin(step)
            outs.append(model._forward(xs, False, False)[0])
            if want:
                cbs.on_predict_batch_end(step, batch_end_logs(ops, outs[-1], cbs.defers_predict_batches))
    if cbs is not None:
        cbs.on_predict_end()
    return model._joined(outs)


class GeneratorMixin:
    """fit on batch sources (`_fit_batches`), and Keras 2's generator methods, deprecated there in
    favour of fit/evaluate/predict, which take generators and Sequences directly (as here)."""

    def _fit_batches(self, x, y, sample_weight, batch_size, epochs, verbose, callbacks, validation_split,
                     validation_data, shuffle, class_weight, initial_epoch, steps_per_epoch, validation_steps,
                     validation_batch_size, validation_freq):
        """fit on a generator or Sequence ``x``, or on arrays with ``steps_per_epoch`` (module docstring)."""
        from . import streaming as _stream
        if is_batch_source(x):
            if y is not None or sample_weight is not None:
                raise ValueError("fit: with a generator or Sequence as x, y and sample_weight come in its batches; "
                                 "received y or sample_weight too.")
            if validation_split:
                raise ValueError("fit: validation_split needs arrays; with a generator or Sequence pass "
                                 "validation_data.")
            batches = _Batches(x, steps_per_epoch, shuffle=shuffle)
            weights, validation, whole = class_weight, None, ()  # (its batches are checked one by one)
        else:
            split = 0.0 if validation_data is not None else validation_split
            xs, ys, sws, val, _ = _stream.fit_data(self, x, y, sample_weight, class_weight, split, None, False)
            self._ensure_ready(xs.shape, train=True)
            stream = array_stream(xs, ys, sws, batch_size, shuffle and shuffle != "batch", epochs - initial_epoch,
                                  self.ops)
            batches, weights = _Batches(stream, steps_per_epoch), None  # (class weights are in sws already)
            validation, whole = val, (xs,)  # validation_split's arrays, prepared (None without)
        if is_batch_source(validation_data):
            validation = _Batches(validation_data, validation_steps, what="validation")
        elif validation_data is not None:
            validation = _data.prepare_validation(self.ops, self, validation_data)
        if whole and isinstance(validation, tuple):  # validation arrays run in the same call: checked with x
            whole += (validation[0],)
        with checked_input(self, *whole):  # x's arrays checked once, before any step
            return fit_source(self, batches, epochs, verbose, callbacks, validation, validation_freq, weights,
                              initial_epoch, validation_batch_size or batch_size)

    def fit_generator(self, generator, steps_per_epoch=None, epochs=1, verbose=1, callbacks=None,
                      validation_data=None, validation_steps=None, validation_freq=1, class_weight=None,
                      max_queue_size=10, workers=1, use_multiprocessing=False, shuffle=True, initial_epoch=0):
        """``fit`` on a generator or Sequence (Keras 2's name; its queue and worker settings are accepted)."""
        return self.fit(generator, steps_per_epoch=steps_per_epoch, epochs=epochs, verbose=verbose,
                        callbacks=callbacks, validation_data=validation_data, validation_steps=validation_steps,
                        validation_freq=validation_freq, class_weight=class_weight, shuffle=shuffle,
                        initial_epoch=initial_epoch)

    def evaluate_generator(self, generator, steps=None, callbacks=None, max_queue_size=10, workers=1,
                           use_multiprocessing=False, verbose=0):
        """``evaluate`` on a generator or Sequence (Keras 2's name)."""
        return self.evaluate(generator, steps=steps, callbacks=callbacks, verbose=verbose)

    def predict_generator(self, generator, steps=None, callbacks=None, max_queue_size=10, workers=1,
                          use_multiprocessing=False, verbose=0):
        """``predict`` on a generator or Sequence (Keras 2's name)."""
        return self.predict(generator, steps=steps, callbacks=callbacks, verbose=verbose)
