"""The API edge: the one place that converts user data into backend arrays and
`predict` output back into NumPy; training data is checked on the way (`input_checks`).

Accepts NumPy arrays, nested lists, pandas objects (anything with
``to_numpy``), and arrays of the model's own backend. Floats are cast to the
model's dtype; 1-D labels become a column where the model has one output unit.
"""
import numbers

import numpy

from . import input_checks
from .input_checks import check_epochs  # noqa: F401 - fit's argument check, beside check_batch_size
from .upload import to_device  # host arrays go through pinned staging on a GPU (upload.py)


def check_batch_size(batch_size, default):
    if batch_size is None:
        return default
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive integer, received {batch_size!r}")
    return int(batch_size)


def _host(x, what):
    if x is None:
        raise ValueError(f"{what} is required, received None.")
    if hasattr(x, "to_numpy"):
        x = x.to_numpy()
    if any(k.__module__.startswith("cupy") for k in type(x).__mro__[:2]):  # (a CuPy array; a model's eager output)
        return x
    if not isinstance(x, (numpy.ndarray, numpy.generic, list, tuple, numbers.Number)) and not hasattr(x, "__array__"):
        # (numpy.asarray on an object that indexes without end, a Sequence say, fills memory)
        raise TypeError(f"{what} must be an array (NumPy, a nested list, pandas); received a {type(x).__name__}. "
                        f"Batches from a generator or a gpunet.utils.Sequence go to fit/evaluate/predict as x.")
    try:
        arr = numpy.asarray(x)
    except ValueError as exc:
        raise ValueError(f"{what} must be an array or a rectangular nested list: {exc}") from None
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise ValueError(f"{what} must hold numbers, received an array of dtype {arr.dtype}")
    return arr


def to_input(ops, x, dtype, finite_as=None):
    """User inputs as a backend array of ``dtype`` with at least 2 dimensions; ``finite_as``: the
    name under which they are checked for NaN and inf (`checked_upload`), None for no check."""
    arr = _host(x, "x")
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim == 0:
        raise ValueError(f"x must be an array with a batch dimension, received a scalar {x!r}")
    return checked_upload(ops, arr, dtype, finite_as)


def checked_upload(ops, arr, dtype, finite_as):
    """``arr`` on ``ops``'s device as ``dtype``, checked for NaN and inf under the name ``finite_as``
    (None: not checked) where it is: host data on the host, cast first (1e300 is inf in float32),
    since on a GPU the check of its upload reads the device and so waits for every step queued
    before it (once per batch of a generator); a device array on the device."""
    if finite_as is not None and isinstance(arr, numpy.ndarray):
        arr = arr.astype(dtype, copy=False)
        input_checks.check_finite(None, arr, finite_as)
        return to_device(ops, arr, dtype)
    out = to_device(ops, arr, dtype)
    if finite_as is not None:
        input_checks.check_finite(ops, out, finite_as)
    return out


def to_output(ops, y):
    """Backend array to NumPy (``predict``'s return value)."""
    return ops.to_host(y)


def _targets(ops, y, loss_fn, out_shape, n, dtype, what="y", finite=False):
    if getattr(loss_fn, "takes_no_targets", False):  # compile(loss=None): y is not read, as in Keras
        rows = n if y is None else len(_host(y, what))
        if rows != n:
            raise ValueError(f"x and y must have the same number of samples: x has {n}, y has {rows}.")
        return ops.zeros((n, 0), dtype)
    arr = _host(y, what)
    if arr.shape[:1] != (n,):
        raise ValueError(f"x and y must have the same number of samples: x has {n}, "
                         f"y has {arr.shape[0] if arr.ndim else 'none'} (y shape {arr.shape}).")
    if getattr(loss_fn, "sparse_labels", False):
        steps = tuple(out_shape[1:-1])  # (a sequence's outputs: a label per step, (n, steps) or (n, steps, 1))
        return to_device(ops, sparse_labels(arr, loss_fn, out_shape[-1], what, steps), "int64")
    # (several outputs' targets come packed side by side: their loss says the packed width)
    want = tuple(getattr(loss_fn, "packed_target_shape", None) or out_shape[1:])
    users = _users_loss(loss_fn)
    if arr.ndim == 1 and (want == (1,) or users):
        arr = arr.reshape(-1, 1)  # (a user's loss gets 1-D targets as a column, as tf.keras 2's expand_1d)
    fits = len(arr.shape[1:]) == len(want) and all(w is None or a == w for a, w in zip(arr.shape[1:], want))
    if not fits and not users:  # (a user's loss may take any targets; None: a sequence's steps, any length)
        raise ValueError(f"Targets y have shape {arr.shape} but the model's output has shape "
                         f"{(None,) + want} (loss {loss_fn.name}).")
    return checked_upload(ops, arr, dtype, what if finite else None)


def _users_loss(loss_fn):
    """Whether the compiled loss is the user's (a function, or a `Loss` subclass of theirs): its targets
    need not have the output's shape (sparse labels for a softmax output, say), as in tf.keras."""
    from ..losses.function_loss import FunctionLoss
    loss_fn = getattr(loss_fn, "unweighted", loss_fn)  # (compile's loss_weights: losses/weighted.py)
    return isinstance(loss_fn, FunctionLoss) or not type(loss_fn).__module__.startswith("gpunet.")


