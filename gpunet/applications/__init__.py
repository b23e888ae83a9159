"""Keras's applications (``keras.applications``): ImageNet models built as Keras builds them, layer for layer
and name for name, so Keras's pretrained weights (``weights="imagenet"``: Keras's own files, downloaded once into
``~/.keras/models`` and checked by their hash) and files of yours load unchanged. Each has its module with its
``preprocess_input`` and ``decode_predictions`` (``gpunet.applications.vgg16.preprocess_input``)."""
import sys
import types

from . import (convnext, densenet, efficientnet, efficientnet_v2, imagenet_utils, inception_resnet_v2, inception_v3,
               mobilenet, mobilenet_v2, mobilenet_v3, resnet, resnet_v2, xception)
from .convnext import ConvNeXtBase, ConvNeXtLarge, ConvNeXtSmall, ConvNeXtTiny, ConvNeXtXLarge
from .densenet import DenseNet121, DenseNet169, DenseNet201
from .efficientnet import (EfficientNetB0, EfficientNetB1, EfficientNetB2, EfficientNetB3, EfficientNetB4,
                           EfficientNetB5, EfficientNetB6, EfficientNetB7)
from .efficientnet_v2 import (EfficientNetV2B0, EfficientNetV2B1, EfficientNetV2B2, EfficientNetV2B3, EfficientNetV2L,
                              EfficientNetV2M, EfficientNetV2S)
from .inception_resnet_v2 import InceptionResNetV2
from .inception_v3 import InceptionV3
from .mobilenet import MobileNet
from .mobilenet_v2 import MobileNetV2
from .mobilenet_v3 import MobileNetV3Large, MobileNetV3Small
from .resnet import ResNet50, ResNet101, ResNet152
from .resnet_v2 import ResNet50V2, ResNet101V2, ResNet152V2
from .vgg import VGG16, VGG19
from .xception import Xception


def _module(name, **functions):
    """``gpunet.applications.<name>``, Keras's per-model module (``from gpunet.applications import vgg16``)."""
    module = types.ModuleType(f"{__name__}.{name}", f"Keras's keras.applications.{name}.")
    for key, value in functions.items():
        setattr(module, key, value)
    sys.modules[module.__name__] = module
    return module


def _vgg_module(name, constructor):
    from . import vgg
    return _module(name, **{constructor.__name__: constructor, "preprocess_input": vgg.preprocess_input,
                            "decode_predictions": vgg.decode_predictions})


vgg16 = _vgg_module("vgg16", VGG16)
vgg19 = _vgg_module("vgg19", VGG19)
resnet50 = _module("resnet50", ResNet50=ResNet50, preprocess_input=resnet.preprocess_input,
                   decode_predictions=resnet.decode_predictions)

__all__ = ["ConvNeXtTiny", "ConvNeXtSmall", "ConvNeXtBase", "ConvNeXtLarge", "ConvNeXtXLarge", "DenseNet121",
           "DenseNet169", "DenseNet201", "EfficientNetB0", "EfficientNetB1", "EfficientNetB2", "EfficientNetB3",
           "EfficientNetB4", "EfficientNetB5", "EfficientNetB6", "EfficientNetB7", "EfficientNetV2B0",
           "EfficientNetV2B1", "EfficientNetV2B2", "EfficientNetV2B3", "EfficientNetV2S", "EfficientNetV2M",
           "EfficientNetV2L", "InceptionResNetV2", "InceptionV3", "MobileNet", "MobileNetV2", "MobileNetV3Small",
           "MobileNetV3Large", "ResNet50", "ResNet101", "ResNet152", "ResNet50V2", "ResNet101V2", "ResNet152V2",
           "VGG16", "VGG19", "Xception", "convnext", "densenet", "efficientnet", "efficientnet_v2", "imagenet_utils",
           "inception_resnet_v2", "inception_v3", "mobilenet", "mobilenet_v2", "mobilenet_v3", "resnet", "resnet50",
           "resnet_v2", "vgg16", "vgg19", "xception"]
