"""`LambdaCallback`: a callback built from plain functions."""
from .base import Callback

_BATCH_HOOKS = ("on_batch_begin", "on_batch_end", "on_train_batch_begin", "on_train_batch_end")


class LambdaCallback(Callback):
    """A callback from functions (Keras's ``LambdaCallback``), called positionally:

    - ``on_epoch_begin(epoch, logs)``, ``on_epoch_end(epoch, logs)``
    - ``on_batch_begin(batch, logs)``, ``on_batch_end(batch, logs)``
    - ``on_train_begin(logs)``, ``on_train_end(logs)``

    Other hooks (``on_test_end=...``, ``on_train_batch_end=...``) may be passed as keyword arguments.
    """

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_batch_begin=None, on_batch_end=None,
                 on_train_begin=None, on_train_end=None, **kwargs):
        super().__init__()
        for name, fn in kwargs.items():
            if fn is not None and not callable(fn):
                raise TypeError(f"LambdaCallback {name} must be a function, received {fn!r}")
        self.__dict__.update(kwargs)
        hooks = {"on_epoch_begin": on_epoch_begin, "on_epoch_end": on_epoch_end,
                 "on_batch_begin": on_batch_begin, "on_batch_end": on_batch_end,
                 "on_train_begin": on_train_begin, "on_train_end": on_train_end}
        for name, fn in hooks.items():
            if fn is not None:
                if not callable(fn):
                    raise TypeError(f"LambdaCallback {name} must be a function, received {fn!r}")
                setattr(self, name, fn)

    def _implements_train_batch_hooks(self):
        # Instance attributes: the training loop cannot see them by looking at the class.
        return any(callable(self.__dict__.get(h)) for h in _BATCH_HOOKS)

    def _implements_test_batch_hooks(self):
        return any(callable(self.__dict__.get(h)) for h in ("on_test_batch_begin", "on_test_batch_end"))

    def _implements_predict_batch_hooks(self):
        return any(callable(self.__dict__.get(h)) for h in ("on_predict_batch_begin", "on_predict_batch_end"))
