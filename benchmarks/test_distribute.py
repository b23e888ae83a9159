"""Suite 6, data-parallel training (gpunet.distribute, issue 10), on the NumPy backend:

- allreduce: in-place float32 allreduce over 2 ranks started by mpirun, through gpunet.distribute's
  own collective (``World.allreduce_``), 4 KB to 64 MB, beside the single-process bound for the
  same message (one copy plus one add in NumPy: what a rank must at least do to sum another's data);
- the DistributedOptimizer wrapper at 1 rank: a wide-MLP training epoch with and without it,
  interleaved round by round in one loop so both see the same machine (target: <= 3% dearer);
- scaling: fit of the wide MLP on N ranks x batch B against 1 rank x batch N*B (the same global
  batches, the same arithmetic), every rank on one BLAS thread, so N ranks use N cores.

The N-rank rounds are timed inside the ranks (benchmarks/distribute_ranks.py) between barriers and
recorded with ``record_rounds``. No time is asserted: report.py reports them. Without mpi4py or an
mpiexec the N-rank cases are skipped, saying so.
"""
import importlib.util
import json
import os
import subprocess
import sys
import time

import pytest

from .distribute_report import BOUND, SUITE_ALLREDUCE, SUITE_SCALING, SUITE_WRAPPER
from .peers import GpunetPeer
from .workloads import ADAM, WIDE, initial_weights, mnist_like

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KB, MB = 1024, 1024 * 1024
SIZES = tuple(4 * KB * 4 ** i for i in range(8))  # 4 KB, 16 KB, ..., 64 MB
SMOKE_SIZES = (4 * KB, 64 * KB)
BATCH = 128  # per rank, as the wide suite's batch
LAUNCH_TIMEOUT = 600


def size_label(nbytes):
    return f"{nbytes // MB} MB" if nbytes >= MB else f"{nbytes // KB} KB"


def scaling_ranks():
    """N for the scaling case: the usable cores (at least 2, at most 8)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(2, min(cpus, 8))


def mpi_missing():
    """Why N ranks cannot be started here (a sentence), or None."""
    from gpunet.distribute import launcher
    if importlib.util.find_spec("mpi4py") is None:
        return "mpi4py is not installed"
    try:
        launcher.find_mpiexec()
    except FileNotFoundError as exc:
        return str(exc)
    return None


def launch(n, spec, tmp_path, threads="1"):
    """Run benchmarks/distribute_ranks.py on ``n`` ranks (mpirun for n > 1, a plain process for 1)
    with ``spec``; returns what rank 0 wrote."""
    from gpunet.distribute import launcher
    spec_path, out_path = tmp_path / f"spec{n}_{threads}.json", tmp_path / f"out{n}_{threads}.json"
    spec_path.write_text(json.dumps(spec))
    target = ["-m", "benchmarks.distribute_ranks", str(spec_path), str(out_path)]
    cmd = launcher.command(n, target) if n > 1 else [sys.executable, *target]
    env = dict(os.environ, GPUNET_BACKEND="numpy", PYTHONUNBUFFERED="1")
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        if threads == "default":
            env.pop(var, None)
        else:
            env[var] = threads
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=LAUNCH_TIMEOUT,
                          stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} exited with {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return json.loads(out_path.read_text())


def fit_spec(sizes, smoke, batch_size):
    return {"samples": sizes.wide_samples, "batch_size": batch_size, "rounds": 1 if smoke else sizes.wide_rounds,
            "warmup": 0 if smoke else 1}


@pytest.fixture(scope="module")
def ranks_job(sizes, smoke, tmp_path_factory):
    """One mpirun job on N ranks: the allreduce sizes (when N is 2) and the scaling fit."""
    why = mpi_missing()
    if why:
        pytest.skip(f"N-rank benchmarks need mpi4py and an mpiexec ({why}); install them with: "
                    f"pip install 'gpunet[mpi]'")
    n = scaling_ranks()
    spec = {"fit": fit_spec(sizes, smoke, BATCH)}
    allreduce = {"sizes": list(SMOKE_SIZES if smoke else SIZES), "rounds": 1 if smoke else 7,
                 "warmup": 0 if smoke else 3, "bytes_per_round": 0 if smoke else 64 * MB, "max_iterations": 2000}
    tmp = tmp_path_factory.mktemp("distribute_bench")
    if n == 2:
        return launch(2, dict(spec, allreduce=allreduce), tmp)
    job = launch(n, spec, tmp)
    job["allreduce"] = launch(2, {"allreduce": allreduce}, tmp)["allreduce"]
    return job


# ---- allreduce against message size ----------------------------------------------------------------

@pytest.mark.parametrize("nbytes", SIZES, ids=size_label)
def test_allreduce_2_ranks(benchmark, nbytes, smoke, ranks_job, record_rounds):
    if smoke and nbytes not in SMOKE_SIZES:
        pytest.skip("smoke mode times two small messages")
    (case,) = [c for c in ranks_job["allreduce"] if c["bytes"] == nbytes]
    record_rounds(benchmark, case["seconds"], iterations=case["iterations"], suite=SUITE_ALLREDUCE,
                  case=f"{size_label(nbytes)} float32", framework="gpunet.distribute, 2 ranks", unit="us/step",
                  bytes=nbytes, ranks=2)


@pytest.mark.parametrize("nbytes", SIZES, ids=size_label)
def test_allreduce_bound(benchmark, nbytes, smoke, run_bench):
    """One process: receive the other rank's buffer (a copy) and add it in place."""
    import numpy
    if smoke and nbytes not in SMOKE_SIZES:
        pytest.skip("smoke mode times two small messages")
    n = nbytes // 4
    buf, other, received = (numpy.zeros(n, numpy.float32) for _ in range(3))
    for a in (buf, other, received):
        a[...] = 0  # pages touched before timing

    def copy_add():
        numpy.copyto(received, other)
        numpy.add(buf, received, out=buf)

    benchmark.extra_info["bytes"] = nbytes
    run_bench(benchmark, copy_add, suite=SUITE_ALLREDUCE, case=f"{size_label(nbytes)} float32", framework=BOUND,
              unit="us/step", rounds=None)


