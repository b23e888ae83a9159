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
from benchmarks_import import benchmarks_module

pytest.importorskip("pytest_benchmark", reason="pytest-benchmark is not installed (pip install -e '.[test]')")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    json_path = out / "bench.json"
    env = benchmarks_module("report").suite_env(smoke=True)  # not an xdist worker's: benchmarks would time nothing
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
    for suite in ("seed", "predict", "optimizer", "cnn", "rnn"):
        assert "gpunet" in by_suite.get(suite, ()), (suite, by_suite)
    # the data-parallel suite (issue 10): the test extra installs mpi4py and Open MPI, so its 2 ranks run
    assert by_suite["allreduce"] == {"gpunet.distribute, 2 ranks", "copy + add bound"}, by_suite
    assert by_suite["distributed optimizer"] == {"without DistributedOptimizer", "with DistributedOptimizer"}
    assert by_suite["data-parallel scaling"] == {"1 rank, 1 BLAS thread", "1 rank, all BLAS threads",
                                                 f"{_scaling_ranks()} ranks, 1 BLAS thread each"}
    # a skip always says why
    for line in proc.stdout.splitlines():
        if line.startswith("SKIPPED"):
            assert re.search(r":\d+: \S", line), line


def test_report_renders_from_the_smoke_json(smoke_run):
    proc, json_path, out = smoke_run
    assert proc.returncode == 0, proc.stdout[-8000:]
    report = benchmarks_module("report")
    data = json.loads(json_path.read_text())
    md_path, png = report.write_report(data, str(out / "report"), report.skip_reasons(proc.stdout), smoke=True)
    md = open(md_path).read()
    assert "Smoke run" in md and "## Machine" in md and "## Targets" in md
    assert "| Seed workload" in md
    dp = md[md.index("## Data-parallel (gpunet.distribute, issue 10)"):]
    assert "**This machine has" in dp and "| 4 KB float32 |" in dp and "| 64 KB float32 |" in dp
    assert f"| {_scaling_ranks()} ranks, 1 BLAS thread each |" in dp and "<= 1.03x: " in dp
    assert "allreduce" not in md[:md.index("## Data-parallel")]  # not a peer comparison: its own section
    for t in report.TARGETS:
        assert t.text in md
    if png is not None:
        assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"




def _scaling_ranks():
    """The scaling case's N: this machine's usable cores, 2 to 8 (8 on a 16-core GPU machine)."""
    return benchmarks_module("test_distribute").scaling_ranks()


def test_gpu_workloads_run_end_to_end_with_cpu_peers_standing_in(capsys):
    """gpu_check's workload part (the same calls test_gpu.py times) on the CPU: gpunet's NumPy
    backend and PyTorch on the CPU stand in for CuPy and CUDA; the 50M-parameter workload is
    only prepared (too big for CI's CPUs). Without CUDA the CUDA-graph replay is skipped, saying why."""
    import dataclasses
    torch = pytest.importorskip("torch")
    peers, G, W = (benchmarks_module(n) for n in ("peers", "gpu_workloads", "workloads"))
    check = benchmarks_module("gpu_check")
    sizes = dataclasses.replace(W.Sizes.get(True), gpu_wide_b1024_rows=1024, predict_rows=1024, gpu_big_rows=8)
    stand_in = {"gpunet cupy": peers.GpunetPeer("numpy"), "gpunet cupy eager": peers.GpunetPeer("numpy"),
                "torch cuda": peers.TorchPeer()}
    cases = [c for c in G.CASES if c[0] != "big"]
    if torch.cuda.is_available():
        cases = [c for c in cases if c[1] != "torch cuda graph"]
    rows = check.run_workloads(sizes, 1, stand_in, cases)
    out = capsys.readouterr().out
    measured = {(case, impl) for (_, case), res in rows.items() for impl in res}
    assert {(W.GPU_CASES[k], i) for k, i in cases if i != "torch cuda graph"} == measured
    assert "torch cuda graph: skipped (" in out or torch.cuda.is_available()
    seed = rows[(W.GPU_SUITE, W.GPU_CASES["seed"])]
    assert seed["gpunet cupy"][1] == "us/step" and seed["gpunet cupy"][0] > 0
    assert "targets (issue 8)" in out and "wide, batch 128: >= 4x PyTorch eager: " in out
    big = G.prepare("big", "torch cuda", sizes, stand_in["torch cuda"])
    assert big.unit == "TFLOP/s" and big.work == pytest.approx(6 * W.BIG.n_params * 8 / 1e12)


