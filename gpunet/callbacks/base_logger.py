"""`BaseLogger`, for Keras 2 scripts that name it."""
from .base import Callback


class BaseLogger(Callback):
    """Keras 2's callback that turned each batch's logs into the epoch's averages. Standalone Keras
    2 added it to every fit and averaged the batches' values, weighted by their sizes, into the epoch
    logs (``stateful_metrics`` kept as the last batch left them). gpunet's epoch logs are those
    averages already (and a stateful metric's result over the epoch), so this one leaves them as
    they are: a script that passes ``BaseLogger()`` runs unchanged, with the same History. tf.keras 2's
    raises ``KeyError: 'metrics'`` at the first epoch's end (its ``params`` no longer hold them)."""

    def __init__(self, stateful_metrics=None):
        super().__init__()
        self.stateful_metrics = set(stateful_metrics or [])
