"""Keras's applications (``keras.applications``): ImageNet models built as Keras builds them, layer for layer
and name for name, so Keras's pretrained weights (``weights="imagenet"``: Keras's own files, downloaded once into
``~/.keras/models`` and checked by their hash) and files of yours load unchanged. Each has its module with its
``preprocess_input`` and ``decode_predictions`` (``gpunet.applications.vgg16.preprocess_input``)."""
import sys
import types

from . import imagenet_utils
from .vgg import VGG16, VGG19


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

__all__ = ["imagenet_utils", "VGG16", "VGG19", "vgg16", "vgg19"]
