"""The suite collects the same test ids in every process: pytest-xdist (which a GPU machine's
`benchmarks/gpu_session.sh` runs the suite with) refuses to start when its workers disagree, and
an id built from a set or a dict of set-derived text changes with Python's string hashing."""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def _collect(seed):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHONHASHSEED"))}
    env["PYTHONHASHSEED"] = str(seed)
    return subprocess.Popen([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", HERE],
                            cwd=os.path.dirname(HERE), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def test_two_processes_with_different_string_hashing_collect_the_same_ids():
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
