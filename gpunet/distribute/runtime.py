"""`init` and the questions every rank asks: ``rank()``, ``size()``, ``local_rank()``."""
import os
import warnings

from . import comm, watchdog

_world = None

_NOT_INITIALISED = ("gpunet.distribute has not been initialised: call gpunet.distribute.init() first "
                    "(at the top of the training script, before building models).")


def init(nccl=None):
    """Join the job's ranks (once per process; later calls return the same world).

    Started by ``mpirun``/``mpiexec`` (or ``gpunet run``), this uses MPI through mpi4py; started as a
    plain ``python train.py`` it is a world of one rank and needs no MPI installed. On the CuPy
    backend each rank takes the GPU of its local rank and, with ``nccl`` left at None (or True),
    averages on the GPUs through NCCL (``cupy.cuda.nccl``, the ``nvidia-nccl-cu12``/``-cu13``
    wheel); ``nccl=False`` (or ``GPUNET_DIST_NCCL=0``) averages through host memory over MPI
    instead, which also lets several ranks share one GPU.
    """
    global _world
    if _world is not None:
        return _world
    if nccl is None and os.environ.get("GPUNET_DIST_NCCL", "") != "":
        nccl = os.environ["GPUNET_DIST_NCCL"] not in ("0", "false", "no")
    timeout = watchdog.timeout_seconds()  # a bad value is an error before any rank waits
    if comm.launched_by_mpi():
        MPI = comm.import_mpi()
        world = comm.World(MPI.COMM_WORLD)
    else:
        world = comm.World(None)
    if _backend_is_cupy():
        _use_gpus(world, nccl)
    if world.size > 1:
        watchdog.install_excepthook(world)
        watchdog.start(world, timeout)
    _world = world
    return world


def _backend_is_cupy():
    """Whether gpunet computes on CuPy, answered without making the backend: it must be made after
    this rank's GPU is chosen, or its streams and memory would sit on GPU 0 for every rank."""
    from .. import backend as B
    current = B._current  # the backend chosen so far (set_backend), if any
    if current is not None:
        return current.name == "cupy"
    name = (os.environ.get("GPUNET_BACKEND") or "auto").lower()
    # (where CuPy cannot run, the backend itself says why when it is made)
    return name in ("cupy", "auto") and B.cupy_unavailable_reason() is None


def _use_gpus(world, nccl):
    """One GPU per local rank; NCCL when asked for or available."""
    import cupy
    count = cupy.cuda.runtime.getDeviceCount()
    device = world.local_rank % count
    cupy.cuda.Device(device).use()
    if nccl is False or world.mpi is None:
        world._staging_warned = True  # asked for: no warning
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # CuPy warns at import when the NCCL library is missing
        from cupy.cuda import nccl as _nccl
    if nccl is None and not _nccl.available:
        if world.rank == 0:
            warnings.warn("gpunet.distribute: NCCL is not installed for CuPy, so gradients are averaged through "
                          "host memory over MPI (slower). Install nvidia-nccl-cu12 (or -cu13) beside CuPy, e.g. "
                          "pip install 'gpunet[cuda12]', to average on the GPUs.", stacklevel=3)
        world._staging_warned = True
        return
    buses = world.local.allgather(cupy.cuda.Device(device).pci_bus_id)
    if len(set(buses)) < len(buses):
        shared = sorted({b for b in buses if buses.count(b) > 1})
        raise RuntimeError(
            f"gpunet.distribute.init: {world.local_size} ranks on this machine but only {len(set(buses))} GPU(s) "
            f"for them (GPU {', '.join(shared)} given to more than one rank); NCCL needs one GPU per rank. Start at "
            f"most {len(set(buses))} rank(s) per machine (gpunet run -n {len(set(buses))} ...), give each rank its "
            f"own GPU (CUDA_VISIBLE_DEVICES), or pass init(nccl=False) / GPUNET_DIST_NCCL=0 to average through host "
            f"memory over MPI instead.")
    if not _nccl.available:
        raise RuntimeError("gpunet.distribute.init(nccl=True): NCCL is not installed for CuPy. Install it with "
                           "pip install 'gpunet[cuda12]' (or nvidia-nccl-cu12 / nvidia-nccl-cu13 beside CuPy), "
                           "or pass nccl=False to average through host memory over MPI.")
    uid = world.bcast_object(_nccl.get_unique_id() if world.rank == 0 else None, what="init's NCCL id")
    world.nccl = _nccl.NcclCommunicator(world.size, uid, world.rank)


_schedule = None  # fit's per-step shares (optimizer.StepWeights) during a distributed epoch


def set_schedule(schedule):
    """fit's `optimizer.StepWeights` for the epoch under way (None after it): what synchronized
    BatchNormalization layers read their rank's share of a step from."""
    global _schedule
    _schedule = schedule


def current_schedule():
    return _schedule


def shutdown():
    """Leave the job: later calls need `init` again (MPI itself stays up until the process exits)."""
    global _world
    _world = None


def current():
    """The world, or None before `init`."""
    return _world


def world():
    """The world; a RuntimeError before `init`."""
    if _world is None:
        raise RuntimeError(_NOT_INITIALISED)
    return _world


def is_initialized():
    return _world is not None


def rank():
    """This process's rank in the job, 0 to ``size() - 1``."""
    return world().rank


def size():
    """The number of ranks (processes) in the job."""
    return world().size


def local_rank():
    """This process's rank among the ranks of its machine (its GPU on CuPy)."""
    return world().local_rank


def local_size():
    """The number of ranks on this machine."""
    return world().local_size


def is_root():
    """Whether this rank writes files and prints (rank 0, or no distributed job at all)."""
    return _world is None or _world.rank == 0
