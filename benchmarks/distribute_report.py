"""The "Data-parallel" section of RESULTS.md (benchmarks/test_distribute.py's figures, issue 10).

Three tables: allreduce time and bandwidth against message size beside the single-process
copy + add bound; the DistributedOptimizer wrapper's cost at 1 rank (target: <= 3%); fit's
samples/s on N ranks against 1 rank on the same global batch.
"""
import re
import statistics

from .runs import run_of

SUITE_ALLREDUCE, SUITE_WRAPPER, SUITE_SCALING = "allreduce", "distributed optimizer", "data-parallel scaling"
SUITES = (SUITE_ALLREDUCE, SUITE_WRAPPER, SUITE_SCALING)
BOUND = "copy + add bound"
WRAPPER_TARGET = 1.03  # with / without the wrapper, per step, at 1 rank
WRAPPER_TARGET_TEXT = "DistributedOptimizer at 1 rank: a wide-MLP step <= 1.03x the plain optimizer's"


def is_data_parallel(suite):
    return suite in SUITES


def _cases(data, suite):
    """``{case: {framework: (median seconds per call, extra_info)}}`` of one suite."""
    out = {}
    for bench in data.get("benchmarks", []):
        info = bench.get("extra_info") or {}
        if info.get("suite") == suite:
            out.setdefault(info["case"], {})[info["framework"]] = (bench["stats"]["median"], info)
    return out


def _time(seconds):
    if seconds >= 1e-3:
        return f"{seconds * 1e3:,.2f} ms"
    return f"{seconds * 1e6:,.1f} us"


def _gbs(nbytes, seconds):
    return f"{nbytes / seconds / 1e9:.2f} GB/s"


def _ratio(res):
    """With the wrapper over without: the median of the interleaved rounds' paired ratios (else of the
    medians' ratio), or None."""
    with_, without = res.get("with DistributedOptimizer"), res.get("without DistributedOptimizer")
    if not (with_ and without):
        return None
    paired = with_[1].get("paired_ratios")
    return statistics.median(paired) if paired else with_[0] / without[0]


def wrapper_ratio(data):
    """The wrapper's cost at 1 rank as a ratio of step times (`_ratio`), or None when not measured."""
    for res in _cases(data, SUITE_WRAPPER).values():
        if _ratio(res) is not None:
            return _ratio(res)
    return None


def _machine_line(machine, ranks):
    cpus = machine.get("usable_cpus") or 0
    others = max((c.get("others_cpu_share", 0.0) for c in machine.get("contention") or []), default=None)
    load = machine.get("load_start")
    shared = ""
    if others is not None and others >= 0.01:
        shared = f", shared with other work (other processes used up to {others:.0%} of them while the suites ran)"
    elif load and load[0] >= 0.5:
        shared = f", shared with other work (load average {load[0]:.2f} when the run started)"
    line = f"**This machine has {cpus or '?'} CPU cores{shared}.**"
    if shared or cpus < 2 * ranks:
        line += (f" {ranks} ranks take {'every core' if cpus <= ranks else 'most of its cores'} and compete with "
                 "each other and with whatever else runs, so these figures, the scaling above all, are indicative "
                 "only: rerun `python -m benchmarks.report` on a machine with free cores (or one GPU per rank) "
                 "for numbers to quote.")
    return [line + " Ranks are started by mpirun (`gpunet run`'s command line) on the NumPy backend; N-rank "
            "times are taken inside the ranks, between barriers, the slowest rank's per round.", ""]


def _allreduce_table(data):
    rows = _cases(data, SUITE_ALLREDUCE)
    lines = ["### allreduce against message size", "",
             "In-place float32 allreduce (sum) on 2 ranks through gpunet.distribute's collective (the call "
             "DistributedOptimizer makes once a step), beside the single-process bound for the same message: one "
             "copy (receiving the other rank's buffer) plus one add, in NumPy. Bandwidth is message bytes / time. "
             "The bound is one process's work on one core; the two ranks work on two cores at once, so at sizes "
             "where memory traffic dominates the ratio can come out at or below 1x.",
             "", "| message | 2 ranks | bandwidth | copy + add bound (1 process) | bandwidth | allreduce / bound |",
             "|---|---|---|---|---|---|"]
    for case, res in sorted(rows.items(), key=lambda kv: _bytes(kv[1])):
        nbytes = _bytes(res)
        two = next((v for k, v in res.items() if k != BOUND), None)
        bound = res.get(BOUND)
        cells = [case]
        for got in (two, bound):
            cells += [_time(got[0]), _gbs(nbytes, got[0])] if got else ["not measured", "—"]
        cells.append(f"**{two[0] / bound[0]:.1f}x**" if two and bound else "—")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _bytes(res):
    for _, info in res.values():
        if info.get("bytes"):
            return info["bytes"]
    return 0