def test_report_has_a_gpu_section_with_device_versions_and_ratios():
    report, W = benchmarks_module("report"), benchmarks_module("workloads")
    case = W.GPU_CASES["wide_b128"]

    def bench(impl, seconds, work):
        return {"name": impl, "stats": {"median": seconds}, "extra_info": {
            "suite": W.GPU_SUITE, "case": case, "framework": impl, "unit": "samples/s", "work": work}}
    gpu = {"name": "NVIDIA H200", "sms": 132, "memory_gib": 139.8, "driver_cuda": "13.0", "runtime_cuda": "13.2",
           "cupy": "14.2.0"}
    data = {"benchmarks": [bench("gpunet cupy", 0.05, 32768), bench("torch cuda", 0.25, 32768)],
            "machine_info": {"gpunet_bench": {"gpu": gpu, "versions": {"torch": "2.11.0+cu130"}}}}
    md = report.render_markdown(data)
    gpu_part = md[md.index("## GPU"):]
    assert "NVIDIA H200 (132 SMs, 139.8 GiB); CUDA runtime 13.2" in gpu_part and "PyTorch 2.11.0+cu130" in gpu_part
    assert "655,360 samples/s" in gpu_part and "131,072 samples/s (**5.00x**)" in gpu_part
    assert "| wide, batch 128: >= 4x PyTorch eager | gpunet speedup >= 4.00x vs PyTorch CUDA (eager) | 5.00x | yes |" \
        in gpu_part
    assert "No CUDA GPU" not in md and case not in md[:md.index("## GPU")]
    data["machine_info"]["gpunet_bench"] = {"gpu_absent": "CuPy is installed but no usable CUDA GPU was found"}
    data["benchmarks"] = []
    md = report.render_markdown(data)
    assert "No CUDA GPU was present for this run (CuPy is installed but no usable CUDA GPU was found)" in md


