"""`Optimizer`: Keras's optimizer API over one flat parameter buffer.

Contract used by models: after compile the model packs its trainable weights
into one flat array ``params`` (and their gradients into ``grads``), calls
``opt.build(ops, params, layout)`` (``layout``: list of ``(path, offset,
shape)``), then ``opt.apply(params, grads)`` once per batch. The math lives in
backend methods (``ops.adam_update`` ...), one call per step over the whole
buffer; this module only folds the scalars.
"""
import re

from .hyperparameter import Hyperparameter, ScheduledRate, check_number
from .schedules import LearningRateSchedule
from . import schedules as _schedules
from .state import OptimizerState
from .ema import MovingAverageMixin
from .gradient_apply import ApplyGradientsMixin
from .accumulation import GradientAccumulationMixin

# Keras 3 / tf.keras 2.11+ config keys gpunet accepts when they ask for nothing
# (value: predicate on the received value).
_NOOP_KWARGS = {
    "is_legacy_optimizer": lambda v: True,
    "jit_compile": lambda v: True,
    "loss_scale_factor": lambda v: v is None or v == 1,
}


class Optimizer(ApplyGradientsMixin, MovingAverageMixin, GradientAccumulationMixin, OptimizerState):
    """Base class: common Keras arguments, state, config and the step driver.

    Args:
        learning_rate: a number (``lr=`` accepted, Keras 2's spelling), or a
            `gpunet.optimizers.schedules.LearningRateSchedule` (each step's rate is
            ``schedule(iterations)``; it cannot be assigned then, as in Keras).
        name: the optimizer's name (defaults to the class name).
        clipvalue: clip each gradient element to ``[-clipvalue, clipvalue]``.
        clipnorm: rescale each weight's gradient to a norm of at most ``clipnorm``.
        global_clipnorm: rescale all gradients so their global norm is at most this.
        weight_decay: Keras 3's decoupled decay ``p -= p * lr * weight_decay`` before each step.
        decay: Keras 2's inverse-time decay, ``lr_t = lr / (1 + decay * iterations)``.
        use_ema, ema_momentum, ema_overwrite_frequency: Keras 3's moving average of the weights (ema.py).
        gradient_accumulation_steps: Keras 3's: update every n-th step with the mean of n steps' gradients
            (accumulation.py).
    """

    _hyper_names = ()  # the subclass's config keys, also its attribute names

    def __init__(self, learning_rate, name=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 weight_decay=None, use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 gradient_accumulation_steps=None, **kwargs):
        cls = type(self).__name__
        if "lr" in kwargs:  # Keras 2: `lr` wins over `learning_rate`
            learning_rate = kwargs.pop("lr")
        decay = kwargs.pop("decay", None)
        for key in [k for k in kwargs if k in _NOOP_KWARGS]:
            value = kwargs.pop(key)
            if not _NOOP_KWARGS[key](value):
                raise ValueError(f"{cls}: gpunet does not implement {key}={value!r}; leave it at its default.")
        if kwargs:
            allowed = ["learning_rate", "lr", "name", "clipnorm", "clipvalue", "global_clipnorm", "weight_decay",
                       "decay", "use_ema", "ema_momentum", "ema_overwrite_frequency", "gradient_accumulation_steps",
                       *self._hyper_names]
            raise TypeError(f"{cls} got unexpected keyword argument(s) {sorted(kwargs)}. Allowed: {allowed}.")
        if isinstance(learning_rate, dict):  # a config's serialized schedule
            learning_rate = _schedules.deserialize(learning_rate)
        if isinstance(learning_rate, LearningRateSchedule):
            self._learning_rate = ScheduledRate(learning_rate, cls)
        else:
            self._learning_rate = Hyperparameter("learning_rate", learning_rate, cls)
        self.decay = self._check_decay(decay)
        self.name = cls if name is None else str(name)
        self.clipnorm = check_number(clipnorm, "clipnorm", cls, low=0.0, allow_none=True)
        self.clipvalue = check_number(clipvalue, "clipvalue", cls, low=0.0, allow_none=True)
        self.global_clipnorm = check_number(global_clipnorm, "global_clipnorm", cls, low=0.0, allow_none=True)
        if self.clipnorm is not None and self.global_clipnorm is not None:
            raise ValueError(f"{cls} cannot accept both clipnorm and global_clipnorm, received "
                             f"clipnorm={self.clipnorm}, global_clipnorm={self.global_clipnorm}.")
        self.weight_decay = check_number(weight_decay, "weight_decay", cls, low=0.0, allow_none=True)
        self._init_ema(use_ema, ema_momentum, ema_overwrite_frequency, cls)
        self._init_accumulation(gradient_accumulation_steps, cls)
        self.iterations = 0
        self.ops = None
        self._slots = {}
        self._dormant = {}  # slots whose setting was switched off after build (see _sync_slots)
        self._size = self._dtype = None
        self._bounds = []
        self._shapes = []
        self._paths = []
        self._gbuf = self._abuf = None
        self._exclude = None
        self._decay_mask = None
        self._pending = None

    def _check_decay(self, decay):
        return check_number(decay, "decay", type(self).__name__, low=0.0, allow_none=True) or 0.0

    # ---- hyperparameters ------------------------------------------------------------------
    @property
    def learning_rate(self):
        """The learning rate as a `Hyperparameter` (``float()`` it); assign a number to change it."""
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        if isinstance(value, LearningRateSchedule):  # Keras 3 lets a schedule replace the rate
            self._learning_rate = ScheduledRate(value, type(self).__name__)
            self._learning_rate.follow(self._iteration_count)
        else:
            self._learning_rate.assign(value)

    def rate_at(self, iterations):
        """The learning rate of the step after ``iterations`` steps, before Keras 2's ``decay``
        (the GPU plan writes a whole epoch's rates ahead of its steps)."""
        return self._learning_rate.at(iterations)

    @property
    def _lr_schedule(self):
        """The `LearningRateSchedule` the rate follows, or None for a constant rate."""
        return getattr(self._learning_rate, "schedule", None)

    lr = learning_rate  # Keras 2's alias

    def _slot_init(self, name):
        return 0.0

    def slot_shape(self, name, shape):
        """The shape of slot ``name``'s array for a weight of ``shape`` (Keras's slot variable), or
        None where Keras makes no such variable. The weight's own shape here; Adafactor's factored
        ``"r"`` and ``"c"`` differ. A slot's flat buffer holds its arrays in layout order."""
        return tuple(shape)

    def slot_segments(self, name, shapes=None):
        """``[(offset, shape) or None]``, one per weight: where slot ``name``'s flat buffer holds
        that weight's array (`slot_shape`). ``shapes``: the weights' shapes, the built layout's by default."""
        out, offset = [], 0
        for shape in self._shapes if shapes is None else shapes:
            own = self.slot_shape(name, shape)
            out.append(None if own is None else (offset, own))
            offset += 0 if own is None else _size(own)
        return out

    def _slot_size(self, name):
        """The length of slot ``name``'s flat buffer over the built layout."""
        ends = [off + _size(shape) for off, shape in filter(None, self.slot_segments(name))]
        return ends[-1] if ends else 0

    # ---- build and step --------------------------------------------------------------------
    def build(self, ops, params, layout=None):
        """Allocate the slots over the flat buffer ``params`` (``layout``: ``(path, offset, shape)``
        per weight). Called again (recompile, ``model.to``), it keeps slot values whose size matches."""
        if getattr(params, "ndim", None) != 1:
            raise ValueError(f"{self.name}.build expects a flat (1-D) parameter buffer, "
                             f"received shape {getattr(params, 'shape', type(params).__name__)}.")
        n, dtype = params.shape[0], params.dtype
        layout = list(layout) if layout is not None else [("params", 0, (n,))]
        bounds = [(int(off), int(off) + _size(shape)) for _, off, shape in layout]
        if sum(b - a for a, b in bounds) != n:
            raise ValueError(f"{self.name}.build: layout covers {sum(b - a for a, b in bounds)} parameters, "
                             f"the flat buffer has {n}.")
        self._shapes = [tuple(int(d) for d in shape) for _, _, shape in layout]
        slots = {}
        for name in self.slot_names:
            old, size = self._slots.get(name), self._slot_size(name)
            if old is not None and old.shape == (size,):
                if self.ops is not ops or old.dtype != dtype:
                    old = ops.asarray(self.ops.to_host(old), dtype=dtype)
                slots[name] = old
            else:
                slots[name] = ops.full((size,), self._slot_init(name), dtype)
        self.ops, self._slots, self._size, self._bounds, self._dtype = ops, slots, n, bounds, dtype
        self._dormant = {}
        self._paths = [path for path, _, _ in layout]
        self._gbuf = None
        self._build_decay_mask()
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self._check_slots(pending)
            self._assign_slots(pending)

    def apply(self, params, grads=None):
        """One step in place: clip ``grads`` (into a private buffer), then update ``params``
        and the slots; ``iterations`` counts the steps. Keras 3's ``apply(grads, trainable_variables)`` (lists)
        is `apply_gradients` over the pairs."""
        if isinstance(params, (list, tuple)):
            return self._keras3_apply(params, grads)
        if self.ops is None:
            raise RuntimeError(f"{self.name}.apply called before build(ops, params, layout).")
        self._sync_slots()
        count = self._iteration_count  # (a schedule reads the calls, Keras 3's `_iterations`: accumulation.py)
        if self.gradient_accumulation_steps:
            grads = self._accumulate(params, grads)
            if grads is None:
                return
        if self.clipvalue is not None or self.clipnorm is not None or self.global_clipnorm is not None:
            grads = self._clip(grads)
        lr = self._learning_rate.follow(count)
        if self.decay:
            lr = lr / (1.0 + self.decay * self.iterations)
        self.iterations += 1
        self._learning_rate.follow(self._iteration_count)
        if self.weight_decay:
            self._apply_weight_decay(params, lr)
        self._update(params, grads, lr, self.iterations)
        if self.use_ema:
            self._ema_step(params)

    def _update(self, params, grads, lr, t):
        raise NotImplementedError

    def _clip(self, grads):
        ops, out = self.ops, self._gbuf
        if out is None or out.shape != grads.shape or out.dtype != grads.dtype:
            out = self._gbuf = ops.empty(grads.shape, grads.dtype)
        src = grads
        if self.clipvalue is not None:
            src = ops.clip_by_value(src, self.clipvalue, out)
        if self.clipnorm is not None:
            src = ops.clip_by_norm(src, self.clipnorm, self._bounds, out)
        if self.global_clipnorm is not None:
            src = ops.clip_by_global_norm(src, self.global_clipnorm, out)
        return src

    def _apply_weight_decay(self, params, lr):
        self.ops.apply_weight_decay(params, lr * self.weight_decay, self._decay_mask)

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Keras 3: no weight decay for the weights in ``var_list`` (gpunet Weights) or whose
        path (``"dense/bias"``) contains any string of ``var_names`` (regular expressions)."""
        patterns = [re.escape(w.path) for w in var_list or []] + list(var_names or [])
        self._exclude = re.compile("|".join(patterns)) if patterns else None
        if self.ops is not None:
            self._build_decay_mask()

    def _build_decay_mask(self):
        self._decay_mask = None
        if self._exclude is None or self.ops is None:
            return
        ops, dtype = self.ops, self._dtype
        self._decay_mask = ops.concatenate([ops.full((b - a,), 0.0 if self._exclude.search(p) else 1.0, dtype)
                                            for p, (a, b) in zip(self._paths, self._bounds)])

    # ---- config --------------------------------------------------------------------------------
    def get_config(self):
        """Keras's config: name, learning_rate, the optimizer's own arguments, and the
        common ones (Keras 3 keys); ``decay`` only when set (Keras 2)."""
        schedule = self._lr_schedule
        config = {"name": self.name,
                  "learning_rate": self._learning_rate.value if schedule is None else _schedules.serialize(schedule)}
        config.update((k, getattr(self, k)) for k in self._hyper_names)
        if self.decay:
            config["decay"] = self.decay
        config.update(weight_decay=self.weight_decay, clipnorm=self.clipnorm,
                      global_clipnorm=self.global_clipnorm, clipvalue=self.clipvalue)
        config.update(self._ema_config())
        config.update(self._accumulation_config())
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """Rebuild from `get_config` (or a Keras 2 / Keras 3 optimizer config)."""
        return cls(**dict(config))

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} learning_rate={self._learning_rate.value!r}>"


def _size(shape):
    n = 1
    for d in shape:
        n *= int(d)
    return n