# ---- the wrapper's cost at 1 rank --------------------------------------------------------------------

@pytest.fixture(scope="module")
def wrapper_rounds(sizes, smoke):
    """Epochs of the wide MLP with a plain Adam and with DistributedOptimizer(Adam) on a world of one
    rank, alternating (ABBA) so that a change in the machine's load hits both alike. Many short rounds:
    the ratio is the median of the rounds' paired ratios, which a few rounds hit by other work cannot move."""
    import gpunet.distribute as dist
    from gpunet.distribute import runtime
    from gpunet.optimizers import Adam
    x, y = mnist_like(sizes.wide_samples if smoke else sizes.wide_samples // 4)
    peer = GpunetPeer()
    dist.init()
    try:
        plain = peer.mlp(WIDE, initial_weights(WIDE))
        wrapped = peer.mlp(WIDE, initial_weights(WIDE), compile=False)
        wrapped.compile(optimizer=dist.DistributedOptimizer(Adam(**ADAM)), loss=WIDE.loss)
        assert dist.is_distributed(wrapped.optimizer) and not dist.is_distributed(plain.optimizer)
        models = {"without": plain, "with": wrapped}
        rounds = 1 if smoke else 5 * sizes.wide_rounds
        if not smoke:
            for model in models.values():
                peer.fit(model, x, y, 1, BATCH)
        seconds = {name: [] for name in models}
        for r in range(rounds):
            for name in (("without", "with") if r % 2 == 0 else ("with", "without")):
                t0 = time.perf_counter()
                peer.fit(models[name], x, y, 1, BATCH)
                seconds[name].append(time.perf_counter() - t0)
    finally:
        runtime.shutdown()
    return seconds, -(-x.shape[0] // BATCH)


@pytest.mark.parametrize("variant", ["without", "with"])
def test_distributed_optimizer_cost_at_1_rank(benchmark, variant, wrapper_rounds, record_rounds):
    seconds, steps = wrapper_rounds
    paired = [w / wo for w, wo in zip(seconds["with"], seconds["without"])]
    record_rounds(benchmark, seconds[variant], suite=SUITE_WRAPPER, case=f"{WIDE.name} batch {BATCH}, 1 rank",
                  framework=f"{variant} DistributedOptimizer", unit="us/step", work=steps, ranks=1,
                  paired_ratios=paired)


# ---- N-rank scaling of fit ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def one_rank_jobs(sizes, smoke, tmp_path_factory):
    """1 rank x batch N*B: on one BLAS thread (the baseline of N one-thread ranks) and on every thread."""
    n = scaling_ranks()
    tmp = tmp_path_factory.mktemp("distribute_bench_1")
    spec = {"fit": fit_spec(sizes, smoke, n * BATCH)}
    return {"1": launch(1, spec, tmp, threads="1"), "default": launch(1, spec, tmp, threads="default")}


def _record_fit(benchmark, record_rounds, fit, ranks, framework, threads):
    record_rounds(benchmark, fit["seconds"], suite=SUITE_SCALING, case=f"{WIDE.name} fit, global batch "
                  f"{fit['global_batch']}", framework=framework, unit="samples/s", work=fit["samples"], ranks=ranks,
                  batch_per_rank=fit["batch_size"], blas_threads=threads)


@pytest.mark.parametrize("threads", ["1", "default"], ids=["1thread", "allthreads"])
def test_fit_1_rank_global_batch(benchmark, threads, one_rank_jobs, record_rounds):
    job = one_rank_jobs[threads]
    assert job["ranks"] == 1
    label = "1 rank, 1 BLAS thread" if threads == "1" else "1 rank, all BLAS threads"
    _record_fit(benchmark, record_rounds, job["fit"], 1, label, job["blas_threads"])


def test_fit_n_ranks(benchmark, ranks_job, record_rounds):
    n = ranks_job["ranks"]
    _record_fit(benchmark, record_rounds, ranks_job["fit"], n, f"{n} ranks, 1 BLAS thread each",
                ranks_job["blas_threads"])
