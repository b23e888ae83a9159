"""Keras's DenseNet121, DenseNet169 and DenseNet201 (``keras.applications.densenet``; Huang et al., CVPR 2017):
the same layers under the same names, in the same order, as Keras builds them, so Keras's ImageNet weights
(``weights="imagenet"``, its own files) and weight files of yours load as they do in Keras."""
from .. import layers
from . import imagenet_utils as U

_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/densenet/"
_GROWTH_RATE = 32
_EPSILON = 1.001e-5
# name: (building blocks in each of the four dense blocks, top file's hash, no-top file's hash) as Keras publishes them
_VARIANTS = {
    "densenet121": ((6, 12, 24, 16), "9d60b8095a5708f2dcce2bca79d332c7", "30ee3e1110167f948a6b9946edeeb738"),
    "densenet169": ((6, 12, 32, 32), "d699b8f76981ab1b30698df4c175e90b", "b8c4d4c20dd625c148057b9ff1c1176b"),
    "densenet201": ((6, 12, 48, 32), "1ceb130c1ea1b78c3bf6114dbdfd8807", "c13680b51ded0fb44dff2d8f86ac8bb1"),
}



def _bn_relu(x, name):
    """Batch normalization (DenseNet's epsilon) and ReLU, named ``<name>_bn`` and ``<name>_relu``."""
    x = layers.BatchNormalization(axis=U.channel_axis(), epsilon=_EPSILON, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def _conv_block(x, name):
    """One building block: a 1x1 bottleneck of 4 * growth rate, a 3x3 convolution of growth rate, and its output
    concatenated to its input."""
    y = _bn_relu(x, f"{name}_0")
    y = layers.Conv2D(4 * _GROWTH_RATE, 1, use_bias=False, name=f"{name}_1_conv")(y)
    y = _bn_relu(y, f"{name}_1")
    y = layers.Conv2D(_GROWTH_RATE, 3, padding="same", use_bias=False, name=f"{name}_2_conv")(y)
    return layers.Concatenate(axis=U.channel_axis(), name=f"{name}_concat")([x, y])


def _dense_block(x, blocks, name):
    for i in range(1, blocks + 1):
        x = _conv_block(x, f"{name}_block{i}")
    return x


def _transition_block(x, name, reduction=0.5):
    """Between dense blocks: a 1x1 convolution to ``reduction`` of the channels, then 2x2 average pooling."""
    x = _bn_relu(x, name)
    x = layers.Conv2D(int(x.shape[U.channel_axis()] * reduction), 1, use_bias=False, name=f"{name}_conv")(x)
    return layers.AveragePooling2D(2, strides=2, name=f"{name}_pool")(x)


def _stem(x):
    """A 7x7 convolution with stride 2 and a 3x3 max pooling with stride 2 (their paddings are layers of their
    own, unnamed in Keras)."""
    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)))(x)
    x = layers.Conv2D(64, 7, strides=2, use_bias=False, name="conv1/conv")(x)
    x = layers.BatchNormalization(axis=U.channel_axis(), epsilon=_EPSILON, name="conv1/bn")(x)
    x = layers.Activation("relu", name="conv1/relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)))(x)
    return layers.MaxPooling2D(3, strides=2, name="pool1")(x)


def _densenet(name, include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation):
    from ..models import Model
    inputs, x = U.begin(include_top, weights, input_tensor, input_shape, classes, classifier_activation)
    blocks, top_hash, no_top_hash = _VARIANTS[name]
    x = _stem(x)
    for stage, count in enumerate(blocks, start=2):
        x = _dense_block(x, count, f"conv{stage}")
        if stage < 5:
            x = _transition_block(x, f"pool{stage}")
    x = layers.BatchNormalization(axis=U.channel_axis(), epsilon=_EPSILON, name="bn")(x)
    x = layers.Activation("relu", name="relu")(x)
    x = U.averaged_head(x, include_top, pooling, classes, classifier_activation, pool_names=True)
    model = Model(inputs, x, name=name)
    file_name = f"{name}_weights_tf_dim_ordering_tf_kernels{'' if include_top else '_notop'}.h5"
    return U.load_weights(model, weights, file_name, _BASE + file_name, top_hash if include_top else no_top_hash)


def DenseNet121(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,
                classifier_activation="softmax"):
    """DenseNet121 as Keras builds it: a 7x7 stem, four dense blocks of 6, 12, 24 and 16 building blocks (growth
    rate 32) with transitions halving the channels between them, then (``include_top``) global average pooling and
    the classifier; without the top, ``pooling`` None, "avg" or "max". Inputs are 224x224 by default, at least
    32x32, as `preprocess_input` gives them ("torch": scaled to [0, 1], standardized per channel)."""
    return _densenet("densenet121", include_top, weights, input_tensor, input_shape, pooling, classes,
                     classifier_activation)


def DenseNet169(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,
                classifier_activation="softmax"):
    """DenseNet169: `DenseNet121` with dense blocks of 6, 12, 32 and 32 building blocks."""
    return _densenet("densenet169", include_top, weights, input_tensor, input_shape, pooling, classes,
                     classifier_activation)


def DenseNet201(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,
                classifier_activation="softmax"):
    """DenseNet201: `DenseNet121` with dense blocks of 6, 12, 48 and 32 building blocks."""
    return _densenet("densenet201", include_top, weights, input_tensor, input_shape, pooling, classes,
                     classifier_activation)


def preprocess_input(x, data_format=None):
    """`imagenet_utils.preprocess_input` in the "torch" mode, DenseNet's."""
    return U.preprocess_input(x, data_format=data_format, mode="torch")


decode_predictions = U.decode_predictions
