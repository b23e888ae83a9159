"""Keras's EfficientNetB0 to EfficientNetB7 (``keras.applications.efficientnet``; Tan and Le, "EfficientNet:
Rethinking Model Scaling for Convolutional Neural Networks", ICML 2019): the same layers under the same names, in
the same order, as tf.keras builds them, so Keras's ImageNet weights (``weights="imagenet"``, its own files) and
weight files of yours load as they do in Keras. The models take pixels in [0, 255]: their preprocessing is their
first layers, and `preprocess_input` passes images through unchanged."""
import math

from .. import backend as B
from .. import layers
from ..layers.naming import unique_name
from . import imagenet_utils as U
from .mobilenet_v2 import correct_pad

_BASE = "https://storage.googleapis.com/keras-applications/"
# variant: (width, depth, default input size, dropout before the classifier, top file's hash, no-top file's hash),
# as Keras publishes them
_VARIANTS = {
    "b0": (1.0, 1.0, 224, 0.2, "902e53a9f72be733fc0bcb005b3ebbac", "50bc09e76180e00e4465e1a485ddc09d"),
    "b1": (1.0, 1.1, 240, 0.2, "1d254153d4ab51201f1646940f018540", "74c4e6b3e1f6a1eea24c589628592432"),
    "b2": (1.1, 1.2, 260, 0.3, "b15cce36ff4dcbd00b6dd88e7857a6ad", "111f8e2ac8aa800a7a99e3239f7bfb39"),
    "b3": (1.2, 1.4, 300, 0.3, "ffd1fdc53d0ce67064dc6a9c7960ede0", "af6d107764bb5b1abb91932881670226"),
    "b4": (1.4, 1.8, 380, 0.4, "18c95ad55216b8f92d7e70b3a046e2fc", "ebc24e6d6c33eaebbd558eafbeedf1ba"),
    "b5": (1.6, 2.2, 456, 0.4, "ace28f2a6363774853a83a0b21b9421a", "38879255a25d3c92d5e44e04ae6cec6f"),
    "b6": (1.8, 2.6, 528, 0.5, "165f6e37dce68623721b423839de8be5", "9ecce42647a20130c1f39a5d4cb75743"),
    "b7": (2.0, 3.1, 600, 0.5, "8c03f828fec3ef71311cd463b6759d99", "cbcfe4450ddf6f3ad90b1b398090fe4a"),
}
# B0's seven stages of blocks: (kernel_size, repeats, filters_in, filters_out, expand_ratio, strides)
_STAGES = ((3, 1, 32, 16, 1, 1), (3, 2, 16, 24, 6, 2), (5, 2, 24, 40, 6, 2), (3, 3, 40, 80, 6, 2),
           (5, 3, 80, 112, 6, 1), (5, 4, 112, 192, 6, 2), (3, 1, 192, 320, 6, 1))
_KEYS = ("kernel_size", "repeats", "filters_in", "filters_out", "expand_ratio", "strides")
DEFAULT_BLOCKS_ARGS = [dict(zip(_KEYS, stage), id_skip=True, se_ratio=0.25) for stage in _STAGES]
IMAGENET_STDDEV_RGB = [0.229, 0.224, 0.225]
_CONV_INIT = {"class_name": "VarianceScaling",
              "config": {"scale": 2.0, "mode": "fan_out", "distribution": "truncated_normal"}}
_DENSE_INIT = {"class_name": "VarianceScaling", "config": {"scale": 1.0 / 3.0, "mode": "fan_out",
                                                           "distribution": "uniform"}}


def _channels_first():
    return B.image_data_format() == "channels_first"



def _conv(x, filters, name, activation=None, use_bias=False):
    """A 1x1 convolution ("same" padding) with EfficientNet's initializer."""
    return layers.Conv2D(filters, 1, padding="same", use_bias=use_bias, activation=activation,
                         kernel_initializer=_CONV_INIT, name=name)(x)


def _bn_activation(x, activation, bn_name, activation_name):
    x = layers.BatchNormalization(axis=U.channel_axis(), name=bn_name)(x)
    return layers.Activation(activation, name=activation_name)(x)


