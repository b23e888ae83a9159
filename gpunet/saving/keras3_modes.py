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


# Names Keras 3 kept for another function: in a config Keras 3 wrote, each means the second one.
KERAS3_MEANINGS = {"hard_sigmoid": "keras3_hard_sigmoid"}
# What gpunet's .keras archives write for the first ones (Keras 3 has no such built-in: it stops, naming it).
KERAS2_FILE_NAMES = {"hard_sigmoid": "keras2_hard_sigmoid"}
# metadata.json's key saying a gpunet archive's names mean Keras 3's functions (archives from before it: Keras 2's)
NAMES_KEY, NAMES_KERAS3 = "gpunet_activation_names", "keras3"
_KERAS3_NAMES = contextvars.ContextVar("gpunet_reading_keras3_names", default=None)


def reading_keras3_names(on):
    """While a config is read whose names Keras 3 wrote (`keras3_wrote`): ``hard_sigmoid`` is Keras 3's."""
    return _while(_KERAS3_NAMES, on)


def keras3_names():
    """True while a Keras 3 config is read, False while another is, None outside any (`reading_keras3_names`)."""
    return _KERAS3_NAMES.get()


def keras3_wrote(keras_version, by_gpunet=False, names=None):
    """Whether a file's built-in names mean Keras 3's functions: Keras 3 (``keras_version`` 3 or later) wrote
    it, or gpunet did with `NAMES_KEY` saying so (gpunet's other files: Keras 2's, as its own names)."""
    if by_gpunet:
        return names == NAMES_KERAS3
    major = str(keras_version or "").split(".")[0]
    return major.isdigit() and int(major) >= 3


def reading_file(contents):
    """`reading_keras3_names` for a model file's config (``contents``: saving/readers.py's dict of the file)."""
    return reading_keras3_names(keras3_wrote(contents["keras_version"], contents.get("gpunet", False),
                                             contents.get("activation_names")))


def reading_config(config):
    """`reading_keras3_names` for a model or layer config read on its own (JSON, YAML, a dict), unless a file's
    reader has decided: Keras 3's names when its ``keras_version`` says so or, with none (Keras 3's ``to_json``
    and ``serialize`` write none; tf.keras 2's ``to_json`` does), when a layer's ``dtype`` in it is Keras 3's
    ``DTypePolicy`` (tf.keras 2.21's ``layers.serialize`` writes ``registered_name`` too, and a dtype name)."""
    if keras3_names() is not None or not isinstance(config, dict):
        return contextlib.nullcontext()
    version = config.get("keras_version")
    return reading_keras3_names(keras3_wrote(version) if version else _keras3_policy(config))


def _keras3_policy(entry, depth=0):
    """Whether a layer entry (or one of the layers in it) has Keras 3's ``DTypePolicy`` dict as its dtype."""
    inner = entry.get("config") if isinstance(entry, dict) else None
    if not isinstance(inner, dict) or depth > 8:
        return False
    dtype = inner.get("dtype")
    if isinstance(dtype, dict) and str(dtype.get("class_name", "")).endswith("DTypePolicy"):
        return True
    layers = inner.get("layers")
    inside = [inner.get(k) for k in ("layer", "cell")] + (layers if isinstance(layers, list) else [])
    return any(_keras3_policy(e, depth + 1) for e in inside)
