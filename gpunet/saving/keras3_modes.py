"""Which .keras archive a config is made for or read from, where that changes how it is written or read."""
import contextlib
import contextvars

_KERAS3 = contextvars.ContextVar("gpunet_writing_keras3", default=False)
_GPUNET_ARCHIVE = contextvars.ContextVar("gpunet_reading_its_own_archive", default=False)


@contextlib.contextmanager
def _while(var, on):
    token = var.set(bool(on))
    try:
        yield
    finally:
        var.reset(token)


def reading_gpunet_archive(on=True):
    """While a .keras archive gpunet wrote is read: its calls' ``training`` is the one they were given."""
    return _while(_GPUNET_ARCHIVE, on)


def writing_keras3(on=True):
    """While a config is made for Keras 3's archive: its ops are written from the op layers themselves."""
    return _while(_KERAS3, on)


def writing_keras3_archive():
    """True while a config is made for Keras 3's archive (`writing_keras3`)."""
    return _KERAS3.get()


def gpunet_archive():
    """True while an archive gpunet wrote is read (`reading_gpunet_archive`)."""
    return _GPUNET_ARCHIVE.get()
