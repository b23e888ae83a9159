"""Keras 2's ``K.function`` and ``K.learning_phase``: a function of a model's symbolic tensors,
as Keras's FAQ gets an intermediate layer's output::

    get_3rd_layer_output = K.function([model.layers[0].input], [model.layers[3].output])
    layer_output = get_3rd_layer_output([x])[0]

The function is a functional model over those tensors (models/functional.py) run on one batch;
``K.learning_phase()`` among the inputs takes 0 (inference) or 1 (training: Dropout drops).
"""


class _LearningPhase:
    """The placeholder ``K.learning_phase()`` returns: the value fed for it picks training or inference."""

    def __repr__(self):
        return "<learning_phase>"

    # read as a value (``if K.learning_phase():``) it is tf.keras 2's eager K.learning_phase(): the phase
    # set with K.set_learning_phase, else 0
    def __int__(self):
        from .phase_functions import phase_value
        return phase_value()

    def __bool__(self):
        return bool(int(self))


_PHASE = _LearningPhase()


def learning_phase():
    """The learning-phase placeholder, for ``K.function([..., K.learning_phase()], [...])``."""
    return _PHASE


class GraphFunction:
    """What `function` returns: call it with a list of input arrays (the learning phase's value where
    the inputs held ``K.learning_phase()``); returns a list of NumPy arrays, one per output."""

    def __init__(self, inputs, outputs, name=None):
        from ..models.functional import Functional
        inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        self._phase_at = [i for i, t in enumerate(inputs) if t is _PHASE]
        tensors = [t for t in inputs if t is not _PHASE]
        self._listed = isinstance(outputs, (list, tuple))
        outs = list(outputs) if self._listed else [outputs]
        self.model = Functional(tensors if len(tensors) > 1 else tensors[0], outs if len(outs) > 1 else outs[0],
                                name=name)

    def __call__(self, values):
        values = list(values) if isinstance(values, (list, tuple)) else [values]
        # without a phase among the inputs: the one set with K.set_learning_phase, else inference
        training = bool(values[self._phase_at[0]]) if self._phase_at else None
        arrays = [v for i, v in enumerate(values) if i not in self._phase_at]
        model = self.model
        out = model(arrays if len(arrays) > 1 else arrays[0], training=training)
        outs = out if isinstance(out, list) else [out]
        return [model.ops.to_host(o) for o in outs] if self._listed else model.ops.to_host(outs[0])


def function(inputs, outputs, updates=None, name=None, **kwargs):
    """Keras 2's ``K.function(inputs, outputs)``: a callable from input arrays to output arrays.
    ``updates`` (Keras 1's training updates) are not supported."""
    if updates:
        raise NotImplementedError("K.function(updates=...) is not supported: train with model.fit or "
                                  "model.train_on_batch.")
    return GraphFunction(inputs, outputs, name=name)
