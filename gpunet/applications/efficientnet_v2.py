"""Keras's EfficientNetV2B0 to B3, S, M and L (``keras.applications.efficientnet_v2``; Tan and Le, "EfficientNetV2:
Smaller Models and Faster Training", ICML 2021, arXiv:2104.00298): the same layers under the same names, in the same
order, as tf.keras 2.21 builds them, so Keras's ImageNet weights (``weights="imagenet"``, its own files) and weight
files of yours load as they do in Keras. The models take pixels in [0, 255] and preprocess them themselves
(``include_preprocessing``), so `preprocess_input` passes its input through, as Keras's does."""
import math

from .. import backend as B
from .. import layers
from . import imagenet_utils as U
from .efficientnet_v2_blocks import BASE_WEIGHTS_PATH, STAGES, VARIANTS

_DEPTH_DIVISOR = 8
_MIN_DEPTH = 8
_BN_MOMENTUM = 0.9
_ACTIVATION = "swish"
_DROPOUT_RATE = 0.2  # before the classifier
_DROP_CONNECT_RATE = 0.2  # the residual branches' dropout grows linearly to this, block by block
_CONV_INITIALIZER = {"class_name": "VarianceScaling",
                     "config": {"scale": 2.0, "mode": "fan_out", "distribution": "truncated_normal"}}
_DENSE_INITIALIZER = {"class_name": "VarianceScaling",
                      "config": {"scale": 1.0 / 3.0, "mode": "fan_out", "distribution": "uniform"}}
# ImageNet's per-channel mean and deviation, which the B variants' preprocessing standardizes by
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)



def round_filters(filters, width_coefficient):
    """``filters`` scaled by ``width_coefficient`` and rounded to the nearest multiple of 8 (at least 8)."""
    scaled = filters * width_coefficient
    return int(max(_MIN_DEPTH, int(scaled + _DEPTH_DIVISOR / 2) // _DEPTH_DIVISOR * _DEPTH_DIVISOR))


def round_repeats(repeats, depth_coefficient):
    """A stage's ``repeats`` scaled by ``depth_coefficient``, rounded up."""
    return int(math.ceil(depth_coefficient * repeats))


def _batch_norm(x, name):
    return layers.BatchNormalization(axis=U.channel_axis(), momentum=_BN_MOMENTUM, name=name)(x)


def _conv_bn(x, filters, kernel_size, strides, name, bn_name, activation_name=None):
    """A biasless "same" convolution, its batch normalization and (``activation_name``) its swish."""
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding="same", use_bias=False,
                      kernel_initializer=_CONV_INITIALIZER, name=name)(x)
    x = _batch_norm(x, bn_name)
    if activation_name:
        x = layers.Activation(_ACTIVATION, name=activation_name)(x)
    return x


def _squeeze_excite(x, filters, reduced, name):
    """Squeeze and excitation: ``x``'s ``filters`` channels scaled by a sigmoid gate computed from their global
    average through a ``reduced``-channel bottleneck."""
    se = layers.GlobalAveragePooling2D(name=name + "se_squeeze")(x)
    se_shape = (1, 1, filters) if U.channel_axis() == 3 else (filters, 1, 1)
    se = layers.Reshape(se_shape, name=name + "se_reshape")(se)
    se = layers.Conv2D(reduced, 1, padding="same", activation=_ACTIVATION, kernel_initializer=_CONV_INITIALIZER,
                       name=name + "se_reduce")(se)
    se = layers.Conv2D(filters, 1, padding="same", activation="sigmoid", kernel_initializer=_CONV_INITIALIZER,
                       name=name + "se_expand")(se)
    return layers.multiply([x, se], name=name + "se_excite")


def _block(inputs, input_filters, output_filters, expand_ratio, se_ratio, strides, fused, drop_rate, name):
    """One MBConv block (``fused`` False: a 1x1 expansion, then a strided depthwise 3x3) or Fused-MBConv block (a
    strided full 3x3 expansion instead of the two), an optional squeeze and excitation, the linear projection to
    ``output_filters`` (the 3x3 convolution itself, swish-activated, in a fused block without expansion), and the
    input added (after ``drop_rate``'s per-sample dropout) where the block keeps its shape."""
    filters = input_filters * expand_ratio
    x = inputs
    if expand_ratio != 1:
        kernel_size, stride = (3, strides) if fused else (1, 1)
        x = _conv_bn(x, filters, kernel_size, stride, name + "expand_conv", name + "expand_bn",
                     name + "expand_activation")
    if not fused:
        x = layers.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False,
                                   depthwise_initializer=_CONV_INITIALIZER, name=name + "dwconv2")(x)
        x = _batch_norm(x, name + "bn")
        x = layers.Activation(_ACTIVATION, name=name + "activation")(x)
    if 0 < se_ratio <= 1:
        x = _squeeze_excite(x, filters, max(1, int(input_filters * se_ratio)), name)
    unexpanded = fused and expand_ratio == 1
    kernel_size, stride = (3, strides) if unexpanded else (1, 1)
    x = _conv_bn(x, output_filters, kernel_size, stride, name + "project_conv", name + "project_bn",
                 name + "project_activation" if unexpanded else None)
    if strides == 1 and input_filters == output_filters:
        if drop_rate:
            # (tf.keras passes the block's "survival probability" as the rate: its weights were trained so)
            x = layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=name + "drop")(x)
        x = layers.add([x, inputs], name=name + "add")
    return x


