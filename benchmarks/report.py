"""Run the benchmark suites and write ``benchmarks/RESULTS.md`` and ``benchmarks/results.png``.

Usage (from the repository root)::

    python -m benchmarks.report                  # full run (several minutes), writes the results
    python -m benchmarks.report --smoke          # tiny sizes, each benchmark once (checks the pipeline)
    python -m benchmarks.report --from-json F    # re-render from a pytest-benchmark JSON file
    python -m benchmarks.report -- -k seed       # extra arguments after -- go to pytest
    python -m benchmarks.report --merge benchmarks/results.json -- -k test_distribute
                                                 # rerun some suites, keep the earlier run's others

Every number is from one run, so ratios compare frameworks measured side by side
on the same machine. Ratios are "gpunet speedup": the peer's time over gpunet's
(for throughputs, gpunet's samples/s over the peer's); above 1, gpunet is faster.
"""
import argparse
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

if __package__ in (None, ""):  # run as a script: python benchmarks/report.py
    sys.path.insert(0, ROOT)
    __package__ = "benchmarks"  # noqa: A001

from .workloads import GPU_TARGETS, SMOKE_ENV, TARGETS  # noqa: E402
from .distribute_report import (WRAPPER_TARGET, WRAPPER_TARGET_TEXT, data_parallel_section,  # noqa: E402
                                is_data_parallel, wrapper_ratio)
from .runs import merge_runs, merged_note, run_of  # noqa: E402

SUITE_ORDER = ["seed", "wide", "predict", "optimizer", "save_load", "gpu workloads", "gpu dense forward",
               "gpu dense backward", "gpu training steps"]
SUITE_TITLES = {"seed": "Seed workload (Pima MLP, batch 10, Adam)", "wide": "Wide MLP training (batch 128, Adam)",
                "predict": "predict (batch 1024)", "optimizer": "Adam step", "save_load": "save + load_model",
                "gpu workloads": "GPU workloads (from host arrays, upload timed)",
                "gpu dense forward": "GPU Dense forward", "gpu dense backward": "GPU Dense backward",
                "gpu training steps": "GPU training steps"}
# In each suite the first of these that was measured is the subject; every other result is a baseline.
SUBJECTS = ("gpunet", "gpunet fused", "gpunet cupy")
PEER_ORDER = ("torch", "keras3", "tf_keras", "h5py", "gpunet unfused", "gpunet numpy", "gpunet cupy eager",
              "torch cuda", "torch cuda graph")
PEER_TITLES = {"torch": "PyTorch (eager)", "keras3": "Keras 3 (torch)", "tf_keras": "tf-keras", "h5py": "raw h5py",
               "gpunet unfused": "unfused CuPy", "gpunet numpy": "gpunet NumPy", "gpunet cupy": "gpunet CuPy",
               "gpunet cupy eager": "gpunet CuPy without graphs", "torch cuda": "PyTorch CUDA (eager)",
               "torch cuda graph": "PyTorch CUDA-graph replay"}
LOWER_IS_BETTER = {"us/step": True, "ms": True, "samples/s": False, "TFLOP/s": False}


# ---- running ------------------------------------------------------------------------------------

def _cpu_busy_seconds():
    """CPU seconds all processes have used so far (from /proc/stat), or None off Linux."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()[1:]
    except OSError:
        return None
    user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in (fields + ["0"] * 8)[:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def _children_seconds():
    t = os.times()
    return t.children_user + t.children_system


def busy_fraction(seconds=1.0):
    """Share of the machine's CPUs that other processes use right now (sampled over ``seconds``)."""
    import time
    a = _cpu_busy_seconds()
    if a is None:
        return None
    time.sleep(seconds)
    return max(0.0, (_cpu_busy_seconds() - a) / (seconds * (os.cpu_count() or 1)))


def wait_for_idle(limit_s, threshold=0.10):
    """Wait up to ``limit_s`` seconds for other processes to use less than ``threshold`` of the CPUs."""
    import time
    deadline = time.monotonic() + limit_s
    busy = busy_fraction()
    while busy is not None and busy > threshold and time.monotonic() < deadline:
        print(f"  waiting for an idle machine: other processes use {busy:.0%} of the CPUs", flush=True)
        busy = busy_fraction(5.0)
    return busy


