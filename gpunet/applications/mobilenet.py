"""Keras's MobileNet (v1, ``keras.applications.mobilenet``): the same layers under the same names and in the same
order as tf.keras builds them, for any width (``alpha``) and depth multiplier, so Keras's ImageNet weights
(``weights="imagenet"``, its own files for each alpha and input size) and weight files of yours load as they do in
Keras."""
import warnings

from .. import backend as B
from .. import layers
from . import imagenet_utils as U

_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/"
_SIZES = (128, 160, 192, 224)  # the input sizes Keras publishes weights for
_ALPHAS = {1.0: "1_0", 0.75: "7_5", 0.5: "5_0", 0.25: "2_5"}  # alpha: its text in the weight files' names
# (pointwise filters, stride) of depthwise separable blocks 1 to 13
_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)) + ((512, 1),) * 5 + ((1024, 2), (1024, 1))


def MobileNet(input_shape=None, alpha=1.0, depth_multiplier=1, dropout=1e-3, include_top=True, weights="imagenet",
              input_tensor=None, pooling=None, classes=1000, classifier_activation="softmax", **kwargs):
    """MobileNet (Howard et al., 2017, arXiv:1704.04861) as Keras builds it: a 3x3 convolution, then 13 depthwise
    separable blocks (a 3x3 depthwise and a 1x1 pointwise convolution, each with batch normalization and ReLU6),
    then (``include_top``) global average pooling, ``dropout``, a 1x1 convolution to ``classes`` and the
    classifier's activation; without the top, ``pooling`` None, "avg" or "max". ``alpha`` scales every layer's
    filters, ``depth_multiplier`` the depthwise convolutions' outputs. ImageNet's weights exist for ``alpha`` 0.25,
    0.5, 0.75 and 1.0, depth multiplier 1 and square inputs of 128, 160, 192 or 224 (any other input loads 224's).
    Inputs are `preprocess_input`'s ("tf": scaled to [-1, 1])."""
    from ..models import Model
    if kwargs:
        raise ValueError(f"Unknown argument(s): {(kwargs,)}")
    U.check_weights(weights, include_top, classes, classifier_activation)
    input_shape = U.obtain_input_shape(input_shape, default_size=default_size(input_shape, _SIZES), min_size=32,
                                       data_format=B.image_data_format(), require_flatten=include_top,
                                       weights=weights)
    rows = input_side(input_shape)
    if weights == "imagenet":
        _check_imagenet(alpha, depth_multiplier)
        rows = imagenet_rows(input_shape, _SIZES)
    inputs, x = U.image_input(input_shape, input_tensor)
    x = _conv_block(x, int(32 * alpha))
    for block_id, (filters, stride) in enumerate(_BLOCKS, start=1):
        x = _depthwise_block(x, int(filters * alpha), depth_multiplier, stride, block_id)
    x = _top(x, dropout, classes, classifier_activation) if include_top else U.pooled(x, pooling)
    model = Model(inputs, x, name=f"mobilenet_{alpha:0.2f}_{rows}")
    if weights != "imagenet":
        return U.load_weights(model, weights)
    file_name = f"mobilenet_{_ALPHAS[alpha]}_{rows}_tf{'' if include_top else '_no_top'}.h5"
    return U.load_weights(model, weights, file_name, _BASE + file_name)  # (Keras publishes no hashes for these)


def default_size(input_shape, sizes):
    """The default input size Keras computes for the MobileNets: the side of a square ``input_shape`` whose side
    is one of ``sizes`` (those of the published weights), else 224."""
    if input_shape is None:
        return 224
    first = B.image_data_format() == "channels_first"
    rows, cols = input_shape[1:3] if first else input_shape[0:2]
    return rows if rows == cols and rows in sizes else 224


def input_side(input_shape):
    """The rows of ``input_shape`` (an image's shape, without the batch axis) in the image data format."""
    return input_shape[1] if B.image_data_format() == "channels_first" else input_shape[0]


def imagenet_rows(input_shape, sizes):
    """The input size of the ImageNet weights to load: the input's own where it is square and one of ``sizes``,
    else 224, with Keras's warning."""
    first = B.image_data_format() == "channels_first"
    rows, cols = input_shape[1:3] if first else input_shape[0:2]
    if rows == cols and rows in sizes:
        return rows
    warnings.warn(f"`input_shape` is undefined or non-square, or `rows` is not in {list(sizes)}. Weights for input "
                  "shape (224, 224) will be loaded as the default.", stacklevel=3)
    return 224


def _check_imagenet(alpha, depth_multiplier):
    if depth_multiplier != 1:
        raise ValueError("If imagenet weights are being loaded, depth multiplier must be 1.  Received "
                         f"depth_multiplier={depth_multiplier}")
    if alpha not in _ALPHAS:
        raise ValueError("If imagenet weights are being loaded, alpha can be one of`0.25`, `0.50`, `0.75` or `1.0` "
                         f"only.  Received alpha={alpha}")



def _conv_block(x, filters):
    """The first block: a strided 3x3 convolution, batch normalization and ReLU6."""
    x = layers.Conv2D(filters, (3, 3), padding="same", use_bias=False, strides=(2, 2), name="conv1")(x)
    x = layers.BatchNormalization(axis=U.channel_axis(-1), name="conv1_bn")(x)
    return layers.ReLU(6.0, name="conv1_relu")(x)


def _depthwise_block(x, filters, depth_multiplier, stride, block_id):
    """A depthwise separable block: a 3x3 depthwise convolution (strided ones pad the bottom and right, as
    TensorFlow's "same" padding does, so that the published weights see the pixels they were trained on), then a
    1x1 convolution to ``filters``, each with batch normalization and ReLU6."""
    if stride != 1:
        x = layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"conv_pad_{block_id}")(x)
    x = layers.DepthwiseConv2D((3, 3), padding="same" if stride == 1 else "valid", depth_multiplier=depth_multiplier,
                               strides=(stride, stride), use_bias=False, name=f"conv_dw_{block_id}")(x)
    x = layers.BatchNormalization(axis=U.channel_axis(-1), name=f"conv_dw_{block_id}_bn")(x)
    x = layers.ReLU(6.0, name=f"conv_dw_{block_id}_relu")(x)
    x = layers.Conv2D(filters, (1, 1), padding="same", use_bias=False, strides=(1, 1), name=f"conv_pw_{block_id}")(x)
    x = layers.BatchNormalization(axis=U.channel_axis(-1), name=f"conv_pw_{block_id}_bn")(x)
    return layers.ReLU(6.0, name=f"conv_pw_{block_id}_relu")(x)


def _top(x, dropout, classes, classifier_activation):
    """The classifier: global average pooling (kept 1x1), dropout, a 1x1 convolution to ``classes``, flattened."""
    x = layers.GlobalAveragePooling2D(keepdims=True)(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    x = layers.Conv2D(classes, (1, 1), padding="same", name="conv_preds")(x)
    x = layers.Reshape((classes,), name="reshape_2")(x)
    return layers.Activation(activation=classifier_activation, name="predictions")(x)


def preprocess_input(x, data_format=None):
    """`imagenet_utils.preprocess_input` in the "tf" mode, MobileNet's: pixels in [0, 255] scaled to [-1, 1]."""
    return U.preprocess_input(x, data_format=data_format, mode="tf")


decode_predictions = U.decode_predictions
