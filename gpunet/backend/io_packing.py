"""Several inputs (or targets) as one array, for functional models with several inputs or outputs.

fit, evaluate and predict move one array through shuffling, batching, validation splits,
streaming and data-parallel sharding. A model with several inputs gets them packed side by side
(each flattened to ``(n, width)``, in the model's input order) and splits each batch again
(models/functional.py), so every one of those paths serves it unchanged; targets of several
outputs likewise (models/multi_output.py), and per-output sample weights one column per output
(`pack_weights`). Packing copies the data once per call.
"""
import numpy

from .edge import _host, sparse_labels
from .input_checks import check_finite


def check_keys(data, names, what, kind, required=False):
    """A dict keyed by the model's input or output names (``kind``: "inputs" or "outputs"): raise
    ValueError listing its keys that are none of ``names`` and, when ``required``, the names it lacks."""
    unknown = sorted(set(map(str, data)) - set(names))
    missing = [n for n in names if n not in data] if required else []
    if unknown or missing:
        problems = ([f"keys {unknown} that are not {kind} of the model"] if unknown else []) + (
            [f"no entry for {missing}"] if missing else [])
        raise ValueError(f"{what} given as a dict has {' and '.join(problems)}; its {kind} are {names}.")


def parts_in_order(data, names, what):
    """``data`` as a list in ``names``' order: a list or tuple of ``len(names)`` arrays, or a dict
    keyed by those names (Keras's forms). Raises ValueError naming what was expected."""
    if isinstance(data, dict):
        check_keys(data, names, what, what.split()[-1] + "s", required=True)
        return [data[n] for n in names]
    if isinstance(data, (list, tuple)) and len(data) == len(names) and not _is_number_row(data):
        return list(data)
    received = f"a list of {len(data)}" if isinstance(data, (list, tuple)) else f"one {type(data).__name__}"
    raise ValueError(f"The model has {len(names)} {what.split()[-1]}s {names}: pass {what} as a list of "
                     f"{len(names)} arrays or a dict keyed by those names; received {received}.")


def _is_number_row(data):
    return all(isinstance(v, (int, float, numpy.number)) for v in data)


def layout_of(shapes):
    """``[(offset, width, shape)]`` of parts of these shapes (after the batch axis) packed side by side."""
    layout, offset = [], 0
    for shape in shapes:
        width = 1
        for d in shape:
            width *= d
        layout.append((offset, width, tuple(shape)))
        offset += width
    return layout


def unpacked(arr, layout):
    """The parts ``arr`` holds side by side as ``layout`` (`layout_of`) says, each in its own shape (views)."""
    n = arr.shape[0]
    return [arr[:, offset:offset + width].reshape((n,) + tuple(shape)) for offset, width, shape in layout]


def packed(ops, parts):
    """Backend arrays (batch first) side by side in one 2-D array: what `unpacked` takes apart."""
    return ops.concatenate([p.reshape(p.shape[0], -1) for p in parts], axis=1)