def sparse_labels(arr, loss_fn, classes, what, steps=()):
    """A sparse loss's targets as one ``(n, *steps)`` array of class labels (a trailing axis of 1 taken too; ``steps``:
    the output's axes between the batch and the classes, a sequence's), checked: integers in ``[0, classes)`` or the
    loss's ``ignore_class`` (`input_checks.check_sparse_labels`)."""
    if arr.ndim == 2 + len(steps) and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim != 1 + len(steps) or any(d is not None and a != d for a, d in zip(arr.shape[1:], steps)):
        raise ValueError(f"{loss_fn.name} expects integer class labels of shape "
                         f"{(arr.shape[0],) + tuple(steps)} in {what}, received {tuple(arr.shape)}")
    input_checks.check_sparse_labels(arr, classes, loss_fn.name, what, getattr(loss_fn, "ignore_class", None))
    return arr


def _class_weights(y_host, class_weight):
    if y_host.ndim == 2 and y_host.shape[1] > 1:
        classes = y_host.argmax(axis=1)
    else:
        classes = numpy.rint(y_host.reshape(-1)).astype(numpy.int64)
    try:
        return numpy.array([class_weight[int(c)] for c in classes], dtype=numpy.float64)
    except KeyError as exc:
        raise ValueError(f"class_weight has no entry for class {exc.args[0]}; it has {sorted(class_weight)}") from None


def prepare(ops, model, x, y, sample_weight, class_weight, role="", finite=True):
    """(x, y, sample_weight) as backend arrays ready for the training loop, checked (see
    `input_checks`): at least one sample, no NaN or inf, sparse labels in range. ``role`` prefixes
    the arrays' names in messages ("validation_data "). ``finite=False`` leaves x and y's finite
    check to the caller (who checks them on the device once uploaded: `check_finite_uploaded`)."""
    dtype = model._input_dtype()
    xs = to_input(ops, x, dtype, f"{role}x" if finite else None)
    n = xs.shape[0]
    input_checks.check_not_empty(n, f"{role}x")
    if not model.built:
        model.build((None,) + tuple(xs.shape[1:]))
    ys = _targets(ops, y, model._loss_fn, model.output_shape, n, dtype, f"{role}y", finite)
    sw = None
    if sample_weight is not None:
        sw = _sample_weights(ops, sample_weight, n, f"{role}sample_weight",
                             getattr(model._loss_fn, "weight_columns", None))
    return xs, ys, with_class_weight(ops, ys, None if sw is None else to_device(ops, sw, dtype), class_weight, dtype)


def with_class_weight(ops, ys, sw, class_weight, dtype):
    """The per-sample weights ``sw`` (None: none) times each sample's class weight (``class_weight`` None or
    empty: ``sw`` as it is). fit applies them after validation_split takes its rows: tf.keras 2 weights the
    training loss by class, never the validation loss."""
    if not class_weight:
        return sw
    cw = _class_weights(numpy.asarray(ops.to_host(ys)), class_weight)
    sw = cw if sw is None else sw * (cw if isinstance(sw, numpy.ndarray) else ops.asarray(cw))
    return to_device(ops, sw, dtype)


def _sample_weights(ops, sample_weight, n, what, columns=None):
    """Flat float64 weights, checked: a NumPy array, or the backend's own array where one was
    passed (a CuPy batch stays on the device: NumPy cannot read it, and a round trip would wait).
    ``columns``: a model with several outputs says their number (its loss's ``weight_columns``):
    weights per output then come as one ``(n, columns)`` array (backend/io_packing.py's
    `pack_weights`), kept 2-D; one ``(n,)`` array still weights every output."""
    sw = _host(sample_weight, what)
    sw = (numpy.asarray(sw, dtype=numpy.float64) if isinstance(sw, numpy.ndarray)
          else ops.asarray(sw, dtype="float64"))
    if not (columns and sw.ndim == 2 and sw.shape == (n, columns)):
        sw = sw.reshape(-1)
    if sw.shape != (n,) and not (columns and sw.shape == (n, columns)):
        raise ValueError(f"{what} must have shape ({n},), received {tuple(sw.shape)}")
    input_checks.check_finite(None if isinstance(sw, numpy.ndarray) else ops, sw, what)  # (read where it is)
    return sw


def prepare_validation(ops, model, validation_data):
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        raise ValueError("validation_data must be a tuple (x_val, y_val) or (x_val, y_val, sample_weight), "
                         f"received {type(validation_data).__name__}")
    vx, vy = validation_data[0], validation_data[1]
    vsw = validation_data[2] if len(validation_data) == 3 else None
    return prepare(ops, model, vx, vy, vsw, None, role="validation_data ")


def split(xs, ys, sws, validation_split):
    """Keras's validation_split: the last fraction of the data, taken before shuffling."""
    if not 0.0 < validation_split < 1.0:
        raise ValueError(f"validation_split must be in (0, 1), received {validation_split}")
    n = xs.shape[0]
    cut = int(n * (1.0 - validation_split))
    if cut == 0 or cut == n:
        raise ValueError(f"validation_split={validation_split} leaves no training or no validation samples "
                         f"out of {n}")
    val = (xs[cut:], ys[cut:], None if sws is None else sws[cut:])
    return xs[:cut], ys[:cut], None if sws is None else sws[:cut], val
