"""Keras's MobileNetV2 (``keras.applications.mobilenet_v2``): the same layers under the same names and in the same
order as tf.keras builds them, for any width (``alpha``), so Keras's ImageNet weights (``weights="imagenet"``, its
own files for each alpha and input size) and weight files of yours load as they do in Keras."""
from .. import backend as B
from .. import layers
from . import imagenet_utils as U
from .mobilenet import default_size, imagenet_rows, input_side

_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"
_SIZES = (96, 128, 160, 192, 224)  # the input sizes Keras publishes weights for
_ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)
# (filters, stride, expansion) of inverted residual blocks 0 to 16
_BLOCKS = ((16, 1, 1), (24, 2, 6), (24, 1, 6), (32, 2, 6), (32, 1, 6), (32, 1, 6), (64, 2, 6), (64, 1, 6),
           (64, 1, 6), (64, 1, 6), (96, 1, 6), (96, 1, 6), (96, 1, 6), (160, 2, 6), (160, 1, 6), (160, 1, 6),
           (320, 1, 6))


def MobileNetV2(input_shape=None, alpha=1.0, include_top=True, weights="imagenet", input_tensor=None, pooling=None,
                classes=1000, classifier_activation="softmax", **kwargs):
    """MobileNetV2 (Sandler et al., CVPR 2018, arXiv:1801.04381) as Keras builds it: a strided 3x3 convolution,
    17 inverted residual blocks (a 1x1 expansion, a 3x3 depthwise convolution and a linear 1x1 projection, added
    to the block's input where the shapes allow), a 1x1 convolution to 1280 filters, then (``include_top``) global
    average pooling and the Dense classifier; without the top, ``pooling`` None, "avg" or "max". ``alpha`` scales
    the filters (rounded to multiples of 8). ImageNet's weights exist for ``alpha`` 0.35, 0.5, 0.75, 1.0, 1.3 and
    1.4 and square inputs of 96, 128, 160, 192 or 224 (any other input loads 224's). Without ``input_shape`` the
    default size follows ``input_tensor``'s. Inputs are `preprocess_input`'s ("tf": scaled to [-1, 1])."""
    from ..models import Model
    if kwargs:
        raise ValueError(f"Unknown argument(s): {kwargs}")
    U.check_weights(weights, include_top, classes, classifier_activation)
    input_shape = U.obtain_input_shape(input_shape, default_size=_default_size(input_shape, input_tensor),
                                       min_size=32, data_format=B.image_data_format(), require_flatten=include_top,
                                       weights=weights)
    rows = input_side(input_shape)
    if weights == "imagenet":
        if alpha not in _ALPHAS:
            raise ValueError("If imagenet weights are being loaded, alpha must be one of `0.35`, `0.50`, `0.75`, "
                             f"`1.0`, `1.3` or `1.4` only; Received `alpha={alpha}`")
        rows = imagenet_rows(input_shape, _SIZES)
    inputs, x = U.image_input(input_shape, input_tensor)
    x = _stem(x, _make_divisible(32 * alpha, 8))
    for block_id, (filters, stride, expansion) in enumerate(_BLOCKS):
        x = _inverted_res_block(x, expansion, stride, _make_divisible(int(filters * alpha), 8), block_id)
    x = _head(x, _make_divisible(1280 * alpha, 8) if alpha > 1.0 else 1280)
    x = U.averaged_head(x, include_top, pooling, classes, classifier_activation, top_pool=None)
    model = Model(inputs, x, name=f"mobilenetv2_{alpha:0.2f}_{rows}")
    if weights != "imagenet":
        return U.load_weights(model, weights)
    file_name = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}"
    file_name += ".h5" if include_top else "_no_top.h5"
    return U.load_weights(model, weights, file_name, _BASE + file_name)  # (Keras publishes no hashes for these)


def _symbolic(tensor):
    try:
        return B.is_keras_tensor(tensor)
    except ValueError:
        return False


