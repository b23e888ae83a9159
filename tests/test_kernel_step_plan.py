"""The GPU step plan (gpunet/backend/gpu_plan.py) run through the CPU emulation of its
kernels, NumPy standing in for CuPy: whole trainings against the NumPy backend, the
launch budget (2 L + 3 per step for L Dense layers) and no host read inside an epoch."""
import numpy
import pytest

import gpunet
from cuda_emulator import EmulatedCupyBackend, emulator  # noqa: F401 (fixture)
from gpunet import backend as B
from gpunet.backend.gpu_plan import GpuPlan
from gpunet.layers import Dense, Dropout
from gpunet.models import Sequential

# name: (layer sizes, activations, loss, metrics, input width, batch, weighted)
CASES = {
    "pima": ((12, 8, 1), ("relu", "relu", "sigmoid"), "binary_crossentropy", ["accuracy"], 8, 10, False),
    "wide-reduced": ((48, 40, 10), ("relu", "relu", "softmax"), "categorical_crossentropy", ["accuracy"], 78, 32,
                     False),
    "softmax-sparse": ((20, 5), ("tanh", "softmax"), "sparse_categorical_crossentropy", ["accuracy"], 6, 16, True),
    "mse": ((17, 3), ("gelu", "linear"), "mse", ["mae"], 5, 9, False),
    "mae-relu-out": ((9, 2), ("elu", "relu"), "mae", [], 4, 8, True),
    "logits": ((11, 4), ("swish", "linear"), gpunet.losses.CategoricalCrossentropy(from_logits=True), ["accuracy"],
               5, 12, False),
}
N_SAMPLES = 101  # not a multiple of any batch size: every epoch ends with a short batch


def _data(case):
    sizes, acts, loss, _, width, _, weighted = CASES[case]
    rng = numpy.random.default_rng(7)
    x = rng.standard_normal((N_SAMPLES, width))
    units = sizes[-1]
    name = loss if isinstance(loss, str) else loss.name
    if name == "sparse_categorical_crossentropy":
        y = rng.integers(0, units, N_SAMPLES)
    elif "crossentropy" in name and units > 1:
        y = numpy.eye(units)[rng.integers(0, units, N_SAMPLES)]
    elif "crossentropy" in name:
        y = (x[:, :1] + 0.3 * rng.standard_normal((N_SAMPLES, 1)) > 0).astype(float)
    else:
        y = rng.standard_normal((N_SAMPLES, units))
    sw = rng.uniform(0.2, 2.0, N_SAMPLES) if weighted else None
    return x, y, sw


def _model(case, ops):
    sizes, acts, loss, metrics, width, _, _ = CASES[case]
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(5)
        layers = [Dense(sizes[0], input_dim=width, activation=acts[0])]
        layers += [Dense(n, activation=a) for n, a in zip(sizes[1:], acts[1:])]
        model = Sequential(layers)
        model.compile(optimizer=gpunet.optimizers.Adam(learning_rate=0.01), loss=loss, metrics=list(metrics))
    return model


def _fit(case, ops, epochs=3, callbacks=None):
    x, y, sw = _data(case)
    model = _model(case, ops)
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(9)  # the same shuffles on both backends
        history = model.fit(x, y, sample_weight=sw, batch_size=CASES[case][5], epochs=epochs, verbose=0,
                            callbacks=callbacks)
    return model, history.history


def _assert_close(got, ref, floatx):
    tol = 1e-10 if floatx == "float64" else 1e-5
    (gm, gh), (rm, rh) = got, ref
    assert gh.keys() == rh.keys()
    for key in rh:
        numpy.testing.assert_allclose(gh[key], rh[key], rtol=tol, atol=tol, err_msg=key)
    for g, r in zip(gm.get_weights(), rm.get_weights()):
        numpy.testing.assert_allclose(g, r, rtol=tol * 10, atol=tol * 10, err_msg="weights")


