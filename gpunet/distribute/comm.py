"""The world of a data-parallel job: MPI (mpi4py) between processes, NCCL (``cupy.cuda.nccl``)
between GPUs, and host staging where neither can take device memory.

One `World` per process, made by `gpunet.distribute.init`. Its collectives take NumPy or CuPy
arrays in place. CuPy arrays go to NCCL when the job has a NCCL communicator; else to MPI
directly only when MPI says it is CUDA-aware (`MPI.Query_cuda_support`, or the user's
``GPUNET_MPI_CUDA_AWARE=1``), else through host memory: an MPI that is not CUDA-aware crashes
(or silently reads garbage) on device pointers.
"""
import os
import sys
import warnings

import numpy

from . import watchdog

# Set by the launchers that start ranks: Open MPI, MPICH/Hydra and Intel MPI, PMIx.
_LAUNCHED = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS")
INSTALL_HINT = "pip install 'gpunet[mpi]' (mpi4py and Open MPI), or: pip install mpi4py mpich"


def launched_by_mpi():
    """Whether this process was started by mpirun/mpiexec (it then has ranks to meet)."""
    return any(os.environ.get(k) for k in _LAUNCHED)


def import_mpi():
    """mpi4py's ``MPI`` module, or an ImportError that says how to install it."""
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise ImportError(f"gpunet.distribute needs mpi4py and an MPI library ({exc}). Install them with: "
                          f"{INSTALL_HINT}") from None
    return MPI


def is_device(array):
    return not isinstance(array, numpy.ndarray) and hasattr(array, "__cuda_array_interface__")


class World:
    """The ranks of this job: ``rank``, ``size``, ``local_rank``, ``local_size`` and the
    collectives the rest of the package uses. ``mpi`` is None in a single process started
    without an MPI launcher where mpi4py is not installed (nothing to talk to)."""

    def __init__(self, mpi_comm=None):
        self.mpi = mpi_comm
        self.nccl = None
        self.cuda_aware = False
        if mpi_comm is None:
            self.rank, self.size, self.local_rank, self.local_size = 0, 1, 0, 1
            self.local = None
            return
        MPI = import_mpi()
        self.rank, self.size = mpi_comm.Get_rank(), mpi_comm.Get_size()
        self.local = mpi_comm.Split_type(MPI.COMM_TYPE_SHARED, key=self.rank)
        self.local_rank, self.local_size = self.local.Get_rank(), self.local.Get_size()
        # Bookkeeping (shuffles, loss sums, checks) on a communicator of its own: a rank that is a step
        # ahead or behind then waits (and the watchdog names both sides) instead of matching another
        # rank's gradient average with its loss sums.
        self.meta = mpi_comm.Dup()
        query = getattr(MPI, "Query_cuda_support", None)
        self.cuda_aware = bool(query()) if query is not None else os.environ.get("GPUNET_MPI_CUDA_AWARE") == "1"
        self._staging_warned = False

    # ---- collectives on arrays (in place) ---------------------------------------------------------
    def allreduce_(self, buf, what="an allreduce"):
        """``buf`` (NumPy or CuPy, contiguous) becomes the sum of every rank's ``buf``; ``what`` names
        it in the watchdog's message."""
        if self.size == 1 and self.nccl is None:  # (NCCL runs even alone: its one-rank check)
            return buf

        def nccl_sum(stream):
            from cupy.cuda import nccl
            self.nccl.allReduce(buf.data.ptr, buf.data.ptr, buf.size, _nccl_dtype(buf.dtype), nccl.NCCL_SUM, stream.ptr)

        return self._in_place_collective(buf, what, lambda b: self.mpi.Allreduce(self._in_place(), b), nccl_sum)

    def bcast_(self, buf, root=0, what="a broadcast"):
        """``buf`` becomes ``root``'s ``buf`` on every rank."""
        if self.size == 1:
            return buf

        def nccl_bcast(stream):
            self.nccl.bcast(buf.data.ptr, buf.size, _nccl_dtype(buf.dtype), root, stream.ptr)

        return self._in_place_collective(buf, what, lambda b: self.mpi.Bcast(b, root=root), nccl_bcast)

    def _in_place_collective(self, buf, what, mpi_call, nccl_call):
        """One in-place collective on ``buf``, on the path its memory allows: MPI on host memory;
        NCCL on the current stream for device memory; a CUDA-aware MPI after the stream is done
        with it; else staged through host memory (warned once, in `_stage`)."""
        with watchdog.collective(what):
            if not is_device(buf):
                mpi_call(buf)
            elif self.nccl is not None:
                nccl_call(_current_stream())
            elif self.cuda_aware:
                _current_stream().synchronize()
                mpi_call(buf)
            else:
                host = self._stage(buf)
                mpi_call(host)
                buf.set(host)
        return buf

    def bcast_object(self, obj, root=0, what="a broadcast"):
        if self.size == 1:
            return obj
        with watchdog.collective(what):
            return self.meta.bcast(obj, root=root)

    def sum_floats(self, values, what="a sum over the ranks"):
        """The element-wise sum over ranks of a list of Python floats (in float64)."""
        buf = numpy.asarray([float(v) for v in values], dtype=numpy.float64)
        if self.size > 1:
            with watchdog.collective(what):
                self.meta.Allreduce(self._in_place(), buf)
        return [float(v) for v in buf]

    def allgather_rows(self, host):
        """Every rank's NumPy array ``host`` (same trailing shape), concatenated in rank order."""
        if self.size == 1:
            return host
        host = numpy.ascontiguousarray(host)
        with watchdog.collective("gathering predict's outputs"):
            rows = self.meta.allgather(host.shape[0])
            row = int(numpy.prod(host.shape[1:], dtype=numpy.int64))
            out = numpy.empty((sum(rows),) + host.shape[1:], host.dtype)
            counts = [r * row for r in rows]
            self.meta.Allgatherv(host, [out, counts])
        return out

    def allgather_object(self, obj, what="an allgather"):
        if self.size == 1:
            return [obj]
        with watchdog.collective(what):
            return self.meta.allgather(obj)

    def _in_place(self):
        return import_mpi().IN_PLACE

    def _stage(self, buf):
        if not self._staging_warned:
            self._staging_warned = True
            warnings.warn("gpunet.distribute: averaging CuPy arrays through host memory over MPI (no NCCL, and MPI "
                          "is not known to be CUDA-aware): slower than NCCL. Install the NCCL wheel beside CuPy "
                          "(pip install 'gpunet[cuda12]' or nvidia-nccl-cu12) to average on the GPUs.", stacklevel=3)
        return buf.get(stream=_current_stream())

    def abort(self, code=1):
        """End every rank of the job now (the uncaught-exception and watchdog path)."""
        sys.stdout.flush()
        sys.stderr.flush()
        if self.mpi is not None and self.size > 1:
            self.mpi.Abort(code)
        os._exit(code)


def _current_stream():
    import cupy
    return cupy.cuda.get_current_stream()


def _nccl_dtype(dtype):
    from cupy.cuda import nccl
    table = {"float16": nccl.NCCL_FLOAT16, "float32": nccl.NCCL_FLOAT32, "float64": nccl.NCCL_FLOAT64,
             "int32": nccl.NCCL_INT32, "int64": nccl.NCCL_INT64}
    try:
        return table[str(dtype)]
    except KeyError:
        raise TypeError(f"NCCL collectives take {sorted(table)}, received {dtype}") from None
