"""Keras models (``from gpunet.models import Sequential, model_from_json, load_model``)."""
from .sequential import Sequential

__all__ = ["Sequential"]
