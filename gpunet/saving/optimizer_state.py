"""Optimizer state in files <-> gpunet optimizer state, matched by parameter path.

gpunet's optimizers keep one flat slot buffer per slot name ("m", "v", ...)
over the model's flat parameter buffer; ``model._layout`` says which slice is
which parameter ("dense/kernel"). Files hold one array per (parameter, slot),
named the way some Keras wrote them:

* Keras 2 (tf.keras <= 2.10):   ``Adam/iter:0``, ``Adam/dense/kernel/m:0``
* tf.keras 2.11+:                ``iteration:0``, ``Adam/m/dense/kernel:0``
* Keras 3 (legacy .h5):          ``adam/iteration``, ``adam/sequential_dense_kernel_momentum``
* Keras 3 (.keras/.weights.h5):  positional ``optimizer/vars/0..N``

A slot's array has its weight's shape except Adafactor's factored ``r`` and ``c``
(`Optimizer.slot_shape`): none for a weight of fewer than 2 dimensions, where Keras 3 keeps an
int32 scalar placeholder in its list (tf.keras keeps none), which gpunet writes too and skips.

gpunet's ``.h5`` lists them in the layout tf.keras 2.21 restores. Its load_model rebuilds
a config without ``is_legacy_optimizer`` (gpunet's, which Keras 3 needs: it rejects that
key) as tf.keras's *legacy* optimizer, and restores ``optimizer_weights`` by position:
``set_weights`` needs exactly ``[iter] + one group per slot, over every trainable weight``
(legacy Adam: all ``m``, then all ``v``; legacy Ftrl interleaves its two), same length, same
shapes. So gpunet writes that, with those names (``Adam/dense/kernel/m:0``), for the optimizers
whose legacy form has no other variable. Nadam (legacy keeps a ``momentum_cache`` scalar where
Keras 3 reads its learning rate), AdamW, Lion and Adafactor (tf.keras has no legacy form of
them: it cannot load the file) keep Keras 3's order, ``[iter, learning_rate] + slots
(+ u_product)``, which tf.keras rejects whole. Keras 3 builds no slots from a legacy .h5,
only iteration and learning rate: it restores the iteration from either layout (the learning
rate is in the config too). The ``.keras`` archive keeps Keras 3's order (`keras3_vars`).
gpunet itself reads names (parameter path and slot) and ``gpunet_optimizer``'s scalars, never
list positions.
"""
import numpy as np

from . import keras3_attrs, optimizer_layouts as L
from .hdf5_legacy import escape
from .optimizer_layouts import keras_class


def _params(model):
    """``[(path, offset, shape, layer_name, weight_name)]`` for the trainable weights, in layout order."""
    weights = model.trainable_weights
    out = []
    for (path, offset, shape), w in zip(model._layout, weights):
        if path != w.path:
            raise RuntimeError(f"model layout out of date: {path} vs {w.path}")
        out.append((path, int(offset), tuple(shape), w.layer.name, w.name))
    return out


def saved_paths(model, tagged, table):
    """``table`` (a file weight's name -> this model's parameter path) completed for gpunet's tagged
    slots (``[(name, FileWeight, path, slot)]``): where a tag's path is none of the model's (its layers
    were named afresh: a functional subclass's constructor names them on load, and a .keras file's
    weights carry no name to alias), the saver's paths map to the model's in the order both listed their
    parameters, which the weights' positional match has already found to be the same architecture."""
    saved = list(dict.fromkeys(path for _, _, path, _ in tagged if path is not None))
    params = _params(model)
    own = [params[i][0] for i in _keras3_order(model, params)]  # (the order gpunet writes them: `_ordered`)
    if all(table.get(path, path) in own for path in saved) or len(saved) != len(own):
        return table
    return {**table, **dict(zip(saved, own))}


def scalar_state(optimizer):
    """The optimizer's state without slots: iterations, learning rate and scalar extras (JSON-ready)."""
    state = {"iterations": int(optimizer._iteration_count), "learning_rate": float(optimizer.learning_rate)}
    extra = getattr(optimizer, "_scalar_state", None)  # avoids get_state()'s copy of every slot
    state.update(extra() if extra is not None else
                 {k: v for k, v in optimizer.get_state().items() if k not in state and k != "slots"})
    return {"class_name": keras_class(optimizer), "slot_names": list(optimizer.slot_names), **state}


def _host_slots(model):
    opt = model.optimizer
    return {name: model.ops.to_host(buf) for name, buf in opt.slots().items()}


