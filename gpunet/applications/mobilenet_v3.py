"""Keras's MobileNetV3Small and MobileNetV3Large (``keras.applications.mobilenet_v3``; Howard et al., ICCV 2019):
the same layers under the same names and in the same order as tf.keras 2.21 builds them, for any width
(``alpha``) and the "minimalistic" variants, so Keras's ImageNet weights (``weights="imagenet"``, its own files)
and weight files of yours load as they do in Keras. The hard sigmoid's ``x + 3`` and ``* (1 / 6)`` are op layers
named as tf.keras names its ``TFOpLambda`` layers (``tf.__operators__.add``, ``tf.math.multiply``), which configs
hold as tf.keras writes them; build from fresh names for their counters to match tf.keras's."""
import os
import warnings

from .. import backend as B
from .. import layers
from ..autodiff import elementwise as E
from ..layers import symbolic_ops
from . import imagenet_utils as U
from .mobilenet_v2 import _make_divisible, correct_pad

_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v3/"
# model name: (hash of the file with the top, hash of the file without)
_HASHES = {
    "large_224_0.75_float": ("765b44a33ad4005b3ac83185abf1d0eb", "40af19a13ebea4e2ee0c676887f69a2e"),
    "large_224_1.0_float": ("59e551e166be033d707958cf9e29a6a7", "07fb09a5933dd0c8eaafa16978110389"),
    "large_minimalistic_224_1.0_float": ("675e7b876c45c57e9e63e6d90a36599c", "ec5221f64a2f6d1ef965a614bdae7973"),
    "small_224_0.75_float": ("cb65d4e5be93758266aa0a7f2c6708b7", "ebdb5cc8e0b497cd13a7c275d475c819"),
    "small_224_1.0_float": ("8768d4c2e7dee89b9d02b2d03d65d862", "d3e8ec802a04aa4fc771ee12a9a9b836"),
    "small_minimalistic_224_1.0_float": ("99cd97fb2fcdad2bf028eb838de69e37", "cde8136e733e811080d9fcd8a252f7e4"),
}
# (expansion, filters, kernel, stride, squeeze-and-excite, hard) of each inverted residual block: kernel 0 is the
# model's (5, 3 when minimalistic); "hard" blocks take the model's activation (hard swish, ReLU when minimalistic),
# the others ReLU; a minimalistic model has no squeeze-and-excite
_SMALL = ((1, 16, 3, 2, True, False), (72 / 16, 24, 3, 2, False, False), (88 / 24, 24, 3, 1, False, False),
          (4, 40, 0, 2, True, True), (6, 40, 0, 1, True, True), (6, 40, 0, 1, True, True), (3, 48, 0, 1, True, True),
          (3, 48, 0, 1, True, True), (6, 96, 0, 2, True, True), (6, 96, 0, 1, True, True), (6, 96, 0, 1, True, True))
_LARGE = ((1, 16, 3, 1, False, False), (4, 24, 3, 2, False, False), (3, 24, 3, 1, False, False),
          (3, 40, 0, 2, True, False), (3, 40, 0, 1, True, False), (3, 40, 0, 1, True, False),
          (6, 80, 3, 2, False, True), (2.5, 80, 3, 1, False, True), (2.3, 80, 3, 1, False, True),
          (2.3, 80, 3, 1, False, True), (6, 112, 3, 1, True, True), (6, 112, 3, 1, True, True),
          (6, 160, 0, 2, True, True), (6, 160, 0, 1, True, True), (6, 160, 0, 1, True, True))


def MobileNetV3Small(input_shape=None, alpha=1.0, minimalistic=False, include_top=True, weights="imagenet",
                     input_tensor=None, classes=1000, pooling=None, dropout_rate=0.2, classifier_activation="softmax",
                     include_preprocessing=True):
    """MobileNetV3Small as Keras builds it: a strided 3x3 convolution, 11 inverted residual blocks (a 1x1
    expansion, a depthwise convolution, squeeze-and-excite, a linear 1x1 projection, the input added where the
    shapes allow), a 1x1 convolution to 6 times the last block's channels, then (``include_top``) global average
    pooling, a 1x1 convolution to 1024 (widened when ``alpha`` > 1), ``dropout_rate``, the "Logits" 1x1
    convolution to ``classes`` and the classifier's activation; without the top, ``pooling`` None, "avg" or
    "max". ``alpha`` scales the blocks' filters (rounded to multiples of 8); ``minimalistic`` drops
    squeeze-and-excite, hard swish and 5x5 kernels. ImageNet's weights exist for ``alpha`` 0.75 and 1.0 (1.0 only
    when minimalistic), trained on 224x224. With ``include_preprocessing`` the model takes pixels in [0, 255] (its
    first layer scales them to [-1, 1]; `preprocess_input` does nothing), without it pixels in [-1, 1]."""
    return _mobilenet_v3(_SMALL, 1024, "small", input_shape, alpha, minimalistic, include_top, weights,
                         input_tensor, classes, pooling, dropout_rate, classifier_activation, include_preprocessing)


