"""The optimizer's launch inside a GPU training step (gpu_plan.py): one fused update over the
flat parameter buffer, its per-step scalars (learning rate or Adam's bias-corrected alpha, and
the momentum) read from a device table so that a captured step replays with each step's values.

The scalars are computed on the host exactly as `Optimizer.apply` and
`CupyBackend.adam_update` compute them (Keras 2's inverse-time ``decay`` included), so a
plan's step and the layer path's step do the same arithmetic.

An optimizer without a fused update (Adafactor, your subclass of an optimizer, Adam with
``adaptive_epsilon``) updates by its own ``apply`` (kind "own"), the layer path's code and values,
between the step's captured graphs (a `Between` entry): the layers, the loss and the rest of the
step keep their kernels and graphs.
"""
from . import optimizer_launches as OL
from .gpu_graphs import Between
from .gpu_grad_transforms import StepGradTransforms

# AdamW is Adam after the decay launch (gpu_grad_transforms.py), as its layer path does
_KINDS = {"SGD": "sgd", "Adam": "adam", "AdamW": "adam", "RMSprop": "rmsprop", "Adagrad": "adagrad",
          "Adamax": "adamax", "Nadam": "nadam", "Lion": "lion", "Adadelta": "adadelta", "Ftrl": "ftrl"}
# the kinds without a momentum in the table (its second value stays 0)
_NO_MOMENTUM = ("adam", "adagrad", "adamax", "nadam", "lion", "adadelta", "ftrl")


def optimizer_kind(optimizer):
    """The `_KINDS` value ("sgd", "adam", ...) where a fused update with a device table
    serves this optimizer (its clipping and weight decay as launches before it), else None
    (other optimizers, and subclasses: a user's subclass may change what apply does)."""
    kind = _KINDS.get(type(optimizer).__name__)
    if kind is None or type(optimizer).__module__.split(".")[0] != "gpunet":
        return None
    if getattr(optimizer, "adaptive_epsilon", False):  # epsilon varies per step; the kernels bake it in
        return None
    if getattr(optimizer, "use_ema", False):  # the moving average follows the update (its own apply)
        return None
    if getattr(optimizer, "gradient_accumulation_steps", None):  # most steps only accumulate (its own apply)
        return None
    return kind


def step_optimizer(optimizer, params, grads, sm_count):
    """The update of a GPU step for ``optimizer``: its fused kernel (`StepOptimizer`), else its own
    ``apply`` (`OwnUpdate`)."""
    cls = StepOptimizer if optimizer_kind(optimizer) is not None else OwnUpdate
    return cls(optimizer, params, grads, sm_count)


