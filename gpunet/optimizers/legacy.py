"""``tf.keras.optimizers.legacy`` (tf.keras 2.11+): the optimizers as Keras 2.10 and before had them, which code
written for those versions (or for Apple silicon, where tf.keras asks for them) names. gpunet's optimizers take
their arguments (``lr=``, ``decay=``) and read their files: these are the same classes."""
from .adam import Adam, Adamax, Nadam
from .adaptive import Adadelta, Adagrad, RMSprop
from .base import Optimizer
from .ftrl import Ftrl
from .gradient_descent import SGD

__all__ = ["Adadelta", "Adagrad", "Adam", "Adamax", "Ftrl", "Nadam", "Optimizer", "RMSprop", "SGD"]