def pack(ops, parts, specs, what, dtype):
    """One ``(n, sum of widths)`` array of ``dtype`` from ``parts``, and its layout.

    ``specs``: per part ``(name, trailing_shape, sparse)``, ``trailing_shape`` the shape after the
    batch axis the part must have; ``sparse``: None, or ``(classes, loss)`` for integer labels of a
    sparse loss (shape ``(n,)`` or ``(n, 1)``, or ``(n, *steps)`` for an output over steps, checked as edge.py checks
    them, kept as one column a step). A 1-D part where one column
    is expected becomes that column. Returns ``(packed, layout)``, layout ``[(offset, width, shape)]``.
    """
    arrays, rows = [], None
    for part, (name, shape, sparse) in zip(parts, specs):
        arr = _host(part, f"{what} {name!r}")
        if arr.ndim == 0:
            raise ValueError(f"{what} {name!r} must be an array with a batch dimension, received a scalar.")
        if sparse is not None:  # (a label per sample, or per step of an output over a sequence's steps)
            steps = tuple(shape[:-1])
            arr = sparse_labels(arr, sparse[1], sparse[0], f"{what} {name!r}", steps)
            shape = steps or (1,)
        if arr.ndim == 1 and tuple(shape) == (1,):
            arr = arr.reshape(-1, 1)
        if len(arr.shape[1:]) != len(shape) or any(d is not None and a != d  # (None: any length, an open input's)
                                                   for a, d in zip(arr.shape[1:], shape)):
            raise ValueError(f"{what} {name!r} has shape {tuple(arr.shape)}, the model expects {(None,) + tuple(shape)}.")
        if rows is not None and arr.shape[0] != rows:
            raise ValueError(f"All {what} arrays must have the same number of samples: {specs[0][0]!r} has {rows}, "
                             f"{name!r} has {arr.shape[0]}.")
        rows = arr.shape[0]
        arrays.append(arr)
    layout = layout_of([arr.shape[1:] for arr in arrays])
    flat = [a.reshape(rows, -1) for a in arrays]
    if all(isinstance(a, numpy.ndarray) for a in flat):
        packed = numpy.concatenate([a.astype(dtype, copy=False) for a in flat], axis=1)
    else:  # a part already on the device: join them there
        packed = ops.concatenate([ops.asarray(a, dtype=dtype) for a in flat], axis=1)
    return packed, layout


def pack_weights(ops, sample_weight, names, rows, what="sample_weight"):
    """A model with several outputs: its ``sample_weight`` as the loops take it, checked against
    ``rows`` samples (the targets'). One array ``(n,)`` (or ``(n, 1)``) weights every output, as
    in tf.keras 2, and is returned as given; a list of one array per output (None: that output
    unweighted) or a dict keyed by output name (an output left out: unweighted) becomes one
    float64 array ``(n, len(names))``, output ``i``'s weights in column ``i`` (ones where
    unweighted; `MultiOutputLoss.weight_part` takes them apart), or None where no output is
    weighted. Raises ValueError naming what was expected and what was received."""
    if sample_weight is None:
        return None
    per_output = isinstance(sample_weight, dict) or (
        isinstance(sample_weight, (list, tuple)) and not _is_number_row(sample_weight))
    if not per_output:
        arr = _host(sample_weight, what)
        if arr.ndim == 0 or arr.shape[0] != rows or (arr.ndim > 1 and arr.shape[1:] != (1,)):
            raise ValueError(f"{what} given as one array weights every output and must have shape ({rows},); "
                             f"received {tuple(arr.shape)}. For weights per output pass a list of "
                             f"{len(names)} arrays ({rows},) or a dict keyed by the output names {names}.")
        return arr
    if isinstance(sample_weight, dict):
        check_keys(sample_weight, names, what, "outputs")
        parts = [sample_weight.get(n) for n in names]
    else:
        if len(sample_weight) != len(names):
            raise ValueError(f"{what} given as a list must have one entry per output: the model has {len(names)} "
                             f"outputs {names}, received a list of {len(sample_weight)}.")
        parts = list(sample_weight)
    if all(p is None for p in parts):
        return None
    columns = []
    for name, part in zip(names, parts):
        if part is None:
            columns.append(None)
            continue
        arr = _host(part, f"{what} for output {name!r}")
        if arr.ndim == 0 or arr.shape[0] != rows or (arr.ndim > 1 and arr.shape[1:] != (1,)):
            raise ValueError(f"{what} for output {name!r} must have shape ({rows},), one weight per sample; "
                             f"received {tuple(arr.shape)}.")
        # (the packed array's check could not name it; a host array is read on the host)
        check_finite(None if isinstance(arr, numpy.ndarray) else ops, arr, f"{what} for output {name!r}")
        columns.append(arr.reshape(rows, 1))
    if all(c is None or isinstance(c, numpy.ndarray) for c in columns):
        return numpy.concatenate([numpy.ones((rows, 1)) if c is None else c.astype(numpy.float64, copy=False)
                                  for c in columns], axis=1)
    # a part already on the device: join them there
    return ops.concatenate([ops.ones((rows, 1), "float64") if c is None else ops.asarray(c, dtype="float64")
                            for c in columns], axis=1)