def test_data_parallel_benchmarks_skip_saying_why_without_mpiexec():
    """Where no mpiexec can be found, the N-rank cases skip with the reason and how to install MPI."""
    env = dict(os.environ, GPUNET_BENCH_SMOKE="1", GPUNET_MPIEXEC=os.path.join(ROOT, "no-such-mpiexec"))
    cmd = [sys.executable, "-m", "pytest", "benchmarks/test_distribute.py", "-q", "-rs", "-p", "no:cacheprovider",
           "-k", "allreduce_2_ranks or fit_n_ranks", "--benchmark-disable"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert proc.stdout.strip().splitlines()[-1].startswith("9 skipped"), proc.stdout[-4000:]
    assert "N-rank benchmarks need mpi4py and an mpiexec (gpunet run: mpiexec " in proc.stdout
    assert "no-such-mpiexec' not found or not executable); install them with: pip install 'gpunet[mpi]'" \
        in proc.stdout


def test_data_parallel_section_figures():
    """The section's arithmetic: bandwidth, ratio to the bound, the wrapper's target, scaling efficiency."""
    report = benchmarks_module("report")

    def bench(suite, case, framework, median, **info):
        return {"name": framework, "stats": {"median": median}, "extra_info": {
            "suite": suite, "case": case, "framework": framework, "unit": info.pop("unit", "us/step"),
            "work": info.pop("work", 1), **info}}
    wide = "wide 784-512-512-10 fit, global batch 256"
    data = {"benchmarks": [
        bench("allreduce", "4 MB float32", "gpunet.distribute, 2 ranks", 2e-3, bytes=4 << 20, ranks=2),
        bench("allreduce", "4 MB float32", "copy + add bound", 5e-4, bytes=4 << 20),
        bench("distributed optimizer", "wide, 1 rank", "without DistributedOptimizer", 0.5, work=100, ranks=1),
        bench("distributed optimizer", "wide, 1 rank", "with DistributedOptimizer", 0.52, work=100, ranks=1),
        bench("data-parallel scaling", wide, "1 rank, 1 BLAS thread", 1.0, unit="samples/s", work=16384, ranks=1,
              blas_threads="1"),
        bench("data-parallel scaling", wide, "2 ranks, 1 BLAS thread each", 0.64, unit="samples/s", work=16384,
              ranks=2, blas_threads="1")],
        "machine_info": {"gpunet_bench": {"usable_cpus": 2, "contention": [
            {"group": "gpunet,h5py", "others_cpu_share": 0.25}]}}}
    md = report.render_markdown(data)
    dp = md[md.index("## Data-parallel"):]
    assert "**This machine has 2 CPU cores, shared with other work (other processes used up to 25% of them" in dp
    assert "indicative only" in dp
    assert "| 4 MB float32 | 2.00 ms | 2.10 GB/s | 500.0 us | 8.39 GB/s | **4.0x** |" in dp
    assert "| wide, 1 rank | 5,000 us/step | 5,200 us/step | **1.040x** | <= 1.03x: **missed** |" in dp
    assert f"| {wide} | 1 rank, 1 BLAS thread | 16,384 | 1.00x | 100% |" in dp
    assert f"| {wide} | 2 ranks, 1 BLAS thread each | 25,600 | 1.56x | 78% |" in dp
    assert "4 MB" not in md[:md.index("## Data-parallel")]
    # interleaved rounds: the median of their paired ratios, which one round hit by other work cannot move
    data["benchmarks"][3]["extra_info"]["paired_ratios"] = [1.01, 2.0, 1.02]
    assert "| 5,000 us/step | 5,200 us/step | **1.020x** | <= 1.03x: holds |" in report.render_markdown(data)
    assert report.wrapper_ratio(data) == 1.02
    data["benchmarks"] = []
    md = report.render_markdown(data, skips=[("benchmarks/test_distribute.py (9 tests)", "no mpiexec")])
    assert "## Data-parallel (gpunet.distribute, issue 10)\n\nNot measured in this run: no mpiexec." in md


def test_merge_replaces_the_rerun_suites_and_says_when():
    """``report --merge``: a rerun suite's figures replace the earlier run's, the others stay, and the
    file says which suites were measured when (the data-parallel section gives its own run's load)."""
    report = benchmarks_module("report")

    def bench(suite, framework, median):
        return {"name": framework, "stats": {"median": median}, "extra_info": {
            "suite": suite, "case": "c", "framework": framework, "unit": "us/step", "work": 1, "bytes": 4096}}
    earlier = {"benchmarks": [bench("seed", "gpunet", 2e-5), bench("allreduce", "copy + add bound", 9.0)],
               "machine_info": {"gpunet_bench": {"date": "2026-11-24T01:45", "usable_cpus": 2, "load_start": [0.1]}}}
    later = {"benchmarks": [bench("allreduce", "copy + add bound", 1e-6),
                            bench("allreduce", "gpunet.distribute, 2 ranks", 4e-6)],
             "machine_info": {"gpunet_bench": {"date": "2026-11-29T21:00", "usable_cpus": 2, "load_start": [1.5]}}}
    gpu_skip = ("benchmarks/test_gpu.py (24 tests)", "no CUDA")
    data, skips = report.merge_runs(earlier, later, [gpu_skip, ("benchmarks/test_distribute.py (3 tests)", "old")],
                                    [("benchmarks/test_distribute.py (6 tests)", "smoke mode")])
    assert skips == [gpu_skip, ("benchmarks/test_distribute.py (6 tests)", "smoke mode")]
    assert sorted((b["extra_info"]["suite"], b["stats"]["median"]) for b in data["benchmarks"]) == \
        [("allreduce", 1e-6), ("allreduce", 4e-6), ("seed", 2e-5)]
    md = report.render_markdown(data, skips)
    assert "Run on 2026-11-24T01:45 " in md and "that one run but for the suites named next" in md
    assert "The suites `allreduce` were measured again on 2026-11-29T21:00 and replace" in md
    dp = md[md.index("## Data-parallel"):]
    assert "Measured on 2026-11-29T21:00, after the rest of this file." in dp
    assert "(load average 1.50 when the run started)" in dp and "| 4.0 us | 1.02 GB/s | 1.0 us |" in dp
    with pytest.raises(ValueError, match="this run measured no suite"):
        report.merge_runs(earlier, {"benchmarks": []})


def test_merged_gpu_suites_render_with_the_gpu_of_the_run_that_measured_them():
    """GPU suites rerun on a GPU machine over a CPU machine's file: the GPU section names that run's
    device and versions (the header's machine had none), not "no CUDA GPU was present"."""
    report = benchmarks_module("report")

    def bench(suite, framework, median):
        return {"name": framework, "stats": {"median": median}, "extra_info": {
            "suite": suite, "case": "pima 8-12-8-1 batch 10", "framework": framework, "unit": "us/step",
            "work": 1}}
    earlier = {"benchmarks": [bench("seed", "gpunet", 2e-5)], "machine_info": {"gpunet_bench": {
        "date": "2026-11-24T01:45", "usable_cpus": 2, "gpu": None, "gpu_absent": "no CUDA here",
        "versions": {"torch": "2.13.0+cpu"}}}}
    gpu = {"name": "NVIDIA H200", "sms": 132, "memory_gib": 140.4, "driver_cuda": "13.0", "runtime_cuda": "13.2",
           "cupy": "14.2.0"}
    later = {"benchmarks": [bench("gpu workloads", "gpunet cupy", 4e-5), bench("gpu workloads", "torch cuda", 2e-3)],
             "machine_info": {"gpunet_bench": {"date": "2026-11-29T22:33", "usable_cpus": 16, "gpu": gpu,
                                               "gpu_absent": None, "versions": {"torch": "2.11.0+cu130"}}}}
    data, skips = report.merge_runs(earlier, later)
    gpu_md = report.render_markdown(data, skips)
    gpu_md = gpu_md[gpu_md.index("## GPU"):]
    assert "- device: NVIDIA H200 (132 SMs, 140.4 GiB); CUDA runtime 13.2" in gpu_md
    assert "PyTorch 2.11.0+cu130" in gpu_md and "Measured on 2026-11-29T22:33, after the rest" in gpu_md
    assert "No CUDA GPU was present" not in gpu_md and "(**50.0x**)" in gpu_md


def test_a_group_that_measured_nothing_contributes_nothing(tmp_path):
    """run_suites over a group that measures (gpunet's Adam step) and one whose every benchmark is
    deselected, its JSON file left empty as some pytest-benchmark releases leave it: the results are
    the first group's, and no error. A damaged file is refused, naming it."""
    report = benchmarks_module("report")
    (tmp_path / "bench1.json").write_text("")  # the second group's file, created and never written
    data, _ = report.run_suites(str(tmp_path), True, ["-k", "test_adam_step and gpunet and pima"],
                                groups=(("gpunet",), ("keras3",)))
    assert [(b["extra_info"]["suite"], b["extra_info"]["framework"]) for b in data["benchmarks"]] == \
        [("optimizer", "gpunet")]
    assert [c["group"] for c in data["machine_info"]["gpunet_bench"]["contention"]] == ["gpunet", "keras3"]
    assert report.read_group_json(str(tmp_path / "absent.json")) is None
    (tmp_path / "bad.json").write_text('{"benchmarks": [')
    with pytest.raises(SystemExit, match=r"bad.json is not pytest-benchmark JSON \(Expecting value"):
        report.read_group_json(str(tmp_path / "bad.json"))


def test_a_cut_off_xdist_log_names_the_tests_still_running():
    """gpu_session.sh's suite part: what a `pytest -v -n N` log shows started with no outcome after."""
    unfinished = benchmarks_module("unfinished_tests").unfinished
    log = ["tests/test_a.py::test_one ", "tests/test_a.py::test_two[x y] ", "tests/test_b.py::test_three ",
           "[gw0] [ 33%] PASSED tests/test_a.py::test_one ", "tests/test_c.py::test_four ",
           "[gw1] [ 66%] FAILED tests/test_b.py::test_three ", "E   assert 1 == 2", "tests/test_a.py::test_two[x y] "]
    assert unfinished(log) == ["tests/test_a.py::test_two[x y]", "tests/test_c.py::test_four"]
    assert unfinished(log + ["[gw1] [100%] ERROR tests/test_c.py::test_four "]) == ["tests/test_a.py::test_two[x y]"]
