"""L1 / L2 weight regularizers inside the GPU step plan (gpunet/backend/gpu_regularizers.py,
kernels/step.cu's reg_grad), kernels emulated on the CPU: a regularized model trains through the
plan as it trains on NumPy (the penalty in every epoch's and every batch's loss, its gradient
in every update), in float64 and float32, and a changed factor rebuilds the plan."""
import numpy
import pytest

import gpunet
from cuda_emulator import EmulatedCupyBackend, emulator  # noqa: F401 (fixture)
from gpunet import backend as B
from gpunet.backend.gpu_plan import GpuPlan
from gpunet.layers import Dense, Dropout
from gpunet.models import Sequential
from plan_cases import data

REGULARIZERS = {
    "l2-kernels": ({"kernel_regularizer": "l2"}, {"kernel_regularizer": gpunet.regularizers.L2(0.003)}),
    "l1-biases": ({"bias_regularizer": gpunet.regularizers.L1(0.02)}, {}),
    "l1l2-both": ({"kernel_regularizer": gpunet.regularizers.L1L2(l1=0.001, l2=0.01),
                   "bias_regularizer": "l1"}, {"kernel_regularizer": "l1_l2"}),
}


def build(ops, hidden, last, dropout=False):
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(5)
        layers = [Dense(12, input_dim=8, activation="relu", **hidden), Dense(8, activation="tanh", **hidden)]
        layers += [Dropout(0.25)] if dropout else []
        net = Sequential(layers + [Dense(1, activation="sigmoid", **last)])
        net.compile(optimizer=gpunet.optimizers.Adam(learning_rate=0.01), loss="binary_crossentropy",
                    metrics=["accuracy"])
    return net


def run(ops, regs, batch_logs=False):
    x, y, _ = data("pima")
    net = build(ops, *regs)
    seen = []
    callbacks = [gpunet.callbacks.LambdaCallback(on_batch_end=lambda b, logs: seen.append(logs["loss"]))] \
        if batch_logs else []
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(9)
        history = net.fit(x, y, batch_size=10, epochs=3, verbose=0, callbacks=callbacks).history
        evaluated = net.evaluate(x, y, verbose=0)
    return net, history, seen, evaluated


def _step_kernels(emulator, fused_step, multi_launch_kernel):
    """Which form of the step trained: mlp_step alone, or the multi-launch step with its launch
    per weight (``multi_launch_kernel``)."""
    kernels = {k.split("<")[0] for k, _, _ in emulator.launches} - {"dense_forward", "mlp_forward"}  # (evaluate)
    if fused_step == "1":
        assert kernels == {"mlp_step"}, kernels
    else:
        assert multi_launch_kernel in kernels and "mlp_step" not in kernels, kernels


FUSED_STEP = pytest.mark.parametrize("fused_step", ["1", "0"], ids=["one-launch", "multi-launch"])


@FUSED_STEP
@pytest.mark.parametrize("batch_logs", [False, True], ids=["epoch-logs", "batch-logs"])
@pytest.mark.parametrize("floatx", ["float64", "float32"])
@pytest.mark.parametrize("regs", sorted(REGULARIZERS))
def test_regularized_models_train_on_the_gpu_plan_as_on_numpy(emulator, regs, floatx, batch_logs, fused_step,
                                                             monkeypatch):
    """Both forms of the step add the regularizers' gradients and penalties as NumPy does: the
    one-launch step (mlp_step) for a model this small, a reg_grad launch per weight otherwise."""
    monkeypatch.setenv("GPUNET_FUSED_STEP", fused_step)
    B.set_floatx(floatx)
    emulator.launches.clear()
    got = run(EmulatedCupyBackend(emulator), REGULARIZERS[regs], batch_logs)
    ref = run(B.resolve("numpy"), REGULARIZERS[regs], batch_logs)
    assert isinstance(got[0]._plan, GpuPlan), "the GPU plan trained it"
    _step_kernels(emulator, fused_step, "reg_grad")
    tol = 1e-10 if floatx == "float64" else 2e-5
    for key in ref[1]:
        numpy.testing.assert_allclose(got[1][key], ref[1][key], rtol=tol, err_msg=key)
    numpy.testing.assert_allclose(got[2], ref[2], rtol=tol)
    assert len(got[2]) == (3 * 11 if batch_logs else 0)
    numpy.testing.assert_allclose(got[3], ref[3], rtol=tol)
    for g, r in zip(got[0].get_weights(), ref[0].get_weights()):
        numpy.testing.assert_allclose(g, r, rtol=tol * 10, atol=tol)
    unregularized = run(B.resolve("numpy"), ({}, {}))
    assert ref[1]["loss"][0] > unregularized[1]["loss"][0]  # the penalty is in the loss


