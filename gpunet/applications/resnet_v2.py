"""Keras's ResNet50V2, ResNet101V2 and ResNet152V2 (``keras.applications.resnet_v2``; He et al., "Identity Mappings
in Deep Residual Networks", ECCV 2016): pre-activation ResNets, with the same layers under the same names, in the
same order, as Keras builds them, so Keras's ImageNet weights and weight files of yours load as they do in Keras."""
from .. import layers
from . import imagenet_utils as U
from .resnet import _DEPTHS, _batch_norm, build_resnet


def _block2(x, filters, stride=1, conv_shortcut=False, name=None):
    """v2's pre-activation bottleneck block: batch normalization and ReLU first, then 1x1, 3x3 (strided) and 1x1
    (``4 * filters``) convolutions added to the shortcut (a 1x1 projection of the pre-activation, or ``x``
    itself, subsampled where the block strides); no activation after the addition."""
    preact = _batch_norm(x, f"{name}_preact_bn")
    preact = layers.Activation("relu", name=f"{name}_preact_relu")(preact)
    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(preact)
    elif stride > 1:
        # Keras leaves this pooling unnamed (max_pooling2d, max_pooling2d_1, ...): so does this, name for name
        shortcut = layers.MaxPooling2D(1, strides=stride)(x)
    else:
        shortcut = x
    x = layers.Conv2D(filters, 1, strides=1, use_bias=False, name=f"{name}_1_conv")(preact)
    x = _batch_norm(x, f"{name}_1_bn")
    x = layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name=f"{name}_2_pad")(x)
    x = layers.Conv2D(filters, 3, strides=stride, use_bias=False, name=f"{name}_2_conv")(x)
    x = _batch_norm(x, f"{name}_2_bn")
    x = layers.Activation("relu", name=f"{name}_2_relu")(x)
    x = layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    return layers.Add(name=f"{name}_out")([shortcut, x])


def _stack2(x, filters, blocks, stride1=2, name=None):
    """v2's stage: a projecting block, identity blocks, and (unlike v1) the stride ``stride1`` in its last block."""
    x = _block2(x, filters, conv_shortcut=True, name=f"{name}_block1")
    for i in range(2, blocks):
        x = _block2(x, filters, name=f"{name}_block{i}")
    return _block2(x, filters, stride=stride1, name=f"{name}_block{blocks}")


def _resnet_v2(depth, include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation):
    def stack_fn(x):
        # each stage but the last halves the resolution at its end, so the next stage starts smaller
        for stage, (filters, blocks) in enumerate(zip((64, 128, 256, 512), _DEPTHS[depth]), start=2):
            x = _stack2(x, filters, blocks, stride1=1 if stage == 5 else 2, name=f"conv{stage}")
        return x

    return build_resnet(stack_fn, True, f"resnet{depth}v2", include_top, weights, input_tensor, input_shape, pooling,
                        classes, classifier_activation)


def ResNet50V2(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,
               classifier_activation="softmax"):
    """ResNet50V2 as Keras builds it: the stem, four stages of 3, 4, 6 and 3 pre-activation bottleneck blocks,
    a final batch normalization and ReLU, then (``include_top``) global average pooling and the ``classes``-way
    classifier; without the top, ``pooling`` None, "avg" or "max". ``weights``: "imagenet" (Keras's file,
    224x224 with the top), None, or a file's path. Inputs are `preprocess_input`'s ("tf": scaled to [-1, 1])."""
    return _resnet_v2(50, include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation)


def ResNet101V2(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,
                classifier_activation="softmax"):
    """ResNet101V2: `ResNet50V2` with 23 blocks in its third stage."""
    return _resnet_v2(101, include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation)


def ResNet152V2(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,
                classifier_activation="softmax"):
    """ResNet152V2: `ResNet50V2` with 8 blocks in its second stage and 36 in its third."""
    return _resnet_v2(152, include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation)


def preprocess_input(x, data_format=None):
    """`imagenet_utils.preprocess_input` in the "tf" mode, ResNet v2's."""
    return U.preprocess_input(x, data_format=data_format, mode="tf")


decode_predictions = U.decode_predictions
