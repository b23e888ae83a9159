"""Checks of a model's input made once per fit/evaluate/predict call rather than once per batch.

A layer that validates its input defines ``check_model_input(ops, x)`` (Embedding: every index an
integer in range, a reduction and, on a GPU, a device read: a sync that stalls the pipeline if
made every batch). Where such a layer is the first of a model and receives the model's input as it
is, fit, evaluate and predict check the whole of x with it once, before the first batch
(models/checked_input.py), and run their batches inside `trusting(layer)`: the layer's forward
asks `is_checked(self)` and skips its own check. Everything else (a direct layer call, a
generator's batches, train_on_batch, a predict run by a callback inside fit) runs inside
`trusting(None)` or outside any call, where `is_checked` is False and the layer checks each batch.

The state is a context variable: each thread sees its own, and a call nested in another (a
callback's) hides the outer call's trust until it returns.
"""
import contextlib
import contextvars

_trusted = contextvars.ContextVar("gpunet_checked_model_input", default=None)


def is_checked(layer):
    """Whether the running fit/evaluate/predict call has checked ``layer``'s every input already.
    A shared layer's later calls in a functional model run on shallow copies of it (models/graph_run.py),
    which hold the same weight list: they count as the layer."""
    trusted = _trusted.get()
    return trusted is not None and any(layer is t or layer._weights is t._weights for t in trusted)


@contextlib.contextmanager
def trusting(layers):
    """Within the block, `is_checked` is True for ``layers`` only (a layer, a tuple of them, or None: none)."""
    token = _trusted.set(None if layers is None else tuple(layers) if isinstance(layers, (list, tuple)) else (layers,))
    try:
        yield
    finally:
        _trusted.reset(token)
