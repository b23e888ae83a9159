"""Keras's VGG16 and VGG19 (``keras.applications.vgg16`` / ``vgg19``): the same layers under the same names as
Keras builds them, so Keras's ImageNet weights (``weights="imagenet"``, its own files) and weight files of
yours load as they do in Keras."""
from .. import layers
from . import imagenet_utils as U

_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/"
# name: (convolutions per block, (top file, its hash), (no-top file, its hash)) as Keras publishes them
_VARIANTS = {
    "vgg16": ((2, 2, 3, 3, 3), ("vgg16_weights_tf_dim_ordering_tf_kernels.h5", "64373286793e3c8b2b4e3219cbf3544b"),
              ("vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", "6d6bbae143d832006294945121d1f1fc")),
    "vgg19": ((2, 2, 4, 4, 4), ("vgg19_weights_tf_dim_ordering_tf_kernels.h5", "cbe5617147190e668d6c5d5026f83318"),
              ("vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5", "253f8cb515780f3b799900260a226db6")),
}


def _vgg(name, include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation):
    from ..models import Model
    inputs, x = U.begin(include_top, weights, input_tensor, input_shape, classes, classifier_activation)
    depths, top, no_top = _VARIANTS[name]
    for block, (depth, filters) in enumerate(zip(depths, (64, 128, 256, 512, 512)), start=1):
        for k in range(1, depth + 1):
            x = layers.Conv2D(filters, (3, 3), activation="relu", padding="same", name=f"block{block}_conv{k}")(x)
        x = layers.MaxPooling2D((2, 2), strides=(2, 2), name=f"block{block}_pool")(x)
    if include_top:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(4096, activation="relu", name="fc1")(x)
        x = layers.Dense(4096, activation="relu", name="fc2")(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = U.pooled(x, pooling)
    model = Model(inputs, x, name=name)
    file_name, file_hash = top if include_top else no_top
    return U.load_weights(model, weights, file_name, f"{_BASE}{name}/{file_name}", file_hash)


def VGG16(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,
          classifier_activation="softmax"):
    """VGG16 (Simonyan and Zisserman, ICLR 2015) as Keras builds it: five blocks of 3x3 convolutions and max
    pooling, then (``include_top``) two Dense layers of 4096 and the classifier; without the top, ``pooling``
    None, "avg" or "max". Inputs are `preprocess_input`'s ("caffe": BGR, ImageNet's means subtracted)."""
    return _vgg("vgg16", include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation)


def VGG19(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,
          classifier_activation="softmax"):
    """VGG19: `VGG16` with four convolutions in each of the last three blocks."""
    return _vgg("vgg19", include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation)


def preprocess_input(x, data_format=None):
    """`imagenet_utils.preprocess_input` in the "caffe" mode, VGG's."""
    return U.preprocess_input(x, data_format=data_format, mode="caffe")


decode_predictions = U.decode_predictions
