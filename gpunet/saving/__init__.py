"""Saving and loading (see model_io); `config_limits` raises the bounds on what a file may make gpunet
parse and allocate (see limits)."""
from .limits import ConfigLimits, config_limits  # noqa: F401
