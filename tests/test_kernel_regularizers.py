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


@pytest.mark.parametrize("batch_logs", [False, True], ids=["epoch-logs", "batch-logs"])
@pytest.mark.parametrize("floatx", ["float64", "float32"])
@pytest.mark.parametrize("regs", sorted(REGULARIZERS))
def test_regularized_models_train_on_the_gpu_plan_as_on_numpy(emulator, regs, floatx, batch_logs):
    B.set_floatx(floatx)
    emulator.launches.clear()
    got = run(EmulatedCupyBackend(emulator), REGULARIZERS[regs], batch_logs)
    ref = run(B.resolve("numpy"), REGULARIZERS[regs], batch_logs)
    assert isinstance(got[0]._plan, GpuPlan), "the GPU plan trained it"
    kernels = {k.split("<")[0] for k, _, _ in emulator.launches}
    assert "reg_grad" in kernels and "mlp_step" not in kernels  # the multi-launch step, a launch per weight
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


@pytest.mark.parametrize("floatx", ["float64", "float32"])
@pytest.mark.parametrize("cons", sorted(CONSTRAINTS))
def test_constrained_models_train_on_the_gpu_plan_as_on_numpy(emulator, cons, floatx):
    """MaxNorm, NonNeg, UnitNorm and MinMaxNorm project the weights after every update inside the
    GPU step (optimizers.cu's constrain_columns), with a regularizer beside them, as on NumPy."""
    B.set_floatx(floatx)
    hidden, last = CONSTRAINTS[cons]
    regs = (dict(hidden, bias_regularizer="l2"), last)
    emulator.launches.clear()
    got, ref = run(EmulatedCupyBackend(emulator), regs), run(B.resolve("numpy"), regs)
    assert isinstance(got[0]._plan, GpuPlan), "the GPU plan trained it"
    assert "constrain_columns" in {k.split("<")[0] for k, _, _ in emulator.launches}
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
