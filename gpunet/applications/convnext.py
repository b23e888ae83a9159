"""Keras's ConvNeXtTiny, ConvNeXtSmall, ConvNeXtBase, ConvNeXtLarge and ConvNeXtXLarge
(``keras.applications.convnext``; Liu et al., "A ConvNet for the 2020s", CVPR 2022): the same layers under the same
names, in the same order, as tf.keras 2.21 builds them, so Keras's ImageNet weights (``weights="imagenet"``, its own
files) and weight files of yours load as they do in Keras. As in tf.keras, the stem and the three downsampling blocks
are nested `Sequential` models (one layer each in ``model.layers``), and each block's residual addition is an op
layer named as tf.keras names its ``TFOpLambda`` (``tf.__operators__.add``, then ``tf.__operators__.add_1``, ...;
build from fresh names for the counters to match). The models take pixels in [0, 255]: their preprocessing is their
first layer, and `preprocess_input` passes images through unchanged."""
from .. import backend as B
from .. import layers
from .. import ops
from ..autodiff import elementwise as E
from ..layers import symbolic_ops
from ..utils import register_keras_serializable
from . import imagenet_utils as U

_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/convnext/"
# model name: (SHA-256 of the file with the top, of the file without), as Keras publishes them
_HASHES = {
    "convnext_tiny": ("8ae6e78ce2933352b1ef4008e6dd2f17bc40771563877d156bc6426c7cf503ff",
                      "d547c096cabd03329d7be5562c5e14798aa39ed24b474157cef5e85ab9e49ef1"),
    "convnext_small": ("ce1277d8f1ee5a0ef0e171469089c18f5233860ceaf9b168049cb9263fd7483c",
                       "6fc8009faa2f00c1c1dfce59feea9b0745eb260a7dd11bee65c8e20843da6eab"),
    "convnext_base": ("52cbb006d3dadd03f6e095a8ca1aca47aecdd75acb4bc74bce1f5c695d0086e6",
                      "40a20c5548a5e9202f69735ecc06c990e6b7c9d2de39f0361e27baeb24cb7c45"),
    "convnext_large": ("070c5ed9ed289581e477741d3b34beffa920db8cf590899d6d2c67fba2a198a6",
                       "96f02b6f0753d4f543261bc9d09bed650f24dd6bc02ddde3066135b63d23a1cd"),
    "convnext_xlarge": ("c1f5ccab661354fc3a79a10fa99af82f0fbf10ec65cb894a3ae0815f17a889ee",
                        "de3f8a54174130e0cecdc71583354753d557fcf1f4487331558e2a16ba0cfe05"),
}
# variant: (blocks in each of the four stages, channels of each stage)
_VARIANTS = {
    "tiny": ((3, 3, 9, 3), (96, 192, 384, 768)),
    "small": ((3, 3, 27, 3), (96, 192, 384, 768)),
    "base": ((3, 3, 27, 3), (128, 256, 512, 1024)),
    "large": ((3, 3, 27, 3), (192, 384, 768, 1536)),
    "xlarge": ((3, 3, 27, 3), (256, 512, 1024, 2048)),
}
# ImageNet's per-channel mean and deviation, for pixels in [0, 255]
_MEAN = [0.485 * 255, 0.456 * 255, 0.406 * 255]
_VARIANCE = [(0.229 * 255) ** 2, (0.224 * 255) ** 2, (0.225 * 255) ** 2]


@register_keras_serializable()  # (tf.keras finds its unregistered class by its module; gpunet imports none)
class StochasticDepth(layers.Layer):
    """tf.keras's ConvNeXt stochastic depth: while training, each sample's residual branch is dropped whole with
    probability ``drop_path_rate`` (the kept ones scaled by ``1 / (1 - drop_path_rate)``); the identity at
    inference."""

    def __init__(self, drop_path_rate, **kwargs):
        super().__init__(**kwargs)
        self.drop_path_rate = drop_path_rate

    def call(self, x, training=None):
        if not training:
            return x
        return B.dropout(x, self.drop_path_rate, noise_shape=(None,) + (1,) * (len(x.shape) - 1))

    def get_config(self):
        config = super().get_config()
        config.update({"drop_path_rate": self.drop_path_rate})
        return config


@register_keras_serializable()  # (as `StochasticDepth`: configs naming "LayerScale" load without custom_objects)
class LayerScale(layers.Layer):
    """tf.keras's ConvNeXt layer scale (Touvron et al., 2021): its input times ``gamma``, a trained weight of
    ``projection_dim`` values (one a channel) starting at ``init_values``."""

    def __init__(self, init_values, projection_dim, **kwargs):
        super().__init__(**kwargs)
        self.init_values = init_values
        self.projection_dim = projection_dim

    def build(self, input_shape):
        self.gamma = self.add_weight(name="gamma", shape=(self.projection_dim,), trainable=True,
                                     initializer={"class_name": "Constant", "config": {"value": self.init_values}})

    def call(self, x):
        return ops.multiply(x, self.gamma)

    def get_config(self):
        config = super().get_config()
        config.update({"init_values": self.init_values, "projection_dim": self.projection_dim})
        return config


