"""`Callback`, `CallbackList` and `History`, with Keras 2's hook names."""


class Callback:
    """Base class: override the hooks you need. ``self.model`` and ``self.params``
    (``{"verbose", "epochs", "steps"}``) are set before training starts."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    def on_train_batch_begin(self, batch, logs=None): pass
    def on_train_batch_end(self, batch, logs=None): pass
    def on_test_begin(self, logs=None): pass
    def on_test_end(self, logs=None): pass
    def on_test_batch_begin(self, batch, logs=None): pass
    def on_test_batch_end(self, batch, logs=None): pass
    def on_predict_begin(self, logs=None): pass
    def on_predict_end(self, logs=None): pass
    def on_predict_batch_begin(self, batch, logs=None): pass
    def on_predict_batch_end(self, batch, logs=None): pass

    # Keras 1/2 aliases
    def on_batch_begin(self, batch, logs=None): pass
    def on_batch_end(self, batch, logs=None): pass


_BATCH_HOOKS = ("on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end")


def _overrides(cb, hook):
    # An instance attribute (LambdaCallback's functions) overrides as much as a method does.
    impl = getattr(cb, hook, None)
    return getattr(impl, "__func__", impl) is not getattr(Callback, hook)


def _wants(cb, kind, hooks):
    """Keras's ``cb._implements_<kind>_batch_hooks()`` where defined (ProgbarLogger at
    verbose=2 declines), else whether ``cb`` overrides one of ``hooks``."""
    probe = getattr(cb, f"_implements_{kind}_batch_hooks", None)
    if probe is not None:
        return bool(probe())
    return any(_overrides(cb, h) for h in hooks)


def say(message):
    """Print a callback's message: on rank 0 alone under gpunet.distribute (every rank runs the
    same callbacks; one message per job, as the progress bar)."""
    from ..distribute import runtime
    from ..utils.io_utils import print_msg
    if runtime.is_root():
        print_msg(str(message))


class DeferredLogs:
    """A training batch's logs, computed when first asked for (`resolve`). The training loop hands
    these to the batch hooks only when every callback that looks at batches accepts them (gpunet's
    own ProgbarLogger, which draws at most every 0.05 s): the loss and metrics, which on a GPU
    wait for the device, are then tallied only for the batches a redraw shows."""

    __slots__ = ("_make", "_logs")

    def __init__(self, make):
        self._make, self._logs = make, None

    def resolve(self):
        """The logs dict (computed once)."""
        if self._logs is None:
            self._logs = self._make()
        return self._logs


class CallbackList:
    """Calls each hook on every callback in order. Batch hooks are skipped when
    no callback overrides them: the training loop then does no per-batch work."""

    def __init__(self, callbacks, model, params):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            cb.set_model(model)
            cb.set_params(params)
        self.wants_train_batches, self.defers_train_batches = self._batch_interest("train", _BATCH_HOOKS)
        # whether a callback that looks at batches might set stop_training there (gpunet's loggers do not)
        self.may_stop_at_batches = any(_wants(cb, "train", _BATCH_HOOKS) and not getattr(cb, "_never_stops", False)
                                       for cb in self.callbacks)
        self.wants_test_batches, self.defers_test_batches = self._batch_interest(
            "test", ("on_test_batch_begin", "on_test_batch_end"))
        self.wants_predict_batches, self.defers_predict_batches = self._batch_interest(
            "predict", ("on_predict_batch_begin", "on_predict_batch_end"))

    def _batch_interest(self, kind, hooks):
        """(whether any callback looks at ``kind`` batches, whether every one that does takes
        `DeferredLogs`)."""
        wanting = [cb for cb in self.callbacks if _wants(cb, kind, hooks)]
        return bool(wanting), bool(wanting) and all(getattr(cb, "_accepts_deferred_batch_logs", False)
                                                    for cb in wanting)

    def _call(self, hook, *args):
        # tf.keras hands every hook a dict, never None (``CallbackList._process_logs``): a
        # callback may write ``logs["key"]`` in on_epoch_begin or on_train_begin.
        if args[-1] is None:
            args = args[:-1] + ({},)
        for cb in self.callbacks:
            getattr(cb, hook)(*args)

    def on_train_begin(self, logs=None): self._call("on_train_begin", logs)
    def on_train_end(self, logs=None): self._call("on_train_end", logs)
    def on_epoch_begin(self, epoch, logs=None): self._call("on_epoch_begin", epoch, logs)
    def on_epoch_end(self, epoch, logs=None): self._call("on_epoch_end", epoch, logs)
    def on_test_begin(self, logs=None): self._call("on_test_begin", logs)
    def on_test_end(self, logs=None): self._call("on_test_end", logs)
    def on_predict_begin(self, logs=None): self._call("on_predict_begin", logs)
    def on_predict_end(self, logs=None): self._call("on_predict_end", logs)

    def on_train_batch_begin(self, batch, logs=None):
        logs = {} if logs is None else logs  # the same dict for both names of the hook
        self._call("on_train_batch_begin", batch, logs)
        self._call("on_batch_begin", batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        logs = {} if logs is None else logs
        self._call("on_train_batch_end", batch, logs)
        self._call("on_batch_end", batch, logs)

    def on_test_batch_begin(self, batch, logs=None): self._call("on_test_batch_begin", batch, logs)
    def on_test_batch_end(self, batch, logs=None): self._call("on_test_batch_end", batch, logs)
    def on_predict_batch_begin(self, batch, logs=None): self._call("on_predict_batch_begin", batch, logs)
    def on_predict_batch_end(self, batch, logs=None): self._call("on_predict_batch_end", batch, logs)


class History(Callback):
    """Records each epoch's logs: ``history.history["loss"]`` is a list per epoch;
    ``history.epoch`` the epoch indices. ``fit`` returns it."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)
