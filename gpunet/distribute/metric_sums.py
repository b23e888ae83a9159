"""The epoch's loss and metrics over the ranks (gpunet.distribute's fit and evaluate, sharding.py):
each reduced as sums and counts, a Keras-style metric's ``add_weight`` state summed, as Keras's
distribution strategies aggregate it, so the logs are the same on every rank."""


def reduced_logs(model, world, loss_sum, count, what="evaluate's loss and metrics"):
    """``model._logs`` of the loss and metrics over every rank (the same on each): the loss from its
    sum and count, each metric's total and count and its variables summed over the ranks."""
    build_everywhere(model, world, what)
    values = [loss_sum, count]
    for m in model._metrics:
        values += [float(m._total), float(m._count)]
    sums = world.sum_floats(values, what)
    for i, m in enumerate(model._metrics):
        m._total, m._count = sums[2 + 2 * i], sums[3 + 2 * i]
        sum_variables(m, world, what)
    return model._logs(sums[0] / max(sums[1], 1.0))


def build_everywhere(model, world, what):
    """A metric whose variables its first update makes (F1Score, FBetaScore, R2Score: one per class)
    has none on a rank that saw no rows (evaluate on fewer batches than ranks): made there for the
    other ranks' number of classes, so that every rank sums the same variables."""
    lazy = [m for m in model._metrics if hasattr(m, "_classes") and hasattr(m, "_build")]
    if not lazy:
        return
    sums = world.sum_floats([v for m in lazy for v in (m._classes or 0, m._classes is not None)], what)
    for m, classes, built in zip(lazy, sums[::2], sums[1::2]):
        if m._classes is None and built:
            m._build(int(round(classes / built)))


def sum_variables(metric, world, what):
    """A Keras-style metric's state variables (``add_weight``: contiguous arrays) summed over the
    ranks, in place."""
    for variable in getattr(metric, "_variables", ()):
        world.allreduce_(variable.value, what)