def _stages(x, stages, width_coefficient, depth_coefficient):
    """The blocks of every stage, named "block<stage><a, b, ...>_"; their dropout grows with their index over the
    stages' unscaled count of blocks."""
    total = float(sum(stage.repeats for stage in stages))
    index = 0
    for i, stage in enumerate(stages, start=1):
        input_filters = round_filters(stage.input_filters, width_coefficient)
        output_filters = round_filters(stage.output_filters, width_coefficient)
        for j in range(round_repeats(stage.repeats, depth_coefficient)):
            x = _block(x, input_filters if j == 0 else output_filters, output_filters, stage.expand_ratio,
                       stage.se_ratio, stage.strides if j == 0 else 1, stage.fused,
                       _DROP_CONNECT_RATE * index / total, name=f"block{i}{chr(j + 97)}_")
            index += 1
    return x


def _preprocessing(x, model_name, input_shape):
    """The B variants' (on 3 channels): scaled to [0, 1] and standardized by ImageNet's mean and deviation (unnamed
    layers, as in Keras); the others': scaled to [-1, 1)."""
    channels = input_shape[U.channel_axis() - 1]
    if model_name.split("-")[-1].startswith("b") and channels == 3:
        x = layers.Rescaling(scale=1.0 / 255)(x)
        return layers.Normalization(mean=list(_MEAN), variance=[s ** 2 for s in _STD], axis=U.channel_axis())(x)
    return layers.Rescaling(scale=1.0 / 128.0, offset=-1)(x)


def _head(x, include_top, pooling, classes, classifier_activation):
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dropout(_DROPOUT_RATE, name="top_dropout")(x)
        return layers.Dense(classes, activation=classifier_activation, kernel_initializer=_DENSE_INITIALIZER,
                            bias_initializer="zeros", name="predictions")(x)
    return U.pooled(x, pooling, name={"avg": "avg_pool", "max": "max_pool"}.get(pooling))


def _efficientnet_v2(model_name, include_top, weights, input_tensor, input_shape, pooling, classes,
                     classifier_activation, include_preprocessing):
    """An EfficientNetV2 as Keras's ``EfficientNetV2`` builds ``model_name``: (``include_preprocessing``) the
    rescaling, a strided 3x3 stem, the scaled stages, a 1x1 convolution to 1280 (scaled) filters, and the head."""
    from ..models import Model
    width, depth, default_size, hashes = VARIANTS[model_name]
    stages = STAGES[model_name]
    U.check_weights(weights, include_top, classes, classifier_activation)
    input_shape = U.obtain_input_shape(input_shape, default_size=default_size, min_size=32,
                                       data_format=B.image_data_format(), require_flatten=include_top, weights=weights)
    inputs, x = U.image_input(input_shape, input_tensor)
    if include_preprocessing:
        x = _preprocessing(x, model_name, input_shape)
    x = _conv_bn(x, round_filters(stages[0].input_filters, width), 3, 2, "stem_conv", "stem_bn", "stem_activation")
    x = _stages(x, stages, width, depth)
    x = _conv_bn(x, round_filters(1280, width), 1, 1, "top_conv", "top_bn", "top_activation")
    x = _head(x, include_top, pooling, classes, classifier_activation)
    model = Model(inputs, x, name=model_name)
    file_name = model_name + (".h5" if include_top else "_notop.h5")
    return U.load_weights(model, weights, file_name, BASE_WEIGHTS_PATH + file_name, hashes[0 if include_top else 1])


