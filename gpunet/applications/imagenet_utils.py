"""Keras's ``keras.applications.imagenet_utils``: `preprocess_input` (the "caffe", "tf" and "torch" modes),
`decode_predictions` (ImageNet's class index, downloaded once and checked as Keras checks it), and what the
application constructors share: their argument checks and input shape (`obtain_input_shape`), the input layer,
the pooling head, and the pretrained weights (Keras's own files, fetched with `gpunet.utils.get_file`)."""
import json
import os
import warnings

import numpy

from .. import activations
from .. import backend as B

CLASS_INDEX_PATH = ("https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json")
_CLASS_INDEX = None
_MEANS = {"caffe": ((103.939, 116.779, 123.68), None), "torch": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))}


def preprocess_input(x, data_format=None, mode="caffe"):
    """A batch of images (or one image) with values in [0, 255], as the ImageNet models take them: "caffe"
    (RGB to BGR, each channel minus ImageNet's mean), "tf" (scaled to [-1, 1]) or "torch" (scaled to [0, 1],
    each channel standardized by ImageNet's mean and deviation). A float NumPy array is changed in place and
    returned, as Keras does (pass a copy to keep it); a tensor gives a new tensor."""
    if mode not in ("caffe", "tf", "torch"):
        raise ValueError(f"Expected mode to be one of `caffe`, `tf` or `torch`. Received: mode={mode}")
    if data_format is None:
        data_format = B.image_data_format()
    elif data_format not in ("channels_first", "channels_last"):
        raise ValueError("Expected data_format to be one of `channels_first` or `channels_last`. Received: "
                         f"data_format={data_format}")
    if isinstance(x, numpy.ndarray):
        return _preprocess_array(x, data_format, mode)
    return _preprocess_tensor(x, data_format, mode)


def channel_axis(last=3):
    """The channel axis of the images a model builds on: 1 under ``channels_first``, else ``last`` (3 or -1, as
    each Keras model writes it in its layers' configs)."""
    return 1 if B.image_data_format() == "channels_first" else last


def _channel_axis(ndim, data_format):
    return (0 if ndim == 3 else 1) if data_format == "channels_first" else -1


def _preprocess_array(x, data_format, mode):
    if not issubclass(x.dtype.type, numpy.floating):
        x = x.astype(B.floatx(), copy=False)
    if mode == "tf":
        x /= 127.5
        x -= 1.0
        return x
    axis = _channel_axis(x.ndim, data_format)
    if mode == "torch":
        x /= 255.0
    else:  # (RGB to BGR: a reversed view, whose channels the subtraction below writes through)
        x = numpy.flip(x, axis)
    mean, std = _MEANS[mode]
    for c in range(3):
        index = [slice(None)] * x.ndim
        index[axis] = c
        x[tuple(index)] -= mean[c]
        if std is not None:
            x[tuple(index)] /= std[c]
    return x


def _preprocess_tensor(x, data_format, mode):
    from .. import ops
    if mode == "tf":
        return ops.subtract(ops.divide(x, 127.5), 1.0)
    ndim = len(ops.shape(x))
    axis = _channel_axis(ndim, data_format)
    if mode == "torch":
        x = ops.divide(x, 255.0)
    else:
        x = ops.flip(x, axis=axis)
    mean, std = _MEANS[mode]
    shape = (3,) if axis == -1 else (3, 1, 1)
    x = ops.subtract(x, ops.reshape(ops.convert_to_tensor(numpy.array(mean, B.floatx())), shape))
    if std is not None:
        x = ops.divide(x, ops.reshape(ops.convert_to_tensor(numpy.array(std, B.floatx())), shape))
    return x


def decode_predictions(preds, top=5):
    """``[[(class_name, class_description, score), ...] per sample]``: the ``top`` classes of each row of
    ``preds`` ``(samples, 1000)``, best first (ImageNet's class index, downloaded once into
    ``~/.keras/models``, as Keras does)."""
    global _CLASS_INDEX
    preds = numpy.asarray(preds)
    if preds.ndim != 2 or preds.shape[1] != 1000:
        raise ValueError("`decode_predictions` expects a batch of predictions (i.e. a 2D array of shape (samples, "
                         f"1000)). Found array with shape: {preds.shape}")
    if _CLASS_INDEX is None:
        from ..utils.data_utils import get_file
        path = get_file("imagenet_class_index.json", CLASS_INDEX_PATH, cache_subdir="models",
                        file_hash="c2c37ea517e94d9795004a39431a14cb")
        with open(path) as f:
            _CLASS_INDEX = json.load(f)
    results = []
    for pred in preds:
        best = pred.argsort()[-top:][::-1]
        results.append(sorted((tuple(_CLASS_INDEX[str(i)]) + (pred[i],) for i in best), key=lambda r: -r[2]))
    return results


def check_weights(weights, include_top, classes, classifier_activation=None):
    """Keras's checks of an application's ``weights`` ("imagenet", None or a file's path) and ``classes``."""
    if not (weights in ("imagenet", None) or (isinstance(weights, (str, os.PathLike)) and os.path.exists(weights))):
        raise ValueError("The `weights` argument should be either `None` (random initialization), `imagenet` "
                         "(pre-training on ImageNet), or the path to the weights file to be loaded.  Received: "
                         f"weights={weights}")
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError('If using `weights` as `"imagenet"` with `include_top` as true, `classes` should be 1000.  '
                         f"Received `classes={classes}`")
    if include_top:
        validate_activation(classifier_activation, weights)