def _ordered(model, groups=None, placeholders=True):
    """``[(path, slot, host_view, layer_name, weight_name)]`` in Keras 3's variable order (slot ``groups``
    interleaved per parameter, one group after the other; its scalar placeholders where a slot has no
    array), or in that of the ``groups`` given (no placeholders without ``placeholders``)."""
    slots, params = _host_slots(model), _params(model)
    segments = L.segments(model.optimizer, params)
    keeps = L.PLACEHOLDERS.get(keras_class(model.optimizer), ()) if placeholders else ()
    order = _keras3_order(model, params) if groups is None else range(len(params))
    out = []
    for group in groups or L.slot_order(model.optimizer):
        for i in order:
            path, _, _, lname, wname = params[i]
            for slot in group:
                if segments[slot][i] is not None:
                    off, shape = segments[slot][i]
                    n = int(np.prod(shape, dtype=np.int64))
                    out.append((path, slot, slots[slot][off:off + n].reshape(shape), lname, wname))
                elif slot in keeps:
                    out.append((path, slot, np.array(0, np.int32), lname, wname))
    return out


def _keras3_order(model, params):
    """Indices of ``params`` in Keras 3's variable order: a subclassed model's own weights first (they are its
    first variables there; tf.keras 2 lists them last, as gpunet's layout does)."""
    own = {w.path for w in keras3_attrs.own_weights(model)}
    return sorted(range(len(params)), key=lambda i: params[i][0] not in own)


def _trailing(opt):
    extra = L.TRAILING_SCALARS.get(keras_class(opt))
    scalars = scalar_state(opt)
    return [(extra, np.array(scalars[extra], np.float32))] if extra and extra in scalars else []


def keras3_vars(model):
    """``optimizer/vars`` of the Keras 3 layout: ``[(array, path, slot)]``, positional, Keras 3's order:
    iteration, learning rate (none for a schedule), slots, trailing scalars."""
    opt = model.optimizer
    out = [(np.array(opt._iteration_count, np.int64), None, None)]
    if getattr(opt, "_lr_schedule", None) is None:
        out.append((np.array(float(opt.learning_rate), np.float32), None, None))
    out += [(array, path, slot) for path, slot, array, _, _ in _ordered(model)]
    return out + [(array, None, None) for _, array in _trailing(opt)]


def _tf_keras_layout(model):
    """Whether ``optimizer_weights`` can take tf.keras 2.21's legacy layout (see the module docstring).
    Not when the first trainable weight is a scalar: Keras 3 would read its first slot as the rate."""
    params = _params(model)
    return keras_class(model.optimizer) in L.TF_KERAS_LEGACY and not (params and params[0][2] == ())


def h5_entries(model):
    """What ``optimizer_weights`` holds for a gpunet model: ``[(keras2_name, array, path, slot)]``, in order."""
    opt = model.optimizer
    prefix = escape(opt.name)
    entries = [(f"{prefix}/iter:0", np.array(opt._iteration_count, np.int64), None, None)]
    if _tf_keras_layout(model):
        legacy = L.LEGACY_GROUPS.get(keras_class(opt), [(slot,) for slot in opt.slot_names])
        ordered = _ordered(model, legacy, placeholders=False)
    else:
        if getattr(opt, "_lr_schedule", None) is None:  # (Keras has no rate variable for a scheduled one)
            entries.append((f"{prefix}/learning_rate:0", np.array(float(opt.learning_rate), np.float32), None, None))
        ordered = _ordered(model)
    for path, slot, array, lname, wname in ordered:
        entries.append((f"{prefix}/{escape(lname)}/{escape(wname)}/{slot}:0", array, path, slot))
    if not _tf_keras_layout(model):
        entries += [(f"{prefix}/{name}:0", array, None, None) for name, array in _trailing(opt)]
    return entries


# ---- reading ----------------------------------------------------------------------------------
def positional(model, arrays):
    """Name the arrays of Keras 3's ``optimizer/vars`` (``[FileWeight]`` in order): returns
    ``[(kind, value, FileWeight)]`` as `optimizer_names.parse_name` would, or raises ValueError."""
    opt = model.optimizer
    items = list(arrays)
    out = []
    if items and items[0].shape == () and items[0].dtype.kind in "iu":
        out.append(("iterations", None, items.pop(0)))
    if items and items[0].shape == () and items[0].dtype.kind == "f":
        out.append(("learning_rate", None, items.pop(0)))
    params = _params(model)
    expected = L.expected_arrays(opt, [params[i] for i in _keras3_order(model, params)], len(items))
    if not items and expected:  # Keras 3 makes the slots at the first step: a model compiled, never trained
        return out
    if len(items) < len(expected):
        raise ValueError(f"the file's optimizer has {len(items)} slot arrays, {type(opt).__name__} "
                         f"({', '.join(opt.slot_names) or 'no slots'}) over {len(_params(model))} trainable "
                         f"weights needs {len(expected)}")
    for (path, slot, shape), item in zip(expected, items):
        if tuple(item.shape) != tuple(shape):
            raise ValueError(f"optimizer slot {slot!r} of {path} has shape {tuple(item.shape)} in the file, "
                             f"the model's optimizer keeps shape {tuple(shape)}")
        out.append(("slot", (path, slot), item))
    extra = items[len(expected):]
    if keras_class(opt) == "SGD" and not expected and _unused_momentum(model, extra):
        extra = []  # tf.keras 2.11+'s SGD keeps "m" at momentum=0 too (the last step, times 0 next step)
    trailing = L.TRAILING_SCALARS.get(keras_class(opt))
    if trailing and len(extra) == 1 and extra[0].shape == ():
        out.append(("scalar", trailing, extra[0]))
    elif extra:
        raise ValueError(f"the file's optimizer has {len(extra)} more arrays than {type(opt).__name__} uses")
    return out


