"""Running the benchmark suites for ``python -m benchmarks.report``: one pytest process per framework
group, with the CPU time other processes took meanwhile accounted, and pytest's skip reasons collected."""
import json
import os
import re
import subprocess
import sys

from .workloads import SMOKE_ENV

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


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
