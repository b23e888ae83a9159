"""The GPU step plan (gpunet/backend/gpu_plan.py) run through the CPU emulation of its
kernels, NumPy standing in for CuPy: whole trainings against the NumPy backend, the
launch budget (2 L + 3 per step for L Dense layers) and no host read inside an epoch."""
import numpy
import pytest

import gpunet
from cuda_emulator import EmulatedCupyBackend, emulator  # noqa: F401 (fixture)
from gpunet import backend as B
from gpunet.backend import step_kernels as S
from gpunet.backend.gpu_plan import GpuPlan
from gpunet.layers import Dense, Dropout
from gpunet.models import Sequential
from plan_cases import (CASES, N_SAMPLES, assert_close as _assert_close, data as _data, dropout_data, dropout_net,
                        fit as _fit, model as _model)

# the cases small enough for the single-launch step (gpu_fused_step.py)
FUSED = {"pima", "softmax-sparse", "mse", "mae-relu-out", "logits", "softmax-kld"}
FUSED_IN_FLOAT32 = {"hinge"}  # (mlp_step<double> leaves the hinge losses to loss_grad)


@pytest.mark.parametrize("fused_step", ["1", "0"], ids=["one-launch", "multi-launch"])
@pytest.mark.parametrize("floatx", ["float32", "float64"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_plan_trains_like_numpy(emulator, case, floatx, fused_step, monkeypatch):
    """Both forms of the step, one launch for small models and 2 L + 3 launches, train as NumPy."""
    monkeypatch.setenv("GPUNET_FUSED_STEP", fused_step)
    B.set_floatx(floatx)
    emulator.launches.clear()
    ops = EmulatedCupyBackend(emulator)
    got = _fit(case, ops)
    assert isinstance(got[0]._plan, GpuPlan), "the model trained through the GPU plan"
    kernels = {k.split("<")[0] for k, _, _ in emulator.launches}
    if fused_step == "1" and (case in FUSED or case in FUSED_IN_FLOAT32 and floatx == "float32"):
        assert kernels == {"mlp_step"}
    else:
        assert {"batch_gather", "loss_grad", "dense_forward", "dense_backward", "adam_update"} <= kernels
        assert fused_step == "1" or "mlp_step" not in kernels  # (a short last batch may fit in one block)
    _assert_close(got, _fit(case, B.resolve("numpy")), floatx)


@pytest.mark.parametrize("case, fused_step", [("pima", "0"), ("wide-reduced", "0"), ("pima", "1")])
def test_launch_budget_and_no_host_read_inside_an_epoch(emulator, case, fused_step, monkeypatch):
    """Each step is 2 L + 3 launches, or one for a model small enough for the one-launch step;
    an epoch reads the device a fixed number of times (its loss and metrics at the end),
    however many steps it has."""
    monkeypatch.setenv("GPUNET_FUSED_STEP", fused_step)
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
        per_step = 1 if fused_step == "1" else 2 * layers + 3
        assert len(emulator.launches) == steps * per_step, (len(emulator.launches), steps)
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


def test_momentum_and_hyperparameters_changed_by_callbacks_reach_the_device(emulator, request):
    """SGD's momentum is read from the device table as the learning rate is: the warmup callback's
    momentum correction (a changed momentum for each step whose rate changes) trains as on NumPy;
    a hyperparameter the launch bakes in (Nesterov, Adam's beta_1) changed between fits rebuilds
    the steps instead of training with the old value."""
    from gpunet import distribute
    distribute.shutdown()
    distribute.init()  # one process: the warmup callback asks for the world's size
    request.addfinalizer(distribute.shutdown)

    def train(net, ops, x, y, sw):
        net.compile(optimizer=gpunet.optimizers.SGD(learning_rate=0.05, momentum=0.9), loss="binary_crossentropy")
        gpunet.utils.set_random_seed(3)
        warm = distribute.LearningRateWarmupCallback(initial_lr=0.05, warmup_epochs=2, momentum_correction=True)
        first = net.fit(x, y, batch_size=10, epochs=3, verbose=0, callbacks=[warm]).history
        net.optimizer.nesterov = True
        second = net.fit(x, y, batch_size=10, epochs=1, verbose=0).history
        net.compile(optimizer=gpunet.optimizers.Adam(learning_rate=0.01), loss="binary_crossentropy")
        net.fit(x, y, batch_size=10, epochs=1, verbose=0)
        net.optimizer.beta_1 = 0.5
        return first, second, net.fit(x, y, batch_size=10, epochs=1, verbose=0).history
    _agree_with_numpy(emulator, "pima", train)


def users_loss(y_true, y_pred):
    """A user's own loss function of targets shaped unlike the outputs: the plan's step (which runs a
    loss without a kernel through its compute, gpu_step.generic_loss_entries) reads targets as wide as
    the outputs."""
    return gpunet.backend.mean(gpunet.backend.square(y_pred - y_true[:, :1]), axis=-1)


# (a user's optimizer subclass trains on the plan, updating by its own apply: tests/test_gpu_own_update.py)
@pytest.mark.parametrize("change", ["orthogonal-regularizer", "users-loss"])
def test_models_outside_the_plan_take_the_layer_path(emulator, change):
    ops = EmulatedCupyBackend(emulator)
    with B.use_backend(ops):
        regularizer = gpunet.regularizers.OrthogonalRegularizer() if change == "orthogonal-regularizer" else None
        layers = [Dense(6, input_dim=4, activation="relu", kernel_regularizer=regularizer)]
        model = Sequential(layers + [Dense(1, activation="sigmoid")])
        model.compile(optimizer=gpunet.optimizers.Adam(),
                      loss=users_loss if change == "users-loss" else "binary_crossentropy")
        model.fit(numpy.ones((8, 4)), numpy.ones((8, 2 if change == "users-loss" else 1)), epochs=1, verbose=0)
    plan = model._train_plan()
    assert plan is None or (change == "users-loss" and not plan.accepts(numpy.ones((8, 4)), numpy.ones((8, 2))))


@pytest.mark.parametrize("fused_forward", ["1", "0"], ids=["one-launch", "per-batch"])
@pytest.mark.parametrize("case", ["pima", "wide-reduced", "softmax-sparse"])
def test_predict_and_evaluate_through_the_forward_plan(emulator, case, fused_forward, monkeypatch):
    """predict writes every batch into one output array (a small model: one mlp_forward launch
    for all the rows, as evaluate without batch callbacks; else L launches a batch, one more
    for a softmax output); evaluate reads the device a fixed number of times; both equal NumPy."""
    monkeypatch.setenv("GPUNET_FUSED_FORWARD", fused_forward)
    B.set_floatx("float64")
    x, y, sw = _data(case)
    batch = CASES[case][5]
    results = {}
    for ops in (EmulatedCupyBackend(emulator), B.resolve("numpy")):
        model = _model(case, ops)
        with B.use_backend(ops):
            emulator.launches.clear()
            before = getattr(ops, "host_reads", 0)
            pred = model.predict(x, batch_size=batch, verbose=0)
            launches = [k for k, _, _ in emulator.launches]
            emulator.launches.clear()
            scores = model.evaluate(x, y, sample_weight=sw, batch_size=batch, verbose=0)
            launches = (launches, [k for k, _, _ in emulator.launches])
            reads = getattr(ops, "host_reads", 0) - before
        results[ops.name] = (pred, scores, launches, reads)
    (pred, scores, launches, reads), (ref_pred, ref_scores, _, _) = results["cupy"], results["numpy"]
    assert isinstance(pred, numpy.ndarray) and pred.shape == ref_pred.shape
    numpy.testing.assert_allclose(pred, ref_pred, rtol=1e-10, atol=1e-12)
    numpy.testing.assert_allclose(scores, ref_scores, rtol=1e-10)
    steps, layers = -(-N_SAMPLES // batch), len(CASES[case][0])
    if fused_forward == "1":
        assert launches == (["mlp_forward<double>"], ["mlp_forward<double>"]), launches
    else:
        assert len(launches[0]) == steps * (layers + (CASES[case][1][-1] == "softmax"))
        assert "mlp_forward<double>" not in launches[0] + launches[1]
    # predict's output, evaluate's loss and each metric (twice when weighted: values and weights)
    assert reads <= 2 + len(CASES[case][3]) * (1 + (sw is not None)), reads


def test_evaluate_batch_callbacks_see_running_logs(emulator):
    B.set_floatx("float64")
    x, y, _ = _data("pima")
    logs = {}
    for ops in (EmulatedCupyBackend(emulator), B.resolve("numpy")):
        model = _model("pima", ops)
        seen = []
        cb = gpunet.callbacks.LambdaCallback(on_test_batch_end=lambda batch, l: seen.append(dict(l)))
        with B.use_backend(ops):
            model.evaluate(x, y, batch_size=10, verbose=0, callbacks=[cb])
        logs[ops.name] = seen
    assert len(logs["cupy"]) == len(logs["numpy"]) == 11
    for g, r in zip(logs["cupy"], logs["numpy"]):
        numpy.testing.assert_allclose(list(g.values()), list(r.values()), rtol=1e-10)


def test_nan_input_stops_training_through_the_plan(emulator, monkeypatch):
    """NaN propagates through the plan's kernels as through NumPy: TerminateOnNaN fires in the
    batch that holds the NaN row, and History records the NaN epoch, as on NumPy."""
    monkeypatch.setenv("GPUNET_CHECK_FINITE", "0")  # the input check would refuse the NaN first
    B.set_floatx("float32")
    histories = []
    for ops in (EmulatedCupyBackend(emulator), B.resolve("numpy")):
        x, y, _ = _data("pima")
        x[3, 2] = numpy.nan
        net = _model("pima", ops)
        with B.use_backend(ops):
            gpunet.utils.set_random_seed(2)
            histories.append(net.fit(x, y, epochs=5, batch_size=10, verbose=0,
                                     callbacks=[gpunet.callbacks.TerminateOnNaN()]).history)
    assert len(histories[0]["loss"]) == 1 and numpy.isnan(histories[0]["loss"][0])
    assert histories[0].keys() == histories[1].keys() and numpy.isnan(histories[1]["loss"][0])


def test_dropout_in_the_plan_trains_as_the_layer_path_with_its_masks(emulator, monkeypatch):
    """Dropout runs inside the multi-launch step (a launch forward, one backward) with masks
    drawn on the device; given the same masks, the NumPy layer path trains to the same weights."""
    monkeypatch.setenv("GPUNET_FUSED_STEP", "0")
    B.set_floatx("float64")
    masks = []

    def recording(plan):
        emulator(plan)
        if plan.kernel.startswith("dropout_forward"):
            masks.append(numpy.array(plan.args[2]))

    build = dropout_net
    x, y = dropout_data()
    ops = EmulatedCupyBackend(recording)
    emulator.launches.clear()
    got = build(ops)
    with B.use_backend(ops):
        got_history = got.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    assert isinstance(got._plan, GpuPlan)
    steps = 2 * 6
    assert len(masks) == 3 * steps
    assert len(emulator.launches) == steps * (2 * 3 + 3 + 3 + 2)  # gather, loss, update; Dense 2x3; dropout 2+2+1
    for mask, rate in zip(masks, [0.2, 0.5, 0.25] * steps):
        assert set(numpy.unique(mask)) <= {0.0, 1.0 / (1.0 - rate)}
    kept = numpy.mean([(m != 0).mean() for m in masks[1::3]])
    assert 0.4 < kept < 0.6, kept  # rate 0.5
    assert not all((a == b).all() for a, b in zip(masks[1::3], masks[4::3])), "a fresh mask every step"

    replay = iter(masks)
    monkeypatch.setattr(type(B.resolve("numpy")), "dropout_mask",
                        lambda self, shape, rate, dtype, generator=None: next(replay))
    ref = build(B.resolve("numpy"))
    ref_history = ref.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    numpy.testing.assert_allclose(got_history["loss"], ref_history["loss"], rtol=1e-10)
    for g, r in zip(got.get_weights(), ref.get_weights()):
        numpy.testing.assert_allclose(g, r, rtol=1e-9, atol=1e-12)
    pred = got.predict(x, verbose=0)  # inference: no dropout
    numpy.testing.assert_allclose(pred, ref.predict(x, verbose=0), rtol=1e-10)


@pytest.mark.parametrize("floatx", ["float32", "float64"])
def test_dropout_in_the_one_launch_step_draws_the_multi_launch_steps_masks(emulator, monkeypatch, floatx):
    """A small model with Dropout (in front of its first layer and between layers) trains as one
    mlp_step launch a step, drawing the masks the multi-launch step draws: the same losses and
    weights, to the order of the sums."""
    B.set_floatx(floatx)
    x, y = dropout_data()
    runs = {}
    for fused in ("1", "0"):
        monkeypatch.setenv("GPUNET_FUSED_STEP", fused)
        ops = EmulatedCupyBackend(emulator)
        emulator.launches.clear()
        net = dropout_net(ops)
        with B.use_backend(ops):
            history = net.fit(x, y, batch_size=8, epochs=3, verbose=0).history
        kernels = {k.split("<")[0] for k, _, _ in emulator.launches}
        assert isinstance(net._plan, GpuPlan)
        assert (kernels == {"mlp_step"}) == (fused == "1"), kernels
        runs[fused] = history, net.get_weights()
    tol = dict(rtol=2e-5, atol=1e-6) if floatx == "float32" else dict(rtol=1e-11, atol=1e-13)
    numpy.testing.assert_allclose(runs["1"][0]["loss"], runs["0"][0]["loss"], **tol)
    for a, b in zip(runs["1"][1], runs["0"][1]):
        numpy.testing.assert_allclose(a, b, **tol)
    assert not numpy.allclose(runs["1"][1][0], dropout_net(B.resolve("numpy")).get_weights()[0]), "it trained"


@pytest.mark.parametrize("floatx", ["float32", "float64"])
def test_the_one_launch_steps_room_is_40_kib_of_values(emulator, monkeypatch, floatx):
    """The Pima MLP at batch 128 needs 9,600 shared values: room for them in float32 (10,240), not
    in float64 (5,120), where the multi-launch step runs; both train as NumPy."""
    from gpunet.backend import gpu_fused_step as FS
    monkeypatch.setenv("GPUNET_FUSED_STEP", "1")
    B.set_floatx(floatx)
    assert FS.layout(128, 8, 1, False, [(8, 12), (12, 8), (8, 1)])[6] == 9600
    rng = numpy.random.default_rng(5)
    x, y = rng.standard_normal((256, 8)), (rng.random((256, 1)) > 0.5).astype(float)
    results = []
    for ops in (EmulatedCupyBackend(emulator), B.resolve("numpy")):
        emulator.launches.clear()
        net = dropout_net(ops, [Dense(12, input_dim=8, activation="relu"), Dense(8, activation="relu"),
                                Dense(1, activation="sigmoid")])
        with B.use_backend(ops):
            results.append((net.fit(x, y, batch_size=128, epochs=2, shuffle=False, verbose=0).history["loss"],
                            net.get_weights()))
        if len(results) == 1:
            kernels = {k.split("<")[0] for k, _, _ in emulator.launches}
            assert (kernels == {"mlp_step"}) == (floatx == "float32"), kernels
    tol = dict(rtol=2e-5, atol=1e-6) if floatx == "float32" else dict(rtol=1e-11, atol=1e-13)
    numpy.testing.assert_allclose(results[0][0], results[1][0], **tol)
    for a, b in zip(results[0][1], results[1][1]):
        numpy.testing.assert_allclose(a, b, **tol)


def test_two_dropouts_in_a_row_take_the_multi_launch_step(emulator, monkeypatch):
    """The one-block step has room for one mask in front of a layer: two Dropout layers in a
    row run as the multi-launch step, and train as they do there."""
    monkeypatch.setenv("GPUNET_FUSED_STEP", "1")
    B.set_floatx("float64")
    rng = numpy.random.default_rng(1)
    x, y = rng.standard_normal((30, 6)), (rng.random((30, 1)) > 0.5).astype(float)
    ops = EmulatedCupyBackend(emulator)
    emulator.launches.clear()
    net = dropout_net(ops, [Dense(8, input_dim=6, activation="relu"), Dropout(0.3), Dropout(0.4),
                             Dense(1, activation="sigmoid")])
    with B.use_backend(ops):
        net.fit(x, y, batch_size=10, epochs=1, verbose=0)
    kernels = [k.split("<")[0] for k, _, _ in emulator.launches]
    assert "mlp_step" not in kernels and kernels.count("dropout_forward") == 2 * 3


def test_arrays_refilled_in_place_between_fits_are_read_afresh(emulator):
    """The plan keeps converted copies (integer labels as floats) in buffers of its own: a
    caller refilling its arrays in place between fits trains on the new values, as on NumPy."""
    def train(net, ops, x, y, sw):
        gpunet.utils.set_random_seed(3)
        net.fit(x, y, sample_weight=sw, batch_size=16, epochs=1, verbose=0)
        y[:] = (y + 1) % 5
        x *= -1.0
        return [net.fit(x, y, sample_weight=sw, batch_size=16, epochs=1, verbose=0).history]
    _agree_with_numpy(emulator, "softmax-sparse", train)


def test_fits_on_fresh_arrays_reuse_the_steps_and_read_the_new_data(emulator):
    """fit called again on other arrays of the same layout (a training loop of fit(epochs=1),
    a rank's next shard) keeps its built steps (their captured graphs, on a GPU) and points
    their gathers at the new data: it trains as NumPy does, with no step rebuilt."""
    built = {}

    def train(net, ops, x, y, sw):
        gpunet.utils.set_random_seed(3)
        net.fit(x, y, sample_weight=sw, batch_size=10, epochs=1, verbose=0)
        if isinstance(ops, EmulatedCupyBackend):
            built.update(net._plan._steps)
        rng = numpy.random.default_rng(11)  # new values in new memory; the first arrays stay alive
        x2, y2 = rng.standard_normal(x.shape), (rng.uniform(size=y.shape) > 0.5).astype(float)
        return [net.fit(x2, y2, batch_size=10, epochs=1, shuffle=shuffle, verbose=0).history for shuffle in (1, 0)]
    net = _agree_with_numpy(emulator, "pima", train)
    assert built and all(net._plan._steps[key] is step for key, step in built.items()), "no step rebuilt"


@pytest.mark.parametrize("fused_step", ["1", "0"], ids=["one-launch", "multi-launch"])
@pytest.mark.parametrize("make", [
    lambda o: o.SGD(learning_rate=0.05), lambda o: o.SGD(learning_rate=0.05, momentum=0.8, nesterov=True),
    lambda o: o.Adam(learning_rate=0.01, amsgrad=True), lambda o: o.RMSprop(learning_rate=0.01),
    lambda o: o.RMSprop(learning_rate=0.01, momentum=0.5, centered=True), lambda o: o.Adagrad(learning_rate=0.05),
    lambda o: o.Adamax(learning_rate=0.01), lambda o: o.Nadam(learning_rate=0.01),
    lambda o: o.Adam(learning_rate=o.schedules.CosineDecayRestarts(0.02, 7, alpha=0.1)),
    lambda o: o.AdamW(learning_rate=o.schedules.PiecewiseConstantDecay([5, 11], [0.03, 0.01, 0.002]),
                      weight_decay=0.1, clipnorm=0.5),
    lambda o: o.Adadelta(learning_rate=1.0, rho=0.9, decay=0.01), lambda o: o.Lion(learning_rate=0.003),
    lambda o: o.Ftrl(learning_rate=0.1, l1_regularization_strength=0.01, l2_regularization_strength=0.01, beta=0.1),
    lambda o: o.Ftrl(learning_rate=o.schedules.InverseTimeDecay(0.2, 5, 0.5), learning_rate_power=-0.25,
                     l2_shrinkage_regularization_strength=0.01, clipvalue=1.0)],
    ids=["sgd", "sgd-nesterov", "adam-amsgrad", "rmsprop", "rmsprop-centered-momentum", "adagrad", "adamax", "nadam",
         "adam-cosine-restarts", "adamw-piecewise-clipped", "adadelta-decay", "lion", "ftrl", "ftrl-schedule-clipped"])
def test_every_fused_optimizer_trains_like_numpy_in_both_step_forms(emulator, make, fused_step, monkeypatch):
    monkeypatch.setenv("GPUNET_FUSED_STEP", fused_step)

    def train(net, ops, x, y, sw):
        net.compile(optimizer=make(gpunet.optimizers), loss="binary_crossentropy", metrics=["accuracy"])
        gpunet.utils.set_random_seed(3)
        history = net.fit(x, y, batch_size=10, epochs=2, verbose=0).history
        return [dict(history, state=[net.optimizer.iterations, getattr(net.optimizer, "m_schedule", 0.0)])]
    emulator.launches.clear()
    net = _agree_with_numpy(emulator, "pima", train)
    kernels = {k.split("<")[0] for k, _, _ in emulator.launches}
    # every optimizer but Ftrl (its six scalars: the multi-launch step's ftrl_update) has a place in mlp_step
    one_launch = fused_step == "1" and type(net.optimizer).__name__ != "Ftrl"
    assert ("mlp_step" in kernels) == one_launch and ("dense_forward" in kernels) != one_launch, kernels


def _agree_with_numpy(emulator, case, train):
    """``train(net, ops, x, y, sw)`` (returning a list of History dicts) on the emulated GPU and on
    NumPy, in float64, from the same model: every history value and weight agree (1e-10, 1e-9).
    Returns the emulated model."""
    B.set_floatx("float64")
    runs = []
    for ops in (EmulatedCupyBackend(emulator), B.resolve("numpy")):
        x, y, sw = _data(case)
        net = _model(case, ops)
        with B.use_backend(ops):
            runs.append((train(net, ops, x, y, sw), net.get_weights(), net))
    for got, ref in zip(runs[0][0], runs[1][0]):
        assert got.keys() == ref.keys()
        for key in ref:
            numpy.testing.assert_allclose(got[key], ref[key], rtol=1e-10, err_msg=key)
    for g, r in zip(runs[0][1], runs[1][1]):
        numpy.testing.assert_allclose(g, r, rtol=1e-9, atol=1e-12)
    assert isinstance(runs[0][2]._plan, GpuPlan), "the model trained through the GPU plan"
    return runs[0][2]


@pytest.mark.parametrize("fused_step", ["1", "0"], ids=["one-launch", "multi-launch"])
@pytest.mark.parametrize("loss", ["huber-0.3", "log_cosh"])
def test_huber_and_log_cosh_train_on_the_plan_like_numpy(emulator, loss, fused_step, monkeypatch):
    """Huber (its delta a kernel argument) and log-cosh have loss kernels: the plan trains with them
    in both step forms as NumPy does."""
    monkeypatch.setenv("GPUNET_FUSED_STEP", fused_step)
    made = gpunet.losses.Huber(delta=0.3) if loss.startswith("huber") else loss

    def train(net, ops, x, y, sw):
        net.compile(optimizer=gpunet.optimizers.Adam(learning_rate=0.01), loss=made, metrics=["mae"])
        gpunet.utils.set_random_seed(3)
        return [net.fit(x, y, batch_size=10, epochs=2, verbose=0).history]
    net = _agree_with_numpy(emulator, "pima", train)
    assert net._plan.loss_kernel.kind == (S.HUBER if loss.startswith("huber") else S.LOG_COSH)


@pytest.mark.parametrize("loss, kind", [("hinge", S.HINGE), ("squared_hinge", S.SQUARED_HINGE),
                                        ("categorical_hinge", S.CATEGORICAL_HINGE),
                                        ("cosine_similarity", S.COSINE)])
def test_hinge_and_cosine_losses_train_on_the_plan_like_numpy(emulator, loss, kind):
    """The hinge losses and cosine similarity have loss kernels (the multi-launch step's: mlp_step
    leaves them out in float64). The hinge labels are 0/1 except one soft label: Keras converts every batch
    but the one holding it, and so do the kernel and the epoch's tally."""
    emulator.launches.clear()
    case = "pima" if kind in (S.HINGE, S.SQUARED_HINGE) else "logits"  # (linear outputs, one-hot labels)

    def train(net, ops, x, y, sw):
        if kind in (S.HINGE, S.SQUARED_HINGE):
            y = y.copy()
            y[57] = 0.5  # batch 5 of 10 (shuffled off: the same batch every epoch)
        net.compile(optimizer=gpunet.optimizers.Adam(learning_rate=0.01), loss=loss, metrics=[loss])
        return [net.fit(x, y, batch_size=10, epochs=2, shuffle=False, verbose=0).history,
                {"evaluate": net.evaluate(x, y, batch_size=10, verbose=0)}]
    net = _agree_with_numpy(emulator, case, train)
    assert net._plan.loss_kernel.kind == kind
    kernels = {k.split("<")[0] for k, _, _ in emulator.launches}
    assert "loss_grad" in kernels and "mlp_step" not in kernels


@pytest.mark.parametrize("loss", ["hinge", "squared_hinge", "categorical_hinge", "cosine_similarity"])
def test_hinge_and_cosine_losses_take_the_one_launch_step_in_float32(emulator, loss, monkeypatch):
    """In float32 mlp_step computes the hinge losses and cosine similarity itself (in float64 their
    code would spill registers: loss_grad runs them), as the multi-launch step does, the soft label's
    batch included."""
    B.set_floatx("float32")
    case = "pima" if loss in ("hinge", "squared_hinge") else "logits"
    runs = {}
    for fused in ("1", "0"):
        monkeypatch.setenv("GPUNET_FUSED_STEP", fused)
        ops = EmulatedCupyBackend(emulator)
        x, y, _ = _data(case)
        if case == "pima":
            y = y.copy()
            y[57] = 0.5
        net = _model(case, ops)
        emulator.launches.clear()
        with B.use_backend(ops):
            net.compile(optimizer=gpunet.optimizers.Adam(learning_rate=0.01), loss=loss, metrics=[loss])
            history = net.fit(x, y, batch_size=10, epochs=2, shuffle=False, verbose=0).history
        kernels = {k.split("<")[0] for k, _, _ in emulator.launches} - {"mlp_forward", "dense_forward"}
        assert (kernels == {"mlp_step"}) == (fused == "1"), kernels
        runs[fused] = history, net.get_weights()
    for key in runs["0"][0]:
        numpy.testing.assert_allclose(runs["1"][0][key], runs["0"][0][key], rtol=2e-5, err_msg=key)
    for a, b in zip(runs["1"][1], runs["0"][1]):
        numpy.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("hidden, loss", [("softmax", "categorical_crossentropy"), ("tanh", "kld"), ("tanh", "mse"),
                                          ("softmax", "binary_crossentropy"), ("tanh", "categorical_hinge"),
                                          ("tanh", "cosine_similarity")])
@pytest.mark.parametrize("fused_step", ["1", "0"], ids=["one-launch", "multi-launch"])
def test_softmax_layers_train_on_the_plan_like_numpy(emulator, hidden, loss, fused_step, monkeypatch):
    """A softmax layer runs as a linear Dense launch and a row softmax, and backward as a softmax
    backward then a linear Dense backward: in a hidden layer (which the plan once ran as linear),
    and on the output with a loss whose kernel takes the activated output (KL divergence, MSE, ...);
    inside mlp_step, the same rows in shared memory."""
    monkeypatch.setenv("GPUNET_FUSED_STEP", fused_step)
    B.set_floatx("float64")
    x, y, _ = _data("logits")  # (its 4 one-hot targets)
    runs = []
    for ops in (EmulatedCupyBackend(emulator), B.resolve("numpy")):
        emulator.launches.clear()
        with B.use_backend(ops):
            gpunet.utils.set_random_seed(5)
            net = Sequential([Dense(7, input_dim=x.shape[1], activation=hidden), Dense(4, activation="softmax")])
            net.compile(optimizer=gpunet.optimizers.Adam(learning_rate=0.01), loss=loss, metrics=["accuracy"])
            history = net.fit(x, y, batch_size=12, epochs=2, verbose=0).history
            runs.append((history, net.evaluate(x, y, batch_size=12, verbose=0), net.get_weights(), net._plan))
        if len(runs) == 1:
            kernels = [k.split("<")[0] for k, _, _ in emulator.launches]
    (got, got_eval, got_w, plan), (ref, ref_eval, ref_w, _) = runs
    assert isinstance(plan, GpuPlan)
    for key in ref:
        numpy.testing.assert_allclose(got[key], ref[key], rtol=1e-10, err_msg=key)
    numpy.testing.assert_allclose(got_eval, ref_eval, rtol=1e-10)
    for g, r in zip(got_w, ref_w):
        numpy.testing.assert_allclose(g, r, rtol=1e-9, atol=1e-12)
    softmax_layers = (hidden == "softmax") + (loss != "categorical_crossentropy")  # (that loss's kernel: its own)
    steps = 2 * -(-N_SAMPLES // 12)
    if fused_step == "1" and loss not in ("categorical_hinge", "cosine_similarity"):  # (float64: loss_grad's)
        assert set(kernels) - {"mlp_forward"} == {"mlp_step"}, set(kernels)
        return
    assert kernels.count("softmax_backward") == steps * softmax_layers
    assert kernels.count("mlp_step") == 0


class ChangeAtBatch(gpunet.callbacks.Callback):
    """Changes the model through ``change(model)`` at the start of batch 2."""

    def __init__(self, change):
        super().__init__()
        self.change = change

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 2:
            self.change(self.model)


MID_EPOCH = {
    "epsilon": (None, None, "categorical_crossentropy", lambda m: B.set_epsilon(0.3)),
    "l2-factor": (lambda: gpunet.regularizers.L2(0.01), None, "categorical_crossentropy",
                  lambda m: setattr(m.layers[0].kernel_regularizer, "l2", 0.5)),
    "max-norm": (None, lambda: gpunet.constraints.MaxNorm(2.0), "categorical_crossentropy",
                 lambda m: setattr(m.layers[0].kernel_constraint, "max_value", 0.2)),
    "huber-delta": (None, None, "huber", lambda m: setattr(m._loss_fn, "delta", 0.1)),
}


@pytest.mark.parametrize("what", sorted(MID_EPOCH))
def test_a_change_a_batch_callback_makes_mid_epoch_applies_from_the_next_step(emulator, what):
    """Keras's epsilon, a regularizer's factor, a constraint's bound or Huber's delta set by a batch
    callback mid-epoch: the GPU plan rebuilds its steps and trains the rest of the epoch with the new
    value, as NumPy does from the next batch."""
    regularizer, constraint, loss, change = MID_EPOCH[what]
    B.set_floatx("float64")
    rng = numpy.random.default_rng(3)
    x = rng.standard_normal((41, 5))
    y = numpy.eye(3)[rng.integers(0, 3, 41)] if loss != "huber" else rng.standard_normal((41, 3))
    runs = []
    try:
        for ops in (EmulatedCupyBackend(emulator), B.resolve("numpy")):
            with B.use_backend(ops):
                gpunet.utils.set_random_seed(1)
                net = Sequential([Dense(7, input_dim=5, activation="tanh",
                                        kernel_regularizer=regularizer() if regularizer else None,
                                        kernel_constraint=constraint() if constraint else None),
                                  Dense(3, activation="softmax" if loss != "huber" else "linear")])
                net.compile(loss=gpunet.losses.Huber(delta=2.0) if loss == "huber" else loss, optimizer="adam")
                gpunet.utils.set_random_seed(9)
                history = net.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[ChangeAtBatch(change)]).history
                runs.append((history["loss"], net.get_weights(), net._plan))
            B.set_epsilon(1e-7)
    finally:
        B.set_epsilon(1e-7)
    (got, got_w, plan), (ref, ref_w, _) = runs
    assert isinstance(plan, GpuPlan)
    numpy.testing.assert_allclose(got, ref, rtol=1e-10)
    for g, r in zip(got_w, ref_w):
        numpy.testing.assert_allclose(g, r, rtol=1e-9, atol=1e-12)


SLOT_OF = {"centered": "mg", "amsgrad": "vhat", "momentum": "momentum"}


@pytest.mark.parametrize("optimizer, flag, on, off", [
    ("RMSprop", "centered", True, False), ("Adam", "amsgrad", True, False), ("SGD", "momentum", 0.9, 0.0),
    ("RMSprop", "momentum", 0.5, 0.0)])
def test_a_slot_switched_on_or_off_after_build_trains_as_on_numpy(emulator, optimizer, flag, on, off, tmp_path):
    """A hyperparameter that needs a slot, switched on between fits, makes the slot (at its initial
    value) and uses it, on both backends (Keras fails there); switched off, the slot stays unused
    and is not saved, so the file loads into the optimizer its config describes."""
    slot = SLOT_OF[flag]

    def train(net, ops, x, y, sw):
        net.compile(optimizer=getattr(gpunet.optimizers, optimizer)(learning_rate=0.01), loss="binary_crossentropy")
        histories = [net.fit(x, y, batch_size=10, epochs=1, verbose=0).history]
        assert slot not in net.optimizer.slots()
        for value in (on, off):
            setattr(net.optimizer, flag, value)
            histories.append(net.fit(x, y, batch_size=10, epochs=1, verbose=0).history)
            if value == on:
                assert numpy.abs(ops.to_host(net.optimizer.slots()[slot])).max() > 0, "the new slot was used"
        path = str(tmp_path / f"{type(ops).__name__}.h5")
        net.save(path)
        loaded = gpunet.models.load_model(path)
        assert getattr(loaded.optimizer, flag) == off and slot not in loaded.optimizer.get_state()["slots"]
        return histories
    _agree_with_numpy(emulator, "pima", train)


def test_a_changed_huber_delta_or_keras2_decay_takes_effect_as_on_numpy(emulator):
    """Huber's delta is baked into the steps (the plan is rebuilt when it changes); Keras 2's
    inverse-time ``decay`` is in the per-step table (rewritten when it changes)."""
    def train(net, ops, x, y, sw):
        loss = gpunet.losses.Huber(delta=1.0)
        net.compile(optimizer=gpunet.optimizers.SGD(learning_rate=0.05, decay=0.01), loss=loss)
        gpunet.utils.set_random_seed(3)
        first = net.fit(x, y, batch_size=10, epochs=1, verbose=0).history
        built = net._plan
        loss.delta = 0.05
        net.optimizer.decay = 0.5
        second = net.fit(x, y, batch_size=10, epochs=1, verbose=0).history
        if isinstance(built, GpuPlan):
            assert net._plan is not built and net._plan.loss_kernel.delta == 0.05
        return [first, second]
    _agree_with_numpy(emulator, "pima", train)
