"""Gradient clipping and weight decay inside the GPU step plan (kernels/grad_transforms.cu,
gpunet/backend/gpu_grad_transforms.py), kernels emulated on the CPU: each kernel against the NumPy
reference (OptimizerOps) on odd sizes with NaN and inf, and whole models compiled with
clipvalue / clipnorm / global_clipnorm / weight_decay / AdamW trained through the plan as on NumPy."""
import numpy
import pytest

import gpunet
from cuda_emulator import EmulatedCupyBackend, emulator  # noqa: F401 (fixture)
from gpunet import backend as B
from gpunet.backend import NumpyBackend
from gpunet.backend import gpu_grad_transforms as T
from gpunet.backend.gpu_plan import GpuPlan
from gpunet.layers import Dense, Dropout
from gpunet.models import Sequential
from kernel_cases import DTYPES, guarded, intact
from plan_cases import data

SM = 4  # a small GPU: the largest segments below need several blocks each
BIG = 2 * T.BLOCK * 8 * SM + 13  # more elements than a grid-stride launch has threads
SPECIAL = {"finite": [], "nan": [(3, numpy.nan)], "inf": [(0, numpy.inf), (5, -numpy.inf)]}


def gradients(n, dtype, special, seed=3):
    g = numpy.random.default_rng(seed).standard_normal(n).astype(dtype) * 3
    for i, v in SPECIAL[special]:
        g[i % n] = v
    return guarded(g)


def _tol(dtype):
    return dict(rtol=2e-6, atol=1e-6) if dtype == numpy.float32 else dict(rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("special", sorted(SPECIAL))
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: numpy.dtype(d).name)
def test_clip_value_kernel_matches_numpy(emulator, dtype, special):
    g = gradients(1001, dtype, special)
    ref = NumpyBackend().clip_by_value(g.copy(), 0.7, numpy.empty_like(g))
    emulator(T.plan_clip_value(g, 0.7, SM))
    numpy.testing.assert_array_equal(g, ref)
    assert intact(g)


SEGMENTS = {"one-small": [(0, 7)], "weights": [(0, 96), (96, 108), (108, 204), (204, 212), (212, 221)],
            "big-and-small": [(0, 1), (1, BIG), (BIG, BIG + 300)], "global-big": [(0, BIG)]}


@pytest.mark.parametrize("special", sorted(SPECIAL))
@pytest.mark.parametrize("segments", sorted(SEGMENTS))
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: numpy.dtype(d).name)
def test_clip_norm_kernels_match_numpy(emulator, dtype, segments, special):
    bounds = SEGMENTS[segments]
    n = bounds[-1][1]
    g = gradients(n, dtype, special)
    g *= 0.02 if segments == "weights" else 1.0  # some segments under the norm: left as they are
    with numpy.errstate(invalid="ignore"):  # inf * 0 where an inf norm scales an inf to NaN, as here
        ref = NumpyBackend().clip_by_norm(g.copy(), 1.5, bounds, numpy.empty_like(g))
    blocks = T.segment_blocks(bounds, SM)
    assert blocks.shape[0] > len(bounds) or segments != "big-and-small", "a big segment takes several blocks"
    partial = guarded(numpy.zeros(blocks.shape[0], dtype))
    emulator.launches.clear()
    for launch in T.plan_clip_norm(g, blocks, partial, 1.5):
        emulator(launch)
    assert [k for k, _, _ in emulator.launches] == [f"segment_sum_squares<{_c(dtype)}>", f"segment_clip_norm<{_c(dtype)}>"]
    numpy.testing.assert_allclose(g, ref, **_tol(dtype))
    assert numpy.array_equal(numpy.isnan(g), numpy.isnan(ref))
    assert intact(g) and intact(partial)
    if segments == "global-big" and special == "finite":  # clipnorm over one segment is global_clipnorm
        ref_global = NumpyBackend().clip_by_global_norm(gradients(n, dtype, special), 1.5, numpy.empty(n, dtype))
        numpy.testing.assert_allclose(g, ref_global, **_tol(dtype))
        assert abs(numpy.linalg.norm(g.astype(numpy.float64)) - 1.5) < 1e-5


def _c(dtype):
    return "float" if dtype == numpy.float32 else "double"


