"""Keras's InceptionResNetV2 (``keras.applications.inception_resnet_v2``; Szegedy et al., AAAI 2017): the same
layers under the same names, in the same order, as tf.keras 2.21 builds them (its stem's and branches'
convolutions, batch normalizations and activations are named by Keras's counters, ``conv2d_5``, and so are the
residuals' `CustomScaleLayer` layers, ``custom_scale_layer_3``: build it from fresh names to load a file by name),
so Keras's ImageNet weights (``weights="imagenet"``, its own files) and weight files of yours load as they do in
Keras."""
from .. import backend as B
from .. import layers
from ..utils import register_keras_serializable
from . import imagenet_utils as U

_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/inception_resnet_v2/"
_TOP = ("inception_resnet_v2_weights_tf_dim_ordering_tf_kernels.h5", "e693bd0210a403b3192acc6073ad2e96")
_NO_TOP = ("inception_resnet_v2_weights_tf_dim_ordering_tf_kernels_notop.h5", "d19885ff4a710c122648d3b5c3b684e4")
# block type: its residual branches, each a chain of (filters, kernel size) convolutions
_BRANCHES = {
    "block35": (((32, 1),), ((32, 1), (32, 3)), ((32, 1), (48, 3), (64, 3))),
    "block17": (((192, 1),), ((128, 1), (160, (1, 7)), (192, (7, 1)))),
    "block8": (((192, 1),), ((192, 1), (224, (1, 3)), (256, (3, 1)))),
}



@register_keras_serializable()  # (as tf.keras registers it: "Custom>CustomScaleLayer")
class CustomScaleLayer(layers.Layer):
    """tf.keras's layer of the scaled residual connection: ``[x, residual]`` gives ``x + residual * scale``."""

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def get_config(self):
        config = super().get_config()
        config.update({"scale": self.scale})
        return config

    def call(self, inputs):
        return inputs[0] + inputs[1] * self.scale


def conv2d_bn(x, filters, kernel_size, strides=1, padding="same", activation="relu", use_bias=False, name=None):
    """A convolution, its batch normalization without scale (only without ``use_bias``) and ``activation``
    (none for None): ``name``, ``name_bn`` and ``name_ac``, or Keras's counters' names without ``name``."""
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding=padding, use_bias=use_bias, name=name)(x)
    if not use_bias:
        x = layers.BatchNormalization(axis=U.channel_axis(), scale=False,
                                      name=None if name is None else name + "_bn")(x)
    if activation is not None:
        x = layers.Activation(activation, name=None if name is None else name + "_ac")(x)
    return x


def _chain(x, convolutions):
    for filters, kernel_size in convolutions:
        x = conv2d_bn(x, filters, kernel_size)
    return x


def _concat(branches, name):
    return layers.Concatenate(axis=U.channel_axis(), name=name)(branches)


def inception_resnet_block(x, scale, block_type, block_idx, activation="relu"):
    """An Inception-ResNet block (``block_type`` "block35", "block17" or "block8": the paper's A, B and C, 35x35,
    17x17 and 8x8): its branches concatenated as ``<block_type>_<block_idx>_mixed``, a 1x1 convolution with bias
    back to ``x``'s channels (``..._conv``), ``x + scale * that`` (a `CustomScaleLayer`), then ``activation``
    (``..._ac``; none for None)."""
    if block_type not in _BRANCHES:
        raise ValueError('Unknown Inception-ResNet block type. Expects "block35", "block17" or "block8", but got: '
                         + str(block_type))
    block_name = f"{block_type}_{block_idx}"
    mixed = _concat([_chain(x, branch) for branch in _BRANCHES[block_type]], block_name + "_mixed")
    up = conv2d_bn(mixed, B.int_shape(x)[U.channel_axis()], 1, activation=None, use_bias=True,
                   name=block_name + "_conv")
    x = CustomScaleLayer(scale)([x, up])
    if activation is not None:
        x = layers.Activation(activation, name=block_name + "_ac")(x)
    return x


