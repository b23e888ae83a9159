"""benchmarks/gpu_diagnose.py (gpu_check part 6) runs end to end on the CPU, so that a GPU
session's minutes are not lost to a crash in it: NumPy and PyTorch on the CPU stand in for
CuPy and CUDA, the simulated transport for the CUDA one, the kernels' emulation for the GPU
plan. The figures it prints are timings and are not checked; what it measured is."""
import dataclasses
import os
import sys

import numpy
import pytest

from benchmarks_import import benchmarks_module
from cuda_emulator import EmulatedCupyBackend, emulator  # noqa: F401 (fixture)
from gpunet import backend as B
from gpunet.backend import gpu_fused_step as FS
from gpunet.backend import upload as U
from gpunet.backend.upload import SimulatedTransport

def test_big_breakdown_times_every_phase_of_both_frameworks(capsys):
    pytest.importorskip("torch")
    D, peers, W = benchmarks_module("gpu_diagnose"), benchmarks_module("peers"), benchmarks_module("workloads")
    spec = W.save_mlp(32, "small")
    rng = numpy.random.default_rng(0)
    x, y = (rng.standard_normal((256, 32)).astype("float32") for _ in range(2))
    sizes = dataclasses.replace(W.Sizes.get(True), gpu_big_rows=256)
    got = D.big_breakdown(sizes, peers.GpunetPeer("numpy"), peers.TorchPeer(), rounds=1, top=5,
                          workload=(spec, x, y, 64, 1))
    phases = ("upload x, y", "fit, data on the device", "fit from host arrays")
    assert set(got) == {(f, p) for f in ("gpunet", "torch") for p in phases} | {("gpunet", "fit's data preparation")}
    assert all(s > 0 for s in got.values())
    out = capsys.readouterr().out
    assert "gpunet  host arrays cost" in out and "torch  host arrays cost" in out
    assert "under cProfile, top 5 by own time" in out and "ncalls" in out


def test_torch_fit_takes_tensors_already_in_place():
    """The resident case hands PyTorch's loop tensors; it trains on them as on NumPy arrays."""
    torch = pytest.importorskip("torch")
    peers, W = benchmarks_module("peers"), benchmarks_module("workloads")
    spec = W.save_mlp(8, "tiny")
    rng = numpy.random.default_rng(1)
    x, y = (rng.standard_normal((32, 8)).astype("float32") for _ in range(2))
    results = []
    for data in ((x, y), (torch.from_numpy(x), torch.from_numpy(y))):
        peer = peers.TorchPeer()
        torch.manual_seed(0)  # the shuffle's randperm
        model = peer.mlp(spec, W.initial_weights(spec))
        peer.fit(model, *data, 2, 8)
        results.append(numpy.concatenate([p.detach().numpy().ravel() for p in model["net"].parameters()]))
    numpy.testing.assert_array_equal(results[0], results[1])
    assert not numpy.array_equal(results[0], numpy.concatenate(
        [w.ravel() if w.ndim == 1 else w.T.ravel() for w in W.initial_weights(spec)]))


def test_upload_sweep_tries_every_chunk_size_and_thread_count(capsys):
    D = benchmarks_module("gpu_diagnose")
    threads_before = os.environ.get("GPUNET_UPLOAD_THREADS")
    got = D.upload_sweep(B.resolve("numpy"), SimulatedTransport(), 64, 1024, lambda: None, rounds=1,
                         chunks_mb=(1, 4), threads=(1, 2))
    assert set(got) == {"plain copy (pageable)", "to_device as it stands", "chunks of 1 MB, 1 copy threads",
                        "chunks of 1 MB, 2 copy threads", "chunks of 4 MB, 1 copy threads",
                        "chunks of 4 MB, 2 copy threads"}
    assert all(v > 0 for v in got.values())
    assert os.environ.get("GPUNET_UPLOAD_THREADS") == threads_before
    assert f"to_device uses {U.CHUNK_BYTES >> 20} MB chunks" in capsys.readouterr().out


def test_fused_step_sweep_times_both_step_forms_and_restores_the_limits(emulator, capsys):  # noqa: F811
    S = benchmarks_module("gpu_plan_sweeps")
    B.set_floatx("float32")
    before, env_before = (FS.MAX_MACS, FS.MAX_PARAMS), os.environ.get("GPUNET_FUSED_STEP")
    cases = [(8, (12, 8, 1), 10), (128, (256, 128, 1), 2)]  # the second is over today's MAX_MACS and MAX_PARAMS
    got = S.fused_step_sweep(EmulatedCupyBackend(emulator), lambda: None, cases, steps=3, epochs=1, rounds=1)
    assert set(got) == {(c, m) for c in cases for m in ("1", "0")}
    assert (FS.MAX_MACS, FS.MAX_PARAMS) == before
    assert os.environ.get("GPUNET_FUSED_STEP") == env_before
    lines = [l for l in capsys.readouterr().out.splitlines() if l.strip().startswith(("8-12-8-1", "128-256-128-1"))]
    assert len(lines) == 2 and all(l.rstrip().endswith("yes") for l in lines), lines
    macs, params = 3 * 2 * (128 * 256 + 256 * 128 + 128), (128 + 1) * 256 + (256 + 1) * 128 + 128 + 1
    assert macs > before[0] and params > before[1]  # the lifted limits let it take one launch