def EfficientNetV2B0(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                     classes=1000, classifier_activation="softmax", include_preprocessing=True):
    """EfficientNetV2-B0 as Keras builds it: a strided 3x3 stem, three stages of Fused-MBConv blocks and three of
    MBConv blocks with squeeze and excitation, a 1x1 convolution to 1280 filters, then (``include_top``) global
    average pooling, dropout and the ``classes``-way classifier; without the top, ``pooling`` None, "avg" or "max".
    ``weights``: "imagenet" (Keras's file; 224x224 with the top), None, or a file's path. Inputs are pixels in
    [0, 255], which the model scales to [0, 1] and standardizes by ImageNet's per-channel mean and deviation itself;
    with ``include_preprocessing=False`` it takes them so preprocessed already."""
    return _efficientnet_v2("efficientnetv2-b0", include_top, weights, input_tensor, input_shape, pooling, classes,
                            classifier_activation, include_preprocessing)


def EfficientNetV2B1(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                     classes=1000, classifier_activation="softmax", include_preprocessing=True):
    """EfficientNetV2-B1: `EfficientNetV2B0` 1.1 times as deep; 240x240 inputs by default."""
    return _efficientnet_v2("efficientnetv2-b1", include_top, weights, input_tensor, input_shape, pooling, classes,
                            classifier_activation, include_preprocessing)


def EfficientNetV2B2(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                     classes=1000, classifier_activation="softmax", include_preprocessing=True):
    """EfficientNetV2-B2: `EfficientNetV2B0` 1.1 times as wide and 1.2 times as deep; 260x260 inputs by default."""
    return _efficientnet_v2("efficientnetv2-b2", include_top, weights, input_tensor, input_shape, pooling, classes,
                            classifier_activation, include_preprocessing)


def EfficientNetV2B3(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                     classes=1000, classifier_activation="softmax", include_preprocessing=True):
    """EfficientNetV2-B3: `EfficientNetV2B0` 1.2 times as wide and 1.4 times as deep; 300x300 inputs by default."""
    return _efficientnet_v2("efficientnetv2-b3", include_top, weights, input_tensor, input_shape, pooling, classes,
                            classifier_activation, include_preprocessing)


def EfficientNetV2S(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                    classes=1000, classifier_activation="softmax", include_preprocessing=True):
    """EfficientNetV2-S: `EfficientNetV2B0`'s design with six larger stages of 2 to 15 blocks; 384x384 inputs by
    default, which its preprocessing scales to [-1, 1] (no standardization)."""
    return _efficientnet_v2("efficientnetv2-s", include_top, weights, input_tensor, input_shape, pooling, classes,
                            classifier_activation, include_preprocessing)


def EfficientNetV2M(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                    classes=1000, classifier_activation="softmax", include_preprocessing=True):
    """EfficientNetV2-M: `EfficientNetV2S` with seven stages of 3 to 18 blocks; 480x480 inputs by default."""
    return _efficientnet_v2("efficientnetv2-m", include_top, weights, input_tensor, input_shape, pooling, classes,
                            classifier_activation, include_preprocessing)


def EfficientNetV2L(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                    classes=1000, classifier_activation="softmax", include_preprocessing=True):
    """EfficientNetV2-L: `EfficientNetV2S` with seven wider stages of 4 to 25 blocks; 480x480 inputs by default."""
    return _efficientnet_v2("efficientnetv2-l", include_top, weights, input_tensor, input_shape, pooling, classes,
                            classifier_activation, include_preprocessing)


def preprocess_input(x, data_format=None):
    """``x`` itself, unchanged, as Keras's: EfficientNetV2 preprocesses its inputs itself (pixels in [0, 255]; see
    ``include_preprocessing``). ``data_format`` is accepted for the applications' common signature."""
    return x


decode_predictions = U.decode_predictions
