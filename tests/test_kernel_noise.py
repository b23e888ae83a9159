"""GaussianNoise, GaussianDropout and AlphaDropout inside the GPU step plan (kernels/step.cu
noise_forward): the draws are standard normal (Box-Muller over the dropout kernel's counter hash),
AlphaDropout's keep flags Dropout's, fresh per batch and layer and the same again for a seeded run;
models with them train on the plan (before, such a model trained layer by layer on a GPU). The GPU's
draws are not NumPy's (as Dropout's masks are not): with noise too small to matter the plan trains as
NumPy does, and with real noise a seeded run repeats."""
import numpy
import pytest

import gpunet
from cuda_emulator import EmulatedCupyBackend, emulator  # noqa: F401 (fixture)
from gpunet import backend as B
from gpunet.backend import step_kernels as S
from gpunet.backend.gpu_graph_plan import GpuGraphPlan
from gpunet.backend.gpu_graphs import Between
from gpunet.backend.gpu_plan import GpuPlan
from gpunet.layers import AlphaDropout, Dense, Dropout, GaussianDropout, GaussianNoise
from gpunet.models import Sequential
from kernel_cases import DTYPES, guarded, intact
from plan_cases import data

N = 200_003  # odd, past a wave of the emulated grid: the grid-stride loop


def draw(emulator, dtype, stddev, multiplicative, batch=3, seed=77, salt=5):
    x = numpy.random.default_rng(1).standard_normal(N).astype(dtype)
    y, m = guarded(numpy.empty(N, dtype)), guarded(numpy.empty(N, dtype)) if multiplicative else None
    state = numpy.array([0, batch, seed], numpy.int64)
    emulator(S.plan_noise_forward(x, y, m, stddev, multiplicative, state, salt, 132))
    assert intact(y) and (m is None or intact(m))
    return x, y.copy(), None if m is None else m.copy()


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: numpy.dtype(d).name)
def test_gaussian_noise_draws_are_normal_fresh_per_batch_and_layer_and_repeatable(emulator, dtype):
    x, y, _ = draw(emulator, dtype, 0.5, False)
    z = (y.astype(numpy.float64) - x) / 0.5
    assert abs(z.mean()) < 5 / numpy.sqrt(N) and abs(z.std() - 1.0) < 0.01
    assert abs(numpy.mean(numpy.abs(z) < 1.0) - 0.6827) < 0.005 and abs(numpy.mean(numpy.abs(z) < 2.0) - 0.9545) < 0.003
    assert numpy.isfinite(z).all()
    again = draw(emulator, dtype, 0.5, False)[1]
    numpy.testing.assert_array_equal(y, again)  # the same (seed, layer, batch): the same draws
    for other in (dict(batch=4), dict(salt=6), dict(seed=78)):
        assert numpy.mean(draw(emulator, dtype, 0.5, False, **other)[1] == y) < 0.001, other


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: numpy.dtype(d).name)
def test_gaussian_dropout_multiplies_by_one_centered_draws_and_keeps_them(emulator, dtype):
    stddev = numpy.sqrt(0.2 / 0.8)  # GaussianDropout(0.2)'s
    x, y, m = draw(emulator, dtype, stddev, True)
    numpy.testing.assert_array_equal(y, x * m)
    assert abs(m.mean() - 1.0) < 5 * stddev / numpy.sqrt(N) and abs(m.std() / stddev - 1.0) < 0.01
    g = guarded(numpy.ones(N, dtype))
    emulator(S.plan_dropout_backward(g, m, 132))  # the backward multiplies by the same draws
    numpy.testing.assert_array_equal(g, m)


def model(noise, rate):
    return [GaussianNoise(noise, input_shape=(8,)), Dense(12, activation="relu"), GaussianDropout(rate),
            Dense(6, activation="tanh"), Dropout(0.0), Dense(1, activation="sigmoid")]


