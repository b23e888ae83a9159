"""Data-parallel training across processes and machines, shaped after Horovod's Keras API.

Every rank (process) runs the same script on the same data::

    import gpunet.distribute as dist
    dist.init()
    model.compile(optimizer=dist.DistributedOptimizer(Adam(0.001 * dist.size())), loss=...)
    model.fit(x, y, batch_size=32, callbacks=[dist.BroadcastGlobalVariablesCallback(0)])

and is started by ``gpunet run -n 4 train.py`` or ``mpirun -n 4 python train.py``. MPI (mpi4py)
starts and connects the ranks; on CuPy, NCCL averages on the GPUs. fit gives each rank its share
of every global batch (``batch_size`` per rank), averages the gradients in one collective per step
and reports the same History on every rank; evaluate and predict split the samples and combine the
results; only rank 0 prints, writes checkpoints and CSV logs, and saves.
"""
from .broadcast import broadcast_optimizer_state, broadcast_weights
from .callbacks import BroadcastGlobalVariablesCallback, LearningRateWarmupCallback, MetricAverageCallback
from .optimizer import DistributedOptimizer, is_distributed
from . import watchdog
from .runtime import init, is_initialized, is_root, local_rank, local_size, rank, shutdown, size


def allreduce(array, average=True):
    """Sum (``average=False``) or mean over the ranks of a NumPy or CuPy array, in place."""
    from .runtime import world
    w = world()
    w.allreduce_(array)
    if average and w.size > 1:
        array /= w.size
    return array


def barrier():
    """Wait until every rank gets here."""
    from .runtime import world
    w = world()
    if w.mpi is not None and w.size > 1:
        with watchdog.collective("barrier"):
            w.mpi.Barrier()


__all__ = ["init", "shutdown", "is_initialized", "rank", "size", "local_rank", "local_size", "is_root",
           "DistributedOptimizer", "is_distributed", "broadcast_weights", "broadcast_optimizer_state",
           "BroadcastGlobalVariablesCallback", "MetricAverageCallback", "LearningRateWarmupCallback",
           "allreduce", "barrier"]
