"""Keras layers (``from gpunet.layers import Dense``)."""
from .base import Layer, Weight
from .input_spec import InputSpec
from .input_layer import InputLayer, Input
from .core import Dense, Activation, Dropout, Flatten, Reshape, Identity
from .normalization import BatchNormalization
from .layer_normalization import LayerNormalization, UnitNormalization
from .preprocessing import Normalization, Rescaling
from .discretization import Discretization
from .category_encoding import CategoryEncoding
from .integer_lookup import IntegerLookup
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

__all__ = ["Layer", "Weight", "InputSpec", "InputLayer", "Input", "Dense", "Activation", "Dropout", "Flatten", "Reshape", "Identity",
           "BatchNormalization", "LayerNormalization", "UnitNormalization", "Normalization", "Rescaling", "Discretization",
           "CategoryEncoding", "IntegerLookup", "Lambda", "LeakyReLU", "ReLU", "ELU", "Softmax", "ThresholdedReLU", "PReLU",
           "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization", "SpatialDropout1D",
           "SpatialDropout2D", "SpatialDropout3D", "RepeatVector", "Permute", "Embedding", "GlobalAveragePooling1D",
           "GlobalMaxPooling1D", "Masking", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum",
           "Concatenate", "Dot", "add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate", "dot"]