def _default_size(input_shape, input_tensor):
    """Keras's default size: ``input_shape``'s side (`mobilenet.default_size`), or, without ``input_shape``, the
    side of ``input_tensor``'s images; an ``input_tensor`` given with ``input_shape`` must agree in width."""
    if input_tensor is None or not _symbolic(input_tensor):  # (`image_input` refuses a tensor that is not symbolic)
        return default_size(input_shape, _SIZES)
    first = B.image_data_format() == "channels_first"
    shape = B.int_shape(input_tensor)
    if input_shape is not None:
        # (tf.keras compares the tensor's channels here under channels_first, refusing every input; its width it is)
        if shape[3 if first else 2] != input_shape[2 if first else 1]:
            raise ValueError(f"input_tensor.shape[{3 if first else 2}] must equal input_shape[{2 if first else 1}]; "
                             f"Received `input_tensor.shape={shape}`, `input_shape={input_shape}`")
        return default_size(input_shape, _SIZES)
    return default_size(shape[1:], _SIZES)


def correct_pad(inputs, kernel_size):
    """Keras's ``imagenet_utils.correct_pad``: the ``ZeroPadding2D`` padding ``((top, bottom), (left, right))``
    before a strided "valid" convolution of ``kernel_size`` that pads as TensorFlow's "same" does (one less
    before than after on an even side, and on unknown sides)."""
    first = B.image_data_format() == "channels_first"
    size = B.int_shape(inputs)[2:4] if first else B.int_shape(inputs)[1:3]
    kernel = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
    adjust = (1, 1) if size[0] is None else (1 - size[0] % 2, 1 - size[1] % 2)
    return ((kernel[0] // 2 - adjust[0], kernel[0] // 2), (kernel[1] // 2 - adjust[1], kernel[1] // 2))


def _make_divisible(value, divisor, min_value=None):
    """``value`` rounded to the nearest multiple of ``divisor`` (at least ``min_value``, by default ``divisor``),
    never more than 10% below ``value``: the filters of the reference implementation."""
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def _batch_norm(x, name):
    axis = 1 if B.image_data_format() == "channels_first" else -1
    return layers.BatchNormalization(axis=axis, epsilon=1e-3, momentum=0.999, name=name)(x)


def _stem(x, filters):
    x = layers.Conv2D(filters, kernel_size=3, strides=(2, 2), padding="same", use_bias=False, name="Conv1")(x)
    return layers.ReLU(6.0, name="Conv1_relu")(_batch_norm(x, "bn_Conv1"))


def _head(x, filters):
    x = layers.Conv2D(filters, kernel_size=1, use_bias=False, name="Conv_1")(x)
    return layers.ReLU(6.0, name="out_relu")(_batch_norm(x, "Conv_1_bn"))


def _inverted_res_block(inputs, expansion, stride, filters, block_id):
    """An inverted residual block: a 1x1 expansion to ``expansion`` times the input's channels (not in block 0,
    which is named "expanded_conv_"), a 3x3 depthwise convolution of ``stride``, a linear 1x1 projection to
    ``filters``, and the input added where the block keeps its shape."""
    in_channels = B.int_shape(inputs)[1 if B.image_data_format() == "channels_first" else -1]
    prefix = f"block_{block_id}_" if block_id else "expanded_conv_"
    x = inputs
    if block_id:
        x = layers.Conv2D(expansion * in_channels, kernel_size=1, padding="same", use_bias=False, activation=None,
                          name=prefix + "expand")(x)
        x = layers.ReLU(6.0, name=prefix + "expand_relu")(_batch_norm(x, prefix + "expand_BN"))
    if stride == 2:
        x = layers.ZeroPadding2D(padding=correct_pad(x, 3), name=prefix + "pad")(x)
    x = layers.DepthwiseConv2D(kernel_size=3, strides=stride, activation=None, use_bias=False,
                               padding="same" if stride == 1 else "valid", name=prefix + "depthwise")(x)
    x = layers.ReLU(6.0, name=prefix + "depthwise_relu")(_batch_norm(x, prefix + "depthwise_BN"))
    x = layers.Conv2D(filters, kernel_size=1, padding="same", use_bias=False, activation=None,
                      name=prefix + "project")(x)
    x = _batch_norm(x, prefix + "project_BN")
    if in_channels == filters and stride == 1:
        return layers.Add(name=prefix + "add")([inputs, x])
    return x


def preprocess_input(x, data_format=None):
    """`imagenet_utils.preprocess_input` in the "tf" mode, MobileNetV2's: pixels in [0, 255] scaled to [-1, 1]."""
    return U.preprocess_input(x, data_format=data_format, mode="tf")


decode_predictions = U.decode_predictions
