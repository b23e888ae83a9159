"""RESULTS.md: the machine, gpunet against its peers, the targets, the GPU section, the data-parallel
section and what was skipped, rendered as markdown from a pytest-benchmark JSON document."""
from .workloads import GPU_TARGETS
from .distribute_report import data_parallel_section, is_data_parallel
from .runs import merged_note, run_of
from .speedups import (PEER_ORDER, PEER_TITLES, SUITE_ORDER, SUITE_TITLES, _fmt, _fmt_ratio, _sorted_rows,
                       check_targets, measurements, speedup, subject_of)

CONTENTION_LIMIT = 0.10


def is_noisy(machine):
    """A sentence when other processes took a noticeable share of the CPUs during the run, else ''."""
    worst = max((c.get("others_cpu_share", 0.0) for c in machine.get("contention") or []), default=None)
    if worst is not None:
        if worst > CONTENTION_LIMIT:
            return f"other processes used up to {worst:.0%} of the CPUs during this run."
        return ""
    load = machine.get("load_start")  # pytest run directly: only the load average is known
    cpus = machine.get("usable_cpus") or 1
    if load and load[0] > 0.5 * cpus:
        return f"the load average was {load[0]:.2f} on {cpus} CPUs when the run started."
    return ""


def noisy_frameworks(machine):
    """Frameworks whose group ran while other processes took more than CONTENTION_LIMIT of the CPUs
    (every framework when only a high load average is known)."""
    contention = machine.get("contention") or []
    if not contention:
        return {"*"} if is_noisy(machine) else set()
    out = set()
    for c in contention:
        if c.get("others_cpu_share", 0.0) > CONTENTION_LIMIT:
            out.update(c["group"].split(","))
    return out


def _fmt_load(load):
    return ", ".join(f"{v:.2f}" for v in load)


def _target_required(t):
    peer = PEER_TITLES.get(t.peer, t.peer)
    if t.peer and t.min_speedup < 1:
        return f"gpunet time <= {1 / t.min_speedup:.2f}x {peer}'s"
    if t.peer:
        return f"gpunet speedup >= {t.min_speedup:.2f}x vs {peer}"
    return f"<= {t.max_value:g} us/step"


def _target_measured(t, measured):
    if not t.peer:
        return f"{measured:.1f} us/step"
    if t.min_speedup < 1:
        return f"gpunet time = {1 / measured:.2f}x {PEER_TITLES.get(t.peer, t.peer)}'s"
    return f"{_fmt_ratio(measured)}"


def _is_gpu(suite):
    return suite.startswith("gpu ")


def _results_table(rows, noisy_fw):
    """The markdown table of ``rows``: each case's subject, then each peer with gpunet's speedup."""
    peers = [p for p in PEER_ORDER if any(p in res for res in rows.values())]

    def title(name):
        return PEER_TITLES.get(name, name) + (" †" if name in noisy_fw or "*" in noisy_fw else "")

    header = ["suite", "case", title("gpunet")] + [title(p) for p in peers]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for (suite, case), res in _sorted_rows(rows):
        subj = subject_of(res)
        cells = [SUITE_TITLES.get(suite, suite), case,
                 (f"{_fmt(*res[subj])}" + ("" if subj == "gpunet" else f" ({PEER_TITLES.get(subj, subj)})"))
                 if subj else "not run"]
        for p in peers:
            if p not in res:
                cells.append("—")
                continue
            r = speedup(res[subj], res[p]) if subj else None
            cells.append(f"{_fmt(*res[p])} (**{_fmt_ratio(r)}**)")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _targets_table(checked, noisy_fw=()):
    lines = ["| target | required | measured | holds |", "|---|---|---|---|"]
    for t, measured, holds in checked:
        if measured is None:
            shown, mark = "not measured", "—"
        else:
            shown = _target_measured(t, measured)
            mark = "yes" if holds else "**no**"
            if set(noisy_fw) & {"*", "gpunet", t.peer or "gpunet"}:
                mark += " (unreliable: shared machine)"
        lines.append(f"| {t.text} | {_target_required(t)} | {shown} | {mark} |")
    return lines


def _gpu_section(machine, gpu_rows, skips=()):
    """The GPU part: the device and versions, gpunet on CuPy against PyTorch on CUDA, issue 8's targets;
    or, without a GPU, a plain statement that none was measured (and why: the machine's record, else
    the GPU suite's skip reason)."""
    run = next((run_of(machine, s) for s in SUITE_ORDER if _is_gpu(s) and run_of(machine, s) is not machine), machine)
    gpu, versions = run.get("gpu"), run.get("versions", {})
    lines = ["", "## GPU", ""]
    if run is not machine:
        lines += [f"Measured on {run['date']}, after the rest of this file, on {run.get('usable_cpus', '?')} "
                  f"usable CPUs ({run.get('cpu') or 'CPU not recorded'}).", ""]
    if gpu:
        lines.append(f"- device: {gpu['name']} ({gpu['sms']} SMs, {gpu['memory_gib']} GiB); CUDA runtime "
                     f"{gpu['runtime_cuda']} (driver supports CUDA {gpu['driver_cuda']}); CuPy {gpu['cupy']}; "
                     f"PyTorch {versions.get('torch') or 'not installed'}")
    else:
        skipped = [reason for where, reason in skips if "test_gpu.py" in where]
        why = run.get("gpu_absent") or (skipped[0] if skipped else "no GPU information was recorded")
        lines.append(f"No CUDA GPU was present for this run ({why.rstrip('.')}): the GPU suites were skipped and this "
                     "file holds no GPU figure. On a machine with one, `python -m benchmarks.report` adds them; "
                     "`python benchmarks/gpu_check.py` checks the kernels and times the same workloads (sized for "
                     "under 5 minutes).")
    if gpu_rows:
        lines += ["", "Training and predict start from host NumPy arrays, upload inside the timed region, for "
                  "both. The ratio in each peer cell is gpunet CuPy's speedup over it.", ""]
        lines += _results_table(gpu_rows, ())
    lines += ["", "### GPU targets (issue 8)", ""] + _targets_table(check_targets(gpu_rows, GPU_TARGETS))
    return lines