def test_gpu_session_runs_only_the_parts_asked_for(tmp_path):
    """benchmarks/gpu_session.sh with PARTS="diagnose": only gpu_diagnose runs, its log and
    exit status land in the folder (here, without a GPU, it says there is none)."""
    import subprocess
    from gpunet.backend import cupy_unavailable_reason
    if cupy_unavailable_reason() is None:
        pytest.skip("on a GPU machine this would time the whole diagnosis: gpu_session.sh is run there itself")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    proc = subprocess.run(["bash", "benchmarks/gpu_session.sh", str(tmp_path)], cwd=root, text=True, timeout=300,
                          env=dict(env, PARTS="diagnose", PYTHON=sys.executable), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT)
    assert proc.returncode == 0, proc.stdout
    assert "== gpu_diagnose" in proc.stdout and "== suite" not in proc.stdout and "== report" not in proc.stdout
    log = (tmp_path / "gpu_diagnose.log").read_text()
    assert "No GPU to diagnose" in log and "diagnose rc=2 in" in log
    assert sorted(p.name for p in tmp_path.iterdir()) == ["env.txt", "gpu_diagnose.log"]


def test_beyond_dense_sweep_times_the_plan_and_the_layer_path(emulator, capsys):  # noqa: F811
    S = benchmarks_module("gpu_plan_sweeps")
    B.set_floatx("float32")
    cases = S._beyond_dense_cases()
    got = S.beyond_dense_sweep(EmulatedCupyBackend(emulator), lambda: None, batches=(4,), steps=2, epochs=1,
                               rounds=1, cases=cases)
    assert set(got) == {(name, 4, path) for name in cases for path in ("plan", "layers")}
    assert all(v > 0 for v in got.values())
    out = capsys.readouterr().out
    assert "did not take it" not in out and all(name in out for name in cases)


def test_fused_forward_sweep_times_both_forward_forms_and_restores_the_limit(emulator, capsys):  # noqa: F811
    from gpunet.backend import gpu_fused_forward as FF
    S = benchmarks_module("gpu_plan_sweeps")
    B.set_floatx("float32")
    before, env_before = FF.MAX_PARAMS, os.environ.get("GPUNET_FUSED_FORWARD")
    cases = [(8, (12, 8, 1)), (300, (250, 3))]  # the second is over today's MAX_PARAMS
    got = S.fused_forward_sweep(EmulatedCupyBackend(emulator), lambda: None, cases, rows=40, batch=16, rounds=1)
    assert set(got) == {(c, m) for c in cases for m in ("1", "0")} and all(v > 0 for v in got.values())
    assert FF.MAX_PARAMS == before and os.environ.get("GPUNET_FUSED_FORWARD") == env_before
    lines = [l for l in capsys.readouterr().out.splitlines() if l.strip().startswith(("8-12-8-1", "300-250-3"))]
    assert len(lines) == 2 and all(l.rstrip().endswith("yes") for l in lines), lines
    assert 300 * 250 > before  # the lifted limit let it take one launch


def test_gpu_session_runs_the_suite_in_shards_without_xdist(tmp_path):
    """Without pytest-xdist (a bare GPU image) the suite part deals the test files to
    SUITE_SHARDS pytest processes side by side; suite.log gathers each shard's summary and status."""
    import subprocess
    try:
        import xdist  # noqa: F401
        pytest.skip("pytest-xdist is installed: gpu_session.sh runs the suite with -n 8 instead")
    except ImportError:
        pass
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    files = "tests/test_get_file.py tests/test_kernel_wheel.py tests/test_datasets.py"
    proc = subprocess.run(["bash", "benchmarks/gpu_session.sh", str(tmp_path)], cwd=root, text=True, timeout=300,
                          env=dict(env, PARTS="suite", PYTHON=sys.executable, SUITE_FILES=files, SUITE_SHARDS="2"),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.returncode == 0, proc.stdout
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["env.txt", "suite.0.log", "suite.1.log", "suite.log"], names
    log = (tmp_path / "suite.log").read_text()
    assert "shard 0 rc=0 (2 files)" in log and "shard 1 rc=0 (1 files)" in log and "suite (2 shards)" in log
    assert all(" passed" in (tmp_path / f"suite.{k}.log").read_text() for k in (0, 1))


def test_graph_forward_sweep_times_the_plan_and_the_layer_path(emulator, capsys):  # noqa: F811
    S = benchmarks_module("gpu_plan_sweeps")
    from gpunet.models import plan_inference
    build = plan_inference.build_gpu_graph_forward
    B.set_floatx("float32")
    got = S.graph_forward_sweep(EmulatedCupyBackend(emulator), lambda: None, [(8, 12, 1), (16, 8, 3)], rows=50,
                                batch=16, rounds=1)
    assert set(got) == {(c, p) for c in [(8, 12, 1), (16, 8, 3)] for p in ("plan", "layers")}
    assert all(v > 0 for v in got.values()) and plan_inference.build_gpu_graph_forward is build
    lines = [l for l in capsys.readouterr().out.splitlines() if l.strip().startswith(("8-12-12-1", "16-8-8-3"))]
    assert len(lines) == 2 and all(l.rstrip().endswith("yes") for l in lines), lines
