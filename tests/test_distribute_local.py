"""gpunet.distribute in one process (no MPI launcher): the API, its errors, the launcher's
command line, and a DistributedOptimizer that changes nothing on one rank. The 2-rank runs are
in test_distribute.py."""
import subprocess
import sys

import numpy
import pytest

import distribute_cases as C
from cuda_emulator import EmulatedCupyBackend, emulator  # noqa: F401 (fixture)
import gpunet
import gpunet.distribute as dist
from gpunet.distribute import launcher, watchdog
from gpunet.models import load_model


@pytest.fixture
def world():
    dist.shutdown()
    yield dist.init()
    dist.shutdown()


def test_asking_before_init_says_to_call_init():
    dist.shutdown()
    for ask in (dist.rank, dist.size, dist.local_rank):
        with pytest.raises(RuntimeError, match=r"call gpunet.distribute.init\(\) first"):
            ask()
    with pytest.raises(RuntimeError, match="init"):
        dist.DistributedOptimizer("adam")


def test_a_plain_python_process_is_a_world_of_one_rank(world, monkeypatch):
    assert (dist.rank(), dist.size(), dist.local_rank(), dist.local_size()) == (0, 1, 0, 1)
    assert world.mpi is None and dist.is_root() and dist.init() is world
    a = numpy.arange(3.0)
    assert dist.allreduce(a) is a and a.tolist() == [0.0, 1.0, 2.0]


def test_one_rank_trains_exactly_as_the_wrapped_optimizer_and_saves_it_plainly(world, tmp_path):
    x, y = C.data(2 * C.BATCH * 10 + 5)

    def train(wrap):
        m = C.model("layers", 3)
        opt = C.optimizer("adam")
        m.compile(optimizer=dist.DistributedOptimizer(opt) if wrap else opt, loss="binary_crossentropy",
                  metrics=["accuracy"])
        return m, m.fit(x, y, batch_size=C.BATCH, epochs=2, verbose=0).history
    plain, wrapped = train(False), train(True)
    host = plain[0].ops.to_host  # the parameters live on the backend's device (CuPy on a GPU)
    numpy.testing.assert_array_equal(host(wrapped[0]._params), host(plain[0]._params))
    assert wrapped[1] == plain[1]
    opt = wrapped[0].optimizer
    assert dist.is_distributed(opt) and type(opt).__name__ == "Adam" and opt.inner.iterations == opt.iterations == 44
    # alone, the wrapper adds nothing to a step: the wrapped apply, no collective for the GPU plan to call
    assert type(opt).apply is gpunet.optimizers.Adam.apply and not hasattr(opt, "allreduce_gradients")
    assert gpunet.optimizers.serialize(opt) == gpunet.optimizers.serialize(plain[0].optimizer)
    wrapped[0].save(tmp_path / "m.h5")
    loaded = load_model(tmp_path / "m.h5")
    assert type(loaded.optimizer) is gpunet.optimizers.Adam and loaded.optimizer.iterations == 44
    for name, slot in loaded.optimizer.slots().items():
        numpy.testing.assert_array_equal(host(slot), host(opt.slots()[name]))


def test_the_wrapper_shares_the_wrapped_optimizers_state(world):
    sgd = gpunet.optimizers.SGD(0.1, momentum=0.5)
    wrapped = dist.DistributedOptimizer(sgd)
    assert wrapped.inner is sgd and dist.DistributedOptimizer(wrapped) is wrapped
    wrapped.learning_rate = 0.25
    assert float(sgd.learning_rate) == 0.25
    sgd.iterations = 7
    assert wrapped.iterations == 7
    assert "DistributedOptimizer(<SGD" in repr(wrapped)
    with pytest.raises(TypeError, match=r"gpunet does not implement \['compression'\]"):
        dist.DistributedOptimizer(sgd, compression=None)


def test_broadcast_needs_a_built_model_and_a_rank(world):
    from gpunet.layers import Dense
    from gpunet.models import Sequential
    with pytest.raises(RuntimeError, match="has no weights yet"):
        dist.broadcast_weights(Sequential([Dense(2)]))
    with pytest.raises(ValueError, match=r"root must be a rank in \[0, 0\], received 1"):
        dist.broadcast_weights(C.model("plan", 1), root=1)