def _round_filters(filters, width, divisor):
    """``filters`` scaled by ``width``, rounded to the nearest multiple of ``divisor`` (at least ``divisor``) and
    never more than 10% below the scaled value."""
    filters *= width
    rounded = max(divisor, int(filters + divisor / 2) // divisor * divisor)
    return int(rounded + divisor if rounded < 0.9 * filters else rounded)


def _round_repeats(repeats, depth):
    return int(math.ceil(depth * repeats))


def _imagenet_deviations(x):
    # Keras's files hold ImageNet's deviations (not their squares) as the Normalization's variance, so it divides by
    # their square roots only; this divides by the square roots once more (tensorflow/tensorflow#49930). tf.keras
    # applies it with tf.math.multiply, a layer of that name; a per-channel Rescaling is the same layer here.
    scale = [1.0 / math.sqrt(stddev) for stddev in IMAGENET_STDDEV_RGB]  # (Rescaling scales the channel axis)
    return layers.Rescaling(scale, name=unique_name("tf.math.multiply"))(x)


def _stem(x, weights, filters, activation):
    """The preprocessing layers ([0, 255] to [0, 1], then standardized per channel) and the strided 3x3
    convolution, its "same" padding a layer of its own."""
    x = layers.Rescaling(1.0 / 255.0)(x)
    x = layers.Normalization(axis=U.channel_axis())(x)
    if weights == "imagenet":
        x = _imagenet_deviations(x)
    x = layers.ZeroPadding2D(padding=correct_pad(x, 3), name="stem_conv_pad")(x)
    x = layers.Conv2D(filters, 3, strides=2, padding="valid", use_bias=False, kernel_initializer=_CONV_INIT,
                      name="stem_conv")(x)
    return _bn_activation(x, activation, "stem_bn", "stem_activation")


def _squeeze_excite(x, filters, filters_se, activation, name):
    """``x`` times per-channel gates: its global average, reduced to ``filters_se`` and expanded back through a
    sigmoid."""
    se = layers.GlobalAveragePooling2D(name=name + "se_squeeze")(x)
    se = layers.Reshape((filters, 1, 1) if _channels_first() else (1, 1, filters), name=name + "se_reshape")(se)
    se = _conv(se, filters_se, name + "se_reduce", activation=activation, use_bias=True)
    se = _conv(se, filters, name + "se_expand", activation="sigmoid", use_bias=True)
    return layers.multiply([x, se], name=name + "se_excite")


def _block(inputs, activation="swish", drop_rate=0.0, name="", filters_in=32, filters_out=16, kernel_size=3,
           strides=1, expand_ratio=1, se_ratio=0.0, id_skip=True):
    """An inverted residual block (MBConv): a 1x1 expansion (unless ``expand_ratio`` is 1), a depthwise
    convolution, squeeze-and-excitation (``0 < se_ratio <= 1``), a linear 1x1 projection, and, where the block keeps
    its shape, the input added (after per-sample dropout of rate ``drop_rate``, stochastic depth)."""
    filters = filters_in * expand_ratio
    x = inputs
    if expand_ratio != 1:
        x = _conv(x, filters, name + "expand_conv")
        x = _bn_activation(x, activation, name + "expand_bn", name + "expand_activation")
    if strides == 2:
        x = layers.ZeroPadding2D(padding=correct_pad(x, kernel_size), name=name + "dwconv_pad")(x)
    x = layers.DepthwiseConv2D(kernel_size, strides=strides, padding="valid" if strides == 2 else "same",
                               use_bias=False, depthwise_initializer=_CONV_INIT, name=name + "dwconv")(x)
    x = _bn_activation(x, activation, name + "bn", name + "activation")
    if 0 < se_ratio <= 1:
        x = _squeeze_excite(x, filters, max(1, int(filters_in * se_ratio)), activation, name)
    x = _conv(x, filters_out, name + "project_conv")
    x = layers.BatchNormalization(axis=U.channel_axis(), name=name + "project_bn")(x)
    if id_skip and strides == 1 and filters_in == filters_out:
        if drop_rate > 0:
            x = layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=name + "drop")(x)
        x = layers.add([x, inputs], name=name + "add")
    return x


def _blocks(x, blocks_args, width, depth, divisor, drop_connect_rate, activation):
    """The stages of ``blocks_args``, their filters scaled by ``width`` and their repeats by ``depth``; blocks are
    named ``block<stage><a, b, ...>_``, and the drop rate grows linearly from 0 over all of them."""
    total = float(sum(_round_repeats(args["repeats"], depth) for args in blocks_args))
    done = 0
    for stage, stage_args in enumerate(blocks_args, start=1):
        args = dict(stage_args)
        repeats = args.pop("repeats")
        if repeats <= 0:
            raise ValueError(f"Each stage of `blocks_args` needs at least one block; received repeats={repeats}")
        args["filters_in"] = _round_filters(args["filters_in"], width, divisor)
        args["filters_out"] = _round_filters(args["filters_out"], width, divisor)
        for j in range(_round_repeats(repeats, depth)):
            if j > 0:  # (only a stage's first block changes the resolution and the filters)
                args.update(strides=1, filters_in=args["filters_out"])
            x = _block(x, activation, drop_connect_rate * done / total, name=f"block{stage}{chr(j + 97)}_", **args)
            done += 1
    return x


def _head(x, include_top, pooling, classes, classifier_activation, dropout_rate):
    if not include_top:
        return U.pooled(x, pooling, name={"avg": "avg_pool", "max": "max_pool"}.get(pooling))
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if dropout_rate > 0:
        x = layers.Dropout(dropout_rate, name="top_dropout")(x)
    return layers.Dense(classes, activation=classifier_activation, kernel_initializer=_DENSE_INIT,
                        name="predictions")(x)


