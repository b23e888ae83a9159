"""The `CallbackList` fit, evaluate and predict run with: the user's callbacks, the History, and a
progress bar when ``verbose`` (last, as in tf.keras: it then shows what other callbacks add to the
logs, such as ``lr``); under gpunet.distribute, rank 0 alone keeps those that print or write."""
from ..callbacks import CallbackList, ProgbarLogger
from ..distribute import sharding as _dist


def default_callbacks(callbacks, verbose, history):
    """The callbacks of a run, checked, with ``history`` (or None) and the progress bar."""
    cbs = list(callbacks or [])
    for cb in cbs:
        if not hasattr(cb, "set_model"):
            raise TypeError(f"callbacks must be gpunet Callback instances, received {type(cb).__name__}")
    if history is not None:
        cbs.append(history)
    if verbose and not any(isinstance(cb, ProgbarLogger) for cb in cbs):
        cbs.append(ProgbarLogger(count_mode="steps"))
    return _dist.rank_callbacks(cbs)  # data-parallel: rank 0 alone prints and writes files


def one_pass_callbacks(model, callbacks, verbose, steps):
    """evaluate's or predict's `CallbackList` (one pass of ``steps`` batches), or None when there
    are neither callbacks nor a progress bar."""
    if not callbacks and not verbose:
        return None
    return CallbackList(default_callbacks(callbacks, verbose, None), model,
                        {"verbose": verbose, "epochs": 1, "steps": steps})