def render_markdown(data, skips=(), png_name=None, smoke=False):
    machine = (data.get("machine_info") or {}).get("gpunet_bench") or {}
    rows = measurements(data)
    date = machine.get("date") or data.get("datetime", "?")
    lines = ["# gpunet benchmark results", ""]
    if smoke or machine.get("smoke"):
        lines += ["**Smoke run**: tiny sizes, each benchmark run once. These numbers say nothing about speed.", ""]
    one_run = "that one run" if not machine.get("merged_runs") else "that one run but for the suites named next"
    lines += [f"Run on {date} by `python -m benchmarks.report`; every number below comes from {one_run}, "
              "so each ratio compares frameworks measured side by side on the same machine.", ""]
    lines += merged_note(machine)
    lines += ["## Machine", ""]
    lines += [f"- CPU: {machine.get('cpu', '?')}, {machine.get('usable_cpus', '?')} usable of "
              f"{machine.get('logical_cpus', '?')} logical CPUs; {machine.get('platform', '')}"]
    for lib in machine.get("blas", []):
        lines.append(f"- {lib.get('user_api')}: {lib.get('internal_api')} {lib.get('version') or ''} "
                     f"({lib.get('architecture') or ''}), {lib.get('num_threads')} threads"
                     f"{' — ' + lib['prefix'] if lib.get('prefix') else ''}")
    if machine.get("torch_threads") is not None:
        lines.append(f"- PyTorch intra-op threads: {machine['torch_threads']}")
    if machine.get("thread_env"):
        lines.append("- BLAS/thread environment: " + ", ".join(f"`{k}={v}`" for k, v in machine["thread_env"].items()))
    load_start, load_end = machine.get("load_start"), machine.get("load_end")
    if load_start and load_end:
        lines.append(f"- load average (1, 5, 15 min) at the start of the run: {_fmt_load(load_start)}, at the end: "
                     f"{_fmt_load(load_end)}")
    contention = machine.get("contention") or []
    if contention:
        lines.append("- CPU share used by other processes while each group ran: " + ", ".join(
            f"{c['group']} {c['others_cpu_share']:.0%}" for c in contention))
    noisy = is_noisy(machine)
    if noisy:
        lines.append(f"- **warning: {noisy}** Two-thread BLAS and OpenMP pools collapse when a core is taken "
                     "away (a framework can look 10-30x slower), so the results measured then are marked † and "
                     "the targets that use them unreliable. Rerun on an idle machine for numbers to quote.")
    versions = machine.get("versions", {})
    lines.append("- versions: " + ", ".join(f"{k} {v}" for k, v in versions.items() if v))
    lines += ["", "## gpunet against its peers", "",
              "Each peer cell: the peer's number, then **gpunet's speedup** over it (peer time / gpunet time; "
              "above 1x, gpunet is faster). Medians over the rounds of pytest-benchmark.", ""]
    noisy_fw = noisy_frameworks(machine)
    cpu_rows = {k: v for k, v in rows.items() if not _is_gpu(k[0]) and not is_data_parallel(k[0])}
    gpu_rows = {k: v for k, v in rows.items() if _is_gpu(k[0])}
    lines += _results_table(cpu_rows, noisy_fw)
    if noisy_fw:
        lines += ["", "† measured while other processes used more than "
                  f"{CONTENTION_LIMIT:.0%} of the CPUs: not to be quoted."]
    lines += ["", "## Targets (issue 5)", ""] + _targets_table(check_targets(cpu_rows), noisy_fw)
    lines += _gpu_section(machine, gpu_rows, skips)
    lines += data_parallel_section(data, machine, skips)  # its own tables: ranks, not peers
    if skips:
        lines += ["", "## Skipped", ""]
        lines += [f"- `{where}`: {reason}" for where, reason in skips]
    if png_name:
        lines += ["", "## Plot", "", f"![gpunet speedup over each peer]({png_name})"]
    lines += ["", "Rerun: `pip install -e '.[benchmarks]'` then `python -m benchmarks.report` "
              "(`pytest benchmarks/` runs the suites alone; `GPUNET_BENCH_SMOKE=1` shrinks them).", ""]
    return "\n".join(lines)