def run(ops, noise, rate, seed=9, epochs=3):
    x, y, _ = data("pima")
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(5)
        net = Sequential(model(noise, rate))
        net.compile(optimizer=gpunet.optimizers.Adam(learning_rate=0.01), loss="binary_crossentropy")
        gpunet.utils.set_random_seed(seed)
        # (unshuffled: NumPy's noise layers draw from the generator the shuffles draw from, the plan once an epoch)
        history = net.fit(x, y, batch_size=10, epochs=epochs, verbose=0, shuffle=False).history
    return net, history


@pytest.mark.parametrize("fused_step", ["1", "0"], ids=["one-launch-allowed", "multi-launch"])
def test_with_noise_too_small_to_matter_the_plan_trains_as_numpy(emulator, fused_step, monkeypatch):
    """stddev 1e-13 and GaussianDropout's 1e-13 (rate 1e-26): the plumbing (the noise launch, the
    gradient passed unchanged or times the draws) against NumPy's layer path, in float64."""
    monkeypatch.setenv("GPUNET_FUSED_STEP", fused_step)
    B.set_floatx("float64")
    emulator.launches.clear()
    gpu, history = run(EmulatedCupyBackend(emulator), 1e-13, 1e-26)
    kernels = [k.split("<")[0] for k, _, _ in emulator.launches]
    assert isinstance(gpu._plan, GpuPlan) and "mlp_step" not in kernels  # (mlp_step draws no Gaussian noise)
    assert kernels.count("noise_forward") == 2 * kernels.count("batch_gather")
    assert kernels.count("dropout_backward") == kernels.count("batch_gather")  # (GaussianDropout's alone)
    ref, want = run(B.resolve("numpy"), 1e-13, 1e-26)
    numpy.testing.assert_allclose(history["loss"], want["loss"], rtol=1e-10)
    for g, r in zip(gpu.get_weights(), ref.get_weights()):
        numpy.testing.assert_allclose(g, r, rtol=1e-9, atol=1e-12)


def test_real_noise_trains_repeats_with_a_seed_and_is_off_at_zero(emulator):
    B.set_floatx("float32")
    first, h1 = run(EmulatedCupyBackend(emulator), 0.3, 0.2)
    _, h2 = run(EmulatedCupyBackend(emulator), 0.3, 0.2)
    _, h3 = run(EmulatedCupyBackend(emulator), 0.3, 0.2, seed=10)
    assert h1["loss"] == h2["loss"] and h1["loss"] != h3["loss"] and h1["loss"][-1] < h1["loss"][0]
    assert [e.value for e in first._plan.noises] == [0.3, pytest.approx(0.5)]
    emulator.launches.clear()
    off, _ = run(EmulatedCupyBackend(emulator), 0.0, 0.0, epochs=1)  # stddev and rate 0: the identity
    assert isinstance(off._plan, GpuPlan) and not any(k.startswith("noise_forward") for k, _, _ in emulator.launches)


def test_a_changed_stddev_rebuilds_the_plan_at_the_next_fit(emulator):
    B.set_floatx("float64")
    x, y, _ = data("pima")
    with B.use_backend(EmulatedCupyBackend(emulator)):
        net = Sequential(model(0.1, 0.1))
        net.compile(optimizer="adam", loss="binary_crossentropy")
        net.fit(x, y, batch_size=10, epochs=1, verbose=0)
        plan = net._plan
        net.layers[0].stddev, net.layers[2].rate = 0.4, 0.5
        net.fit(x, y, batch_size=10, epochs=1, verbose=0)
    assert net._plan is not plan and [e.value for e in net._plan.noises] == [0.4, 1.0]


def residual(noise, rate):
    """A residual graph with GaussianNoise on its input and a GaussianDropout in one branch."""
    from gpunet.layers import Add, Input
    i = Input((8,))
    h = Dense(12, activation="relu")(GaussianNoise(noise)(i))
    h = Add()([h, Dense(12, activation="tanh")(GaussianDropout(rate)(h))])
    return gpunet.Model(i, Dense(1, activation="sigmoid")(h))


