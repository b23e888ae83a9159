"""Keras's Xception (``keras.applications.xception``; Chollet, CVPR 2017): the same layers under the same names,
in the same order, as Keras builds them (its shortcut convolutions, their batch normalizations and the additions
are named by Keras's counters, ``conv2d_1``, so build it from fresh names to load a file by name), so Keras's
ImageNet weights (``weights="imagenet"``, its own files) and weight files of yours load as they do in Keras."""
from .. import layers
from . import imagenet_utils as U

_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/xception/"
_TOP = ("xception_weights_tf_dim_ordering_tf_kernels.h5", "0a58e3b7378bc2990ea3b43d5981f1f6")
_NO_TOP = ("xception_weights_tf_dim_ordering_tf_kernels_notop.h5", "b0042744bf5b25fce3cb969f33bebb97")



def _relu(x, name):
    return layers.Activation("relu", name=name)(x)


def _separable_bn(x, filters, name):
    """A 3x3 depthwise-separable convolution without bias, then batch normalization (``<name>_bn``)."""
    x = layers.SeparableConv2D(filters, (3, 3), padding="same", use_bias=False, name=name)(x)
    return layers.BatchNormalization(axis=U.channel_axis(-1), name=f"{name}_bn")(x)


def _entry(x):
    """Two plain 3x3 convolutions, the second without padding: 299x299 down to 147x147 with 64 channels."""
    x = layers.Conv2D(32, (3, 3), strides=(2, 2), use_bias=False, name="block1_conv1")(x)
    x = layers.BatchNormalization(axis=U.channel_axis(-1), name="block1_conv1_bn")(x)
    x = _relu(x, "block1_conv1_act")
    x = layers.Conv2D(64, (3, 3), use_bias=False, name="block1_conv2")(x)
    x = layers.BatchNormalization(axis=U.channel_axis(-1), name="block1_conv2_bn")(x)
    return _relu(x, "block1_conv2_act")


def _downsampling_block(x, block, filters, first_relu=True):
    """Two separable convolutions (``filters``: their channels) and a 3x3 max pooling with stride 2, added to a
    strided 1x1 convolution of the input. Keras makes the shortcut's layers first, unnamed; the entry flow's first
    block starts without ReLU (its input has just had one)."""
    shortcut = layers.Conv2D(filters[1], (1, 1), strides=(2, 2), padding="same", use_bias=False)(x)
    shortcut = layers.BatchNormalization(axis=U.channel_axis(-1))(shortcut)
    prefix = f"block{block}"
    if first_relu:
        x = _relu(x, f"{prefix}_sepconv1_act")
    x = _separable_bn(x, filters[0], f"{prefix}_sepconv1")
    x = _relu(x, f"{prefix}_sepconv2_act")
    x = _separable_bn(x, filters[1], f"{prefix}_sepconv2")
    x = layers.MaxPooling2D((3, 3), strides=(2, 2), padding="same", name=f"{prefix}_pool")(x)
    return layers.add([x, shortcut])


def _middle_block(x, block):
    """Three ReLU and separable convolutions of 728 channels, added to the input."""
    shortcut = x
    for k in (1, 2, 3):
        x = _relu(x, f"block{block}_sepconv{k}_act")
        x = _separable_bn(x, 728, f"block{block}_sepconv{k}")
    return layers.add([x, shortcut])


def _exit(x):
    """Separable convolutions of 1536 and 2048 channels, each followed by ReLU."""
    x = _separable_bn(x, 1536, "block14_sepconv1")
    x = _relu(x, "block14_sepconv1_act")
    x = _separable_bn(x, 2048, "block14_sepconv2")
    return _relu(x, "block14_sepconv2_act")


def Xception(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,
             classifier_activation="softmax"):
    """Xception as Keras builds it: an entry flow (two convolutions, three downsampling blocks of separable
    convolutions with strided shortcuts), a middle flow of eight residual blocks of 728 channels and an exit flow
    (a downsampling block, separable convolutions of 1536 and 2048 channels), then (``include_top``) global
    average pooling and the classifier; without the top, ``pooling`` None, "avg" or "max". Inputs are 299x299 by
    default, at least 71x71, as `preprocess_input` gives them ("tf": scaled to [-1, 1])."""
    from ..models import Model
    inputs, x = U.begin(include_top, weights, input_tensor, input_shape, classes, classifier_activation, 299, 71)
    x = _entry(x)
    x = _downsampling_block(x, 2, (128, 128), first_relu=False)
    x = _downsampling_block(x, 3, (256, 256))
    x = _downsampling_block(x, 4, (728, 728))
    for block in range(5, 13):
        x = _middle_block(x, block)
    x = _downsampling_block(x, 13, (728, 1024))
    x = _exit(x)
    x = U.averaged_head(x, include_top, pooling, classes, classifier_activation)
    model = Model(inputs, x, name="xception")
    file_name, file_hash = _TOP if include_top else _NO_TOP
    return U.load_weights(model, weights, file_name, _BASE + file_name, file_hash)


def preprocess_input(x, data_format=None):
    """`imagenet_utils.preprocess_input` in the "tf" mode, Xception's."""
    return U.preprocess_input(x, data_format=data_format, mode="tf")


decode_predictions = U.decode_predictions