@pytest.mark.parametrize("floatx", ["float32", "float64"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_plan_trains_like_numpy(emulator, case, floatx):
    B.set_floatx(floatx)
    emulator.launches.clear()
    ops = EmulatedCupyBackend(emulator)
    got = _fit(case, ops)
    assert isinstance(got[0]._plan, GpuPlan), "the model trained through the GPU plan"
    kernels = {k.split("<")[0] for k, _, _ in emulator.launches}
    assert {"batch_gather", "loss_grad", "dense_forward", "dense_backward", "adam_update"} <= kernels
    _assert_close(got, _fit(case, B.resolve("numpy")), floatx)


@pytest.mark.parametrize("case", ["pima", "wide-reduced"])
def test_launch_budget_and_no_host_read_inside_an_epoch(emulator, case):
    """Each step is at most 2 L + 3 launches; an epoch reads the device a fixed number of
    times (its loss and metrics at the end), however many steps it has."""
    B.set_floatx("float32")
    ops = EmulatedCupyBackend(emulator)
    x, y, sw = _data(case)
    model = _model(case, ops)
    layers = len(CASES[case][0])
    reads = []
    for batch in (CASES[case][5], CASES[case][5] * 2):
        with B.use_backend(ops):
            model.fit(x, y, sample_weight=sw, batch_size=batch, epochs=1, verbose=0)  # builds the plan
            emulator.launches.clear()
            before = ops.host_reads
            model.fit(x, y, sample_weight=sw, batch_size=batch, epochs=1, verbose=0)
        steps = -(-N_SAMPLES // batch)
        assert len(emulator.launches) <= steps * (2 * layers + 3) + 0, (len(emulator.launches), steps)
        assert len(emulator.launches) == steps * (2 * layers + 3)
        reads.append(ops.host_reads - before)
    assert reads[0] == reads[1] <= 1 + len(CASES[case][3]), reads


def test_batch_logs_and_train_on_batch_agree_with_numpy(emulator):
    """A callback that asks for batch logs gets them per step (the only case the plan reads
    the device inside an epoch); train_on_batch trains one batch as fit would."""
    B.set_floatx("float64")
    seen = {}

    def run(ops):
        logs = []
        cb = gpunet.callbacks.LambdaCallback(on_train_batch_end=lambda batch, l: logs.append(dict(l)))
        model, history = _fit("pima", ops, epochs=2, callbacks=[cb])
        x, y, _ = _data("pima")
        with B.use_backend(ops):
            result = model.train_on_batch(x[:10], y[:10])
        seen[ops.name] = model
        return logs, history, result, model.get_weights()

    got, ref = run(EmulatedCupyBackend(emulator)), run(B.resolve("numpy"))
    assert isinstance(seen["cupy"]._plan, GpuPlan)
    assert len(got[0]) == len(ref[0]) == 2 * 11
    for g, r in zip(got[0], ref[0]):
        assert g.keys() == r.keys()
        numpy.testing.assert_allclose(list(g.values()), list(r.values()), rtol=1e-10)
    numpy.testing.assert_allclose(got[2], ref[2], rtol=1e-10)
    for g, r in zip(got[3], ref[3]):
        numpy.testing.assert_allclose(g, r, rtol=1e-9, atol=1e-12)


def test_learning_rate_schedule_reaches_the_device(emulator):
    """The optimizer's per-step scalar is read from a device table: a schedule changing the
    learning rate each epoch trains as on NumPy (and iterations count the steps)."""
    B.set_floatx("float64")
    schedule = gpunet.callbacks.LearningRateScheduler(lambda epoch, lr: 0.02 / (1 + epoch))
    got = _fit("mse", EmulatedCupyBackend(emulator), callbacks=[schedule])
    ref = _fit("mse", B.resolve("numpy"), callbacks=[gpunet.callbacks.LearningRateScheduler(
        lambda epoch, lr: 0.02 / (1 + epoch))])
    _assert_close(got, ref, "float64")
    assert got[0].optimizer.iterations == ref[0].optimizer.iterations == 3 * 12


@pytest.mark.parametrize("change", ["dropout", "regularizer", "clipnorm", "huber"])
def test_models_outside_the_plan_take_the_layer_path(emulator, change):
    ops = EmulatedCupyBackend(emulator)
    with B.use_backend(ops):
        layers = [Dense(6, input_dim=4, activation="relu",
                        kernel_regularizer="l2" if change == "regularizer" else None)]
        layers += [Dropout(0.3)] if change == "dropout" else []
        model = Sequential(layers + [Dense(1, activation="sigmoid")])
        model.compile(optimizer=gpunet.optimizers.Adam(clipnorm=1.0 if change == "clipnorm" else None),
                      loss="huber" if change == "huber" else "binary_crossentropy")
        model.fit(numpy.ones((8, 4)), numpy.ones((8, 1)), epochs=1, verbose=0)
    assert model._train_plan() is None