def _layer_norm(name=None):
    return layers.LayerNormalization(epsilon=1e-6, name=name)


def _block(x, projection_dim, drop_path_rate, layer_scale_init_value, name):
    """A ConvNeXt block: a 7x7 depthwise convolution (a Conv2D with one group a channel, as tf.keras builds it),
    layer normalization, a pointwise MLP (Dense layers, 4 times wider, GELU), the layer scale (unless
    ``layer_scale_init_value`` is None), stochastic depth (an identity Activation without ``drop_path_rate``),
    and the input added."""
    inputs = x
    x = layers.Conv2D(projection_dim, 7, padding="same", groups=projection_dim, name=name + "_depthwise_conv")(x)
    x = _layer_norm(name + "_layernorm")(x)
    x = layers.Dense(4 * projection_dim, name=name + "_pointwise_conv_1")(x)
    x = layers.Activation("gelu", name=name + "_gelu")(x)
    x = layers.Dense(projection_dim, name=name + "_pointwise_conv_2")(x)
    if layer_scale_init_value is not None:
        x = LayerScale(layer_scale_init_value, projection_dim, name=name + "_layer_scale")(x)
    if drop_path_rate:
        x = StochasticDepth(drop_path_rate, name=name + "_stochastic_depth")(x)
    else:
        x = layers.Activation("linear", name=name + "_identity")(x)
    # (the op itself, not `ops.add`'s symbolic wrapper: configs write it as tf.keras's "__operators__.add")
    return symbolic_ops.apply(E.add, [inputs, x], {}, name="tf.__operators__.add")


def _stem(projection_dim, model_name):
    """The patchify stem, a nested Sequential: a 4x4 convolution of stride 4, then layer normalization."""
    from ..models import Sequential
    return Sequential([layers.Conv2D(projection_dim, 4, strides=4, name=model_name + "_stem_conv"),
                       _layer_norm(model_name + "_stem_layernorm")], name=model_name + "_stem")


def _downsampling(index, projection_dim, model_name):
    """The ``index``-th downsampling block, a nested Sequential: layer normalization, then a 2x2 convolution of
    stride 2 to ``projection_dim`` channels."""
    from ..models import Sequential
    return Sequential([_layer_norm(f"{model_name}_downsampling_layernorm_{index}"),
                       layers.Conv2D(projection_dim, 2, strides=2, name=f"{model_name}_downsampling_conv_{index}")],
                      name=f"{model_name}_downsampling_block_{index}")


def _drop_rates(drop_path_rate, count):
    """``count`` rates from 0 to ``drop_path_rate``, evenly spaced (``numpy.linspace``'s values)."""
    if count < 2:
        return [0.0] * count
    step = drop_path_rate / (count - 1)
    return [i * step for i in range(count - 1)] + [float(drop_path_rate)]


def _head(x, include_top, pooling, classes, classifier_activation, model_name):
    """With the top: global average pooling, layer normalization and the classifier (``<model_name>_head_*``);
    without: `U.pooled` (``pooling``), then a layer normalization, both auto-named as tf.keras names them."""
    if not include_top:
        return _layer_norm()(U.pooled(x, pooling))
    x = layers.GlobalAveragePooling2D(name=model_name + "_head_gap")(x)
    x = _layer_norm(model_name + "_head_layernorm")(x)
    return layers.Dense(classes, activation=classifier_activation, name=model_name + "_head_dense")(x)


def ConvNeXt(depths, projection_dims, drop_path_rate=0.0, layer_scale_init_value=1e-6, default_size=224,
             model_name="convnext", include_preprocessing=True, include_top=True, weights=None, input_tensor=None,
             input_shape=None, pooling=None, classes=1000, classifier_activation="softmax"):
    """A ConvNeXt of four stages as tf.keras builds it (its ``keras.applications.convnext.ConvNeXt``): with
    ``include_preprocessing`` (and 3 input channels) a Normalization by ImageNet's statistics (pixels in
    [0, 255]), the patchify stem, then stage ``i``'s ``depths[i]`` blocks of ``projection_dims[i]`` channels, each
    stage after the first behind a downsampling block; then (``include_top``) global average pooling, layer
    normalization and the ``classes``-way classifier, or (without) ``pooling`` None, "avg" or "max" and a layer
    normalization. ``drop_path_rate``: the stochastic depth's rate, growing linearly from 0 over the blocks (0 for
    none); ``layer_scale_init_value``: the layer scale's initial value (None for none). Layers are named after
    ``model_name``; ``weights``: None, a file's path, or "imagenet" (Keras's file named after ``model_name``, one
    of the five variants')."""
    from ..models import Model
    if weights == "imagenet" and model_name not in _HASHES:
        raise ValueError(f"Keras publishes ImageNet weights for the model names {sorted(_HASHES)} only; received "
                         f"model_name={model_name!r} with weights='imagenet'")
    U.check_weights(weights, include_top, classes, classifier_activation)
    first = B.image_data_format() == "channels_first"
    input_shape = U.obtain_input_shape(input_shape, default_size=default_size, min_size=32,
                                       data_format=B.image_data_format(), require_flatten=include_top, weights=weights)
    inputs, x = U.image_input(input_shape, input_tensor)
    # (the shape Keras decides on, not the input tensor's, as in tf.keras)
    if include_preprocessing and input_shape[0 if first else 2] == 3:
        x = layers.Normalization(mean=_MEAN, variance=_VARIANCE, name=model_name + "_prestem_normalization")(x)
    rates = iter(_drop_rates(drop_path_rate, sum(depths)))
    for stage, (depth, projection_dim) in enumerate(zip(depths, projection_dims)):
        if stage == 0:
            x = _stem(projection_dim, model_name)(x)
        else:
            x = _downsampling(stage - 1, projection_dim, model_name)(x)
        for j in range(depth):
            x = _block(x, projection_dim, next(rates), layer_scale_init_value, f"{model_name}_stage_{stage}_block_{j}")
    x = _head(x, include_top, pooling, classes, classifier_activation, model_name)
    model = Model(inputs, x, name=model_name)
    if weights != "imagenet":
        return U.load_weights(model, weights)
    file_name = model_name + (".h5" if include_top else "_notop.h5")
    return U.load_weights(model, weights, file_name, _BASE + file_name, _HASHES[model_name][0 if include_top else 1])


