"""Optimizer variable names in files -> gpunet parameter paths and slots (the naming schemes each
Keras wrote are listed in optimizer_state.py's docstring)."""
from .optimizer_layouts import ALIASES, keras_class


def aliases(pairs):
    """Map every spelling of a Keras variable name to a gpunet parameter path.

    ``pairs``: ``[(keras_variable_name, gpunet_path)]``, e.g. ``("sequential/dense/kernel", "dense/kernel")``.
    """
    table = {}
    for name, path in pairs:
        base = name.split(":", 1)[0]
        table[base] = path
        table[base.replace("/", "_")] = path
    return table


def parse_name(name, optimizer, table):
    """``(kind, value)`` for one optimizer array name: ("iterations", None), ("learning_rate", None),
    ("scalar", key), ("slot", (path, slot)) or (None, None) when it means nothing to gpunet."""
    base = name.split(":", 1)[0]
    rest = base.split("/", 1)[1] if "/" in base else base
    if rest in ("iter", "iteration", "iterations"):
        return "iterations", None
    if rest in ("learning_rate", "lr"):
        return "learning_rate", None
    if rest in ("u_product", "m_schedule"):
        return "scalar", "m_schedule"
    # tf.keras 2.21 names a legacy optimizer's slots without its own name ("dense/kernel/m:0") when it
    # was rebuilt from an .h5 training config; other writers put the optimizer's name first
    for candidate in ((rest, base) if rest != base else (rest,)):
        found = _parse_slot(candidate, optimizer, table)
        if found is not None:
            return "slot", found
    return None, None


def _parse_slot(rest, optimizer, table):
    """``(path, slot)`` for a slot variable's name without its optimizer prefix, or None."""
    slots = ALIASES.get(keras_class(optimizer), {})
    names = [s for s in optimizer.slot_names]
    parts = rest.split("/")
    if len(parts) >= 2 and parts[-1] in names and "/".join(parts[:-1]) in table:  # Keras 2
        return table["/".join(parts[:-1])], parts[-1]
    for slot in names:  # tf.keras 2.11+: <slot>/<variable>
        tfk = slots.get(slot, (slot, slot))[0]
        if parts[0] == tfk and "/".join(parts[1:]) in table:
            return table["/".join(parts[1:])], slot
    # Keras 3: <variable with _ for />_<slot>; longest slot name first ("velocity_hat" before "velocity").
    for slot in sorted(names, key=lambda s: -len(slots.get(s, (s, s))[1])):
        k3 = slots.get(slot, (slot, slot))[1]
        if rest.endswith("_" + k3) and rest[:-len(k3) - 1] in table:
            return table[rest[:-len(k3) - 1]], slot
    return None
