"""Keras's ``keras.wrappers``: Keras 2's `scikit_learn` (KerasClassifier, KerasRegressor) and Keras 3's
SKLearnClassifier, SKLearnRegressor and SKLearnTransformer (`sklearn_wrapper`)."""
from . import scikit_learn
from .sklearn_wrapper import SKLearnClassifier, SKLearnRegressor, SKLearnTransformer

__all__ = ["scikit_learn", "SKLearnClassifier", "SKLearnRegressor", "SKLearnTransformer"]
