"""Learning-rate schedules (``keras.optimizers.schedules``): pass one as an optimizer's
``learning_rate`` and each step's rate is ``schedule(iterations)``, the steps taken before it.

    lr = gpunet.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1000, decay_rate=0.96)
    model.compile(optimizer=gpunet.optimizers.SGD(learning_rate=lr), loss="mse")

The formulas are Keras 3's (tf.keras 2's agree), computed in float64 on the host; configs are
Keras's, so files with a scheduled optimizer go both ways between gpunet and Keras. Write your
own by subclassing `LearningRateSchedule` (``__call__(step)`` and ``get_config()``).
"""
import math

from .hyperparameter import check_number


class LearningRateSchedule:
    """Base class: ``schedule(step)`` gives the learning rate of the step after ``step`` steps."""

    def __call__(self, step):
        raise NotImplementedError(f"{type(self).__name__} must implement __call__(step).")

    def get_config(self):
        raise NotImplementedError(f"{type(self).__name__} must implement get_config() to be saved.")

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _steps(value, name, owner):
    value = check_number(value, name, owner)
    if value <= 0:
        raise ValueError(f"{owner} expects {name} > 0, received {name}={value!r}.")
    return value


class ExponentialDecay(LearningRateSchedule):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)`` (the exponent floored with
    ``staircase=True``)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="ExponentialDecay"):
        self.initial_learning_rate = check_number(initial_learning_rate, "initial_learning_rate", type(self).__name__)
        self.decay_steps = _steps(decay_steps, "decay_steps", type(self).__name__)
        self.decay_rate = check_number(decay_rate, "decay_rate", type(self).__name__)
        self.staircase, self.name = bool(staircase), name

    def __call__(self, step):
        p = step / self.decay_steps
        return self.initial_learning_rate * self.decay_rate ** (math.floor(p) if self.staircase else p)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


