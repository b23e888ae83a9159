"""The benchmark suites run: each once, at tiny sizes (GPUNET_BENCH_SMOKE=1).

CI does not time the benchmarks; this proves they work (and that the report
renders from their JSON). Peers that are not installed (PyTorch, Keras 3,
tf-keras) and the GPU suite without CUDA are skipped inside the run, not failed.
No time is asserted here.
"""
import json
import os
import re
import subprocess
import sys

import pytest

pytest.importorskip("pytest_benchmark", reason="pytest-benchmark is not installed (pip install -e '.[test]')")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    json_path = out / "bench.json"
    env = dict(os.environ, GPUNET_BENCH_SMOKE="1")
    cmd = [sys.executable, "-m", "pytest", "benchmarks", "-q", "-rs", "-p", "no:cacheprovider",
           f"--benchmark-json={json_path}"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=600)
    return proc, json_path, out


def test_every_suite_runs_once_in_smoke_mode(smoke_run):
    proc, json_path, _ = smoke_run
    assert proc.returncode == 0, proc.stdout[-8000:]
    summary = proc.stdout.strip().splitlines()[-1]
    assert "failed" not in summary and "error" not in summary, proc.stdout[-8000:]
    data = json.loads(json_path.read_text())
    by_suite = {}
    for bench in data["benchmarks"]:
        info = bench["extra_info"]
        assert info["smoke"] is True
        assert bench["stats"]["rounds"] == 1
        by_suite.setdefault(info["suite"], set()).add(info["framework"])
    # gpunet itself always runs the suites that need nothing but gpunet's core.
    for suite in ("seed", "predict", "optimizer"):
        assert "gpunet" in by_suite.get(suite, ()), (suite, by_suite)
    # a skip always says why
    for line in proc.stdout.splitlines():
        if line.startswith("SKIPPED"):
            assert re.search(r":\d+: \S", line), line


def test_report_renders_from_the_smoke_json(smoke_run):
    proc, json_path, out = smoke_run
    assert proc.returncode == 0, proc.stdout[-8000:]
    sys.path.insert(0, ROOT)
    try:
        from benchmarks import report
    finally:
        sys.path.remove(ROOT)
    data = json.loads(json_path.read_text())
    md_path, png = report.write_report(data, str(out / "report"), report.skip_reasons(proc.stdout), smoke=True)
    md = open(md_path).read()
    assert "Smoke run" in md and "## Machine" in md and "## Targets" in md
    assert "| Seed workload" in md
    for t in report.TARGETS:
        assert t.text in md
    if png is not None:
        assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
