"""The GPU step plan on a real GPU (marked `gpu`, skipped without CUDA): CUDA-graph
replay equals eager execution bit for bit, an epoch on CuPy equals NumPy, the cuBLAS
path runs eagerly, predict and evaluate agree."""
import numpy
import pytest

from gpunet import backend as B
from gpunet.backend import cupy_unavailable_reason
from plan_cases import CASES, assert_close, data, dropout_data, dropout_net, fit, model

_REASON = cupy_unavailable_reason()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(_REASON is not None, reason=f"no CUDA: {_REASON}")]


@pytest.fixture
def cupy_ops():
    return B.resolve("cupy")


@pytest.mark.real_gpu
@pytest.mark.parametrize("case", sorted(CASES))
def test_graph_replay_equals_eager_bit_for_bit(cupy_ops, case, monkeypatch):
    from gpunet.backend import gpu_graphs
    from gpunet.backend.gpu_plan import GpuPlan
    monkeypatch.setattr(gpu_graphs, "UNROLL", 3)  # graphs of 3 steps within these short epochs
    monkeypatch.setenv("GPUNET_CUDA_GRAPHS", "0")
    eager_model, eager = fit(case, cupy_ops)
    monkeypatch.setenv("GPUNET_CUDA_GRAPHS", "1")
    graph_model, graphed = fit(case, cupy_ops)
    assert isinstance(graph_model._plan, GpuPlan)
    assert graph_model._plan._graphs.captures >= 1, "the full batches' step was captured"
    assert eager_model._plan._graphs.captures == 0
    assert any(step.unrolled for step in graph_model._plan._steps.values()), "full batches replayed 3 steps a graph"
    assert eager == graphed
    for g, e in zip(graph_model.get_weights(), eager_model.get_weights()):
        numpy.testing.assert_array_equal(g, e)


@pytest.mark.parametrize("floatx", ["float32", "float64"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_epochs_on_cupy_equal_numpy(cupy_ops, case, floatx):
    B.set_floatx(floatx)
    assert_close(fit(case, cupy_ops), fit(case, B.resolve("numpy")), floatx)


def test_cublas_layers_run_eagerly_and_agree(cupy_ops, monkeypatch):
    """A plan whose GEMMs go to cuBLAS is never captured (CuPy refuses cuBLAS in a capture)."""
    monkeypatch.setattr(cupy_ops, "dense_path", "cublas")
    got = fit("wide-reduced", cupy_ops)
    assert got[0]._plan._graphs.captures == 0
    assert_close(got, fit("wide-reduced", B.resolve("numpy")), "float32")


@pytest.mark.parametrize("case", ["pima", "wide-reduced", "softmax-sparse"])
def test_predict_and_evaluate_on_cupy(cupy_ops, case):
    x, y, sw = data(case)
    results = []
    for ops in (cupy_ops, B.resolve("numpy")):
        net = model(case, ops)
        with B.use_backend(ops):
            results.append((net.predict(x, batch_size=16, verbose=0),
                            net.evaluate(x, y, sample_weight=sw, batch_size=16, verbose=0)))
    numpy.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-5, atol=1e-6)
    numpy.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-5)


def test_nan_input_stops_training_on_cupy(cupy_ops, monkeypatch):
    """NaN propagates through the plan's kernels as through NumPy: TerminateOnNaN fires."""
    import gpunet
    monkeypatch.setenv("GPUNET_CHECK_FINITE", "0")  # the input check would refuse the NaN first
    x, y, _ = data("pima")
    x[3, 2] = numpy.nan
    net = model("pima", cupy_ops)
    with B.use_backend(cupy_ops):
        history = net.fit(x, y, epochs=5, batch_size=10, verbose=0,
                          callbacks=[gpunet.callbacks.TerminateOnNaN()])
    assert len(history.history["loss"]) == 1 and numpy.isnan(history.history["loss"][0])


@pytest.mark.real_gpu
def test_capture_refused_runs_eagerly_and_warns_once(cupy_ops, monkeypatch):
    """A step CuPy cannot capture (here: cuBLAS inside, marked capturable by force) warns once,
    runs its launches eagerly and trains exactly as an eager run."""
    import warnings
    from gpunet.backend import gpu_graphs, gpu_step
    monkeypatch.setattr(cupy_ops, "dense_path", "cublas")
    monkeypatch.setenv("GPUNET_CUDA_GRAPHS", "0")
    eager = fit("wide-reduced", cupy_ops)
    monkeypatch.setenv("GPUNET_CUDA_GRAPHS", "1")
    monkeypatch.setattr(gpu_graphs.GraphRunner, "_warned", False)
    original = gpu_step.Step.__init__

    def forced(self, *args):
        original(self, *args)
        self.capturable = True  # CuPy will refuse the cuBLAS call inside the capture

    monkeypatch.setattr(gpu_step.Step, "__init__", forced)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = fit("wide-reduced", cupy_ops)
    assert [str(w.message) for w in caught if "could not capture" in str(w.message)].__len__() == 1
    assert got[1] == eager[1]
    for g, e in zip(got[0].get_weights(), eager[0].get_weights()):
        numpy.testing.assert_array_equal(g, e)


