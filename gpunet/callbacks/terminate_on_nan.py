"""`TerminateOnNaN`: stop training as soon as the loss becomes NaN or infinite."""
import math

from .base import Callback, say


class TerminateOnNaN(Callback):
    """Stops training when a batch's loss is NaN or infinite (Keras's ``TerminateOnNaN``)."""

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None:
            loss = float(loss)
            if math.isnan(loss) or math.isinf(loss):
                say(f"Batch {batch}: Invalid loss, terminating training")
                self.model.stop_training = True