# Each group runs in its own process: a framework's thread pools (OpenMP, Eigen, BLAS) spin for a
# while after use and would steal CPU from the next framework measured in the same process.
GROUPS = (("gpunet", "h5py"), ("torch",), ("keras3",), ("tf_keras",))


def suite_env(smoke):
    """The environment of a process that runs the suites: this one's, less pytest-xdist's worker
    variables (pytest-benchmark times nothing in a process that sees them, so a report started from
    a parallel test run would measure nothing), with ``SMOKE_ENV`` set in smoke mode."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST_")}
    if smoke:
        env[SMOKE_ENV] = "1"
    return env


def read_group_json(path):
    """A group's pytest-benchmark JSON, or None where the group measured nothing: then the file is
    absent or empty (some pytest-benchmark releases create it when they parse ``--benchmark-json``
    and write it only if a benchmark ran, e.g. when every one was deselected or skipped)."""
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        return None
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SystemExit(f"{path} is not pytest-benchmark JSON ({exc}); no results written") from None


def run_suites(json_dir, smoke, pytest_args, groups=GROUPS, wait_idle=0):
    """Run the suites, one process per framework group; returns (merged JSON data, pytest output).
    A group that measured nothing (every benchmark deselected or skipped) contributes nothing.

    Each group's run is accounted: the CPU time other processes took meanwhile (``/proc/stat``
    minus this run's own) is recorded as ``others_cpu_share``, since a shared machine distorts timings."""
    import time
    env = suite_env(smoke)
    merged, outputs, contention = None, [], []
    for i, group in enumerate(groups):
        if wait_idle:
            wait_for_idle(wait_idle)
        busy0, own0, wall0 = _cpu_busy_seconds(), _children_seconds(), time.monotonic()
        json_path = os.path.join(json_dir, f"bench{i}.json")
        cmd = [sys.executable, "-m", "pytest", os.path.relpath(HERE, ROOT), "-q", "-rs", "-p", "no:cacheprovider",
               f"--bench-frameworks={','.join(group)}", f"--benchmark-json={json_path}",
               "--benchmark-columns=min,median,max,rounds,iterations"]
        cmd += list(pytest_args)
        print("running:", " ".join(cmd), flush=True)
        proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        wall = time.monotonic() - wall0
        if busy0 is not None and wall > 0:
            others = (_cpu_busy_seconds() - busy0) - (_children_seconds() - own0)
            share = max(0.0, others / (wall * (os.cpu_count() or 1)))
            contention.append({"group": ",".join(group), "seconds": round(wall, 1), "others_cpu_share": round(share, 3)})
            print(f"  other processes used {share:.0%} of the CPUs during this group", flush=True)
        sys.stdout.write(proc.stdout[-3000:])
        outputs.append(proc.stdout)
        if proc.returncode not in (0, 5):
            raise SystemExit(f"the benchmark suites failed for {group} (pytest exit {proc.returncode}); "
                             "no results written")
        data = read_group_json(json_path)
        if data is None:
            continue
        if merged is None:
            merged = data
        else:
            merged["benchmarks"].extend(data.get("benchmarks", []))
            info = (data.get("machine_info") or {}).get("gpunet_bench") or {}
            mine = merged.setdefault("machine_info", {}).setdefault("gpunet_bench", {})
            for key in ("torch_threads",):
                if info.get(key) is not None:
                    mine[key] = info[key]
            if info.get("load_end") is not None:
                mine["load_end"] = info["load_end"]
            for lib in info.get("blas", []):
                if lib not in mine.setdefault("blas", []):
                    mine["blas"].append(lib)
    if merged is not None:
        merged.setdefault("machine_info", {}).setdefault("gpunet_bench", {})["contention"] = contention
    return merged, "\n".join(outputs)


