"""The saving methods of models (Keras 2 names), delegating to gpunet.saving's modules."""


class SavingMixin:
    def to_json(self, **kwargs):
        """The architecture as a JSON string (no weights, no training config)."""
        from .json_yaml import model_to_json
        return model_to_json(self, **kwargs)

    def to_yaml(self, **kwargs):
        """The architecture as a YAML string, written with ``yaml.safe_dump``."""
        from .json_yaml import model_to_yaml
        return model_to_yaml(self, **kwargs)

    def save(self, filepath, overwrite=True, include_optimizer=True, save_format=None, **kwargs):
        """Save architecture, weights, training config and optimizer state (HDF5 or .keras)."""
        from .model_io import save_model
        if not _is_root():  # a data-parallel job (gpunet.distribute): rank 0 writes, the others skip
            return None
        return save_model(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer,
                          save_format=save_format, **kwargs)

    def save_weights(self, filepath, overwrite=True, save_format=None, **kwargs):
        """Save the weights only, in Keras's HDF5 layout."""
        from .model_io import save_weights
        if not _is_root():
            return None
        return save_weights(self, filepath, overwrite=overwrite, save_format=save_format, **kwargs)

    def load_weights(self, filepath, by_name=False, skip_mismatch=False, reshape=False, **kwargs):
        """Load weights saved by gpunet or Keras; returns a report of what was loaded."""
        from .model_io import load_weights
        return load_weights(self, filepath, by_name=by_name, skip_mismatch=skip_mismatch, reshape=reshape, **kwargs)


def _is_root():
    from ..distribute.runtime import is_root
    return is_root()