@pytest.mark.parametrize("masked", [False, True], ids=["all", "masked"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: numpy.dtype(d).name)
def test_weight_decay_kernel_matches_numpy_reading_its_factor_from_the_table(emulator, dtype, masked):
    rng = numpy.random.default_rng(1)
    p = guarded(rng.standard_normal(BIG).astype(dtype))
    p[7] = numpy.nan
    mask = guarded((rng.random(BIG) < 0.6).astype(dtype)) if masked else None
    rate = 0.01 * 0.004
    ref = p.copy()
    NumpyBackend().apply_weight_decay(ref, rate, None if mask is None else mask.copy())
    factors = guarded(numpy.array([9.0, rate if masked else 1.0 - rate, 9.0], dtype))
    index = numpy.array([1], dtype=numpy.int64)  # the step's row: the other rows would wreck p
    emulator(T.plan_weight_decay(p, mask, 0.0, SM, factors, index))
    numpy.testing.assert_allclose(p, ref, **_tol(dtype))
    assert numpy.isnan(p[7]) and intact(p)


OPTIMIZERS = {
    "sgd-clipvalue": lambda: gpunet.optimizers.SGD(learning_rate=0.05, momentum=0.9, clipvalue=0.05),
    "adam-clipnorm": lambda: gpunet.optimizers.Adam(learning_rate=0.01, clipnorm=0.05),
    "rmsprop-global-clipnorm": lambda: gpunet.optimizers.RMSprop(learning_rate=0.005, global_clipnorm=0.1),
    "adamw": lambda: gpunet.optimizers.AdamW(learning_rate=0.01, weight_decay=0.05),
    "adamw-excluding-biases": lambda: _excluding_biases(gpunet.optimizers.AdamW(learning_rate=0.01, weight_decay=0.05)),
    "sgd-decay-clipvalue-and-norm": lambda: gpunet.optimizers.SGD(learning_rate=0.05, decay=0.01, weight_decay=0.02,
                                                                  clipvalue=0.2, clipnorm=0.1),
    "adamax-global-and-decay": lambda: gpunet.optimizers.Adamax(learning_rate=0.01, global_clipnorm=0.5,
                                                                weight_decay=0.01),
    "nadam-clipvalue-and-decay": lambda: gpunet.optimizers.Nadam(learning_rate=0.01, clipvalue=0.1, weight_decay=0.01),
}


def _excluding_biases(optimizer):
    optimizer.exclude_from_weight_decay(var_names=["bias"])
    return optimizer


def build(ops, optimizer, dropout=False):
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(5)
        layers = [Dense(12, input_dim=8, activation="relu"), Dense(8, activation="tanh")]
        layers += [Dropout(0.25)] if dropout else []
        net = Sequential(layers + [Dense(1, activation="sigmoid")])
        net.compile(optimizer=OPTIMIZERS[optimizer](), loss="binary_crossentropy", metrics=["accuracy"])
    return net


def run(ops, optimizer, batch_logs=False, epochs=3, callbacks=()):
    x, y, _ = data("pima")
    net = build(ops, optimizer)
    seen = []
    callbacks = list(callbacks) + ([gpunet.callbacks.LambdaCallback(
        on_batch_end=lambda b, logs: seen.append(logs["loss"]))] if batch_logs else [])
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(9)
        history = net.fit(x, y, batch_size=10, epochs=epochs, verbose=0, callbacks=callbacks).history
    return net, history, seen


def assert_agree(got, ref, floatx):
    tol = 1e-10 if floatx == "float64" else 2e-5
    for key in ref[1]:
        numpy.testing.assert_allclose(got[1][key], ref[1][key], rtol=tol, err_msg=key)
    numpy.testing.assert_allclose(got[2], ref[2], rtol=tol)
    for g, r in zip(got[0].get_weights(), ref[0].get_weights()):
        numpy.testing.assert_allclose(g, r, rtol=tol * 10, atol=tol)


@pytest.mark.parametrize("fused_step", ["1", "0"], ids=["one-launch", "multi-launch"])
@pytest.mark.parametrize("floatx", ["float64", "float32"])
@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_clipped_and_decayed_models_train_on_the_gpu_plan_as_on_numpy(emulator, optimizer, floatx, fused_step,
                                                                      monkeypatch):
    """Both forms of the step clip and decay as NumPy does, Nadam included: the one-launch step
    (mlp_step) for a model this small, the transforms' own launches otherwise."""
    monkeypatch.setenv("GPUNET_FUSED_STEP", fused_step)
    B.set_floatx(floatx)
    emulator.launches.clear()
    got = run(EmulatedCupyBackend(emulator), optimizer, batch_logs=floatx == "float64")
    ref = run(B.resolve("numpy"), optimizer, batch_logs=floatx == "float64")
    assert isinstance(got[0]._plan, GpuPlan), "the GPU plan trained it"
    kernels = {k.split("<")[0] for k, _, _ in emulator.launches}
    o = got[0].optimizer
    if fused_step == "1":
        assert kernels == {"mlp_step"}, kernels
    else:
        assert ("clip_value" in kernels) == (o.clipvalue is not None)
        assert ("segment_clip_norm" in kernels) == (o.clipnorm is not None or o.global_clipnorm is not None)
        assert ("weight_decay" in kernels) == bool(o.weight_decay)
        assert "mlp_step" not in kernels
    assert_agree(got, ref, floatx)
    plain = run(B.resolve("numpy"), "adam-clipnorm", epochs=1)
    assert not numpy.allclose(plain[0].get_weights()[0], got[0].get_weights()[0]), "the transforms changed training"


def test_a_schedule_changes_the_decay_and_a_changed_clipnorm_rebuilds_the_steps(emulator):
    """A learning-rate schedule rewrites each epoch's decay factors (the decay follows lr); a clipnorm
    changed between fits, and weight decay switched off, take effect on the plan as on NumPy."""
    B.set_floatx("float64")
    schedule = gpunet.callbacks.LearningRateScheduler(lambda epoch, lr: 0.02 / (1 + epoch))
    results = []
    for ops in (EmulatedCupyBackend(emulator), B.resolve("numpy")):
        net, first, _ = run(ops, "adamw", callbacks=[schedule])
        plan = net._plan
        x, y, _ = data("pima")
        net.optimizer.clipnorm = 0.01
        with B.use_backend(ops):
            gpunet.utils.set_random_seed(4)
            second = net.fit(x, y, batch_size=10, epochs=1, verbose=0).history
            net.optimizer.weight_decay = 0.0
            third = net.fit(x, y, batch_size=10, epochs=1, verbose=0).history
        results.append((first, second, third, net.get_weights()))
        if isinstance(plan, GpuPlan):
            assert net._plan is plan, "the same plan: its steps were rebuilt, not the plan"
    for got, ref in zip(results[0][:3], results[1][:3]):
        numpy.testing.assert_allclose(got["loss"], ref["loss"], rtol=1e-10)
    for g, r in zip(results[0][3], results[1][3]):
        numpy.testing.assert_allclose(g, r, rtol=1e-9, atol=1e-12)


def test_clipping_beside_dropout_repeats_and_a_user_subclass_updates_by_its_own_apply(emulator):
    B.set_floatx("float32")
    x, y, _ = data("pima")
    histories = []
    for _ in range(2):
        net = build(EmulatedCupyBackend(emulator), "adam-clipnorm", dropout=True)
        with B.use_backend(net.ops):
            gpunet.utils.set_random_seed(9)
            histories.append(net.fit(x, y, batch_size=10, epochs=3, verbose=0).history["loss"])
        assert isinstance(net._plan, GpuPlan)
    assert histories[0] == histories[1]

    class ClippedAdam(gpunet.optimizers.Adam):  # a user's subclass may change apply: its own apply, not fused
        pass

    net = build(EmulatedCupyBackend(emulator), "adam-clipnorm")
    net.compile(optimizer=ClippedAdam(clipnorm=1.0), loss="binary_crossentropy")
    with B.use_backend(net.ops):
        net.fit(x, y, batch_size=10, epochs=1, verbose=0)
    assert isinstance(net._plan, GpuPlan) and net._plan.optimizer.kind == "own"



@pytest.mark.gpu
@pytest.mark.parametrize("fused_step", ["1", "0"], ids=["one-launch", "multi-launch"])
@pytest.mark.parametrize("optimizer", ["adam-clipnorm", "adamw-excluding-biases", "sgd-decay-clipvalue-and-norm",
                                       "nadam-clipvalue-and-decay"])
def test_clipped_and_decayed_models_train_on_a_real_gpu_as_on_numpy(optimizer, fused_step, monkeypatch):
    monkeypatch.setenv("GPUNET_FUSED_STEP", fused_step)
    B.set_floatx("float64")
    got, ref = run(B.resolve("cupy"), optimizer, batch_logs=True), run(B.resolve("numpy"), optimizer, batch_logs=True)
    assert isinstance(got[0]._plan, GpuPlan)
    assert_agree(got, ref, "float64")


def test_clipping_switched_on_by_a_callback_mid_epoch_keeps_the_decay(emulator):
    """A batch callback turns clipnorm on (new clip launches, a new decay-factor table) while AdamW
    decays: the factors of the rest of the epoch are written before the rebuilt steps run."""
    B.set_floatx("float64")
    results = []
    for ops in (EmulatedCupyBackend(emulator), B.resolve("numpy")):
        net = build(ops, "adamw")

        def switch(batch, logs, net=net):
            if batch == 3:
                net.optimizer.clipnorm = 0.01
        with B.use_backend(ops):
            gpunet.utils.set_random_seed(9)
            x, y, _ = data("pima")
            history = net.fit(x, y, batch_size=10, epochs=2, verbose=0,
                              callbacks=[gpunet.callbacks.LambdaCallback(on_batch_end=switch)]).history
        results.append((history, net.get_weights(), net))
    assert isinstance(results[0][2]._plan, GpuPlan)
    numpy.testing.assert_allclose(results[0][0]["loss"], results[1][0]["loss"], rtol=1e-10)
    for g, r in zip(results[0][1], results[1][1]):
        numpy.testing.assert_allclose(g, r, rtol=1e-9, atol=1e-12)
