"""One rank of the data-parallel benchmarks (benchmarks/test_distribute.py starts them)::

    mpirun -n 2 python -m mpi4py -m benchmarks.distribute_ranks SPEC.json OUT.json   # N ranks
    python -m benchmarks.distribute_ranks SPEC.json OUT.json                         # one rank, no MPI

SPEC says what to time: ``allreduce`` (message sizes in bytes, rounds, bytes moved per round) and
``fit`` (samples, batch size per rank, rounds). Every rank times its own rounds; rank 0 writes to
OUT, for each case, the slowest rank's time of every round (a collective ends when its slowest rank
does). The allreduce goes through gpunet.distribute's own path (``World.allreduce_``, the call
DistributedOptimizer makes each step), in place on float32.
"""
import json
import math
import os
import sys
import time

import numpy

import gpunet.distribute as dist
from gpunet.optimizers import Adam

from .peers import GpunetPeer
from .workloads import ADAM, WIDE, initial_weights, mnist_like

WHAT = "the benchmark's allreduce"  # named by the watchdog if a rank stalls


def allreduce_iterations(nbytes, bytes_per_round, cap):
    """Calls per timed round: enough that a small message's round is not one clock read, at most ``cap``."""
    return max(1, min(cap, bytes_per_round // nbytes))


def time_allreduce(world, nbytes, rounds, iterations, warmup):
    """Seconds of each round of ``iterations`` in-place allreduces of ``nbytes`` of float32."""
    buf = numpy.zeros(nbytes // 4, numpy.float32)
    buf[...] = 0  # touch the pages (zeros are mapped lazily); zeros stay zeros: no overflow, no denormals
    for _ in range(warmup):
        world.allreduce_(buf, WHAT)
    seconds = []
    for _ in range(rounds):
        dist.barrier()
        t0 = time.perf_counter()
        for _ in range(iterations):
            world.allreduce_(buf, WHAT)
        seconds.append(time.perf_counter() - t0)
    return seconds


def time_fit(world, samples, batch_size, rounds, warmup):
    """Seconds of each one-epoch fit of the wide MLP on ``samples`` (global), ``batch_size`` per rank."""
    x, y = mnist_like(samples)
    model = GpunetPeer().mlp(WIDE, initial_weights(WIDE), compile=False)
    # one process trains as it would without gpunet.distribute; several average through the wrapper
    opt = Adam(**ADAM)
    model.compile(optimizer=dist.DistributedOptimizer(opt) if world.size > 1 else opt, loss=WIDE.loss)
    for _ in range(warmup):
        model.fit(x, y, epochs=1, batch_size=batch_size, verbose=0, shuffle=True)
    seconds = []
    for _ in range(rounds):
        dist.barrier()
        t0 = time.perf_counter()
        model.fit(x, y, epochs=1, batch_size=batch_size, verbose=0, shuffle=True)
        dist.barrier()
        seconds.append(time.perf_counter() - t0)
    return seconds


def slowest(world, seconds):
    """Round by round, the largest time any rank measured."""
    every = world.allgather_object(seconds, "gathering the benchmark's timings")
    return [max(times) for times in zip(*every)]


def main(spec_path, out_path):
    with open(spec_path) as f:
        spec = json.load(f)
    world = dist.init()
    out = {"ranks": world.size,
           "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS") or "default"}
    ar = spec.get("allreduce")
    if ar and world.size > 1:
        out["allreduce"] = []
        for nbytes in ar["sizes"]:
            k = allreduce_iterations(nbytes, ar["bytes_per_round"], ar["max_iterations"])
            seconds = time_allreduce(world, nbytes, ar["rounds"], k, ar["warmup"])
            out["allreduce"].append({"bytes": nbytes, "iterations": k, "seconds": slowest(world, seconds)})
    fit = spec.get("fit")
    if fit:
        seconds = time_fit(world, fit["samples"], fit["batch_size"], fit["rounds"], fit["warmup"])
        steps = math.ceil(fit["samples"] / (fit["batch_size"] * world.size))
        out["fit"] = {"samples": fit["samples"], "batch_size": fit["batch_size"],
                      "global_batch": fit["batch_size"] * world.size, "steps": steps,
                      "seconds": slowest(world, seconds)}
    if world.rank == 0:
        with open(out_path, "w") as f:
            json.dump(out, f)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])