def _wrapper_table(data):
    lines = ["", "### DistributedOptimizer's cost at 1 rank", "",
             "A wide-MLP epoch (Adam) with a plain optimizer and with `DistributedOptimizer` around it, on a "
             "world of one rank, alternating round by round in one loop. Step times are medians; the ratio is the "
             "median of the rounds' paired ratios (each round's two epochs ran back to back).", "",
             "| case | without the wrapper | with it | with / without | target |", "|---|---|---|---|---|"]
    for case, res in _cases(data, SUITE_WRAPPER).items():
        without, with_ = res.get("without DistributedOptimizer"), res.get("with DistributedOptimizer")
        cells = [case]
        for got in (without, with_):
            cells.append(f"{got[0] / got[1]['work'] * 1e6:,.0f} us/step" if got else "not measured")
        ratio = _ratio(res)
        cells.append("—" if ratio is None else f"**{ratio:.3f}x**")
        cells.append("<= 1.03x: " + ("not measured" if ratio is None else
                                    "holds" if ratio <= WRAPPER_TARGET else "**missed**"))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _scaling_table(data):
    lines = ["", "### fit on N ranks against 1 rank on the same global batch", "",
             "N ranks x batch B train on the same global batches as 1 rank x batch N*B. Each rank runs one BLAS "
             "thread, so N ranks use N cores; speedup is against 1 rank on one thread, efficiency is speedup / "
             "cores used. 1 rank on all BLAS threads shows what one process gets from the cores without MPI.", "",
             "| case | run | samples/s | speedup | efficiency |", "|---|---|---|---|---|"]
    for case, res in _cases(data, SUITE_SCALING).items():
        def rate(got):
            return got[1]["work"] / got[0]
        base = next((v for k, v in res.items() if v[1].get("ranks") == 1 and str(v[1].get("blas_threads")) == "1"),
                    None)
        for name, got in sorted(res.items(), key=lambda kv: (kv[1][1].get("ranks", 0), kv[0])):
            speed = rate(got) / rate(base) if base else None
            # efficiency per core: only where the cores used are known (one BLAS thread per rank)
            cores = got[1].get("ranks", 1) if str(got[1].get("blas_threads")) == "1" else None
            lines.append(f"| {case} | {name} | {rate(got):,.0f} | "
                         f"{'—' if speed is None else f'{speed:.2f}x'} | "
                         f"{'—' if speed is None or cores is None else f'{speed / cores:.0%}'} |")
    return lines


def data_parallel_section(data, machine, skips=()):
    """The section's markdown lines; when the N-rank cases were skipped, the reason."""
    lines = ["", "## Data-parallel (gpunet.distribute, issue 10)", ""]
    if not any(_cases(data, s) for s in SUITES):
        skipped = [reason for where, reason in skips if "test_distribute.py" in where]
        return lines + [f"Not measured in this run{': ' + skipped[0] if skipped else ''}."]
    ranks = max([info.get("ranks", 1) for s in SUITES for res in _cases(data, s).values() for _, info in res.values()])
    run = run_of(machine, SUITE_ALLREDUCE)
    if run is not machine:
        lines += [f"Measured on {run['date']}, after the rest of this file.", ""]
    lines += _machine_line(dict(machine, **{k: v for k, v in run.items() if v is not None}), ranks)
    lines += _allreduce_table(data) + _wrapper_table(data) + _scaling_table(data)
    mpi_skips = [reason for where, reason in skips if "test_distribute.py" in where and re.search("mpi", reason)]
    if mpi_skips:
        lines += ["", f"The N-rank cases were skipped: {mpi_skips[0]}"]
    return lines
