"""Keras's InceptionV3 (``keras.applications.inception_v3``; Szegedy et al., CVPR 2016): the same layers under
the same names, in the same order, as Keras builds them (its convolutions, batch normalizations and activations
are named by Keras's counters, ``conv2d_5``, so build it from fresh names to load a file by name), so Keras's
ImageNet weights (``weights="imagenet"``, its own files) and weight files of yours load as they do in Keras."""
from .. import layers
from . import imagenet_utils as U

_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
_TOP = ("inception_v3_weights_tf_dim_ordering_tf_kernels.h5", "9a0d58056eeedaa3f26cb7ebd46da564")
_NO_TOP = ("inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5", "bcbd6486424b2319ff4ef7d526e38f63")



def _conv_bn(x, filters, rows, cols, padding="same", strides=(1, 1)):
    """A convolution without bias, batch normalization without scale, and ReLU: three auto-named layers."""
    x = layers.Conv2D(filters, (rows, cols), strides=strides, padding=padding, use_bias=False)(x)
    x = layers.BatchNormalization(axis=U.channel_axis(), scale=False)(x)
    return layers.Activation("relu")(x)


def _chain(x, *convolutions):
    """``_conv_bn`` applied in turn: each of ``convolutions`` is ``(filters, rows, cols)``."""
    for filters, rows, cols in convolutions:
        x = _conv_bn(x, filters, rows, cols)
    return x


def _pool_branch(x, filters):
    """3x3 average pooling with stride 1, then a 1x1 convolution."""
    x = layers.AveragePooling2D((3, 3), strides=(1, 1), padding="same")(x)
    return _conv_bn(x, filters, 1, 1)


def _concat(branches, name=None):
    return layers.concatenate(branches, axis=U.channel_axis(), name=name)


def _stem(x):
    """Five convolutions and two max poolings: 299x299 down to 35x35 with 192 channels."""
    x = _conv_bn(x, 32, 3, 3, strides=(2, 2), padding="valid")
    x = _conv_bn(x, 32, 3, 3, padding="valid")
    x = _conv_bn(x, 64, 3, 3)
    x = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)
    x = _conv_bn(x, 80, 1, 1, padding="valid")
    x = _conv_bn(x, 192, 3, 3, padding="valid")
    return layers.MaxPooling2D((3, 3), strides=(2, 2))(x)


def _module_a(x, pool_filters, name):
    """mixed0 to mixed2 (35x35): 1x1, 5x5, double 3x3 and pooling branches."""
    branch1x1 = _conv_bn(x, 64, 1, 1)
    branch5x5 = _chain(x, (48, 1, 1), (64, 5, 5))
    branch3x3dbl = _chain(x, (64, 1, 1), (96, 3, 3), (96, 3, 3))
    return _concat([branch1x1, branch5x5, branch3x3dbl, _pool_branch(x, pool_filters)], name)


def _reduction_a(x):
    """mixed3: 35x35 down to 17x17."""
    branch3x3 = _conv_bn(x, 384, 3, 3, strides=(2, 2), padding="valid")
    branch3x3dbl = _chain(x, (64, 1, 1), (96, 3, 3))
    branch3x3dbl = _conv_bn(branch3x3dbl, 96, 3, 3, strides=(2, 2), padding="valid")
    branch_pool = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)
    return _concat([branch3x3, branch3x3dbl, branch_pool], "mixed3")


def _module_b(x, width, name):
    """mixed4 to mixed7 (17x17): 1x1, factorized 7x7, double factorized 7x7 and pooling branches; ``width`` is
    the channels inside the 7x7 branches."""
    branch1x1 = _conv_bn(x, 192, 1, 1)
    branch7x7 = _chain(x, (width, 1, 1), (width, 1, 7), (192, 7, 1))
    branch7x7dbl = _chain(x, (width, 1, 1), (width, 7, 1), (width, 1, 7), (width, 7, 1), (192, 1, 7))
    return _concat([branch1x1, branch7x7, branch7x7dbl, _pool_branch(x, 192)], name)


def _reduction_b(x):
    """mixed8: 17x17 down to 8x8."""
    branch3x3 = _conv_bn(x, 192, 1, 1)
    branch3x3 = _conv_bn(branch3x3, 320, 3, 3, strides=(2, 2), padding="valid")
    branch7x7x3 = _chain(x, (192, 1, 1), (192, 1, 7), (192, 7, 1))
    branch7x7x3 = _conv_bn(branch7x7x3, 192, 3, 3, strides=(2, 2), padding="valid")
    branch_pool = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)
    return _concat([branch3x3, branch7x7x3, branch_pool], "mixed8")


def _split(x, filters):
    """Parallel 1x3 and 3x1 convolutions of ``x``."""
    return [_conv_bn(x, filters, 1, 3), _conv_bn(x, filters, 3, 1)]


def _module_c(x, index):
    """mixed9 and mixed10 (8x8): 1x1, split 3x3, double split 3x3 and pooling branches; Keras names the first
    split's concatenation ``mixed9_<index>`` and leaves the second's to its counter."""
    branch1x1 = _conv_bn(x, 320, 1, 1)
    branch3x3 = _concat(_split(_conv_bn(x, 384, 1, 1), 384), f"mixed9_{index}")
    branch3x3dbl = _concat(_split(_chain(x, (448, 1, 1), (384, 3, 3)), 384))
    return _concat([branch1x1, branch3x3, branch3x3dbl, _pool_branch(x, 192)], f"mixed{9 + index}")


def InceptionV3(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,
                classifier_activation="softmax"):
    """InceptionV3 as Keras builds it: a convolutional stem, three 35x35 modules, a reduction, four 17x17
    modules, a reduction and two 8x8 modules (``mixed0`` to ``mixed10``), then (``include_top``) global average
    pooling and the classifier; without the top, ``pooling`` None, "avg" or "max". Inputs are 299x299 by
    default, at least 75x75, as `preprocess_input` gives them ("tf": scaled to [-1, 1])."""
    from ..models import Model
    inputs, x = U.begin(include_top, weights, input_tensor, input_shape, classes, classifier_activation, 299, 75)
    x = _stem(x)
    for i, pool_filters in enumerate((32, 64, 64)):
        x = _module_a(x, pool_filters, f"mixed{i}")
    x = _reduction_a(x)
    for i, width in enumerate((128, 160, 160, 192), start=4):
        x = _module_b(x, width, f"mixed{i}")
    x = _reduction_b(x)
    for i in range(2):
        x = _module_c(x, i)
    x = U.averaged_head(x, include_top, pooling, classes, classifier_activation)
    model = Model(inputs, x, name="inception_v3")
    file_name, file_hash = _TOP if include_top else _NO_TOP
    return U.load_weights(model, weights, file_name, _BASE + file_name, file_hash)


def preprocess_input(x, data_format=None):
    """`imagenet_utils.preprocess_input` in the "tf" mode, InceptionV3's."""
    return U.preprocess_input(x, data_format=data_format, mode="tf")


decode_predictions = U.decode_predictions
