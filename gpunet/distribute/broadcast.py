"""`broadcast_weights`: every rank starts from the root's weights and optimizer state."""
from . import runtime


def broadcast_weights(model, root=0):
    """Give every rank ``root``'s weights (trainable and not), optimizer slots, iteration count and
    learning rate, in place: after it the ranks hold identical models, whether they were built from
    different random seeds or one of them loaded a checkpoint. Every rank must call it."""
    world = runtime.world()
    if not isinstance(root, int) or isinstance(root, bool) or not 0 <= root < world.size:
        raise ValueError(f"broadcast_weights: root must be a rank in [0, {world.size - 1}], received {root!r}")
    if not getattr(model, "built", False):
        raise RuntimeError(f"broadcast_weights: model '{model.name}' has no weights yet; build it (model.build, or a "
                           f"first layer with input_shape) or let BroadcastGlobalVariablesCallback do it in fit.")
    if world.size == 1:
        return
    _check_same_model(world, model)
    params = getattr(model, "_params", None)
    if params is not None:  # packed: every trainable weight is a view of one flat buffer
        world.bcast_(params, root, "broadcast_weights")
    else:
        for w in model.trainable_weights:
            _bcast_value(world, w, root)
    for w in model.non_trainable_weights:
        _bcast_value(world, w, root)
    if getattr(model, "optimizer", None) is not None:
        broadcast_optimizer_state(model.optimizer, root)


def _signature(model):
    weights = [(w.path, tuple(w.value.shape), str(w.value.dtype)) for w in model.weights]
    optimizer = getattr(model, "optimizer", None)
    slots = sorted(optimizer.slots()) if optimizer is not None else []
    return weights, slots


def _check_same_model(world, model):
    """Every rank must broadcast into the same weights and optimizer slots: checked first on every
    rank (one small collective), so a mismatch is a RuntimeError everywhere, not one rank failing
    inside the broadcast while the others wait in it."""
    seen = world.allgather_object(_signature(model), "broadcast_weights' check of the models")
    if any(s != seen[0] for s in seen):
        diff = next(r for r, s in enumerate(seen) if s != seen[0])
        (w0, s0), (wr, sr) = seen[0], seen[diff]
        what = (f"weights {[(p, s) for p, s, _ in w0]} vs {[(p, s) for p, s, _ in wr]}" if w0 != wr
                else f"optimizer slots {s0} vs {sr}")
        raise RuntimeError(f"broadcast_weights: the ranks built different models or optimizers (rank 0 vs rank {diff}: "
                           f"{what}); every rank must build and compile the same model.")


def _bcast_value(world, weight, root):
    value = weight.value
    if value.flags.c_contiguous:
        world.bcast_(value, root)
    else:
        buf = value.copy()
        world.bcast_(buf, root)
        value[...] = buf


def broadcast_optimizer_state(optimizer, root=0):
    """``root``'s iteration count, learning rate, scalar state and slots on every rank."""
    world = runtime.world()
    if world.size == 1:
        return
    scalars = {"iterations": int(optimizer._iteration_count), "learning_rate": float(optimizer.learning_rate),
               **optimizer._scalar_state(), "slots": sorted(optimizer.slots())}
    scalars = world.bcast_object(scalars, root, "broadcast_weights")
    if sorted(optimizer.slots()) != scalars["slots"]:
        raise RuntimeError(f"broadcast_weights: rank {world.rank}'s optimizer has slots {sorted(optimizer.slots())}, "
                           f"rank {root}'s has {scalars['slots']}: the ranks compiled different optimizers.")
    optimizer._set_iteration_count(scalars["iterations"])
    if optimizer._lr_schedule is None:
        optimizer.learning_rate = scalars["learning_rate"]
    optimizer._learning_rate.follow(optimizer._iteration_count)  # (a schedule's rate follows the iterations)
    optimizer._set_scalar_state(optimizer._check_scalar_state(scalars, optimizer.iterations))
    for name in scalars["slots"]:
        world.bcast_(optimizer.slots()[name], root)
