"""Which optimizer variables Keras keeps, in which order and under which names, per optimizer class
(the tables `optimizer_state` and `optimizer_names` read and write files by)."""


# Keras 2 slot name -> (tf.keras 2.11+ name, Keras 3 name), per optimizer class.
ALIASES = {
    "Adam": {"m": ("m", "momentum"), "v": ("v", "velocity"), "vhat": ("vhat", "velocity_hat")},
    "AdamW": {"m": ("m", "momentum"), "v": ("v", "velocity"), "vhat": ("vhat", "velocity_hat")},
    "Adamax": {"m": ("m", "momentum"), "v": ("u", "norm")},
    "Nadam": {"m": ("m", "momentum"), "v": ("v", "velocity")},
    "SGD": {"momentum": ("m", "momentum")},
    "RMSprop": {"rms": ("velocity", "velocity"), "momentum": ("momentum", "momentum"),
                "mg": ("average_gradient", "average_gradient")},
    "Adagrad": {"accumulator": ("accumulator", "accumulator")},
    "Adadelta": {"accum_grad": ("accumulated_grad", "accumulated_grad"),
                 "accum_var": ("accumulated_delta_var", "accumulated_delta_var")},
    "Lion": {"m": ("m", "momentum")},
    "Ftrl": {"accumulator": ("accumulator", "accumulator"), "linear": ("linear", "linear")},
    "Adafactor": {"r": ("r", "r"), "c": ("c", "c"), "v": ("v", "velocity")},  # (Keras 3 names r, c as the weight)
    "Lamb": {"m": ("m", "momentum"), "v": ("v", "velocity")},
}
# The order Keras 3 (and tf.keras 2.11+) creates slot variables: groups of slots
# interleaved per parameter, one group after the other.
GROUPS = {
    "Adam": [("m", "v"), ("vhat",)], "AdamW": [("m", "v"), ("vhat",)], "Adamax": [("m", "v")],
    "Nadam": [("m", "v")], "SGD": [("momentum",)], "RMSprop": [("rms",), ("momentum",), ("mg",)],
    "Adagrad": [("accumulator",)], "Adadelta": [("accum_grad", "accum_var")], "Lion": [("m",)],
    "Ftrl": [("accumulator", "linear")], "Adafactor": [("r", "c", "v")], "Lamb": [("m", "v")],
}
# Keras 3 tracks one scalar after the slots for these (Nadam's momentum-schedule product).
TRAILING_SCALARS = {"Nadam": "m_schedule"}
# The classes tf.keras 2.21 restores from gpunet's .h5 (as its legacy optimizer): not Nadam, not AdamW (nor
# Lion, Adafactor: no legacy form). Its legacy optimizers list all of one slot, then the next; Ftrl's interleave.
TF_KERAS_LEGACY = ("SGD", "Adam", "RMSprop", "Adagrad", "Adadelta", "Adamax", "Ftrl")
LEGACY_GROUPS = {"Ftrl": [("accumulator", "linear")]}
# Keras 3's int32 scalar where these slots have no array (Adafactor's unfactored weights).
PLACEHOLDERS = {"Adafactor": ("r", "c")}
_CLASS_BY_KERAS_NAME = {k.lower().replace("_", ""): k for k in ALIASES}


def keras_class(optimizer):
    """The Keras class name gpunet's optimizer corresponds to ("Adam", "SGD", ...)."""
    for cls in type(optimizer).__mro__:
        if cls.__name__ in ALIASES:
            return cls.__name__
    return type(optimizer).__name__


def class_from_keras_name(name):
    """"adam", "rm_sprop", "SGD" -> the Keras class name, or None."""
    return _CLASS_BY_KERAS_NAME.get(str(name).lower().replace("_", ""))


def slot_order(optimizer):
    names = tuple(optimizer.slot_names)
    # use_ema: Keras 3 makes every weight's average before the other slots (a class without a table too), then
    # with gradient accumulation every weight's accumulator
    first = [slot for slot in ("average", "gradient_accumulator") if slot in names]
    groups = [tuple(s for s in g if s in names and s not in first) for g in GROUPS.get(keras_class(optimizer), [names])]
    groups = [(slot,) for slot in first] + [g for g in groups if g]
    missing = [s for s in names if not any(s in g for g in groups)]
    return groups + ([tuple(missing)] if missing else [])


def segments(opt, params):
    """``{slot: [(offset, shape) or None per parameter]}``: where each slot buffer holds each weight's array."""
    shapes = [shape for _, _, shape, _, _ in params]
    return {slot: opt.slot_segments(slot, shapes) for slot in opt.slot_names}


def expected_arrays(opt, params, count):
    """``[(path, slot, shape)]`` that a file's ``count`` slot arrays are, in order: Keras 3's, or tf.keras's
    (without Keras 3's placeholders, shape ()) when the file holds as many arrays as that."""
    where, keeps = segments(opt, params), PLACEHOLDERS.get(keras_class(opt), ())
    out, bare = [], []
    for group in slot_order(opt):
        for i, (path, *_) in enumerate(params):
            for slot in group:
                if where[slot][i] is not None:
                    out.append((path, slot, where[slot][i][1]))
                    bare.append(out[-1])
                elif slot in keeps:
                    out.append((path, slot, ()))
    return bare if count == len(bare) != len(out) else out