def _unused_momentum(model, extra):
    shapes = [tuple(shape) for _, _, shape, _, _ in _params(model)]
    return len(extra) == len(shapes) and all(tuple(e.shape) == s for e, s in zip(extra, shapes))


def _scalar(item, what):
    """One number from a file array that must hold one (shape () or (1,)): checked before it is read,
    so that an array declaring 2**34 values is refused instead of allocated."""
    if tuple(item.shape) not in ((), (1,)):
        raise ValueError(f"the optimizer's {what} ({item.name}) must be a scalar of shape () or (1,), the file's "
                         f"has shape {tuple(item.shape)}")
    value = np.asarray(item.read()).reshape(())
    if not np.isfinite(value):
        raise ValueError(f"the optimizer's {what} ({item.name}) is {value}, not a finite number")
    return value


def build_state(model, found, meta=None, strict=True):
    """The ``set_state`` dict from named file arrays.

    ``found``: ``[(kind, value, FileWeight)]`` (see `parse_name`). ``meta``: gpunet's
    saved scalar state, authoritative for iterations and learning rate when present.
    With ``strict``, every slot of every trainable parameter must be in the file;
    otherwise missing ones keep their current values. Returns ``(state, restored_paths)``.
    """
    opt = model.optimizer
    if meta is not None and meta.get("class_name") not in (None, keras_class(opt)):
        raise ValueError(f"the file holds {meta['class_name']} state, the model's optimizer is "
                         f"{keras_class(opt)}")
    built = model._params is not None  # an unbuilt model has no slots yet: scalars only
    listed = _params(model) if built else []
    segments = L.segments(opt, listed)
    # {path: {slot: (offset, shape) or None}}: where each (parameter, slot) array goes
    params = {p[0]: {slot: segments[slot][i] for slot in opt.slot_names} for i, p in enumerate(listed)}
    current = _host_slots(model) if built else {}
    slots = {name: np.empty(current[name].shape, current[name].dtype) for name in opt.slot_names} if built else {}
    done = set()
    state = {"iterations": int(opt._iteration_count), "learning_rate": float(opt.learning_rate)}
    for kind, value, item in found:
        if kind == "iterations":
            state["iterations"] = int(_scalar(item, "iterations"))
        elif kind == "learning_rate":
            state["learning_rate"] = float(_scalar(item, "learning_rate"))
        elif kind == "scalar":
            state[value] = float(_scalar(item, value))
        elif kind == "slot":
            path, slot = value
            if path not in params or slot not in slots:
                continue
            if params[path][slot] is None:  # Keras 3's placeholder: nothing to restore
                if tuple(item.shape) != ():
                    raise ValueError(f"the file has an optimizer slot {slot!r} of shape {tuple(item.shape)} for "
                                     f"{path}, where {keras_class(opt)} keeps none (a scalar placeholder at most)")
                continue
            off, shape = params[path][slot]
            if tuple(item.shape) != tuple(shape):
                raise ValueError(f"optimizer slot {slot!r} of {path} has shape {tuple(item.shape)} in the file, "
                                 f"the model's optimizer keeps shape {tuple(shape)}")
            n = int(np.prod(shape, dtype=np.int64))
            item.read_into(slots[slot][off:off + n])
            done.add((path, slot))
    if meta is not None:  # (gpunet's own count of steps: a file that says it stepped must hold every slot)
        state.update({k: v for k, v in meta.items() if k not in ("class_name", "slot_names")})
    for path, where in params.items():
        for slot, segment in where.items():
            if (path, slot) in done or segment is None:
                continue
            off, n = segment[0], int(np.prod(segment[1], dtype=np.int64))
            # (an optimizer that never stepped has no slots in tf.keras's files, just iteration 0: fresh is exact)
            if strict and (done or state["iterations"] != 0):
                raise ValueError(f"the file has no optimizer slot {slot!r} for weight {path}")
            slots[slot][off:off + n] = current[slot][off:off + n]
    if built:
        state["slots"] = slots
    return state, sorted({path for path, _ in done})