def skip_reasons(pytest_output):
    """``[(where, reason)]`` from pytest's ``-rs`` short summaries, one entry per file and reason."""
    counts = {}
    for line in (pytest_output or "").splitlines():
        m = re.match(r"SKIPPED \[(\d+)\] (\S+?):(\d+): (.*)", line.strip())
        if m:
            key = (m.group(2), m.group(4))
            counts[key] = counts.get(key, 0) + int(m.group(1))
    return [(f"{path} ({n} test{'s' if n != 1 else ''})", reason) for (path, reason), n in counts.items()]


# ---- results --------------------------------------------------------------------------------------

def measurements(data):
    """``{(suite, case): {framework: (value, unit)}}`` from a pytest-benchmark JSON document."""
    rows = {}
    for bench in data.get("benchmarks", []):
        info = bench.get("extra_info") or {}
        if "suite" not in info:
            continue
        median, work, unit = bench["stats"]["median"], info.get("work", 1), info["unit"]
        if unit == "us/step":
            value = median / work * 1e6
        elif unit in ("samples/s", "TFLOP/s"):
            value = work / median
        elif unit == "ms":
            value = median * 1e3
        else:
            raise ValueError(f"unknown unit {unit!r} in {bench['name']}")
        rows.setdefault((info["suite"], info["case"]), {})[info["framework"]] = (value, unit)
    return rows


def speedup(subject, baseline):
    """Subject's speedup over baseline (> 1: subject faster), from two (value, unit) pairs."""
    (v_s, unit), (v_b, _) = subject, baseline
    if not v_s or not v_b:
        return None
    return v_b / v_s if LOWER_IS_BETTER[unit] else v_s / v_b


def subject_of(results):
    for name in SUBJECTS:
        if name in results:
            return name
    return None


def _sorted_rows(rows):
    def key(item):
        (suite, case), _ = item
        order = SUITE_ORDER.index(suite) if suite in SUITE_ORDER else len(SUITE_ORDER)
        numbers = [int(n) for n in re.findall(r"\d+", case)]
        return order, numbers, case
    return sorted(rows.items(), key=key)


def check_targets(rows, targets=TARGETS):
    """``[(target, measured, holds)]``; measured None (and holds None) when not measured."""
    out = []
    for t in targets:
        matching = [(case, res) for (suite, case), res in rows.items()
                    if suite == t.suite and (not t.case or case == t.case)]
        measured = holds = None
        for _, res in matching:
            if t.subject not in res:
                continue
            if t.peer:
                if t.peer in res:
                    measured = speedup(res[t.subject], res[t.peer])
                    holds = measured is not None and measured >= t.min_speedup * (1 - 1e-9)
            else:
                measured = res[t.subject][0]
                holds = measured <= t.max_value
        out.append((t, measured, holds))
    return out


def _fmt(value, unit):
    if value is None:
        return "n/a"
    if unit == "samples/s":
        return f"{value:,.0f} samples/s"
    if value >= 100:
        return f"{value:,.0f} {unit}"
    if value >= 10:
        return f"{value:.1f} {unit}"
    return f"{value:.2f} {unit}"


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


def _fmt_ratio(r):
    return "n/a" if r is None else (f"{r:.1f}x" if r >= 10 else f"{r:.2f}x")


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


