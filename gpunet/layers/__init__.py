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
from .image_resizing import Resizing, CenterCrop
from .image_augmentation import (RandomFlip, RandomRotation, RandomZoom, RandomTranslation, RandomContrast,
                                 RandomBrightness, RandomCrop)
from .image_random_size import RandomHeight, RandomWidth
from .discretization import Discretization
from .category_encoding import CategoryEncoding
from .integer_lookup import IntegerLookup
from .string_lookup import StringLookup
from .hashing import HashedCrossing, Hashing
from .text_vectorization import TextVectorization
from .lambda_layer import Lambda
from .advanced_activations import LeakyReLU, ReLU, ELU, Softmax, ThresholdedReLU, PReLU
from .noise import GaussianNoise, GaussianDropout, AlphaDropout
from .regularization import ActivityRegularization, SpatialDropout1D, SpatialDropout2D, SpatialDropout3D
from .reshaping import RepeatVector, Permute
from .embedding import Embedding
from .locally_connected import LocallyConnected1D, LocallyConnected2D
from .spectral_normalization import SpectralNormalization
from .abstract_rnn_cell import AbstractRNNCell
from .pooling import GlobalAveragePooling1D, GlobalMaxPooling1D, GlobalAvgPool1D, GlobalMaxPool1D
from .pooling_global import (GlobalAveragePooling2D, GlobalMaxPooling2D, GlobalAveragePooling3D,
                             GlobalMaxPooling3D, GlobalAvgPool2D, GlobalMaxPool2D, GlobalAvgPool3D, GlobalMaxPool3D)
from .pooling_windows import (MaxPooling1D, MaxPooling2D, MaxPooling3D, AveragePooling1D, AveragePooling2D,
                              AveragePooling3D, MaxPool1D, MaxPool2D, MaxPool3D, AvgPool1D, AvgPool2D, AvgPool3D)
from .masking_layer import Masking
from .time_distributed import TimeDistributed
from .wrapper import Wrapper
from .recurrent import SimpleRNN, LSTM, GRU
from .recurrent_cells import GRUCell, LSTMCell, SimpleRNNCell
from .conv_lstm import ConvLSTM1D, ConvLSTM2D, ConvLSTM3D
from .rnn import RNN, StackedRNNCells
from .multi_head_attention import MultiHeadAttention
from .dense_attention import AdditiveAttention, Attention
from .bidirectional import Bidirectional
from .convolutional import Conv1D, Conv2D, Conv3D, Convolution1D, Convolution2D, Convolution3D
from .convolutional_transpose import (Conv1DTranspose, Conv2DTranspose, Conv3DTranspose, Convolution1DTranspose,
                                      Convolution2DTranspose, Convolution3DTranspose)
from .convolutional_depthwise import (DepthwiseConv1D, DepthwiseConv2D, SeparableConv1D, SeparableConv2D,
                                      SeparableConvolution1D, SeparableConvolution2D)
from .spatial_reshaping import (ZeroPadding1D, ZeroPadding2D, ZeroPadding3D, Cropping1D, Cropping2D, Cropping3D,
                                UpSampling1D, UpSampling2D, UpSampling3D)
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
    from ..saving.keras3_modes import reading_config
    with reading_config(config):  # (a Keras 3 config's "hard_sigmoid" is Keras 3's)
        return layer_from_config(config, custom_objects)


__all__ = ["Resizing", "CenterCrop", "RandomCrop", "RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation",
           "RandomContrast", "RandomBrightness", "RandomHeight", "RandomWidth",
           "Layer", "Weight", "InputSpec", "InputLayer", "Input", "Dense", "EinsumDense", "Activation", "Dropout",
           "Flatten", "Reshape", "Identity", "BatchNormalization", "LayerNormalization", "UnitNormalization",
           "GroupNormalization", "RMSNormalization", "Normalization", "Rescaling", "Discretization",
           "CategoryEncoding", "IntegerLookup", "StringLookup", "Hashing", "HashedCrossing",
           "TextVectorization", "Lambda", "LeakyReLU", "ReLU", "ELU", "Softmax", "ThresholdedReLU",
           "PReLU", "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization", "SpatialDropout1D",
           "SpatialDropout2D", "SpatialDropout3D", "RepeatVector", "Permute", "Embedding",
           "LocallyConnected1D", "LocallyConnected2D", "SpectralNormalization", "AbstractRNNCell",
           "GlobalAveragePooling1D",
           "GlobalMaxPooling1D", "Masking", "TimeDistributed", "Wrapper", "SimpleRNN", "LSTM", "GRU", "ConvLSTM1D",
           "ConvLSTM2D", "ConvLSTM3D", "Bidirectional",
           "RNN", "StackedRNNCells", "SimpleRNNCell", "LSTMCell", "GRUCell", "MultiHeadAttention", "Attention", "AdditiveAttention",
           "GlobalAvgPool1D", "GlobalMaxPool1D", "GlobalAveragePooling2D", "GlobalMaxPooling2D",
           "GlobalAveragePooling3D", "GlobalMaxPooling3D", "GlobalAvgPool2D", "GlobalMaxPool2D", "GlobalAvgPool3D", "GlobalMaxPool3D",
           "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D", "AveragePooling3D",
           "MaxPool1D", "MaxPool2D", "MaxPool3D", "AvgPool1D", "AvgPool2D", "AvgPool3D", "Conv1D", "Conv2D", "Conv3D",
           "Convolution1D", "Convolution2D", "Convolution3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
           "Convolution1DTranspose", "Convolution2DTranspose", "Convolution3DTranspose", "DepthwiseConv1D",
           "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D", "SeparableConvolution1D", "SeparableConvolution2D",
           "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Cropping1D", "Cropping2D", "Cropping3D", "UpSampling1D",
           "UpSampling2D", "UpSampling3D", "Add", "Subtract",
           "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot", "add", "subtract", "multiply",
           "average", "maximum", "minimum", "concatenate", "dot", "serialize", "deserialize"]