def MobileNetV3Large(input_shape=None, alpha=1.0, minimalistic=False, include_top=True, weights="imagenet",
                     input_tensor=None, classes=1000, pooling=None, dropout_rate=0.2, classifier_activation="softmax",
                     include_preprocessing=True):
    """MobileNetV3Large: `MobileNetV3Small` with 15 inverted residual blocks and 1280 filters before the
    classifier."""
    return _mobilenet_v3(_LARGE, 1280, "large", input_shape, alpha, minimalistic, include_top, weights,
                         input_tensor, classes, pooling, dropout_rate, classifier_activation, include_preprocessing)


def _mobilenet_v3(blocks, last_point_ch, model_type, input_shape, alpha, minimalistic, include_top, weights,
                  input_tensor, classes, pooling, dropout_rate, classifier_activation, include_preprocessing):
    from ..models import Model
    _check_weights(weights, include_top, classes)
    input_shape = _input_shape(input_shape, input_tensor)
    if weights == "imagenet":
        _check_imagenet(input_shape, alpha, minimalistic)
    if include_top:
        U.validate_activation(classifier_activation, weights)
    inputs, x = U.image_input(input_shape, input_tensor)
    kernel, activation, se_ratio = (3, _relu, None) if minimalistic else (5, _hard_swish, 0.25)
    if include_preprocessing:
        x = layers.Rescaling(scale=1.0 / 127.5, offset=-1.0)(x)
    x = activation(_conv_bn(x, 16, 3, "Conv", strides=(2, 2)))
    for block_id, (expansion, filters, size, stride, se, hard) in enumerate(blocks):
        x = _inverted_res_block(x, expansion, _depth(filters * alpha), size or kernel, stride, se and se_ratio,
                                activation if hard else _relu, block_id)
    x = activation(_conv_bn(x, _depth(B.int_shape(x)[U.channel_axis(-1)] * 6), 1, "Conv_1"))
    if include_top:
        x = _top(x, _depth(last_point_ch * alpha) if alpha > 1.0 else last_point_ch, activation, dropout_rate,
                 classes, classifier_activation)
    else:
        x = U.pooled(x, pooling, name={"avg": "avg_pool", "max": "max_pool"}.get(pooling))
    model = Model(inputs, x, name="MobilenetV3" + model_type)
    if weights != "imagenet":
        return U.load_weights(model, weights)
    # (tf.keras writes str(alpha): an int alpha of 1 would name no published file)
    model_name = f"{model_type}{'_minimalistic' if minimalistic else ''}_224_{float(alpha)}_float"
    file_name = f"weights_mobilenet_v3_{model_name}{'.h5' if include_top else '_no_top_v2.h5'}"
    return U.load_weights(model, weights, file_name, _BASE + file_name, _HASHES[model_name][0 if include_top else 1])


def _depth(value):
    """``value`` rounded to a multiple of 8 (MobileNetV2's rounding of filters)."""
    return _make_divisible(value, 8)



def _check_weights(weights, include_top, classes):
    """tf.keras's checks of ``weights`` and ``classes``, in MobileNetV3's words."""
    if not (weights in ("imagenet", None) or (isinstance(weights, (str, os.PathLike)) and os.path.exists(weights))):
        raise ValueError("The `weights` argument should be either `None` (random initialization), `imagenet` "
                         "(pre-training on ImageNet), or the path to the weights file to be loaded.  Received "
                         f"weights={weights}")
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError('If using `weights` as `"imagenet"` with `include_top` as true, `classes` should be 1000.  '
                         f"Received classes={classes}")


def _input_shape(input_shape, input_tensor):
    """MobileNetV3's input shape as tf.keras computes it: ``input_shape`` (whose width must be ``input_tensor``'s
    when both are given), else ``input_tensor``'s (rows and columns swapped, as tf.keras swaps them), else any
    size; its sides at least 32."""
    first = B.image_data_format() == "channels_first"
    if input_tensor is not None and B.is_keras_tensor(input_tensor):
        shape = B.int_shape(input_tensor)
        if input_shape is not None and shape[1 if first else 2] != input_shape[1]:
            # (channels_first compares the tensor's channels with the input's rows: tf.keras's test, kept)
            where = "When backend.image_data_format()=channels_first, " if first else ""
            raise ValueError(f"{where}input_shape[1] must equal backend.int_shape(input_tensor)[{1 if first else 2}]."
                             f"  Received input_shape={input_shape}, backend.int_shape(input_tensor)={shape}")
        if input_shape is None:
            rows, cols = shape[2:4] if first else shape[1:3]
            input_shape = (3, cols, rows) if first else (cols, rows, 3)
    if input_shape is None:
        input_shape = (3, None, None) if first else (None, None, 3)
    rows, cols = input_shape[1:3] if first else input_shape[0:2]
    if rows and cols and (rows < 32 or cols < 32):
        raise ValueError(f"Input size must be at least 32x32; Received `input_shape={input_shape}`")
    return input_shape