def _stem(x):
    """Five convolutions and two max poolings: 299x299 down to 35x35 with 192 channels."""
    x = conv2d_bn(x, 32, 3, strides=2, padding="valid")
    x = conv2d_bn(x, 32, 3, padding="valid")
    x = conv2d_bn(x, 64, 3)
    x = layers.MaxPooling2D(3, strides=2)(x)
    x = conv2d_bn(x, 80, 1, padding="valid")
    x = conv2d_bn(x, 192, 3, padding="valid")
    return layers.MaxPooling2D(3, strides=2)(x)


def _mixed_5b(x):
    """Inception-A (35x35): 1x1, 5x5, double 3x3 and average pooling branches, 320 channels."""
    branches = [_chain(x, ((96, 1),)), _chain(x, ((48, 1), (64, 5))), _chain(x, ((64, 1), (96, 3), (96, 3)))]
    pool = layers.AveragePooling2D(3, strides=1, padding="same")(x)
    return _concat(branches + [conv2d_bn(pool, 64, 1)], "mixed_5b")


def _mixed_6a(x):
    """Reduction-A: 35x35 down to 17x17, 1088 channels."""
    branch_0 = conv2d_bn(x, 384, 3, strides=2, padding="valid")
    branch_1 = conv2d_bn(_chain(x, ((256, 1), (256, 3))), 384, 3, strides=2, padding="valid")
    pool = layers.MaxPooling2D(3, strides=2, padding="valid")(x)
    return _concat([branch_0, branch_1, pool], "mixed_6a")


def _mixed_7a(x):
    """Reduction-B: 17x17 down to 8x8, 2080 channels."""
    branches = [conv2d_bn(_chain(x, chain), filters, 3, strides=2, padding="valid")
                for chain, filters in ((((256, 1),), 384), (((256, 1),), 288), (((256, 1), (288, 3)), 320))]
    pool = layers.MaxPooling2D(3, strides=2, padding="valid")(x)
    return _concat(branches + [pool], "mixed_7a")


def InceptionResNetV2(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                      classes=1000, classifier_activation="softmax", **kwargs):
    """InceptionResNetV2 as Keras builds it: a convolutional stem, an Inception-A module (``mixed_5b``), 10
    Inception-ResNet-A blocks (residuals scaled by 0.17), a reduction (``mixed_6a``), 20 Inception-ResNet-B
    blocks (0.1), a reduction (``mixed_7a``), 10 Inception-ResNet-C blocks (0.2; the last one 1.0 without its
    ReLU), a 1x1 convolution to 1536 (``conv_7b``), then (``include_top``) global average pooling and the
    classifier; without the top, ``pooling`` None, "avg" or "max". Inputs are 299x299 by default, at least
    75x75, as `preprocess_input` gives them ("tf": scaled to [-1, 1])."""
    from ..models import Model
    if kwargs:  # (tf.keras also takes `layers=`, a module of layer classes, for backward compatibility: not here)
        raise ValueError(f"Unknown argument(s): {kwargs}")
    inputs, x = U.begin(include_top, weights, input_tensor, input_shape, classes, classifier_activation, 299, 75)
    x = _mixed_5b(_stem(x))
    for block_idx in range(1, 11):
        x = inception_resnet_block(x, scale=0.17, block_type="block35", block_idx=block_idx)
    x = _mixed_6a(x)
    for block_idx in range(1, 21):
        x = inception_resnet_block(x, scale=0.1, block_type="block17", block_idx=block_idx)
    x = _mixed_7a(x)
    for block_idx in range(1, 10):
        x = inception_resnet_block(x, scale=0.2, block_type="block8", block_idx=block_idx)
    x = inception_resnet_block(x, scale=1.0, activation=None, block_type="block8", block_idx=10)
    x = conv2d_bn(x, 1536, 1, name="conv_7b")
    x = U.averaged_head(x, include_top, pooling, classes, classifier_activation)
    model = Model(inputs, x, name="inception_resnet_v2")
    file_name, file_hash = _TOP if include_top else _NO_TOP
    return U.load_weights(model, weights, file_name, _BASE + file_name, file_hash)


def preprocess_input(x, data_format=None):
    """`imagenet_utils.preprocess_input` in the "tf" mode, InceptionResNetV2's: pixels in [0, 255] scaled to
    [-1, 1]."""
    return U.preprocess_input(x, data_format=data_format, mode="tf")


decode_predictions = U.decode_predictions
