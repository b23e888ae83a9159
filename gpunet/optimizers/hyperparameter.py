"""`Hyperparameter`: a scalar that reads like a number and can be assigned.

Keras code treats ``optimizer.learning_rate`` as a variable:
``K.set_value(opt.lr, 0.01)``, ``opt.learning_rate.assign(0.01)``,
``float(K.get_value(opt.lr))``, ``opt.lr * 0.5``. gpunet keeps the value as a
Python float (the step needs no device sync to read it) behind this small
object with the same surface.
"""
import math
import numbers


def check_number(value, name, owner, low=None, high=None, high_open=False, allow_none=False):
    """``value`` as a Python float, or a clear TypeError / ValueError naming ``owner``'s ``name``."""
    if value is None and allow_none:
        return None
    if isinstance(value, Hyperparameter):
        value = value.value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        # NumPy/CuPy 0-d arrays are not numbers.Real but convert cleanly.
        if isinstance(value, (str, bytes, dict, list, tuple)) or not hasattr(value, "__float__") or \
                getattr(value, "size", 1) != 1:
            expected = "a number" + (" or None" if allow_none else "")
            hint = (" A learning rate that changes step by step is a gpunet.optimizers.schedules."
                    "LearningRateSchedule (ExponentialDecay, ...); epoch by epoch, the LearningRateScheduler "
                    "or ReduceLROnPlateau callback."
                    if name == "learning_rate" and callable(value) else "")
            raise TypeError(f"{owner} expects {name} to be {expected}, received {value!r} "
                            f"(of type {type(value).__name__}).{hint}")
    value = float(value)
    if math.isnan(value) or (low is not None and value < low) or \
            (high is not None and (value >= high if high_open else value > high)):
        if high is not None:
            bounds = f"in [{low}, {high}{')' if high_open else ']'}"
        else:
            bounds = ">= 0" if low == 0 else (f">= {low}" if low is not None else "to be a number (not NaN)")
        raise ValueError(f"{owner} expects {name} {bounds}, received {name}={value!r}.")
    return value


class Hyperparameter:
    """A named scalar hyperparameter (Keras's optimizer variable).

    Supports ``float()``, arithmetic and comparisons with numbers, ``assign(v)``,
    ``numpy()`` (a Python float), f-string formatting, and
    ``gpunet.backend.set_value`` / ``get_value``::

        opt = gpunet.optimizers.Adam()
        opt.learning_rate.assign(0.01)       # or opt.learning_rate = 0.01
        float(opt.lr) * 0.5                  # 0.005
    """

    __slots__ = ("name", "value", "_owner", "_low")
    __hash__ = None  # mutable and compared by value, like a variable
    __array_ufunc__ = None  # NumPy scalars defer to the reflected operators below

    def __init__(self, name, value, owner="Optimizer", low=0.0):
        self.name, self._owner, self._low = name, owner, low
        self.value = check_number(value, name, owner, low=low)

    def at(self, iterations):
        """The value for the step after ``iterations`` steps: constant here; `ScheduledRate`'s
        follows its schedule."""
        return self.value

    def follow(self, iterations):
        """Keep `at(iterations)` as the value (the rate of the next step); returns it."""
        return self.value

    def assign(self, value):
        """Set the value (a number); returns self."""
        self.value = check_number(value, self.name, self._owner, low=self._low)
        return self

    def numpy(self):
        """The value as a Python float (what ``K.get_value`` returns)."""
        return self.value

    def __float__(self):
        return self.value

    def __int__(self):
        return int(self.value)

    def __bool__(self):
        return self.value != 0.0

    def __round__(self, ndigits=None):
        return round(self.value, ndigits)

    def __format__(self, spec):
        return format(self.value, spec)

    def __str__(self):
        return str(self.value)

    def __repr__(self):
        return f"<Hyperparameter '{self.name}' value={self.value!r}>"

    def __neg__(self):
        return -self.value

    def __pos__(self):
        return self.value

    def __abs__(self):
        return abs(self.value)


def _binary(op, reflected=False):
    def method(self, other):
        if isinstance(other, Hyperparameter):
            other = other.value
        elif not isinstance(other, numbers.Number) and not hasattr(other, "__float__"):
            return NotImplemented
        return op(other, self.value) if reflected else op(self.value, other)
    return method


for _name, _op in (("add", lambda a, b: a + b), ("sub", lambda a, b: a - b), ("mul", lambda a, b: a * b),
                   ("truediv", lambda a, b: a / b), ("floordiv", lambda a, b: a // b),
                   ("mod", lambda a, b: a % b), ("pow", lambda a, b: a ** b)):
    setattr(Hyperparameter, f"__{_name}__", _binary(_op))
    setattr(Hyperparameter, f"__r{_name}__", _binary(_op, reflected=True))
for _name, _op in (("eq", lambda a, b: a == b), ("ne", lambda a, b: a != b), ("lt", lambda a, b: a < b),
                   ("le", lambda a, b: a <= b), ("gt", lambda a, b: a > b), ("ge", lambda a, b: a >= b)):
    setattr(Hyperparameter, f"__{_name}__", _binary(_op))
del _name, _op


class ScheduledRate(Hyperparameter):
    """An optimizer's rate that follows a `LearningRateSchedule`: reads as the rate of the next
    step; assigning a number raises TypeError (Keras's rule), assigning a schedule replaces it."""
    __slots__ = ("schedule",)

    def __init__(self, schedule, owner):
        self.name, self._owner, self._low, self.schedule = "learning_rate", owner, 0.0, schedule
        self.value = self.at(0)

    def at(self, iterations):
        return check_number(self.schedule(iterations), f"the learning rate {type(self.schedule).__name__} gives",
                            self._owner, low=0.0)

    def follow(self, iterations):
        self.value = self.at(iterations)
        return self.value

    def assign(self, value):
        raise TypeError(f"{self._owner}'s learning rate follows a {type(self.schedule).__name__} schedule, so it "
                        f"cannot be set to {value!r} (as in Keras). Create the optimizer with a number as "
                        f"learning_rate to change it during training (LearningRateScheduler, ReduceLROnPlateau), "
                        f"or assign another schedule to optimizer.learning_rate.")
