"""Rerunning some suites and rendering them with an earlier run's results for the rest
(``python -m benchmarks.report --merge benchmarks/results.json -- -k test_distribute``).

A suite measured again replaces the earlier run's figures for that suite, whole; every other suite
keeps the earlier run's. RESULTS.md then says which suites were measured when (`merged_note`):
ratios stay within one run, since every ratio compares cases of one suite.
"""


# what a merged run keeps of its machine record: enough to render its own suites' sections (the GPU
# section needs the device and the versions of the run that measured it, not the header run's)
RUN_KEYS = ("date", "usable_cpus", "load_start", "load_end", "contention", "smoke", "cpu", "logical_cpus",
            "platform", "versions", "gpu", "gpu_absent")


def _suite(bench):
    return (bench.get("extra_info") or {}).get("suite")


def _machine(data):
    return (data.get("machine_info") or {}).get("gpunet_bench") or {}


def merge_runs(earlier, later, earlier_skips=(), later_skips=()):
    """``(data, skips)``: ``later``'s suites over ``earlier``'s, and the skips of both (``later``'s
    for a file it ran, ``earlier``'s for the others). The header's machine is ``earlier``'s; ``later``'s
    date, load and contention are kept under ``merged_runs`` with the suites they measured."""
    suites = sorted({_suite(b) for b in later.get("benchmarks", []) if _suite(b)})
    if not suites:
        raise ValueError("--merge: this run measured no suite (was every benchmark skipped or deselected?)")
    machine = dict(_machine(earlier))
    kept_runs = [dict(r, suites=[s for s in r["suites"] if s not in suites]) for r in machine.get("merged_runs", [])]
    info = _machine(later)
    machine["merged_runs"] = [r for r in kept_runs if r["suites"]] + [dict(
        {k: info.get(k) for k in RUN_KEYS if k in info}, suites=suites)]
    data = dict(earlier, machine_info=dict(earlier.get("machine_info") or {}, gpunet_bench=machine))
    data["benchmarks"] = [b for b in earlier.get("benchmarks", []) if _suite(b) not in suites] + \
        list(later.get("benchmarks", []))
    later_files = {where.split(" (")[0] for where, _ in later_skips}
    skips = [s for s in earlier_skips if s[0].split(" (")[0] not in later_files] + list(later_skips)
    return data, skips


def run_of(machine, suite):
    """The ``merged_runs`` entry that measured ``suite``, else the header's machine."""
    for run in machine.get("merged_runs", []):
        if suite in run["suites"]:
            return run
    return machine


def merged_note(machine):
    """The header's lines on suites measured after the rest (empty when the file is one run)."""
    return [f"The suites {', '.join(f'`{s}`' for s in run['suites'])} were measured again on {run['date']} and "
            "replace that run's figures for them; their own section gives that run's load." for run in
            machine.get("merged_runs", [])] + ([""] if machine.get("merged_runs") else [])