def _variant(variant, model_name, include_top, include_preprocessing, weights, input_tensor, input_shape, pooling,
             classes, classifier_activation):
    depths, projection_dims = _VARIANTS[variant]
    return ConvNeXt(depths, projection_dims, model_name=model_name, include_top=include_top,
                    include_preprocessing=include_preprocessing, weights=weights, input_tensor=input_tensor,
                    input_shape=input_shape, pooling=pooling, classes=classes,
                    classifier_activation=classifier_activation)


def ConvNeXtTiny(model_name="convnext_tiny", include_top=True, include_preprocessing=True, weights="imagenet",
                 input_tensor=None, input_shape=None, pooling=None, classes=1000, classifier_activation="softmax"):
    """ConvNeXtTiny as Keras builds it: stages of 3, 3, 9 and 3 blocks of 96, 192, 384 and 768 channels (see
    `ConvNeXt`; no stochastic depth, layer scale starting at 1e-6). It takes pixels in [0, 255] (with
    ``include_preprocessing``, as ``weights="imagenet"`` needs); inputs are 224x224 by default, at least 32x32.
    ``weights``: "imagenet" (Keras's file, ImageNet-1k; 224x224 with the top), None, or a file's path. Without
    the top, ``pooling`` None, "avg" or "max"."""
    return _variant("tiny", model_name, include_top, include_preprocessing, weights, input_tensor, input_shape,
                    pooling, classes, classifier_activation)


def ConvNeXtSmall(model_name="convnext_small", include_top=True, include_preprocessing=True, weights="imagenet",
                  input_tensor=None, input_shape=None, pooling=None, classes=1000, classifier_activation="softmax"):
    """ConvNeXtSmall: `ConvNeXtTiny` with 27 blocks in its third stage."""
    return _variant("small", model_name, include_top, include_preprocessing, weights, input_tensor, input_shape,
                    pooling, classes, classifier_activation)


def ConvNeXtBase(model_name="convnext_base", include_top=True, include_preprocessing=True, weights="imagenet",
                 input_tensor=None, input_shape=None, pooling=None, classes=1000, classifier_activation="softmax"):
    """ConvNeXtBase: `ConvNeXtSmall` with 128, 256, 512 and 1024 channels (Keras's weights: pretrained on
    ImageNet-21k, fine-tuned on ImageNet-1k)."""
    return _variant("base", model_name, include_top, include_preprocessing, weights, input_tensor, input_shape,
                    pooling, classes, classifier_activation)


def ConvNeXtLarge(model_name="convnext_large", include_top=True, include_preprocessing=True, weights="imagenet",
                  input_tensor=None, input_shape=None, pooling=None, classes=1000, classifier_activation="softmax"):
    """ConvNeXtLarge: `ConvNeXtSmall` with 192, 384, 768 and 1536 channels (Keras's weights: pretrained on
    ImageNet-21k, fine-tuned on ImageNet-1k)."""
    return _variant("large", model_name, include_top, include_preprocessing, weights, input_tensor, input_shape,
                    pooling, classes, classifier_activation)


def ConvNeXtXLarge(model_name="convnext_xlarge", include_top=True, include_preprocessing=True, weights="imagenet",
                   input_tensor=None, input_shape=None, pooling=None, classes=1000, classifier_activation="softmax"):
    """ConvNeXtXLarge: `ConvNeXtSmall` with 256, 512, 1024 and 2048 channels (Keras's weights: pretrained on
    ImageNet-21k, fine-tuned on ImageNet-1k)."""
    return _variant("xlarge", model_name, include_top, include_preprocessing, weights, input_tensor, input_shape,
                    pooling, classes, classifier_activation)


def preprocess_input(x, data_format=None):
    """``x`` itself: ConvNeXt's preprocessing is its first layer (it takes pixels in [0, 255]); kept, as Keras
    keeps it, so code written for the other applications runs unchanged."""
    return x


decode_predictions = U.decode_predictions