def test_streamed_data_trains_exactly_as_resident(cupy_ops):
    """x above the device-data share streams batch by batch through pinned buffers and trains
    to the same weights, bit for bit, as x resident on the GPU."""
    import gpunet
    runs = []
    for fraction in (1e-9, 1.0):
        x, y, sw = data("pima")
        net = model("pima", cupy_ops)
        with B.use_backend(cupy_ops):
            gpunet.utils.set_random_seed(9)
            history = net.fit(x, y, batch_size=10, epochs=3, verbose=0, device_data_fraction=fraction)
        runs.append((history.history, net.get_weights()))
    assert runs[0][0] == runs[1][0]
    for s, r in zip(runs[0][1], runs[1][1]):
        numpy.testing.assert_array_equal(s, r)


def test_streamed_predict_and_evaluate_equal_resident(cupy_ops):
    """predict and evaluate on x above the device-data share stream it through pinned buffers
    and give what resident x gives, bit for bit."""
    x, y, sw = data("softmax-sparse")
    net = model("softmax-sparse", cupy_ops)
    runs = []
    with B.use_backend(cupy_ops):
        for fraction in (1e-9, 1.0):
            runs.append((net.predict(x, batch_size=16, verbose=0, device_data_fraction=fraction),
                         net.evaluate(x, y, sample_weight=sw, batch_size=16, verbose=0, return_dict=True,
                                      device_data_fraction=fraction)))
    numpy.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]


@pytest.mark.real_gpu
def test_gradient_average_runs_between_two_captured_graphs(cupy_ops):
    """A data-parallel optimizer's collective sits between the backward launches and the update:
    the step is captured as two graphs around it, and trains as the eager step does."""
    import os
    calls = []
    runs = []
    for graphs in ("0", "1"):
        os.environ["GPUNET_CUDA_GRAPHS"] = graphs
        try:
            x, y, sw = data("pima")
            net = model("pima", cupy_ops)
            net.optimizer.allreduce_gradients = lambda grads: calls.append(grads.shape)  # one rank: nothing to add
            with B.use_backend(cupy_ops):
                history = net.fit(x, y, batch_size=10, epochs=2, shuffle=False, verbose=0)
            runs.append((history.history, net.get_weights(), net._plan._graphs.captures))
        finally:
            os.environ.pop("GPUNET_CUDA_GRAPHS", None)
    assert runs[0][2] == 0 and runs[1][2] == 2
    assert len(calls) == 2 * 2 * 11  # every step of both runs, replayed or not
    assert runs[0][0] == runs[1][0]
    for g, e in zip(runs[1][1], runs[0][1]):
        numpy.testing.assert_array_equal(g, e)


def test_a_second_fit_on_fresh_arrays_replays_the_captured_graphs(cupy_ops, monkeypatch):
    """fit again on new arrays (new device memory) replays the graphs captured in the first fit,
    repointed at the new data: no capture, and the same weights as an eager run, bit for bit."""
    runs = []
    for graphs in ("0", "1"):
        monkeypatch.setenv("GPUNET_CUDA_GRAPHS", graphs)
        x, y, _ = data("pima")
        net = model("pima", cupy_ops)
        with B.use_backend(cupy_ops):
            net.fit(x, y, batch_size=10, epochs=2, verbose=0)
            captured = net._plan._graphs.captures
            rng = numpy.random.default_rng(4)
            x2, y2 = rng.standard_normal(x.shape), (rng.uniform(size=y.shape) > 0.5).astype(float)
            history = net.fit(x2, y2, batch_size=10, epochs=2, verbose=0).history
        assert net._plan._graphs.captures == captured, "the second fit captured nothing new"
        runs.append((history, net.get_weights()))
    assert runs[0][0] == runs[1][0]
    for g, e in zip(runs[1][1], runs[0][1]):
        numpy.testing.assert_array_equal(g, e)


@pytest.mark.parametrize("graphs", ["1", "0"])
def test_dropout_one_launch_step_draws_the_multi_launch_steps_masks(cupy_ops, monkeypatch, graphs):
    """mlp_step with Dropout in front of its layers draws the masks the multi-launch step's
    dropout_forward draws: the same training to float64 rounding, replayed or eager."""
    B.set_floatx("float64")
    monkeypatch.setenv("GPUNET_CUDA_GRAPHS", graphs)
    x, y = dropout_data()
    runs = []
    for fused in ("1", "0"):
        monkeypatch.setenv("GPUNET_FUSED_STEP", fused)
        net = dropout_net(cupy_ops)
        with B.use_backend(cupy_ops):
            runs.append((net.fit(x, y, batch_size=8, epochs=3, verbose=0).history["loss"], net.get_weights()))
        launches = {step.launches for step in net._plan._steps.values()}
        assert (launches == {1}) == (fused == "1"), launches
    numpy.testing.assert_allclose(runs[0][0], runs[1][0], rtol=1e-11)
    for a, b in zip(runs[0][1], runs[1][1]):
        numpy.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


def test_predict_on_a_column_slice_reads_it_as_laid_out(cupy_ops):
    """A non-contiguous x (a column slice of another model's outputs, as the VAE example passes its
    encoder's z_mean) is copied before the forward plan's kernels read its rows."""
    x, _, _ = data("pima")
    x = x.astype("float32")  # (the model's dtype: no conversion that would copy it anyway)
    wide = numpy.concatenate([x, x[:, :3]], axis=1)
    net = model("pima", cupy_ops)
    with B.use_backend(cupy_ops):
        got = net.predict(wide[:, :8], verbose=0)
        want = net.predict(x, verbose=0)
    numpy.testing.assert_array_equal(got, want)