def test_dropout_and_regularizers_together_on_the_gpu_plan(emulator):
    """Dropout masks differ between the backends (counter hash against NumPy's generator), so this
    compares the plan with itself: the same seed trains the same, and the loss falls."""
    B.set_floatx("float32")
    x, y, _ = data("pima")
    histories = []
    for _ in range(2):
        net = build(EmulatedCupyBackend(emulator), {"kernel_regularizer": "l2"}, {}, dropout=True)
        with B.use_backend(net.ops):
            gpunet.utils.set_random_seed(9)
            histories.append(net.fit(x, y, batch_size=10, epochs=4, verbose=0).history["loss"])
        assert isinstance(net._plan, GpuPlan)
    assert histories[0] == histories[1] and histories[0][-1] < histories[0][0]


def test_a_changed_factor_rebuilds_the_plan(emulator):
    """A regularizer's factor changed between fits: the next fit trains with the new one, on
    the GPU plan as on NumPy."""
    B.set_floatx("float64")
    results = []
    for ops in (EmulatedCupyBackend(emulator), B.resolve("numpy")):
        net, *_ = run(ops, REGULARIZERS["l2-kernels"])
        first = net._plan
        net.layers[0].kernel_regularizer.l2 = 0.2
        x, y, _ = data("pima")
        with B.use_backend(ops):
            gpunet.utils.set_random_seed(4)
            results.append((net.fit(x, y, batch_size=10, epochs=2, verbose=0).history, net.get_weights()))
        if isinstance(first, GpuPlan):
            assert net._plan is not first and isinstance(net._plan, GpuPlan)
    numpy.testing.assert_allclose(results[0][0]["loss"], results[1][0]["loss"], rtol=1e-10)
    for g, r in zip(results[0][1], results[1][1]):
        numpy.testing.assert_allclose(g, r, rtol=1e-9, atol=1e-12)



@pytest.mark.gpu
@pytest.mark.parametrize("floatx", ["float64", "float32"])
def test_regularized_models_train_on_a_real_gpu_as_on_numpy(floatx):
    B.set_floatx(floatx)
    got, ref = run(B.resolve("cupy"), REGULARIZERS["l1l2-both"]), run(B.resolve("numpy"), REGULARIZERS["l1l2-both"])
    assert isinstance(got[0]._plan, GpuPlan)
    tol = 1e-10 if floatx == "float64" else 2e-5
    for key in ref[1]:
        numpy.testing.assert_allclose(got[1][key], ref[1][key], rtol=tol, err_msg=key)
    numpy.testing.assert_allclose(got[3], ref[3], rtol=tol)


CONSTRAINTS = {
    "max-norm": ({"kernel_constraint": gpunet.constraints.MaxNorm(0.6)}, {"bias_constraint": "max_norm"}),
    "non-neg": ({"kernel_constraint": "non_neg"}, {}),
    "unit-norm": ({}, {"kernel_constraint": gpunet.constraints.UnitNorm()}),
    "min-max-norm": ({"kernel_constraint": gpunet.constraints.MinMaxNorm(0.3, 0.8, rate=0.7)}, {}),
}


@FUSED_STEP
@pytest.mark.parametrize("floatx", ["float64", "float32"])
@pytest.mark.parametrize("cons", sorted(CONSTRAINTS))
def test_constrained_models_train_on_the_gpu_plan_as_on_numpy(emulator, cons, floatx, fused_step, monkeypatch):
    """MaxNorm, NonNeg, UnitNorm and MinMaxNorm project the weights after every update inside the
    GPU step (optimizers.cu's constrain_columns, or its column function inside mlp_step), with a
    regularizer beside them, as on NumPy."""
    monkeypatch.setenv("GPUNET_FUSED_STEP", fused_step)
    B.set_floatx(floatx)
    hidden, last = CONSTRAINTS[cons]
    regs = (dict(hidden, bias_regularizer="l2"), last)
    emulator.launches.clear()
    got, ref = run(EmulatedCupyBackend(emulator), regs), run(B.resolve("numpy"), regs)
    assert isinstance(got[0]._plan, GpuPlan), "the GPU plan trained it"
    _step_kernels(emulator, fused_step, "constrain_columns")
    tol = 1e-10 if floatx == "float64" else 2e-5
    for key in ref[1]:
        numpy.testing.assert_allclose(got[1][key], ref[1][key], rtol=tol, err_msg=key)
    for g, r in zip(got[0].get_weights(), ref[0].get_weights()):
        numpy.testing.assert_allclose(g, r, rtol=tol * 10, atol=tol)
    if cons == "non-neg":
        assert (got[0].get_weights()[0] >= 0).all()


