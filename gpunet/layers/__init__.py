"""Keras layers (``from gpunet.layers import Dense``)."""
from .base import Layer, Weight
from .input_layer import InputLayer, Input
from .core import Dense, Activation, Dropout, Flatten, Reshape
from .normalization import BatchNormalization
from .lambda_layer import Lambda
from .advanced_activations import LeakyReLU, ReLU, ELU, Softmax, ThresholdedReLU, PReLU
from .noise import GaussianNoise, GaussianDropout, AlphaDropout
from .regularization import ActivityRegularization, SpatialDropout1D, SpatialDropout2D, SpatialDropout3D
from .reshaping import RepeatVector, Permute
from .embedding import Embedding
from .pooling import GlobalAveragePooling1D, GlobalMaxPooling1D
from .masking_layer import Masking
from .merge import (Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot, add, subtract, multiply,
                    average, maximum, minimum, concatenate, dot)

__all__ = ["Layer", "Weight", "InputLayer", "Input", "Dense", "Activation", "Dropout", "Flatten", "Reshape",
           "BatchNormalization", "Lambda", "LeakyReLU", "ReLU", "ELU", "Softmax", "ThresholdedReLU", "PReLU",
           "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization", "SpatialDropout1D",
           "SpatialDropout2D", "SpatialDropout3D", "RepeatVector", "Permute", "Embedding", "GlobalAveragePooling1D",
           "GlobalMaxPooling1D", "Masking", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum",
           "Concatenate", "Dot", "add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate", "dot"]