def _efficientnet(variant, include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation,
                  drop_connect_rate=0.2, depth_divisor=8, activation="swish", blocks_args="default"):
    from ..models import Model
    width, depth, default_size, dropout_rate, top_hash, no_top_hash = _VARIANTS[variant]
    inputs, x = U.begin(include_top, weights, input_tensor, input_shape, classes, classifier_activation,
                        default_size=default_size)
    if isinstance(blocks_args, str) and blocks_args == "default":
        blocks_args = DEFAULT_BLOCKS_ARGS
    x = _stem(x, weights, _round_filters(32, width, depth_divisor), activation)
    x = _blocks(x, blocks_args, width, depth, depth_divisor, drop_connect_rate, activation)
    x = _conv(x, _round_filters(1280, width, depth_divisor), "top_conv")
    x = _bn_activation(x, activation, "top_bn", "top_activation")
    x = _head(x, include_top, pooling, classes, classifier_activation, dropout_rate)
    model = Model(inputs, x, name=f"efficientnet{variant}")
    file_name = f"efficientnet{variant}{'.h5' if include_top else '_notop.h5'}"
    return U.load_weights(model, weights, file_name, _BASE + file_name, top_hash if include_top else no_top_hash)


def EfficientNetB0(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                   classes=1000, classifier_activation="softmax", **kwargs):
    """EfficientNetB0 (Tan and Le, ICML 2019) as Keras builds it: its preprocessing layers (pixels in [0, 255]
    rescaled to [0, 1], then standardized per channel), a strided 3x3 stem, 16 inverted residual blocks with
    squeeze-and-excitation in seven stages, a 1x1 convolution to 1280 filters, then (``include_top``) global
    average pooling, dropout (0.2) and the ``classes``-way classifier; without the top, ``pooling`` None, "avg" or
    "max". ``weights``: "imagenet" (Keras's file; 224x224 with the top), None, or a file's path. Inputs are
    224x224 by default, at least 32x32. Keras's other keyword arguments, ``drop_connect_rate`` (0.2),
    ``depth_divisor`` (8), ``activation`` ("swish") and ``blocks_args`` (`DEFAULT_BLOCKS_ARGS`'s form), change
    the architecture as in Keras; others are refused."""
    return _efficientnet("b0", include_top, weights, input_tensor, input_shape, pooling, classes,
                         classifier_activation, **kwargs)


def EfficientNetB1(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                   classes=1000, classifier_activation="softmax", **kwargs):
    """EfficientNetB1: `EfficientNetB0` 1.1 times as deep, for 240x240 inputs by default."""
    return _efficientnet("b1", include_top, weights, input_tensor, input_shape, pooling, classes,
                         classifier_activation, **kwargs)


def EfficientNetB2(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                   classes=1000, classifier_activation="softmax", **kwargs):
    """EfficientNetB2: `EfficientNetB0` 1.1 times as wide and 1.2 times as deep, for 260x260 inputs by default;
    dropout 0.3 before the classifier."""
    return _efficientnet("b2", include_top, weights, input_tensor, input_shape, pooling, classes,
                         classifier_activation, **kwargs)


def EfficientNetB3(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                   classes=1000, classifier_activation="softmax", **kwargs):
    """EfficientNetB3: `EfficientNetB0` 1.2 times as wide and 1.4 times as deep, for 300x300 inputs by default;
    dropout 0.3 before the classifier."""
    return _efficientnet("b3", include_top, weights, input_tensor, input_shape, pooling, classes,
                         classifier_activation, **kwargs)


def EfficientNetB4(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                   classes=1000, classifier_activation="softmax", **kwargs):
    """EfficientNetB4: `EfficientNetB0` 1.4 times as wide and 1.8 times as deep, for 380x380 inputs by default;
    dropout 0.4 before the classifier."""
    return _efficientnet("b4", include_top, weights, input_tensor, input_shape, pooling, classes,
                         classifier_activation, **kwargs)


def EfficientNetB5(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                   classes=1000, classifier_activation="softmax", **kwargs):
    """EfficientNetB5: `EfficientNetB0` 1.6 times as wide and 2.2 times as deep, for 456x456 inputs by default;
    dropout 0.4 before the classifier."""
    return _efficientnet("b5", include_top, weights, input_tensor, input_shape, pooling, classes,
                         classifier_activation, **kwargs)


def EfficientNetB6(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                   classes=1000, classifier_activation="softmax", **kwargs):
    """EfficientNetB6: `EfficientNetB0` 1.8 times as wide and 2.6 times as deep, for 528x528 inputs by default;
    dropout 0.5 before the classifier."""
    return _efficientnet("b6", include_top, weights, input_tensor, input_shape, pooling, classes,
                         classifier_activation, **kwargs)


def EfficientNetB7(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                   classes=1000, classifier_activation="softmax", **kwargs):
    """EfficientNetB7: `EfficientNetB0` twice as wide and 3.1 times as deep, for 600x600 inputs by default;
    dropout 0.5 before the classifier."""
    return _efficientnet("b7", include_top, weights, input_tensor, input_shape, pooling, classes,
                         classifier_activation, **kwargs)


def preprocess_input(x, data_format=None):
    """``x`` itself: EfficientNet's preprocessing is its first layers (they take pixels in [0, 255]); kept, as
    Keras keeps it, so code written for the other applications runs unchanged."""
    return x


decode_predictions = U.decode_predictions
