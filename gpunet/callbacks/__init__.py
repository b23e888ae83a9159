"""Keras callbacks (``from gpunet.callbacks import EarlyStopping``)."""
from .base import Callback, CallbackList, History
from .progbar import ProgbarLogger

__all__ = ["Callback", "CallbackList", "History", "ProgbarLogger"]