def _check_imagenet(input_shape, alpha, minimalistic):
    if (not minimalistic and alpha not in (0.75, 1.0)) or (minimalistic and alpha != 1.0):
        raise ValueError("If imagenet weights are being loaded, alpha can be one of `0.75`, `1.0` for non "
                         "minimalistic or `1.0` for minimalistic only.")
    rows, cols = input_shape[1:3] if B.image_data_format() == "channels_first" else input_shape[0:2]
    if rows != cols or rows != 224:
        warnings.warn("`input_shape` is undefined or non-square, or `rows` is not 224. Weights for input shape "
                      "(224, 224) will be loaded as the default.", stacklevel=4)


def _batch_norm(x, name):
    return layers.BatchNormalization(axis=U.channel_axis(-1), epsilon=1e-3, momentum=0.999, name=name)(x)


def _conv_bn(x, filters, kernel_size, name, strides=(1, 1)):
    """A convolution without bias ("same" padding) and its batch normalization ``<name>/BatchNorm``."""
    x = layers.Conv2D(filters, kernel_size=kernel_size, strides=strides, padding="same", use_bias=False, name=name)(x)
    return _batch_norm(x, name + "/BatchNorm")


def _op(function, x, constant, tf_name):
    """``function(x, constant)`` as a layer named as tf.keras 2 names the op (its ``TFOpLambda``): ``x + 3.0``
    is ``tf.__operators__.add``, then ``tf.__operators__.add_1``, ..."""
    return symbolic_ops.apply(function, [x, constant], {}, name=tf_name)


def _relu(x):
    return layers.ReLU()(x)


def _hard_sigmoid(x):
    """ReLU6(x + 3) / 6, as tf.keras builds it: an add, a ReLU(6) and a multiply by 1/6."""
    x = layers.ReLU(6.0)(_op(E.add, x, 3.0, "tf.__operators__.add"))
    return _op(E.multiply, x, 1.0 / 6.0, "tf.math.multiply")


def _hard_swish(x):
    return layers.Multiply()([x, _hard_sigmoid(x)])


def _se_block(inputs, filters, se_ratio, prefix):
    """Squeeze-and-excite: the channels' means through a 1x1 bottleneck (ReLU) and a 1x1 convolution back to
    ``filters`` (hard sigmoid) scale the input's channels."""
    prefix += "squeeze_excite/"
    x = layers.GlobalAveragePooling2D(keepdims=True, name=prefix + "AvgPool")(inputs)
    x = layers.Conv2D(_depth(filters * se_ratio), kernel_size=1, padding="same", name=prefix + "Conv")(x)
    x = layers.ReLU(name=prefix + "Relu")(x)
    x = layers.Conv2D(filters, kernel_size=1, padding="same", name=prefix + "Conv_1")(x)
    return layers.Multiply(name=prefix + "Mul")([inputs, _hard_sigmoid(x)])


def _inverted_res_block(inputs, expansion, filters, kernel_size, stride, se_ratio, activation, block_id):
    """An inverted residual block: a 1x1 expansion (not in block 0, named "expanded_conv/"), a depthwise
    convolution of ``kernel_size`` and ``stride`` (padded as TensorFlow pads when strided), squeeze-and-excite
    (where ``se_ratio``), a linear 1x1 projection to ``filters``, and the input added where the block keeps its
    shape."""
    in_filters = B.int_shape(inputs)[U.channel_axis(-1)]
    prefix = f"expanded_conv_{block_id}/" if block_id else "expanded_conv/"
    x = inputs
    if block_id:
        x = activation(_conv_bn(x, _depth(in_filters * expansion), 1, prefix + "expand"))
    if stride == 2:
        x = layers.ZeroPadding2D(padding=correct_pad(x, kernel_size), name=prefix + "depthwise/pad")(x)
    x = layers.DepthwiseConv2D(kernel_size, strides=stride, padding="same" if stride == 1 else "valid",
                               use_bias=False, name=prefix + "depthwise")(x)
    x = activation(_batch_norm(x, prefix + "depthwise/BatchNorm"))
    if se_ratio:
        x = _se_block(x, _depth(in_filters * expansion), se_ratio, prefix)
    x = _conv_bn(x, filters, 1, prefix + "project")
    if stride == 1 and in_filters == filters:
        return layers.Add(name=prefix + "Add")([inputs, x])
    return x


def _top(x, last_point_ch, activation, dropout_rate, classes, classifier_activation):
    """The classifier: global average pooling (kept 1x1), the "Conv_2" 1x1 convolution, dropout, the "Logits"
    1x1 convolution, flattened, and the "Predictions" activation."""
    x = layers.GlobalAveragePooling2D(keepdims=True)(x)
    x = activation(layers.Conv2D(last_point_ch, kernel_size=1, padding="same", use_bias=True, name="Conv_2")(x))
    if dropout_rate > 0:
        x = layers.Dropout(dropout_rate)(x)
    x = layers.Conv2D(classes, kernel_size=1, padding="same", name="Logits")(x)
    x = layers.Flatten()(x)
    return layers.Activation(activation=classifier_activation, name="Predictions")(x)


def preprocess_input(x, data_format=None):
    """``x`` unchanged: MobileNetV3 scales its inputs itself (its first layer, with ``include_preprocessing``);
    kept as Keras keeps it, so every application has one."""
    return x


decode_predictions = U.decode_predictions
