"""The exceptions raised by gpunet's saving and loading code.

Each one subclasses `ValueError` too, so code written for Keras (which raises
plain ``ValueError`` for bad files and unknown classes) keeps catching them.
"""


class SavingError(Exception):
    """Base class of every error raised while saving or loading a model."""


class CorruptModelFileError(SavingError, ValueError):
    """A model or weights file that cannot be read: truncated, bad signature, missing groups...

    ``path`` is the file (or a description of the stream) and ``problem`` what was
    found wrong; both appear in the message.
    """

    def __init__(self, path, problem):
        self.path = path
        self.problem = problem
        super().__init__(f"Corrupt or unreadable model file {str(path)!r}: {problem}")

    def __reduce__(self):
        # Keep the two-argument constructor picklable (multiprocessing re-raises errors).
        return (type(self), (self.path, self.problem))


class UnknownObjectError(SavingError, ValueError):
    """A config names a class or function that is neither built in, registered nor in ``custom_objects``."""


class UnsafeConfigError(SavingError, ValueError):
    """A config or YAML document asks for something that could run code (a module path, bytecode, a Python tag)."""


class InvalidConfigError(SavingError, ValueError):
    """Text or a dict that is not a model config gpunet can rebuild: bad JSON/YAML, missing keys, wrong types."""


class FileContentError(SavingError, ValueError):
    """A readable file whose content does not make the model asked for (or does not fit the model given):
    ``path`` is the file, ``field`` the part of it (``model_config``, ``model_weights``...), ``problem``
    what is wrong; all three appear in the message."""

    def __init__(self, path, field, problem):
        self.path, self.field, self.problem = path, field, problem
        super().__init__(f"{str(path)!r}, {field}: {problem}")

    def __reduce__(self):
        return (type(self), (self.path, self.field, self.problem))


class UnknownArgumentError(InvalidConfigError, TypeError):
    """A layer config holds an argument gpunet does not know and ``strict=True`` was asked
    (a TypeError, like Python's own for an unexpected keyword argument)."""
