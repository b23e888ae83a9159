"""Checks on training and evaluation data before the first step: non-empty, finite, labels in range.

NaN or inf in x, y or sample_weight would otherwise train silently to all-NaN weights. The finite
check costs one pass over each float array (a sum: NaN and inf propagate through it; only when the
sum is not finite, which a sum of huge finite values can also be, is the array searched for the
first bad row). ``GPUNET_CHECK_FINITE=0`` in the environment skips it, for data where NaN is
expected (e.g. to see ``TerminateOnNaN`` stop training). Sparse class labels are always checked:
integers in ``[0, classes)``, since a NaN label would index memory out of range.
"""
import math
import numbers
import os

import numpy

_OFF = ("0", "false", "no", "off")


def finite_check_enabled():
    """False when the ``GPUNET_CHECK_FINITE`` environment variable is 0/false/no/off."""
    return os.environ.get("GPUNET_CHECK_FINITE", "1").strip().lower() not in _OFF


def check_not_empty(n, what):
    if n == 0:
        raise ValueError(f"{what} is empty (0 samples): training and evaluation need at least one sample.")


def _bad_rows(bad):
    return bad.reshape(bad.shape[0], -1).any(axis=1) if bad.ndim > 1 else bad


def check_finite(ops, arr, what):
    """Raise ValueError naming ``what`` and the first row holding NaN or inf (float arrays only;
    backend or NumPy arrays). Skipped when ``GPUNET_CHECK_FINITE=0``."""
    if not _to_check(arr) or sum_is_finite(arr, ops):
        return
    host = numpy.asarray(ops.to_host(arr)) if ops is not None else numpy.asarray(arr)
    rows = _bad_rows(~numpy.isfinite(host))
    if not rows.any():
        return  # the sum overflowed; every value is finite
    row = int(numpy.argmax(rows))
    values = host[row].reshape(-1).tolist()
    kinds = sorted({"NaN" if math.isnan(v) else ("inf" if v > 0 else "-inf") for v in values if not math.isfinite(v)})
    raise ValueError(f"{what} holds {' and '.join(kinds)} at row {row} ({int(rows.sum())} row(s) in all): training "
                     f"on it would make every weight NaN. Clean the data, or set the environment variable "
                     f"GPUNET_CHECK_FINITE=0 to skip this check.")


def sum_is_finite(arr, ops=None):
    """Whether ``arr``'s sum is finite, so that it holds no NaN or inf: one reduction, on the
    array's own device (a sum of huge finite values may overflow: then the caller searches).
    ``ops``: the backend whose array it is, which reads the sum (on a GPU a device read)."""
    with numpy.errstate(over="ignore", invalid="ignore"):
        total = arr.sum(dtype="float32" if arr.dtype.itemsize < 4 else None)  # float16: 65504
        return math.isfinite(float(total) if ops is None else ops.to_scalar(total))


def check_finite_uploaded(parts, host, what):
    """`check_finite` for the host array ``host`` whose rows ``parts`` (device arrays: its upload,
    split or not; None allowed) hold: the sums run on the device, with no pass over the data on
    the host; only where one is not finite is ``host`` searched, so that the message names the
    row of the caller's array."""
    if _to_check(host) and not all(p is None or p.size == 0 or sum_is_finite(p) for p in parts):
        check_finite(None, host, what)


def _to_check(arr):
    """Whether the finite check looks at ``arr``: a non-empty float array, the check enabled."""
    return arr is not None and arr.dtype.kind in "fc" and arr.size > 0 and finite_check_enabled()


def check_sparse_labels(arr, classes, loss_name, what="y", ignore_class=None):
    """Class indices for a sparse loss: integer-valued, finite, in ``[0, classes)`` (or the loss's
    ``ignore_class``, which may lie outside); names the first bad row."""
    if arr.size == 0:
        return
    if ignore_class is not None:
        arr = arr[arr != ignore_class]
        if arr.size == 0:
            return
    if arr.dtype.kind == "f":
        bad = ~(arr == arr.round())  # NaN fails too; inf is caught by the range check below
        if bool(bad.any()):
            host = numpy.asarray(arr.get() if hasattr(arr, "get") else arr)
            row = int(numpy.argmax(~(host == host.round())))
            raise ValueError(f"{loss_name} expects integer class labels in {what}; row {row} holds {host[row].item()!r}.")
    elif arr.dtype.kind not in "iub":
        raise ValueError(f"{loss_name} expects integer class labels in {what}, received dtype {arr.dtype}.")
    low, high = arr.min().item(), arr.max().item()
    if low < 0 or high >= classes:
        host = numpy.asarray(arr.get() if hasattr(arr, "get") else arr)
        row = int(numpy.argmax((host < 0) | (host >= classes)))
        raise ValueError(f"{loss_name} labels must lie in [0, {classes - 1}] for a model with {classes} outputs, "
                         f"received values from {low} to {high} ({what} row {row} holds {host[row].item()!r}).")


def check_epochs(epochs, initial_epoch=0):
    """``(epochs, initial_epoch)`` as ints; anything but a non-negative integer is a ValueError naming it."""
    for name, value in (("epochs", epochs), ("initial_epoch", initial_epoch)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, received {value!r}")
    return int(epochs), int(initial_epoch)