class InverseTimeDecay(ExponentialDecay):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)`` (the quotient floored
    with ``staircase=True``)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="InverseTimeDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step):
        p = step / self.decay_steps
        return self.initial_learning_rate / (1.0 + self.decay_rate * (math.floor(p) if self.staircase else p))


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` up to and including step ``boundaries[0]``, ``values[1]`` up to
    ``boundaries[1]``, ..., ``values[-1]`` after the last boundary."""

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        boundaries, values = list(boundaries), list(values)
        if len(boundaries) != len(values) - 1:
            raise ValueError(f"PiecewiseConstantDecay needs one more value than boundaries, received "
                             f"boundaries={boundaries} ({len(boundaries)}) and values={values} ({len(values)}).")
        self.boundaries, self.values, self.name = boundaries, values, name

    def __call__(self, step):
        for boundary, value in zip(self.boundaries, self.values):
            if step <= boundary:
                return float(value)
        return float(self.values[-1])

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """From ``initial_learning_rate`` to ``end_learning_rate`` over ``decay_steps`` along
    ``(1 - step / decay_steps) ** power``; with ``cycle=True`` the span grows to the next multiple
    of ``decay_steps`` and starts over."""

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0, cycle=False,
                 name="PolynomialDecay"):
        owner = type(self).__name__
        self.initial_learning_rate = check_number(initial_learning_rate, "initial_learning_rate", owner)
        self.decay_steps = _steps(decay_steps, "decay_steps", owner)
        self.end_learning_rate = check_number(end_learning_rate, "end_learning_rate", owner)
        self.power = check_number(power, "power", owner)
        self.cycle, self.name = bool(cycle), name

    def __call__(self, step):
        span = self.decay_steps
        if self.cycle:
            span *= 1.0 if step == 0 else math.ceil(step / self.decay_steps)
        else:
            step = min(step, span)
        p = step / span
        return (self.initial_learning_rate - self.end_learning_rate) * (1.0 - p) ** self.power + self.end_learning_rate

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "end_learning_rate": self.end_learning_rate, "power": self.power, "cycle": self.cycle,
                "name": self.name}


def _cosine(fraction, alpha, scale=1.0):
    return (1.0 - alpha) * (0.5 * scale * (1.0 + math.cos(math.pi * fraction))) + alpha


class CosineDecay(LearningRateSchedule):
    """A cosine from ``initial_learning_rate`` down to ``alpha`` times it over ``decay_steps``;
    with ``warmup_target``, first a linear warm-up to it over ``warmup_steps``, then the cosine
    from the target."""

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay", warmup_target=None,
                 warmup_steps=0):
        owner = type(self).__name__
        self.initial_learning_rate = check_number(initial_learning_rate, "initial_learning_rate", owner)
        self.decay_steps = _steps(decay_steps, "decay_steps", owner)
        self.alpha = check_number(alpha, "alpha", owner)
        self.warmup_target = check_number(warmup_target, "warmup_target", owner, allow_none=True)
        self.warmup_steps = check_number(warmup_steps, "warmup_steps", owner, low=0.0)
        self.name = name

    def __call__(self, step):
        if self.warmup_target is None:
            return self.initial_learning_rate * _cosine(min(step, self.decay_steps) / self.decay_steps, self.alpha)
        step = min(step, self.decay_steps + self.warmup_steps)
        if step < self.warmup_steps:
            return (self.warmup_target - self.initial_learning_rate) * (step / self.warmup_steps) + \
                self.initial_learning_rate
        return self.warmup_target * _cosine((step - self.warmup_steps) / self.decay_steps, self.alpha)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "name": self.name, "warmup_target": self.warmup_target,
                "warmup_steps": self.warmup_steps}


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR): periods of ``first_decay_steps`` times ``t_mul``
    to the restart's power, peaks scaled by ``m_mul`` at each restart."""

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0, alpha=0.0, name="SGDRDecay"):
        owner = type(self).__name__
        self.initial_learning_rate = check_number(initial_learning_rate, "initial_learning_rate", owner)
        self.first_decay_steps = _steps(first_decay_steps, "first_decay_steps", owner)
        self.t_mul = check_number(t_mul, "t_mul", owner)
        self.m_mul = check_number(m_mul, "m_mul", owner)
        self.alpha = check_number(alpha, "alpha", owner)
        self.name = name

    def __call__(self, step):
        fraction = step / self.first_decay_steps
        if self.t_mul == 1.0:
            restart = math.floor(fraction)
            fraction -= restart
        else:
            restart = math.floor(math.log(1.0 - fraction * (1.0 - self.t_mul)) / math.log(self.t_mul))
            done = (1.0 - self.t_mul ** restart) / (1.0 - self.t_mul)
            fraction = (fraction - done) / self.t_mul ** restart
        return self.initial_learning_rate * _cosine(fraction, self.alpha, self.m_mul ** restart)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "first_decay_steps": self.first_decay_steps,
                "t_mul": self.t_mul, "m_mul": self.m_mul, "alpha": self.alpha, "name": self.name}


_BUILTIN = {cls.__name__: cls for cls in (ExponentialDecay, InverseTimeDecay, PiecewiseConstantDecay,
                                          PolynomialDecay, CosineDecay, CosineDecayRestarts)}


def serialize(schedule):
    """Keras 3's ``{"module", "class_name", "config", "registered_name"}`` for a schedule."""
    if not isinstance(schedule, LearningRateSchedule):
        raise TypeError(f"serialize expects a LearningRateSchedule, received {type(schedule).__name__}.")
    builtin = _BUILTIN.get(type(schedule).__name__) is type(schedule)
    from ..saving import registry
    return {"module": "keras.optimizers.schedules" if builtin else type(schedule).__module__,
            "class_name": type(schedule).__name__, "config": schedule.get_config(),
            "registered_name": None if builtin else registry.get_registered_name(type(schedule))}


def deserialize(config, custom_objects=None):
    """A schedule from Keras 2's ``{"class_name", "config"}`` or Keras 3's serialized dict; your
    own classes come from ``custom_objects`` or the registry (``register_serializable``)."""
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise ValueError(f"A learning-rate schedule config must be a dict with a 'class_name', received {config!r}.")
    from ..saving import registry
    name = config["class_name"]
    cls = _BUILTIN.get(name) or registry.get_registered_object(config.get("registered_name") or name, custom_objects)
    if cls is None and config.get("registered_name"):
        cls = registry.get_registered_object(name, custom_objects)
    if not (isinstance(cls, type) and issubclass(cls, LearningRateSchedule)):
        raise ValueError(f"Unknown learning-rate schedule {name!r}: expected one of {sorted(_BUILTIN)}, or your "
                         f"LearningRateSchedule subclass in custom_objects or registered with "
                         f"@gpunet.utils.register_serializable().")
    inner = config.get("config") or {}
    if not isinstance(inner, dict):
        raise ValueError(f"The 'config' of schedule {name!r} must be a dict, received {inner!r}.")
    return cls.from_config(dict(inner))


__all__ = ["LearningRateSchedule", "ExponentialDecay", "InverseTimeDecay", "PiecewiseConstantDecay",
           "PolynomialDecay", "CosineDecay", "CosineDecayRestarts", "serialize", "deserialize"]