def graph_as_numpy(emulator, build):
    """``build()``'s graph (noise too small to matter) trained on the GPU graph plan and on NumPy in
    float64: the same losses and weights; the plan's noise launches per step."""
    B.set_floatx("float64")
    x, y, _ = data("pima")
    runs = []
    for ops in (EmulatedCupyBackend(emulator), B.resolve("numpy")):
        with B.use_backend(ops):
            gpunet.utils.set_random_seed(5)
            net = build()
            net.compile(optimizer=gpunet.optimizers.Adam(learning_rate=0.01), loss="binary_crossentropy")
            emulator.launches.clear()
            history = net.fit(x, y, batch_size=10, epochs=2, verbose=0, shuffle=False).history
            runs.append((net, history, [k.split("<")[0] for k, _, _ in emulator.launches]))
    (gpu, history, kernels), (ref, want, _) = runs
    assert isinstance(gpu._plan, GpuGraphPlan)
    numpy.testing.assert_allclose(history["loss"], want["loss"], rtol=1e-10)
    for g, r in zip(gpu.get_weights(), ref.get_weights()):
        numpy.testing.assert_allclose(g, r, rtol=1e-9, atol=1e-12)
    return kernels.count("noise_forward") / kernels.count("batch_gather")


def test_the_graph_step_runs_the_noise_layers_as_the_chain_step(emulator):
    """The graph plan draws as the chain's (noise_forward; GaussianDropout's gradient times its draws,
    GaussianNoise's passed on): with noise too small to matter, as NumPy in float64; with real noise
    repeatable with a seed; a changed stddev rebuilds the plan."""
    assert graph_as_numpy(emulator, lambda: residual(1e-13, 1e-26)) == 2  # (noise launches per step)
    x, y, _ = data("pima")
    losses = []
    for _ in range(2):
        with B.use_backend(EmulatedCupyBackend(emulator)):
            gpunet.utils.set_random_seed(5)
            net = residual(0.3, 0.2)
            net.compile(optimizer="adam", loss="binary_crossentropy")
            losses.append(net.fit(x, y, batch_size=10, epochs=2, verbose=0).history["loss"])
            plan = net._plan
            net.layers[1].stddev = 0.5
            net.fit(x, y, batch_size=10, epochs=1, verbose=0)
            assert net._plan is not plan and 0.5 in [e.value for e in net._plan.noises]
    assert losses[0] == losses[1]


def alpha_map(rate):
    """tf.keras 2's AlphaDropout constants: (alpha_p, a, b)."""
    from gpunet.layers.noise import _ALPHA, _SCALE
    alpha_p = -_ALPHA * _SCALE
    a = ((1 - rate) * (1 + rate * alpha_p ** 2)) ** -0.5
    return alpha_p, a, -a * alpha_p * rate


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: numpy.dtype(d).name)
def test_alpha_dropout_drops_as_dropout_and_keeps_selus_mean_and_variance(emulator, dtype):
    """Mode 2: the keep flags are the dropout kernel's for the same (seed, batch, layer); the kept and
    dropped values are tf.keras's affine map of them; the gradient factor is ``a`` where kept; and
    standard normal inputs come out with mean 0 and variance 1 (what AlphaDropout is for)."""
    rate = 0.2
    x, y, m = draw(emulator, dtype, rate, 2)
    dropped, kept_m = guarded(numpy.empty(N, dtype)), guarded(numpy.empty(N, dtype))
    emulator(S.plan_dropout_forward(x, dropped, kept_m, rate, numpy.array([0, 3, 77], numpy.int64), 5, 132))
    keep = (kept_m != 0).astype(dtype)
    assert abs(keep.mean() - (1 - rate)) < 0.005
    alpha_p, a, b = alpha_map(rate)
    numpy.testing.assert_array_equal(m, keep * a)
    tol = 1e-6 if dtype == numpy.float32 else 1e-14
    numpy.testing.assert_allclose(y, a * (x * keep + alpha_p * (1 - keep)) + b, rtol=tol, atol=tol)
    assert abs(y.mean()) < 0.01 and abs(y.std() - 1.0) < 0.01
    numpy.testing.assert_array_equal(y, draw(emulator, dtype, rate, 2)[1])  # repeatable
    assert numpy.mean(draw(emulator, dtype, rate, 2, batch=4)[1] == y) < 0.9  # fresh per batch


