"""Keras callbacks (``from gpunet.callbacks import EarlyStopping``)."""
from .backup_and_restore import BackupAndRestore
from .base import Callback, CallbackList, History
from .base_logger import BaseLogger
from .checkpoint import ModelCheckpoint
from .csv_logger import CSVLogger
from .early_stopping import EarlyStopping
from .lambda_callback import LambdaCallback
from .learning_rate import LearningRateScheduler, ReduceLROnPlateau
from .progbar_logger import ProgbarLogger
from .remote_monitor import RemoteMonitor
from .tensorboard import TensorBoard
from .terminate_on_nan import TerminateOnNaN
from .swap_ema_weights import SwapEMAWeights

__all__ = ["Callback", "CallbackList", "History", "ProgbarLogger", "EarlyStopping",
           "ReduceLROnPlateau", "LearningRateScheduler", "TerminateOnNaN", "CSVLogger", "LambdaCallback",
           "ModelCheckpoint", "BackupAndRestore", "TensorBoard", "RemoteMonitor", "BaseLogger", "SwapEMAWeights"]