def render_plot(data, path):
    """A PNG of gpunet's speedup over each peer, per case (log scale, targets marked)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot written (pip install matplotlib, or "
              "pip install 'gpunet[benchmarks]')", file=sys.stderr)
        return False
    rows = measurements(data)
    targets = {(t.suite, t.peer): t.min_speedup for t, _, _ in check_targets(rows) if t.peer}
    labels, values, colors, marks = [], [], [], []
    palette = {"torch": "#ee4c2c", "keras3": "#d00000", "tf_keras": "#ff8f00", "h5py": "#4a6fa5",
               "gpunet unfused": "#76b900", "gpunet numpy": "#013243"}
    for (suite, case), res in _sorted_rows(rows):
        subj = subject_of(res)
        if subj is None:
            continue
        for p in PEER_ORDER:
            if p in res:
                r = speedup(res[subj], res[p])
                if r is None:
                    continue
                labels.append(f"{SUITE_TITLES.get(suite, suite)}\n{case} vs {PEER_TITLES.get(p, p)}")
                values.append(r)
                colors.append(palette.get(p, "#888888"))
                marks.append(targets.get((suite, p)))
    fig, ax = plt.subplots(figsize=(10, 0.55 * max(len(values), 1) + 1.5))
    y = list(range(len(values)))[::-1]
    ax.barh(y, values, color=colors)
    for yi, v, m in zip(y, values, marks):
        ax.text(v, yi, f" {_fmt_ratio(v)}", va="center", fontsize=8)
        if m:
            ax.plot([m, m], [yi - 0.4, yi + 0.4], color="black", linewidth=2)
    ax.axvline(1.0, color="grey", linestyle="--", linewidth=1)
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("gpunet speedup (peer time / gpunet time; > 1: gpunet faster). Black ticks: targets")
    machine = (data.get("machine_info") or {}).get("gpunet_bench") or {}
    ax.set_title(f"gpunet vs peers — {machine.get('cpu', '')}, {machine.get('usable_cpus', '?')} CPUs, "
                 f"{(machine.get('date') or '')[:10]}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return True


def write_report(data, out_dir, skips=(), smoke=False):
    os.makedirs(out_dir, exist_ok=True)
    png = os.path.join(out_dir, "results.png")
    have_png = render_plot(data, png)
    md = render_markdown(data, skips, "results.png" if have_png else None, smoke)
    md_path = os.path.join(out_dir, "RESULTS.md")
    with open(md_path, "w") as f:
        f.write(md)
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump({"machine_info": data.get("machine_info"), "datetime": data.get("datetime"),
                   "skipped": [list(s) for s in skips],
                   "benchmarks": [{"name": b["name"], "group": b.get("group"), "extra_info": b.get("extra_info"),
                                   "stats": {k: b["stats"][k] for k in ("min", "median", "mean", "max", "rounds",
                                                                        "iterations") if k in b["stats"]}}
                                  for b in data.get("benchmarks", [])]}, f, indent=1)
    return md_path, (png if have_png else None)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, each benchmark once")
    parser.add_argument("--from-json", metavar="FILE", help="render from a pytest-benchmark JSON file, run nothing")
    parser.add_argument("--out-dir", default=HERE, help="where RESULTS.md, results.png, results.json go "
                                                         "(default: benchmarks/)")
    parser.add_argument("--wait-idle", type=float, default=60.0, metavar="SECONDS",
                        help="before each framework's run, wait up to this long for other processes to leave the "
                             "CPUs idle (default 60; 0: do not wait)")
    parser.add_argument("--merge", metavar="FILE", help="render over FILE (an earlier results.json): the suites this "
                        "run measured replace FILE's, the others are kept (e.g. -- -k test_distribute)")
    args = parser.parse_args(argv)
    skips = []
    if args.from_json:
        with open(args.from_json) as f:
            data = json.load(f)
        skips = [tuple(s) for s in data.get("skipped", [])]
    else:
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            data, output = run_suites(tmp, args.smoke, extra, wait_idle=0 if args.smoke else args.wait_idle)
        skips = skip_reasons(output)
        if data is None:
            raise SystemExit("pytest wrote no benchmark JSON (was every benchmark skipped or deselected?)")
    if args.merge:
        with open(args.merge) as f:
            earlier = json.load(f)
        data, skips = merge_runs(earlier, data, [tuple(s) for s in earlier.get("skipped", [])], skips)
    md, png = write_report(data, args.out_dir, skips, args.smoke)
    print(f"wrote {md}" + (f" and {png}" if png else ""))
    rows = measurements(data)
    for t, measured, holds in check_targets(rows) + check_targets(rows, GPU_TARGETS):
        state = "not measured" if measured is None else ("holds" if holds else "MISSED")
        print(f"  target: {t.text}: {state}" + ("" if measured is None else f" ({measured:.3g})"))
    ratio = wrapper_ratio(data)
    print(f"  target: {WRAPPER_TARGET_TEXT}: " + ("not measured" if ratio is None else
                                                  f"{'holds' if ratio <= WRAPPER_TARGET else 'MISSED'} ({ratio:.3f}x)"))


if __name__ == "__main__":
    main()
