"""Reverse-mode automatic differentiation over the active Backend's arrays.

A `Tensor` wraps a backend array; ops on tensors that need a gradient record a tape
(each op's vector-Jacobian product, written once against the Backend interface, so
NumPy and CuPy alike), and `gradients` runs it backwards. This is how users' own
losses, metrics, activations, ``Lambda`` functions and ``Layer.call`` methods train;
gpunet's built-in layers keep their hand-written backward passes and fused kernels.

The functions are public as `gpunet.ops` and in Keras 2's spelling as
``import gpunet.backend as K`` (``K.mean``, ``K.square``, ...).
"""
from .tensor import Tensor, is_tensor, lift, value_of
from .tape import gradients, vjp, grad
from .gradient_tape import GradientTape

__all__ = ["Tensor", "is_tensor", "lift", "value_of", "gradients", "vjp", "grad", "GradientTape"]
