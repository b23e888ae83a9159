"""Keras layers (``from gpunet.layers import Dense``)."""
from .base import Layer, Weight
from .input_spec import InputSpec
from .input_layer import InputLayer, Input
from .core import Dense, Activation, Dropout, Flatten, Reshape, Identity
from .einsum_dense import EinsumDense
from .normalization import BatchNormalization
from .layer_normalization import LayerNormalization, UnitNormalization
from .group_normalization import GroupNormalization, RMSNormalization
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
from .time_distributed import TimeDistributed
from .recurrent import SimpleRNN, LSTM, GRU
from .bidirectional import Bidirectional
from .convolutional import (Conv1D, Convolution1D, MaxPooling1D, MaxPool1D, AveragePooling1D,  # noqa: F401
                            AvgPool1D)
from .merge import (Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot, add, subtract, multiply,
                    average, maximum, minimum, concatenate, dot)



def serialize(layer):
    """``{"class_name": ..., "config": ...}`` of ``layer`` (Keras's ``keras.layers.serialize``), as JSON values:
    what `deserialize` and a saved model's config take."""
    from ..saving.config import to_plain
    from ..saving.registry import serialize_object
    return to_plain(serialize_object(layer), "layer")


def deserialize(config, custom_objects=None):
    """The layer (or model) a `serialize` dict describes, written by gpunet or any Keras (Keras's
    ``keras.layers.deserialize``); classes of your own from ``custom_objects`` or registered."""
    from ..saving.registry import layer_from_config
    return layer_from_config(config, custom_objects)


__all__ = ["Layer", "Weight", "InputSpec", "InputLayer", "Input", "Dense", "EinsumDense", "Activation", "Dropout",
           "Flatten", "Reshape", "Identity", "BatchNormalization", "LayerNormalization", "UnitNormalization",
           "GroupNormalization", "RMSNormalization", "Normalization", "Rescaling", "Discretization",
           "CategoryEncoding", "IntegerLookup", "Lambda", "LeakyReLU", "ReLU", "ELU", "Softmax", "ThresholdedReLU",
           "PReLU", "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization", "SpatialDropout1D",
           "SpatialDropout2D", "SpatialDropout3D", "RepeatVector", "Permute", "Embedding", "GlobalAveragePooling1D",
           "GlobalMaxPooling1D", "Masking", "TimeDistributed", "SimpleRNN", "LSTM", "GRU", "Bidirectional", "Conv1D",
           "Convolution1D", "MaxPooling1D", "MaxPool1D", "AveragePooling1D", "AvgPool1D", "Add", "Subtract",
           "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot", "add", "subtract", "multiply",
           "average", "maximum", "minimum", "concatenate", "dot", "serialize", "deserialize"]
