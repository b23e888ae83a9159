"""gpunet.distribute on 2 real ranks: mpirun starts tests/distribute_worker.py, which writes what
each rank ended with; these tests compare it with one process training on the global batch
(tests/distribute_cases.py defines both sides). NumPy backend; the NCCL cases need GPUs."""
import json
import os
import shutil
import subprocess
import sys
import time

import numpy
import pytest

import gpunet

import distribute_cases as C
from gpunet import backend as B
from gpunet.distribute import launcher
from gpunet.callbacks import LambdaCallback
from gpunet.models import load_model

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
WORKER = os.path.join(HERE, "distribute_worker.py")
TIMEOUT = 180  # seconds for one launch; a hang fails the test instead of the suite


def _env(**extra):
    # the ranks import this checkout's gpunet from any working directory (a relative PYTHONPATH=. would not)
    env = dict(os.environ, GPUNET_BACKEND="numpy", PYTHONUNBUFFERED="1",
               PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.update(extra)
    return env


def _gpunet_command():
    """``gpunet`` as a user types it: the console script beside this Python where gpunet is
    installed, else ``python -m gpunet`` (a source checkout on PYTHONPATH has no console script)."""
    script = os.path.join(os.path.dirname(sys.executable), "gpunet")
    return [script] if os.path.exists(script) else [sys.executable, "-m", "gpunet"]


def _mpirun(*args, **env):
    """Plain ``mpirun -n 2 python worker.py ARGS`` (the flags a local Open MPI run needs as root)."""
    cmd = launcher.command(2, [WORKER])
    cmd = cmd[:cmd.index(sys.executable)] + [sys.executable, WORKER, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, env=_env(**env),
                          stdin=subprocess.DEVNULL)


def _load(out, what, rank):
    data = dict(numpy.load(os.path.join(out, f"{what}_r{rank}.npz")))
    path = os.path.join(out, f"{what}_history_r{rank}.json")
    if os.path.exists(path):
        with open(path) as f:
            data["history"] = json.load(f)
    return data


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The CASES trained on 2 ranks, launched as a user would: ``gpunet run -n 2 worker.py``."""
    out = str(tmp_path_factory.mktemp("distribute_train"))
    proc = subprocess.run([*_gpunet_command(), "run", "-n", "2", WORKER, "train", out], capture_output=True,
                          text=True, timeout=TIMEOUT, env=_env(), stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


@pytest.fixture
def numpy_here():
    """The ranks train on NumPy (_env); their one-process reference does too, whatever "auto" picks here."""
    with B.use_backend("numpy"):
        yield


@pytest.mark.parametrize("case", sorted(C.CASES))
def test_two_ranks_equal_one_process_on_the_global_batch(trained, numpy_here, case):
    floatx = C.CASES[case][4]
    tol = 1e-12 if floatx == "float64" else 1e-4
    if case == "syncbn-plan64":  # the bias before the normalization: its gradient is rounding noise alone
        tol = 1e-10
    ref, ref_history = C.reference(case)
    r0, r1 = _load(trained, case, 0), _load(trained, case, 1)
    assert str(r0["path"]) == {"plan": "DensePlan", "syncbn-plan": "DensePlan", "activity-plan": "DensePlan",
                               "syncbn": "GraphPlan",
                               "residual": "GraphPlan"}.get(C.CASES[case][0], "bool")  # (the synchronized normalization after a Dense without bias: the graph step)
    # the broadcast repaired different initial weights (seeds 7 and 107), then every step kept them equal
    assert numpy.array_equal(r0["params"], r1["params"])
    assert r0["params"].dtype == numpy.dtype(floatx)
    numpy.testing.assert_allclose(r0["params"], ref._params, rtol=0, atol=tol)
    assert int(r0["iterations"]) == int(r1["iterations"]) == ref.optimizer.iterations
    assert r0["history"] == r1["history"]  # History identical on every rank ...
    assert sorted(r0["history"]) == sorted(ref_history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    for key, values in ref_history.items():  # ... and one process's on the global batch
        numpy.testing.assert_allclose(r0["history"][key], values, rtol=0, atol=tol)
    xe, ye = C.data(29, seed=2, dtype=floatx)  # 29 samples: blocks of 15 and 14
    numpy.testing.assert_allclose(r0["evaluate"], ref.evaluate(xe, ye, batch_size=5, verbose=0), rtol=0, atol=tol)
    numpy.testing.assert_array_equal(r0["evaluate"], r1["evaluate"])
    numpy.testing.assert_allclose(r0["predict"], ref.predict(xe, batch_size=5), rtol=0, atol=tol)
    assert r0["predict"].shape == (29, 1)


def _job(tmp_path_factory, case):
    """tests/distribute_worker.py's ``case`` on 2 ranks (plain ``mpirun -n 2 python worker.py``):
    (its output folder, the job's stdout)."""
    out = str(tmp_path_factory.mktemp(f"distribute_{case}"))
    proc = _mpirun(case, out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out, proc.stdout


@pytest.fixture(scope="module")
def files_run(tmp_path_factory):
    """Callbacks, saving and a resume on 2 ranks."""
    return _job(tmp_path_factory, "files")


def test_only_rank_0_prints_and_writes_files(files_run):
    out, stdout = files_run
    written = sorted(f for f in os.listdir(out) if not f.endswith((".npz", ".json")))
    assert written == ["ckpt_r0.h5", "log_r0.csv", "model_r0.h5", "resume.h5"]
    assert stdout.count("Epoch 1/3") == 1 and stdout.count("Epoch 3/3") == 1
    assert stdout.count("finished gradual learning rate warmup") == 1
    with open(os.path.join(out, "log_r0.csv")) as f:
        # (tf.keras's CSVLogger adds val_ columns, NA without validation)
        assert f.readline().strip() == ("epoch,accuracy,loss,lr,rank_value,val_accuracy,val_loss,val_lr,"
                                        "val_rank_value")
        assert len(f.readlines()) == 3


def test_history_callbacks_and_a_saved_file_loads_in_one_process(files_run):
    out, _ = files_run
    h0, h1 = _load(out, "files", 0)["history"], _load(out, "files", 1)["history"]
    assert h0 == h1
    assert h0["rank_value"] == [0.5, 0.5, 0.5]  # MetricAverageCallback: (0 + 1) / 2
    # warmup over 2 epochs of 6 steps from 0.05 / 2: Horovod's rate after each epoch's last step
    numpy.testing.assert_allclose(h0["lr"], [0.05 / 2 * ((1.0 - 1 / 6 + 1 / 6) / 2 + 1), 0.05, 0.05], rtol=1e-15)
    model = load_model(os.path.join(out, "model_r0.h5"))  # saved by a DistributedOptimizer: a plain SGD
    assert type(model.optimizer).__module__ == "gpunet.optimizers.gradient_descent"
    assert not hasattr(model.optimizer, "allreduce_gradients")
    assert model.optimizer.iterations == 18 and model.optimizer.momentum == 0.9
    numpy.testing.assert_array_equal(model.ops.to_host(model._params), _load(out, "files", 0)["params"])


def test_broadcast_gives_every_rank_the_roots_weights_and_optimizer_state(files_run):
    out, _ = files_run
    r0, r1 = _load(out, "files", 0), _load(out, "files", 1)
    for key in ("params", "momentum", "iterations", "lr"):
        numpy.testing.assert_array_equal(r1[key], r0[key])
    assert int(r0["iterations"]) == 18 and float(r0["lr"]) == 0.05 and numpy.abs(r0["momentum"]).max() > 0


def test_ranks_passing_different_data_to_fit_are_refused_on_every_rank(files_run):
    out, _ = files_run
    for r in (0, 1):
        with open(os.path.join(out, f"refused_r{r}.json")) as f:
            fit, evaluate, predict = json.load(f)
        for what, message in (("fit", fit), ("evaluate", evaluate), ("predict", predict)):
            assert message.startswith(f"{what} on 2 ranks splits the samples between the ranks itself, so every "
                                      f"rank must pass the same samples, batch_size and settings")
        assert "rank 0: 24 samples, batch_size 4" in fit and "rank 1: 24 samples, batch_size 4" in fit
        assert "rank 0: 48 samples, batch_size 32" in predict and "rank 1: 47 samples, batch_size 32" in predict


def test_resume_from_a_checkpoint_on_2_ranks_equals_an_uninterrupted_run(files_run):
    out, _ = files_run
    straight = [_load(out, "straight", r) for r in (0, 1)]
    resumed = [_load(out, "resumed", r) for r in (0, 1)]
    for r in (0, 1):
        numpy.testing.assert_array_equal(resumed[r]["params"], straight[0]["params"])
        assert int(resumed[r]["iterations"]) == int(straight[r]["iterations"]) == 4 * 6


@pytest.mark.parametrize("kind, says", [
    ("raise", "rank 1 of 2 failed with ValueError"),
    ("exit", "rank 1 of 2 exits in the middle of a fit epoch"),  # and rank 0 waits for its stop vote
    ("short", "rank 1 of 2 has waited more than 3 s in the epoch's loss and metrics"),  # its callback alone
    ("kill", "process rank 1 with PID"),  # Open MPI's own report
])
def test_a_failing_rank_ends_the_job_non_zero_naming_it(kind, says, tmp_path):
    start = time.monotonic()
    proc = _mpirun(kind, str(tmp_path), GPUNET_DIST_TIMEOUT="3")
    assert proc.returncode != 0
    assert time.monotonic() - start < 60
    assert says in proc.stdout + proc.stderr, proc.stderr[-3000:]
    if kind == "exit":  # the rank left waiting says where, with its stacks
        assert "rank 0 of 2 has waited more than 3 s in the ranks' agreement to stop at a batch" in proc.stderr
    if kind == "short":
        assert "rank 0 of 2 has waited more than 3 s in the gradient average of step 4" in proc.stderr


@pytest.fixture(scope="module")
def extras_run(tmp_path_factory):
    """Stateful metrics, evaluate's batches, BatchNormalization's statistics, refusals, messages."""
    return _job(tmp_path_factory, "extras")


def _extras(out, rank):
    with open(os.path.join(out, f"extras_r{rank}.json")) as f:
        return json.load(f), dict(numpy.load(os.path.join(out, f"extras_r{rank}.npz")))


def test_stateful_metrics_and_evaluate_batches_equal_one_process(extras_run, numpy_here):
    """A Keras-style metric's add_weight state is summed over the ranks (History and evaluate), and
    evaluate gives each rank whole batches (the hinge labels' per-batch conversion sees one
    process's batches)."""
    (r0, a0), (r1, _) = _extras(extras_run[0], 0), _extras(extras_run[0], 1)
    ref = C.extras_model(7)
    history = ref.fit(*C.data(2 * C.BATCH * 12 + 3), batch_size=2 * C.BATCH, epochs=2, verbose=0,
                      callbacks=[gpunet.callbacks.LearningRateScheduler(lambda epoch, lr: lr)]).history
    assert r0["history"] == r1["history"] and "summed_mae" in r0["history"]
    for key, values in history.items():
        numpy.testing.assert_allclose(r0["history"][key], values, rtol=1e-12, err_msg=key)
    numpy.testing.assert_allclose(a0["params"], ref._params, rtol=0, atol=1e-12)
    xe, ye = C.data(29, seed=2)
    numpy.testing.assert_allclose(r0["evaluate"], ref.evaluate(xe, ye, batch_size=5, verbose=0), rtol=1e-12)
    ref.compile(optimizer=gpunet.optimizers.Adam(0.01), loss="hinge")
    hinge = ref.evaluate(*C.hinge_evaluation_data(), batch_size=4, verbose=0)
    assert r0["hinge_evaluate"] == r1["hinge_evaluate"]
    numpy.testing.assert_allclose(r0["hinge_evaluate"], hinge, rtol=1e-12)
    # one batch on 2 ranks: rank 1 sees no rows, and makes F1Score's and R2Score's variables to sum
    ref.compile(optimizer=gpunet.optimizers.Adam(0.01), loss="binary_crossentropy", metrics=C.per_class_metrics())
    one = ref.evaluate(xe[:4], ye[:4], batch_size=5, verbose=0)
    assert r0["one_batch_evaluate"] == r1["one_batch_evaluate"] and len(one) == 3
    numpy.testing.assert_allclose(r0["one_batch_evaluate"], one, rtol=1e-12)


def test_unsynchronized_moving_statistics_are_averaged_so_every_rank_predicts_alike(extras_run, numpy_here):
    """Each rank normalizes with its own batches, and the moving statistics are averaged at each
    epoch's end: every rank holds the same ones, and the job's predict is the saved model's."""
    out = extras_run[0]
    (_, a0), (_, a1) = _extras(out, 0), _extras(out, 1)
    numpy.testing.assert_array_equal(a0["moving"], a1["moving"])
    numpy.testing.assert_array_equal(a0["predict"], a1["predict"])
    saved = load_model(os.path.join(out, "extras_bn_r0.h5"))
    numpy.testing.assert_allclose(a0["predict"], saved.predict(C.data(29, seed=2)[0], batch_size=5), rtol=1e-12)


def test_a_scheduled_optimizer_is_broadcast_and_follows_its_schedule(extras_run, numpy_here):
    (r0, _), (r1, _) = _extras(extras_run[0], 0), _extras(extras_run[0], 1)
    iterations, rate, _ = r0["scheduled"]
    assert r0["scheduled"] == r1["scheduled"]  # the same weights on both ranks
    assert iterations == 13 and rate == pytest.approx(0.01 * 0.5 ** (13 / 5))  # 99 samples, global batch 8


def test_a_padded_step_leaves_the_moving_statistics_alone(extras_run, numpy_here):
    """A rank without a sample in the last global batch trains one sample at weight 0: its
    BatchNormalization's moving statistics must not move. Expected: each rank's statistics
    replayed from its real rows and the weights the run recorded at each step (momentum 0.7,
    averaged over the ranks at each epoch's end)."""
    (_, a0), (_, a1) = _extras(extras_run[0], 0), _extras(extras_run[0], 1)
    numpy.testing.assert_array_equal(a0["padded_moving"], a1["padded_moving"])
    x, _ = C.data(2 * C.BATCH * 5 + 1)
    steps, units = a0["padded_steps"], 6
    assert steps.shape == (12, 8 * units + units)  # 6 steps an epoch, 2 epochs
    mean, var = numpy.zeros((2, units)), numpy.ones((2, units))
    for step, weights in enumerate(steps):
        start = (step % 6) * 2 * C.BATCH
        share = [x[start:start + C.BATCH], x[start + C.BATCH:start + 2 * C.BATCH]]  # last step: 1 row, 0 rows
        for rank, rows in enumerate(share):
            if len(rows):
                h = numpy.tanh(rows @ weights[:8 * units].reshape(8, units) + weights[8 * units:])
                mean[rank] = 0.7 * mean[rank] + 0.3 * h.mean(axis=0)
                var[rank] = 0.7 * var[rank] + 0.3 * h.var(axis=0)
        if step % 6 == 5:
            mean[:], var[:] = mean.mean(axis=0), var.mean(axis=0)
    numpy.testing.assert_allclose(a0["padded_moving"], numpy.concatenate([mean[0], var[0]]), rtol=1e-12)


@pytest.mark.parametrize("case, says", [
    ("sum-reduction", "ValueError: fit on 2 ranks averages each rank's mean loss gradient"),
    ("shuffle", "ValueError: fit on 2 ranks splits the samples between the ranks itself"),
    ("labels", "ValueError: fit on 2 ranks splits the samples between the ranks itself"),
    ("model", "RuntimeError: broadcast_weights: the ranks built different models or optimizers"),
])
def test_mismatched_calls_are_refused_on_every_rank(extras_run, case, says):
    """Refused up front on every rank, with the same message, instead of one rank failing inside a
    collective while the others wait (or, for the shuffle, training on different batches)."""
    r0, r1 = _extras(extras_run[0], 0)[0], _extras(extras_run[0], 1)[0]
    assert r0[case].startswith(says) and r1[case].startswith(says), (r0[case], r1[case])


def test_callback_messages_print_on_rank_0_only(extras_run):
    assert extras_run[1].count("LearningRateScheduler setting learning rate") == 2  # 2 epochs, one rank


def test_a_stop_at_a_batch_on_one_rank_stops_every_rank_there(tmp_path, numpy_here):
    """Rank 1's callback stops training at its third batch (the callback is on every rank, as the
    same script gives it): every rank stops after that step, and the epoch's loss covers the
    samples trained (what one process stopping there reports)."""
    proc = _mpirun("stop", str(tmp_path), GPUNET_DIST_TIMEOUT="20")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    r0, r1 = _load(str(tmp_path), "stop", 0), _load(str(tmp_path), "stop", 1)
    assert int(r0["iterations"]) == int(r1["iterations"]) == 3
    numpy.testing.assert_array_equal(r0["params"], r1["params"])
    assert r0["history"] == r1["history"] and len(r0["history"]["loss"]) == 1
    x, y = C.data(2 * C.BATCH * 50 + 1)  # one process, stopped after the same three (global) batches
    ref = C.model("plan", 7, "float64")
    ref.compile(optimizer=C.optimizer("adam"), loss="binary_crossentropy")
    stop = LambdaCallback(on_batch_end=lambda batch, logs: setattr(ref, "stop_training", batch == 2))
    history = ref.fit(x, y, batch_size=2 * C.BATCH, epochs=3, verbose=0, callbacks=[stop]).history
    numpy.testing.assert_allclose(r0["params"], ref._params, rtol=0, atol=1e-12)
    numpy.testing.assert_allclose(r0["history"]["loss"], history["loss"], rtol=1e-12)


# ---- GPU: NCCL and host staging (CuPy) ---------------------------------------------------------------


def _gpu_run(n, code, out, kind="plan", **env):
    script = os.path.join(out, "gpu_case.py")
    with open(script, "w") as f:
        f.write(code)
    cmd = launcher.command(n, [script])
    cmd = cmd[:cmd.index(sys.executable)] + [sys.executable, script, out, kind]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL,
                          env=_env(GPUNET_BACKEND="cupy", **env))


_GPU_CASE = f"""
import sys, numpy
sys.path.insert(0, {HERE!r})
import gpunet.distribute as dist, distribute_cases as C
world = dist.init()
x, y = C.data(2 * C.BATCH * 8 + 3)
m = C.model(sys.argv[2], 7, "float64")  # ("residual": the GPU's graph step, which averages as the chain's does)
m.compile(optimizer=dist.DistributedOptimizer(C.optimizer("adam")), loss="binary_crossentropy")
m.fit(x, y, batch_size=C.BATCH * 2 // dist.size(), epochs=2, verbose=0,
      callbacks=[dist.BroadcastGlobalVariablesCallback(0)])
numpy.save(sys.argv[1] + "/gpu_r%d.npy" % dist.rank(), m._params.get())
import cupy
print("nccl", world.nccl is not None, "mean", dist.allreduce(cupy.arange(4.0) * (dist.rank() + 1)).get().tolist())
"""


def _nccl_available():
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from cupy.cuda import nccl
    return nccl.available


def _numpy_reference(kind="plan"):
    """The GPU ranks' training in one process on the NumPy backend (not "auto", which is CuPy there)."""
    x, y = C.data(2 * C.BATCH * 8 + 3)
    with B.use_backend("numpy"):
        m = C.model(kind, 7, "float64")
        m.compile(optimizer=C.optimizer("adam"), loss="binary_crossentropy")
        m.fit(x, y, batch_size=2 * C.BATCH, epochs=2, verbose=0)
    return m.ops.to_host(m._params)


@pytest.mark.gpu
def test_gpu_one_rank_nccl_end_to_end(tmp_path):
    if not _nccl_available():
        pytest.skip("NCCL is not installed beside CuPy: pip install nvidia-nccl-cu12 (the cuda12 extra)")
    proc = _gpu_run(1, _GPU_CASE, str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "nccl True mean [0.0, 1.0, 2.0, 3.0]" in proc.stdout
    numpy.testing.assert_allclose(numpy.load(tmp_path / "gpu_r0.npy"), _numpy_reference(), rtol=0, atol=1e-10)


@pytest.mark.real_gpu
@pytest.mark.gpu
@pytest.mark.parametrize("kind", ["plan", "residual"])
def test_gpu_two_ranks_through_host_staging_on_one_gpu_match_numpy(tmp_path, kind):
    proc = _gpu_run(2, _GPU_CASE, str(tmp_path), kind, GPUNET_DIST_NCCL="0", CUDA_VISIBLE_DEVICES="0")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("nccl False mean [0.0, 1.5, 3.0, 4.5]") == 2  # (1x + 2x) / 2 on both ranks
    r0, r1 = numpy.load(tmp_path / "gpu_r0.npy"), numpy.load(tmp_path / "gpu_r1.npy")
    numpy.testing.assert_array_equal(r0, r1)
    numpy.testing.assert_allclose(r0, _numpy_reference(kind), rtol=0, atol=1e-10)


@pytest.mark.real_gpu
@pytest.mark.gpu
def test_gpu_two_nccl_ranks_on_one_gpu_raise_a_clear_error(tmp_path):
    proc = _gpu_run(2, _GPU_CASE, str(tmp_path), GPUNET_DIST_NCCL="1", CUDA_VISIBLE_DEVICES="0")
    assert proc.returncode != 0
    assert "NCCL needs one GPU per rank" in proc.stderr and "GPUNET_DIST_NCCL=0" in proc.stderr


def test_mpiexec_is_installed_for_ci():
    """The test extra brings mpi4py and Open MPI: these tests run, never skip."""
    assert shutil.which(launcher.find_mpiexec())
    import mpi4py  # noqa: F401


def test_the_readme_script_runs_on_2_ranks(tmp_path):
    """README's "Training on several GPUs or machines" script, as written, with `gpunet run -n 2`."""
    import re
    with open(os.path.join(HERE, "..", "README.md")) as f:
        readme = f.read()
    section = readme[readme.index("## Training on several GPUs or machines"):]
    (tmp_path / "train.py").write_text(re.search(r"```python\n(.*?)```", section, re.S).group(1))
    assert "gpunet run -n 4 train.py" in section and "mpirun -n 4 python train.py" in section
    proc = subprocess.run([*_gpunet_command(), "run", "-n", "2", "train.py"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=TIMEOUT, env=_env(), stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("on 2 rank(s)") == 1 and proc.stdout.count("Epoch 30/30") == 1
    accuracy = float(re.search(r"accuracy (\S+) on 2 rank", proc.stdout).group(1))
    assert accuracy > 0.75
    assert sorted(os.listdir(tmp_path)) == ["pima-checkpoint.h5", "pima.h5", "train.py"]
    assert load_model(tmp_path / "pima.h5").optimizer.iterations == 30 * 39
