"""ProgbarLogger (minimal placeholder; see contract)."""
from .base import Callback


class ProgbarLogger(Callback):
    def on_epoch_end(self, epoch, logs=None):
        if self.params.get("verbose"):
            print(f"Epoch {epoch + 1}/{self.params['epochs']} - " + " - ".join(f"{k}: {v:.4f}" for k, v in (logs or {}).items()))
