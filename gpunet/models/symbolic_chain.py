"""A Sequential model's symbolic tensors, as Keras's Sequential has them once its input shape is
known: ``model.input``, ``model.output`` and each layer's ``layer.output`` (layers/symbolic.py), for
``Model(model.input, model.layers[-2].output)``, a feature extractor sharing the model's layers."""
from ..layers import symbolic
from ..layers.input_layer import InputLayer


class SymbolicChainMixin:
    def _connect(self, input_shape=None):
        """Call the layers on symbolic tensors, from the InputLayer's on, as Keras's Sequential does once
        its input shape is known: ``model.input`` and each ``layer.output`` then exist (for
        ``Model(model.input, model.layers[-2].output)``, a feature extractor). A model built from a
        shape alone (``build``, or its first batch) gets an InputLayer for that, as tf.keras 2 does,
        but outside its layers and its config (which stay as they were; tf.keras 2 lists it there)."""
        tensors = self._chain_tensors
        if not tensors:
            source = self._input_layer
            if source is None and input_shape is not None and self._layers:
                source = InputLayer(batch_input_shape=input_shape, dtype=self._layers[0].dtype)
            if source is None:
                return
            tensors.append(symbolic.input_tensor(source))
        del tensors[len(self._layers) + 1:]  # (after a pop)
        for layer in self._layers[len(tensors) - 1:]:
            try:
                tensors.append(symbolic.call_layer(layer, tensors[-1]))
            except (TypeError, ValueError, NotImplementedError) as exc:
                # the model itself was built: only layer.output stays unavailable from here on
                self._chain_error = f"layer '{layer.name}' could not be called on a symbolic tensor ({exc})"
                return

    @property
    def input(self):
        """The model's symbolic input tensor (once its input shape is known), as in Keras."""
        if not self._chain_tensors:
            raise AttributeError(f"Model '{self.name}' has no input tensor yet: give it an input shape (Input(...) "
                                 "or input_shape= on its first layer) or build it first.")
        return self._chain_tensors[0]

    @property
    def output(self):
        self.input  # noqa: B018 - the same error before the input shape is known
        if len(self._chain_tensors) <= len(self._layers):
            raise AttributeError(f"Model '{self.name}' has no output tensor: {getattr(self, '_chain_error', '')}")
        return self._chain_tensors[len(self._layers)]

    @property
    def inputs(self):
        return [self.input]

    @property
    def outputs(self):
        return [self.output]