def test_warmup_arguments_are_checked():
    with pytest.raises(ValueError, match="initial_lr must be a positive number or None, received -1"):
        dist.LearningRateWarmupCallback(initial_lr=-1)
    with pytest.raises(ValueError, match="warmup_epochs must be a positive number, received 0"):
        dist.LearningRateWarmupCallback(warmup_epochs=0)


def test_the_watchdog_timeout_is_checked(monkeypatch):
    monkeypatch.setenv("GPUNET_DIST_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="GPUNET_DIST_TIMEOUT must be a positive number of seconds, received 'soon'"):
        watchdog.timeout_seconds()
    monkeypatch.setenv("GPUNET_DIST_TIMEOUT", "2.5")
    assert watchdog.timeout_seconds() == 2.5
    monkeypatch.delenv("GPUNET_DIST_TIMEOUT")
    assert watchdog.timeout_seconds() == watchdog.DEFAULT_TIMEOUT


def _gpunet(*args):
    return subprocess.run([sys.executable, "-m", "gpunet.cli", *args], capture_output=True, text=True, timeout=60)


def test_gpunet_run_wraps_the_installed_mpiexec(tmp_path):
    script = tmp_path / "train.py"
    script.write_text("print('hi')\n")
    proc = _gpunet("run", "-n", "3", "--dry-run", str(script), "--epochs", "2")
    assert proc.returncode == 0, proc.stderr
    cmd = proc.stdout.split()
    assert cmd[0] == launcher.find_mpiexec() and cmd[1:3] == ["-n", "3"]
    assert cmd[-6:] == [sys.executable, "-m", "mpi4py", str(script), "--epochs", "2"]
    assert launcher.flavour(cmd[0]) != "openmpi" or "--oversubscribe" in cmd


@pytest.mark.parametrize("args, says", [
    (["-n", "0", "train.py"], "-n must be a positive number of ranks, received 0"),
    (["-n", "2", "no_such_script.py"], "no script 'no_such_script.py'"),
    (["-n", "2", "--mpiexec", "/nonexistent/mpiexec", __file__], "mpiexec '/nonexistent/mpiexec' not found"),
])
def test_gpunet_run_refuses_bad_arguments(args, says):
    proc = _gpunet("run", *args)
    assert proc.returncode == 2 and says in proc.stderr


def test_the_gpu_graph_step_averages_the_gradient_between_backward_and_update(emulator):
    """Under several ranks the wrapped optimizer has ``allreduce_gradients``: the GPU graph step (a functional
    graph, or a Sequential the chain's step does not take) calls it on the flat gradient once a step, between
    the backward pass and the update, as the chain's step does. A peer whose gradient is zero halves ours:
    plain SGD then trains as at half the learning rate (kernels emulated on the CPU)."""
    from gpunet import backend as B
    from gpunet.backend.gpu_graph_plan import GpuGraphPlan
    B.set_floatx("float64")
    x, y = C.data(45)
    calls, runs = [], []
    for lr, averaged in ((0.1, True), (0.05, False)):
        with B.use_backend(EmulatedCupyBackend(emulator)):
            gpunet.utils.set_random_seed(3)
            i = gpunet.Input((x.shape[1],))
            h = gpunet.layers.Dense(6, activation="tanh")(i)
            model = gpunet.Model(i, gpunet.layers.Dense(1, activation="sigmoid")(
                gpunet.layers.Add()([h, gpunet.layers.Dense(6)(i)])))
            opt = gpunet.optimizers.SGD(lr)
            if averaged:  # (what DistributedOptimizer gives an optimizer on several ranks)
                opt.allreduce_gradients = lambda grads: calls.append(grads is model._grads) or grads.__imul__(0.5)
            model.compile(optimizer=opt, loss="binary_crossentropy")
            runs.append((model.fit(x, y, batch_size=10, epochs=2, verbose=0).history["loss"], model.get_weights()))
        assert isinstance(model._plan, GpuGraphPlan)
    assert calls == [True] * 10  # (5 steps an epoch, 2 epochs)
    numpy.testing.assert_allclose(runs[0][0], runs[1][0], rtol=1e-12)
    for a, b in zip(runs[0][1], runs[1][1]):
        numpy.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
