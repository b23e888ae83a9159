"""Opening a saved file's content, whatever its format, with damage reported as such.

`contents` parses a source (see `files.open_source`) into one dict for every
layout: ``layers`` (`h5_store.FileLayer` list, arrays still in the file),
``config``, ``training_config`` (a callable: only compiling reads it),
``optimizer`` / ``optimizer_positional`` / ``optimizer_meta``, ``rng`` and
``v3`` (Keras 3's weights layout). `reading` turns any error raised while the
file's bytes are read into a `CorruptModelFileError` naming the file.
"""
import contextlib
import zipfile

from . import damage, files, h5_store, hdf5_legacy, keras_zip
from .errors import CorruptModelFileError, FileContentError, SavingError


_PYTHON_ERRORS = (OSError, KeyError, ValueError, TypeError, RuntimeError, AttributeError, IndexError, EOFError,
                  zipfile.BadZipFile, OverflowError, MemoryError, RecursionError, ZeroDivisionError)


@contextlib.contextmanager
def reading(src):
    """Errors raised while reading the file's content become `CorruptModelFileError` naming the file."""
    try:
        yield
    except CorruptModelFileError:
        raise
    except SavingError as exc:  # a config limit, a bad JSON attribute...: the file's fault, named as such
        raise CorruptModelFileError(src.name, str(exc)) from None
    except _PYTHON_ERRORS as exc:
        problem = files.h5_problem(exc) if isinstance(exc, OSError) else f"{type(exc).__name__}: {exc}"
        if isinstance(exc, zipfile.BadZipFile):
            cut = damage.zip_truncation(src.fileobj) if src.fileobj is not None else None
            problem = cut or f"damaged zip archive ({exc})"
        raise CorruptModelFileError(src.name, problem) from None


@contextlib.contextmanager
def naming(name, field):
    """Any error raised while the file's ``field`` (its model config, training config...) is used
    becomes one of gpunet's errors naming the file and the field: a `SavingError` keeps its class,
    a plain ValueError becomes `FileContentError`, and a Python error underneath (TypeError on a
    value of the wrong type, AttributeError, KeyError, OverflowError, RecursionError...)
    `CorruptModelFileError`."""
    try:
        yield
    except CorruptModelFileError:
        raise
    except SavingError as exc:
        text = str(exc)
        if repr(name) in text or str(name) in text:
            raise
        try:
            renamed = type(exc)(f"{name!r}, {field}: {text}")
        except TypeError:
            renamed = FileContentError(name, field, text)
        raise renamed.with_traceback(exc.__traceback__) from None
    except ValueError as exc:
        if type(exc) is ValueError:
            raise FileContentError(name, field, str(exc)) from None
        raise CorruptModelFileError(name, f"{field}: {type(exc).__name__}: {exc}") from None
    except (KeyError, TypeError, AttributeError, IndexError, OverflowError, RecursionError, ZeroDivisionError,
            MemoryError) as exc:
        raise CorruptModelFileError(name, f"{field}: {type(exc).__name__}: {exc}") from None


@contextlib.contextmanager
def contents(src, whole_model):
    """The parsed file (see `hdf5_legacy.read_model_file`); also weights-only files unless ``whole_model``.
    The file stays open until the ``with`` block ends (arrays are read on demand)."""
    with contextlib.ExitStack() as stack:
        with reading(src):
            if src.kind == "zip":
                config, meta, h5, assets = stack.enter_context(keras_zip.open_archive(src.fileobj, src.name))
                parsed = keras_zip.read_archive_contents(config, meta, h5, assets)
            elif whole_model or "model_weights" in src.h5:
                parsed = hdf5_legacy.read_model_file(src.h5)
            else:
                parsed = weights_only(src.h5)
        yield parsed


def weights_only(h5):
    """`contents` of a weights file (Keras 2 legacy layout or Keras 3 ``.weights.h5`` layout)."""
    if keras_zip.is_v3_weights(h5):
        named, positional, _ = keras_zip.read_optimizer(h5)
        return {"layers": keras_zip.read_weights(h5), "own": keras_zip.read_own(h5), "config": None, "v3": True,
                "attrs": keras_zip.read_attrs(h5), "optimizer": named,
                "optimizer_positional": positional, "optimizer_meta": h5_store.json_attr(h5, "gpunet_optimizer")}
    escaped = h5_store.gpunet_version_of(h5.file) is not None  # h5 may be a group of a gpunet file
    return {"layers": hdf5_legacy.read_weights(h5, escaped), "own": hdf5_legacy.read_top(h5), "config": None,
            "v3": False,
            "optimizer": hdf5_legacy.read_optimizer(h5, escaped), "optimizer_positional": None,
            "optimizer_meta": None}
