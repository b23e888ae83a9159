"""Keras's ResNet50, ResNet101 and ResNet152 (``keras.applications.resnet``, ResNet v1; He et al., CVPR 2015): the
same layers under the same names, in the same order, as Keras builds them, so Keras's ImageNet weights
(``weights="imagenet"``, its own files) and weight files of yours load as they do in Keras. What ResNet v2
(`gpunet.applications.resnet_v2`) shares with v1, the stem and the head, is built here."""
from .. import layers
from . import imagenet_utils as U

_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
# name: (hash of the file with the classifier, hash of the file without), as Keras publishes them
_HASHES = {
    "resnet50": ("2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626"),
    "resnet101": ("f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21"),
    "resnet152": ("100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c"),
    "resnet50v2": ("3ef43a0b657b3be2300d5770ece849e0", "fac2f116257151a9d068a22e544a4917"),
    "resnet101v2": ("6343647c601c52e1368623803854d971", "c0ed64b8031c3730f411d2eb4eea35b5"),
    "resnet152v2": ("a49b44d1979771252814e80f8ec446f9", "ed17cf2e0169df9d443503ef94b23b33"),
}
_EPSILON = 1.001e-5
# residual blocks per stage (conv2 to conv5), v1's and v2's alike
_DEPTHS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}



def _batch_norm(x, name):
    return layers.BatchNormalization(axis=U.channel_axis(), epsilon=_EPSILON, name=name)(x)


def _refuse_unknown(kwargs):
    # tf.keras's v1 constructors take **kwargs only to pass classifier_activation (an argument here) and a
    # layers module (keras_applications' legacy hook, which has no meaning here); anything else it refuses too
    if kwargs:
        raise ValueError(f"Unknown argument(s): {kwargs}")


def build_resnet(stack_fn, preact, model_name, include_top, weights, input_tensor, input_shape, pooling, classes,
                 classifier_activation):
    """A ResNet as Keras's ``ResNet`` builds it: the stem (7x7/2 convolution, then max pooling), ``stack_fn``'s
    residual stages, and the head; ``preact`` (v2) moves the stem's batch normalization after the stages
    (``post_bn``). Keras's pretrained file of ``model_name`` loads with ``weights="imagenet"``."""
    from ..models import Model
    inputs, x = U.begin(include_top, weights, input_tensor, input_shape, classes, classifier_activation)
    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(x)
    x = layers.Conv2D(64, 7, strides=2, name="conv1_conv")(x)
    if not preact:
        x = _batch_norm(x, "conv1_bn")
        x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    x = stack_fn(x)
    if preact:
        x = _batch_norm(x, "post_bn")
        x = layers.Activation("relu", name="post_relu")(x)
    x = U.averaged_head(x, include_top, pooling, classes, classifier_activation, pool_names=True)
    model = Model(inputs, x, name=model_name)
    suffix = "" if include_top else "_notop"
    file_name = f"{model_name}_weights_tf_dim_ordering_tf_kernels{suffix}.h5"
    file_hash = _HASHES[model_name][0 if include_top else 1]
    return U.load_weights(model, weights, file_name, _BASE + file_name, file_hash)


def _block1(x, filters, stride=1, conv_shortcut=True, name=None):
    """v1's bottleneck block: 1x1 (strided), 3x3 and 1x1 (``4 * filters``) convolutions, each batch-normalized,
    added to the shortcut (a strided 1x1 projection or ``x`` itself), then ReLU."""
    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(x)
        shortcut = _batch_norm(shortcut, f"{name}_0_bn")
    else:
        shortcut = x
    x = layers.Conv2D(filters, 1, strides=stride, name=f"{name}_1_conv")(x)
    x = _batch_norm(x, f"{name}_1_bn")
    x = layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = layers.Conv2D(filters, 3, padding="same", name=f"{name}_2_conv")(x)
    x = _batch_norm(x, f"{name}_2_bn")
    x = layers.Activation("relu", name=f"{name}_2_relu")(x)
    x = layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    x = _batch_norm(x, f"{name}_3_bn")
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


def _stack1(x, filters, blocks, stride1=2, name=None):
    """v1's stage: a projecting block (stride ``stride1``), then ``blocks - 1`` identity blocks."""
    x = _block1(x, filters, stride=stride1, name=f"{name}_block1")
    for i in range(2, blocks + 1):
        x = _block1(x, filters, conv_shortcut=False, name=f"{name}_block{i}")
    return x


def _resnet_v1(depth, include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation,
               kwargs):
    _refuse_unknown(kwargs)

    def stack_fn(x):
        # the first stage follows the stem's max pooling, so it keeps the resolution
        for stage, (filters, blocks) in enumerate(zip((64, 128, 256, 512), _DEPTHS[depth]), start=2):
            x = _stack1(x, filters, blocks, stride1=1 if stage == 2 else 2, name=f"conv{stage}")
        return x

    return build_resnet(stack_fn, False, f"resnet{depth}", include_top, weights, input_tensor, input_shape, pooling,
                        classes, classifier_activation)


def ResNet50(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,
             classifier_activation="softmax", **kwargs):
    """ResNet50 (He et al., "Deep Residual Learning for Image Recognition", CVPR 2015) as Keras builds it: the
    stem, four stages of 3, 4, 6 and 3 bottleneck blocks, then (``include_top``) global average pooling and the
    ``classes``-way classifier; without the top, ``pooling`` None, "avg" or "max". ``weights``: "imagenet"
    (Keras's file, 224x224 with the top), None, or a file's path. Inputs are `preprocess_input`'s ("caffe": BGR,
    ImageNet's means subtracted). Other keyword arguments are refused, as Keras refuses them."""
    return _resnet_v1(50, include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation,
                      kwargs)


def ResNet101(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,
              classifier_activation="softmax", **kwargs):
    """ResNet101: `ResNet50` with 23 blocks in its third stage."""
    return _resnet_v1(101, include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation,
                      kwargs)


def ResNet152(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,
              classifier_activation="softmax", **kwargs):
    """ResNet152: `ResNet50` with 8 blocks in its second stage and 36 in its third."""
    return _resnet_v1(152, include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation,
                      kwargs)


def preprocess_input(x, data_format=None):
    """`imagenet_utils.preprocess_input` in the "caffe" mode, ResNet v1's."""
    return U.preprocess_input(x, data_format=data_format, mode="caffe")


decode_predictions = U.decode_predictions
