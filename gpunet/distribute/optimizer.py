"""`DistributedOptimizer`: any gpunet optimizer, with the flat gradient averaged over the ranks.

The wrapper is an instance of a subclass of the wrapped optimizer's class that shares the wrapped
optimizer's state (one attribute dict): learning rate, slots and iterations are the same objects.
So a saved model holds the wrapped optimizer's class name, config and state (a file saved in a
distributed run loads in a plain one), `LearningRateScheduler` and friends change the one learning
rate, and the GPU step plan runs the wrapped optimizer's fused update (``inner``) after calling
``allreduce_gradients`` between the backward pass and the update.
"""
from .. import optimizers as _optimizers
from . import runtime

_SUBCLASSES = {}


class _Wrapped:
    """Mixed in before the wrapped class. Alone (a job of one rank) it changes nothing: the step
    costs what the wrapped optimizer's costs, and the GPU plan keeps its whole step in one graph."""
    __slots__ = ()

    @property
    def inner(self):
        """The wrapped optimizer (same state as this wrapper)."""
        return self._inner

    def __repr__(self):
        return f"<DistributedOptimizer({super().__repr__()}) on {self._world.size} rank(s)>"


class _Distributed(_Wrapped):
    """Several ranks: ``apply`` averages first (before clipping), then updates."""
    __slots__ = ()

    def apply(self, params, grads):
        """Average ``grads`` over the ranks in place (one collective), then the wrapped update."""
        self.allreduce_gradients(grads)
        super().apply(params, grads)

    def allreduce_gradients(self, grads):
        """``grads`` (the flat gradient buffer, NumPy or CuPy) becomes the mean over the ranks of
        every rank's gradient, weighted by its share of the global batch where fit says so."""
        world = self._world
        schedule = self._schedule
        weight = schedule.next_weight() if schedule is not None else None
        if weight is None:  # train_on_batch, or a step outside fit's schedule: equal shares
            weight = 1.0 / world.size
        if weight == 0.0:
            schedule.on_empty()
            grads.fill(0)  # a rank with no sample in this step: its (padded) gradient must not count
        elif weight != 1.0:
            grads *= weight
        world.allreduce_(grads, ("the gradient average of step", schedule.index if schedule else "(train_on_batch)"))
        return grads


def DistributedOptimizer(optimizer, **kwargs):
    """Wrap ``optimizer`` (an instance, name or config) for data-parallel training, as Horovod's
    ``hvd.DistributedOptimizer``: each step's flat gradient is averaged over the ranks in one
    collective (MPI or NCCL) before clipping and the update. Call `init` first::

        opt = gpunet.distribute.DistributedOptimizer(gpunet.optimizers.Adam(0.001 * size()))
        model.compile(optimizer=opt, loss="binary_crossentropy")

    Horovod's other arguments (compression, sparse_as_dense, ...) are refused by name.
    """
    if kwargs:
        raise TypeError(f"DistributedOptimizer takes the optimizer only; gpunet does not implement "
                        f"{sorted(kwargs)}.")
    world = runtime.world()
    opt = _optimizers.get(optimizer)
    if isinstance(opt, _Wrapped):
        return opt
    cls, mixin = type(opt), _Distributed if world.size > 1 else _Wrapped
    sub = _SUBCLASSES.get((cls, mixin))
    if sub is None:
        sub = _SUBCLASSES[cls, mixin] = type(cls.__name__, (mixin, cls), {
            "__slots__": ("_inner", "_world", "_schedule"), "__module__": cls.__module__,
            "__qualname__": cls.__qualname__, "__doc__": cls.__doc__})
    wrapper = object.__new__(sub)
    wrapper.__dict__ = opt.__dict__  # one state: see the module docstring
    wrapper._inner, wrapper._world, wrapper._schedule = opt, world, None
    return wrapper


def is_distributed(optimizer):
    """Whether ``optimizer`` is a `DistributedOptimizer`."""
    return isinstance(optimizer, _Wrapped)


class StepWeights:
    """Each step's weight of this rank's gradient in the global mean: its samples over the step's
    global batch. fit sets one per epoch; ``on_empty`` runs for a step where this rank has none,
    ``before_empty`` at the update of the step before it (its forward pass not yet run)."""

    def __init__(self, weights, on_empty, before_empty=None):
        self.weights, self.on_empty, self.before_empty, self.index = weights, on_empty, before_empty, 0

    def next_weight(self):
        i = self.index
        self.index = i + 1
        if self.before_empty is not None and i + 1 < len(self.weights) and self.weights[i + 1] == 0.0:
            self.before_empty()
        return self.weights[i] if i < len(self.weights) else None

    def peek(self):
        """The current step's weight (what `next_weight` will return), not advancing."""
        return self.weights[self.index] if self.index < len(self.weights) else None