def validate_activation(classifier_activation, weights):
    """Pretrained weights take only ``None`` or "softmax" as the classifier's activation (Keras's rule)."""
    if weights is None:
        return
    if activations.get(classifier_activation) not in (activations.get("softmax"), activations.get(None)):
        raise ValueError("Only `None` and `softmax` activations are allowed for the `classifier_activation` "
                         "argument when using pretrained weights, with `include_top=True`; Received: "
                         f"classifier_activation={classifier_activation}")


def obtain_input_shape(input_shape, default_size, min_size, data_format, require_flatten, weights=None):
    """The model's input shape: ``input_shape`` checked (three axes, 3 channels for ImageNet's weights, sides
    of at least ``min_size``), or the default (``default_size`` square with a classifier on top; any size
    without), as Keras computes it."""
    first = data_format == "channels_first"
    if weights != "imagenet" and input_shape and len(input_shape) == 3:
        channels = input_shape[0] if first else input_shape[-1]
        if channels not in (1, 3):
            warnings.warn(f"This model usually expects 1 or 3 input channels. However, it was passed an input_shape "
                          f"with {channels} input channels.", stacklevel=3)
        default = (channels, default_size, default_size) if first else (default_size, default_size, channels)
    else:
        default = (3, default_size, default_size) if first else (default_size, default_size, 3)
    if weights == "imagenet" and require_flatten:
        if input_shape is not None and tuple(input_shape) != default:
            raise ValueError(f"When setting `include_top=True` and loading `imagenet` weights, `input_shape` should be "
                             f"{default}.  Received: input_shape={input_shape}")
        return default
    if input_shape:
        input_shape = tuple(input_shape)
        if len(input_shape) != 3:
            raise ValueError("`input_shape` must be a tuple of three integers.")
        channels, sides = (input_shape[0], input_shape[1:]) if first else (input_shape[-1], input_shape[:2])
        if channels != 3 and weights == "imagenet":
            raise ValueError(f"The input must have 3 channels; Received `input_shape={input_shape}`")
        if any(side is not None and side < min_size for side in sides):
            raise ValueError(f"Input size must be at least {min_size}x{min_size}; Received: "
                             f"input_shape={input_shape}")
    else:
        input_shape = default if require_flatten else ((3, None, None) if first else (None, None, 3))
    if require_flatten and None in input_shape:
        raise ValueError("If `include_top` is True, you should specify a static `input_shape`. Received: "
                         f"input_shape={input_shape}")
    return input_shape


def begin(include_top, weights, input_tensor, input_shape, classes, classifier_activation, default_size=224,
          min_size=32):
    """``(inputs, x)`` of an application after Keras's checks of its arguments (`check_weights`, the input shape
    `obtain_input_shape` gives): the model's inputs and the tensor its first layer takes."""
    check_weights(weights, include_top, classes, classifier_activation)
    input_shape = obtain_input_shape(input_shape, default_size=default_size, min_size=min_size,
                                     data_format=B.image_data_format(), require_flatten=include_top, weights=weights)
    return image_input(input_shape, input_tensor)


def image_input(input_shape, input_tensor):
    """``(inputs of the model, the tensor its layers start from)``: a new ``Input`` of ``input_shape``, or
    ``input_tensor`` (a symbolic tensor: the model's inputs are its source's)."""
    from ..engine.network import get_source_inputs
    from ..layers.input_layer import Input
    if input_tensor is None:
        x = Input(shape=input_shape)
        return x, x
    from ..layers.symbolic import KerasTensor
    if not isinstance(input_tensor, KerasTensor):  # (tf.keras wraps a TensorFlow tensor in an Input: none here)
        raise ValueError("`input_tensor` must be a symbolic tensor (`gpunet.Input(...)` or a layer's output on one), "
                         f"received {type(input_tensor).__name__}")
    return get_source_inputs(input_tensor), input_tensor


def pooled(x, pooling, name=None):
    """Without the classifier: ``x`` as it is (``pooling=None``), or its global "avg" or "max" pooling."""
    from .. import layers
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name=name)(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name=name)(x)
    return x


def averaged_head(x, include_top, pooling, classes, classifier_activation, pool_names=False, top_pool="avg_pool"):
    """The head of the models ending in a global average: with the top, that pooling (named ``top_pool``) and the
    "predictions" Dense layer; without, `pooled` (named "avg_pool" or "max_pool" where ``pool_names``)."""
    from .. import layers
    if include_top:
        x = layers.GlobalAveragePooling2D(name=top_pool)(x)
        return layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    return pooled(x, pooling, name={"avg": "avg_pool", "max": "max_pool"}.get(pooling) if pool_names else None)


def load_weights(model, weights, file_name=None, origin=None, file_hash=None):
    """Keras's pretrained weights (``weights="imagenet"``: ``file_name`` from ``origin``, downloaded once into
    ``~/.keras/models`` and checked against ``file_hash``) or a file of yours into ``model``."""
    if weights == "imagenet":
        from ..utils.data_utils import get_file
        weights = get_file(file_name, origin, cache_subdir="models", file_hash=file_hash)
    if weights is not None:
        model.load_weights(weights)
    return model
