"""`OptimizerState`: an optimizer's slots and scalars as a resume needs them (`get_state` /
`set_state`, checked before anything changes), and the slots kept in step with settings that
switch them on or off after build."""
from .hyperparameter import check_number


class OptimizerState:
    """Mixed into `Optimizer` (base.py), whose ``_slots``, ``ops``, ``iterations`` and
    ``_learning_rate`` it reads and writes."""

    def slots(self):
        """``{slot_name: flat backend array}``: the live slot buffers (empty before build)."""
        self._sync_slots()
        return self._slots

    def _sync_slots(self):
        """Keep ``_slots`` exactly the slots the settings use now, so every update reads
        ``slots.get(name)`` as None for a setting that is off. A slot switched on after build (a
        momentum, RMSprop's ``centered``, Adam's ``amsgrad``) is made at its initial value, as
        build would have made it (Keras fails there: its update reads variables it never built);
        one switched off is set aside, unsaved, and resumes if switched on again."""
        if self.ops is None:
            return
        names = self.slot_names
        if len(names) == len(self._slots) and all(name in self._slots for name in names):
            return
        for name in [n for n in self._slots if n not in names]:
            self._dormant[name] = self._slots.pop(name)
        for name in names:
            if name not in self._slots:
                kept = self._dormant.pop(name, None)
                self._slots[name] = (kept if kept is not None
                                     else self.ops.full((self._slot_size(name),), self._slot_init(name), self._dtype))

    def get_state(self):
        """Everything a resume needs: ``{"iterations", "learning_rate", <scalar state>,
        "slots": {name: NumPy flat array}}`` (``"iterations"`` counts apply calls, Keras 3's ``iteration``
        variable: with gradient accumulation, more than the updates `iterations` counts)."""
        state = {"iterations": int(self._iteration_count), "learning_rate": self._learning_rate.value}
        state.update(self._scalar_state())
        state["slots"] = {n: self.ops.to_host(b).copy() for n, b in self.slots().items()}
        return state

    def set_state(self, state):
        """Restore `get_state`'s dict. Everything is checked first: on a mismatch a ValueError
        names it and nothing changes. Before build, slots are kept and restored by `build`."""
        if not isinstance(state, dict) or "iterations" not in state:
            raise ValueError(f"{self.name}.set_state expects a dict from get_state() with 'iterations', "
                             f"received {state if not isinstance(state, dict) else sorted(state)!r}.")
        iterations = state["iterations"]
        try:
            valid = not isinstance(iterations, bool) and int(iterations) == iterations and iterations >= 0
        except (TypeError, ValueError):
            valid = False
        if not valid:
            raise ValueError(f"{self.name}.set_state: iterations must be a non-negative integer, "
                             f"received {iterations!r}.")
        lr = self._learning_rate.value
        if state.get("learning_rate") is not None:
            lr = check_number(state["learning_rate"], "learning_rate", f"{self.name}.set_state", low=0.0)
        steps = self.gradient_accumulation_steps  # (the state counts apply calls: accumulation.py)
        scalars = self._check_scalar_state(state, int(iterations) // steps if steps else int(iterations))
        slots = state.get("slots") or {}
        if not isinstance(slots, dict):
            raise ValueError(f"{self.name}.set_state: 'slots' must be a dict of arrays, "
                             f"received {type(slots).__name__}.")
        if slots and set(slots) != set(self.slot_names):
            raise ValueError(f"{self.name}.set_state: the state has slots {sorted(slots)}, this {type(self).__name__}"
                             f" ({self._describe()}) has {sorted(self.slot_names)}.")
        if slots and self.ops is not None:
            self._check_slots(slots)
        self._set_iteration_count(iterations)
        self._learning_rate.value = lr
        self._learning_rate.follow(self._iteration_count)  # a scheduled rate: from the iterations, not the state
        self._set_scalar_state(scalars)
        if slots and self.ops is not None:
            self._assign_slots(slots)
        elif slots:
            self._pending = dict(slots)

    def _check_slots(self, slots):
        for name, arr in slots.items():
            size, want = getattr(arr, "size", None), self._slot_size(name)
            if size != want:
                over = (f"the model has {self._size} trainable parameters" if want == self._size else
                        f"this {type(self).__name__} needs {want} over the model's {self._size} trainable parameters")
                raise ValueError(f"{self.name}: optimizer slot '{name}' holds {size} values, {over}; the saved "
                                 f"optimizer state does not match.")

    def _assign_slots(self, slots):
        for name, arr in slots.items():
            buf = self._slots[name]
            buf[...] = self.ops.asarray(arr, dtype=buf.dtype).reshape(-1)

    def _scalar_state(self):
        return {}

    def _check_scalar_state(self, state, iterations):
        return {}

    def _set_scalar_state(self, values):
        pass

    def _describe(self):
        return ", ".join(f"{k}={getattr(self, k)!r}" for k in self._hyper_names)