def selu_net(rate, noise_shape=None):
    return Sequential([Dense(12, input_dim=8, activation="selu", kernel_initializer="lecun_normal"),
                       AlphaDropout(rate, noise_shape=noise_shape), Dense(6, activation="selu"),
                       AlphaDropout(rate), Dense(1, activation="sigmoid")])


def fit_selu(ops, rate, seed=9, noise_shape=None):
    x, y, _ = data("pima")
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(5)
        net = selu_net(rate, noise_shape)
        net.compile(optimizer="adam", loss="binary_crossentropy")
        gpunet.utils.set_random_seed(seed)
        return net, net.fit(x, y, batch_size=10, epochs=3, verbose=0, shuffle=False).history["loss"]


def test_a_selu_network_with_alpha_dropout_trains_on_the_plan(emulator):
    """Rate 1e-13 (float64): the plan's plumbing (a noise launch per layer, the gradient times ``a``)
    against NumPy's layer path; rate 0.1 (float32): repeatable with a seed, other draws with another,
    the loss falls; one with a noise_shape (a mask shared along axes) runs its own code inside the graph step
    (a Sequential the chain step does not take is a graph: gpu_graph_plan.py), as on NumPy."""
    B.set_floatx("float64")
    emulator.launches.clear()
    gpu, got = fit_selu(EmulatedCupyBackend(emulator), 1e-13)
    kernels = [k.split("<")[0] for k, _, _ in emulator.launches]
    assert isinstance(gpu._plan, GpuPlan) and "mlp_step" not in kernels
    assert kernels.count("noise_forward") == kernels.count("dropout_backward") == 2 * kernels.count("batch_gather")
    ref, want = fit_selu(B.resolve("numpy"), 1e-13)
    numpy.testing.assert_allclose(got, want, rtol=1e-10)
    for g, r in zip(gpu.get_weights(), ref.get_weights()):
        numpy.testing.assert_allclose(g, r, rtol=1e-9, atol=1e-12)
    B.set_floatx("float32")
    runs = [fit_selu(EmulatedCupyBackend(emulator), 0.1, seed)[1] for seed in (9, 9, 10)]
    assert runs[0] == runs[1] and runs[0] != runs[2] and runs[0][-1] < runs[0][0]
    B.set_floatx("float64")
    shared, got = fit_selu(EmulatedCupyBackend(emulator), 1e-13, noise_shape=(None, 1))
    assert isinstance(shared._plan, GpuGraphPlan)
    assert all(sum(isinstance(e, Between) for e in step.entries) == 2 for step in shared._plan._steps.values())
    ref, want = fit_selu(B.resolve("numpy"), 1e-13, noise_shape=(None, 1))
    numpy.testing.assert_allclose(got, want, rtol=1e-10)


def test_the_graph_step_runs_alpha_dropout_as_the_chain_step(emulator):
    from gpunet.layers import Add, Input

    def build():
        i = Input((8,))
        h = Dense(12, activation="selu")(i)
        h = Add()([h, Dense(12, activation="selu")(AlphaDropout(1e-13)(h))])
        return gpunet.Model(i, Dense(1, activation="sigmoid")(h))
    assert graph_as_numpy(emulator, build) == 1