class StepOptimizer:
    """`launch(table, index)`: the update of one step; `scalars(first_t, count)`: the table's
    values for the steps whose iteration counts are ``first_t, first_t + 1, ...``."""

    def __init__(self, optimizer, params, grads, sm_count):
        self.optimizer, self.kind = optimizer, optimizer_kind(optimizer)
        self.params, self.grads, self.sm_count = params, grads, sm_count
        self._transforms, self._transforms_key = None, None

    def ready(self, ops):
        s = self.optimizer.slots()
        slots = [s.get(n) for n in ("m", "v", "vhat", "momentum", "rms", "mg", "accumulator", "accum_grad",
                                    "accum_var", "linear")]
        return self.kind is not None and ops._flat_ready(self.params, self.grads, *slots)

    def transforms(self, ops):
        """The clip and weight-decay launches' owner (`StepGradTransforms`), rebuilt when what they
        bake in changed; None when the optimizer neither clips nor decays."""
        o = self.optimizer
        if not StepGradTransforms.needed(o):
            self._transforms = self._transforms_key = None
            return None
        key = StepGradTransforms.key(o)
        if key != self._transforms_key:
            self._transforms, self._transforms_key = StepGradTransforms(ops, o, self.params, self.grads), key
        return self._transforms

    def launches(self, ops, table, index):
        """The step's launches from the averaged gradients on: clipping, weight decay, the update."""
        transforms = self.transforms(ops)
        return (transforms.launches(index) if transforms is not None else []) + [self.launch(table, index)]

    def write_factors(self, ops, first, count, rows):
        """The weight-decay factors of these steps (see `StepGradTransforms.write`); True when the
        steps must be built again."""
        transforms = self.transforms(ops)
        return transforms is not None and transforms.write(first, count, rows)

    def launch(self, table, index):
        o, p, g, s, sm = self.optimizer, self.params, self.grads, self.optimizer.slots(), self.sm_count
        if self.kind == "sgd":
            return OL.plan_sgd(p, g, s.get("momentum"), 0.0, o.momentum, o.nesterov, sm, table, index)
        if self.kind == "adam":
            return OL.plan_adam(p, g, s["m"], s["v"], s.get("vhat"), 0.0, o.beta_1, o.beta_2, o.epsilon, sm, table,
                               index)
        if self.kind == "adagrad":
            return OL.plan_adagrad(p, g, s["accumulator"], 0.0, o.epsilon, sm, table, index)
        if self.kind == "adamax":
            return OL.plan_adamax(p, g, s["m"], s["v"], 0.0, o.beta_1, o.beta_2, o.epsilon, sm, table, index)
        if self.kind == "lion":
            return OL.plan_lion(p, g, s["m"], 0.0, o.beta_1, o.beta_2, sm, table, index)
        if self.kind == "adadelta":
            return OL.plan_adadelta(p, g, s["accum_grad"], s["accum_var"], 0.0, o.rho, o.epsilon, sm, table, index)
        if self.kind == "ftrl":
            return OL.plan_ftrl(p, g, s["accumulator"], s["linear"], 0.0, o, sm, table, index)
        if self.kind == "nadam":
            return OL.plan_nadam(p, g, s["m"], s["v"], (0.0,) * 4, o.beta_1, o.beta_2, o.epsilon, sm, table, index)
        mg = s.get("mg") if o.centered else None
        return OL.plan_rmsprop(p, g, s["rms"], s.get("momentum"), mg, 0.0, o.rho, o.momentum, o.epsilon, sm, table,
                              index)

    @property
    def table_width(self):
        """Values per step in the device table: [rate, momentum], or Nadam's (lr, a, b, c)."""
        return 4 if self.kind == "nadam" else 2

    def scalars(self, first_t, count):
        """The table's rows, [scalar, momentum] per step (Nadam: `optimizer_launches.nadam_scalars`),
        Python floats; ``t`` is the iteration count after the step (1 first)."""
        o = self.optimizer
        momentum = self.momentum()
        out, u_product = [], getattr(o, "m_schedule", 1.0)
        for t in range(first_t, first_t + count):
            lr = o.rate_at(t - 1)  # (a LearningRateSchedule's rate of that step)
            lr = lr / (1.0 + o.decay * (t - 1)) if o.decay else lr
            if self.kind == "nadam":  # the schedule as Nadam._update runs it, step after step
                u_t, u_next = o.beta_1 * (1.0 - 0.5 * 0.96**t), o.beta_1 * (1.0 - 0.5 * 0.96 ** (t + 1))
                u_product *= u_t
                out.append(OL.nadam_scalars(lr, o.beta_1, o.beta_2, t, u_t, u_next, u_product))
                continue
            if self.kind == "adam":
                lr = lr * (1.0 - o.beta_2**t) ** 0.5 / (1.0 - o.beta_1**t)
            elif self.kind == "adamax":
                lr = lr / (1.0 - o.beta_1**t)
            out.append((lr, momentum))
        return out

    def momentum(self):
        return 0.0 if self.kind in _NO_MOMENTUM else float(self.optimizer.momentum)

    def advance(self, count):
        """The host's record of ``count`` steps run on the device: the iteration count, Nadam's
        schedule product (saved with the model, and read by the next table) and a schedule's rate."""
        o = self.optimizer
        if self.kind == "nadam":
            for _ in range(count):
                o.m_schedule *= o.beta_1 * (1.0 - 0.5 * 0.96 ** (o.iterations + 1))
                o.iterations += 1
        else:
            o.iterations += count
        # a scheduled rate reads as the next step's, as after the layer path's steps (callbacks log it)
        o._learning_rate.follow(o.iterations)

    def per_step(self):
        """What the tables hold, as the optimizer has it now: a change means rewriting them."""
        o = self.optimizer
        rate = o.learning_rate.value if o._lr_schedule is None else o._lr_schedule  # (a schedule: the object)
        return rate, self.momentum(), o.weight_decay, o.decay

    def baked(self):
        """The hyperparameters the launches bake in, and the slots they use: a change means
        rebuilding the steps."""
        o = self.optimizer
        if self.kind == "sgd":
            own = (o.nesterov,)
        elif self.kind == "adam":
            own = o.beta_1, o.beta_2, o.epsilon, o.amsgrad
        elif self.kind == "adagrad":
            own = (o.epsilon,)
        elif self.kind in ("adamax", "nadam"):
            own = o.beta_1, o.beta_2, o.epsilon
        elif self.kind == "lion":
            own = o.beta_1, o.beta_2
        elif self.kind == "adadelta":
            own = o.rho, o.epsilon
        elif self.kind == "ftrl":
            own = tuple(getattr(o, name) for name in o._hyper_names)
        else:
            own = o.rho, o.epsilon, o.centered
        return own + tuple(o.slot_names) + StepGradTransforms.key(o)


class OwnUpdate(StepOptimizer):
    """An optimizer without a fused update (kind "own"): its ``apply`` runs between the step's captured
    graphs, clipping, decaying, counting its iterations and following its schedule on the host as the
    layer path's does; the device table holds nothing of it."""

    def __init__(self, optimizer, params, grads, sm_count):
        super().__init__(optimizer, params, grads, sm_count)
        self.kind = "own"

    def ready(self, ops):
        return ops._flat_ready(self.params, self.grads)

    def transforms(self, ops):
        return None  # (apply clips and decays itself)

    def launch(self, table, index):
        return Between(lambda: self.optimizer.apply(self.params, self.grads))

    def scalars(self, first_t, count):
        return [(0.0, 0.0)] * count

    def momentum(self):
        return 0.0

    def advance(self, count):
        pass  # (apply counted its steps)

    def per_step(self):
        return ()

    def baked(self):
        return (type(self.optimizer),)  # (nothing baked in: apply reads its hyperparameters at each step)