def test_a_constraint_without_a_kernel_keeps_the_layer_path(emulator):
    net = build(EmulatedCupyBackend(emulator), {"kernel_constraint": gpunet.constraints.MaxNorm(2, axis=1)}, {})
    x, y, _ = data("pima")
    with B.use_backend(net.ops):
        net.fit(x, y, batch_size=10, epochs=1, verbose=0)
    assert net._plan is False


def _sonar():
    import os
    from conftest import DATA
    path = os.path.join(DATA, "sonar.csv")
    if not os.path.exists(path):
        pytest.skip(f"{path} is missing (../shared beside the clone, or GPUNET_SHARED)")
    rows = numpy.genfromtxt(path, delimiter=",", dtype=str)
    return rows[:, :-1].astype("float64"), (rows[:, -1] == "M").astype("float64")


def _sonar_runs(ops, monkeypatch):
    """{"1"|"0": (history, weights, one launch a step?)}: the sonar tutorial's network trained 3
    epochs with GPUNET_FUSED_STEP at each value."""
    x, y = _sonar()
    max_norm = gpunet.constraints.MaxNorm(3)
    runs = {}
    for fused in ("1", "0"):
        monkeypatch.setenv("GPUNET_FUSED_STEP", fused)
        with B.use_backend(ops):
            gpunet.utils.set_random_seed(7)
            net = Sequential([Dropout(0.2, input_shape=(60,)),
                              Dense(60, activation="relu", kernel_constraint=max_norm, kernel_regularizer="l2"),
                              Dropout(0.2), Dense(30, activation="relu", kernel_constraint=max_norm), Dropout(0.2),
                              Dense(1, activation="sigmoid")])
            net.compile(loss="binary_crossentropy", optimizer=gpunet.optimizers.SGD(0.01, momentum=0.8),
                        metrics=["accuracy"])
            history = net.fit(x, y, epochs=3, batch_size=16, verbose=0).history
        assert isinstance(net._plan, GpuPlan)
        runs[fused] = history, net.get_weights(), all(s.launches == 1 for s in net._plan._steps.values())
    return runs


def _assert_same_training(runs, floatx):
    tol = dict(rtol=3e-5, atol=1e-6) if floatx == "float32" else dict(rtol=1e-11, atol=1e-13)
    for key in runs["0"][0]:
        numpy.testing.assert_allclose(runs["1"][0][key], runs["0"][0][key], err_msg=key, **tol)
    for a, b in zip(runs["1"][1], runs["0"][1]):
        numpy.testing.assert_allclose(a, b, **tol)
    assert numpy.sqrt((runs["1"][1][0] ** 2).sum(axis=0)).max() <= 3.0 + 1e-5


@pytest.mark.parametrize("floatx", ["float32", "float64"])
def test_the_sonar_dropout_tutorial_trains_in_one_launch_as_in_many(emulator, monkeypatch, floatx):
    """The sonar tutorial's network (Dropout on the input and after each hidden layer, MaxNorm(3)
    kernels, SGD with momentum), with an L2 regularizer whose penalty spans several blocks' cells:
    one mlp_step launch a step in float32, the same training as the multi-launch step (same masks,
    same penalties); in float64 the batch does not fit one block."""
    from gpunet.backend import step_kernels as S
    B.set_floatx(floatx)
    ops = EmulatedCupyBackend(emulator)
    assert S.reg_blocks(60 * 60, ops.sm_count) > 1
    emulator.launches.clear()
    runs = _sonar_runs(ops, monkeypatch)
    assert runs["1"][2] == (floatx == "float32") and not runs["0"][2]
    assert ("mlp_step" in {k.split("<")[0] for k, _, _ in emulator.launches}) == (floatx == "float32")
    _assert_same_training(runs, floatx)


@pytest.mark.gpu
def test_the_sonar_dropout_tutorial_trains_in_one_launch_as_in_many_on_a_real_gpu(monkeypatch):
    B.set_floatx("float32")
    runs = _sonar_runs(B.resolve("cupy"), monkeypatch)
    assert runs["1"][2] and not runs["0"][2]
    _assert_same_training(runs, "float32")
