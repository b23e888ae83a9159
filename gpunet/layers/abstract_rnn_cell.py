"""tf.keras 2's `AbstractRNNCell`: the base class of a recurrent cell of your own, run by `RNN` (rnn.py), as
tf.keras's docs write one::

    class MinimalRNNCell(AbstractRNNCell):
        def __init__(self, units, **kwargs):
            self.units = units
            super().__init__(**kwargs)

        @property
        def state_size(self):
            return self.units

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="uniform",
                                          name="kernel")
            self.recurrent_kernel = self.add_weight(shape=(self.units, self.units), initializer="uniform",
                                                    name="recurrent_kernel")
            super().build(input_shape)

        def call(self, inputs, states):
            prev_output = states[0]
            output = K.dot(inputs, self.kernel) + K.dot(prev_output, self.recurrent_kernel)
            return output, output

    layer = RNN(MinimalRNNCell(32))

A subclass defines ``state_size`` (an int, or a list of them: one per state), ``call(inputs, states)``
returning ``(output, new_states)`` and, where the output's size is not the first state's, ``output_size``. It
runs as any cell of yours does in gpunet: ``call`` on the tape (training backpropagates through time), its
weights the RNN's. ``get_initial_state`` gives the zeros a sequence starts from (override it to start
elsewhere). Left undefined, ``state_size`` and ``output_size`` raise NotImplementedError, as tf.keras's do (the
error is an AttributeError too: `RNN` then takes the first state's size as the output's, and refuses a cell
without a state size with its message); setting them as attributes (``self.state_size = units``) works too.
"""
from .base import Layer


class _Undefined(NotImplementedError, AttributeError):
    """An abstract property left undefined (``hasattr`` and ``getattr(cell, name, default)`` see no attribute)."""


class AbstractRNNCell(Layer):
    """Abstract base of an RNN cell: define ``state_size``, ``call(inputs, states)`` and perhaps ``output_size``
    (see the module doc)."""

    def call(self, inputs, states):
        """One step: ``(output, new_states)`` for ``inputs`` of ``(batch, features)`` and the previous states
        (a list of ``(batch, size)`` tensors: zeros, or the RNN's ``initial_state``, at the first step)."""
        raise NotImplementedError(f"{type(self).__name__} must define call(inputs, states), returning "
                                  "(output, new_states).")

    @property
    def state_size(self):
        """The size(s) of the cell's state(s): an int, or a list of ints, one per state."""
        if "_state_size" in self.__dict__:
            return self.__dict__["_state_size"]
        raise _Undefined(f"{type(self).__name__} must define `state_size` (an int, or a list of ints: one per "
                         "state), as a property or an attribute.")

    @state_size.setter
    def state_size(self, value):
        self.__dict__["_state_size"] = value

    @property
    def output_size(self):
        """The size of the cell's output (undefined: `RNN` takes the first state's size)."""
        if "_output_size" in self.__dict__:
            return self.__dict__["_output_size"]
        raise _Undefined(f"{type(self).__name__} defines no `output_size`.")

    @output_size.setter
    def output_size(self, value):
        self.__dict__["_output_size"] = value

    def compute_output_shape(self, input_shape):
        from .recurrent_state import output_size
        return (input_shape[0], output_size(self))

    def get_initial_state(self, inputs=None, batch_size=None, dtype=None):
        """Zeros of ``(batch_size, size)`` for each state size, in ``dtype`` (``inputs``, when given, sets both):
        one tensor for an int ``state_size``, a list (nested as it is) for a list."""
        if inputs is not None:
            batch_size, dtype = inputs.shape[0], inputs.dtype
        if batch_size is None or dtype is None:
            raise ValueError("batch_size and dtype cannot be None while constructing initial state. Received: "
                             f"batch_size={batch_size}, dtype={dtype}")
        from .. import ops

        def zeros(size):
            if isinstance(size, (list, tuple)):
                return [zeros(part) for part in size]
            return ops.zeros((int(batch_size), int(size)), dtype=dtype)
        return zeros(self.state_size)
