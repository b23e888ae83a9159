"""The suite collects the same test ids in every process: pytest-xdist (which a GPU machine's
`benchmarks/gpu_session.sh` runs the suite with) refuses to start when its workers disagree, and
an id built from a set or a dict of set-derived text changes with Python's string hashing."""
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


def _collect(seed):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHONHASHSEED"))}
    env["PYTHONHASHSEED"] = str(seed)
    return subprocess.Popen([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", HERE],
                            cwd=os.path.dirname(HERE), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def _xdist_checks_it():
    """Under pytest-xdist with 2 or more workers whose string hashing is each its own (no PYTHONHASHSEED set), xdist
    compares the workers' collections itself and refuses to run when they differ: this test's two processes
    would only repeat that (36 s of the suite's two cores)."""
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT", "")
    return workers.isdigit() and int(workers) >= 2 and "PYTHONHASHSEED" not in os.environ


def test_two_processes_with_different_string_hashing_collect_the_same_ids():
    if _xdist_checks_it():
        pytest.skip("pytest-xdist's workers hash strings differently and compare their collections themselves")
    runs = [_collect(seed) for seed in (1, 2)]  # side by side: collection is most of the time
    outs = [proc.communicate(timeout=300)[0] for proc in runs]
    ids = []
    for proc, out in zip(runs, outs):
        assert proc.returncode == 0, out[-3000:]
        ids.append([line for line in out.splitlines() if "::" in line])
    assert len(ids[0]) > 1000  # the whole suite was collected
    differ = sorted(set(ids[0]) ^ set(ids[1]))
    assert not differ, f"{len(differ)} ids differ between processes, e.g. {differ[:3]}"
    assert ids[0] == ids[1]  # and in the same order (xdist compares the lists)
