"""The fused optimizer kernels (kernels/optimizers.cu) against the NumPy reference
(OptimizerOps), under the CUDA emulation with the launches CupyBackend makes."""
import numpy
import pytest

from cuda_emulator import EmulatedCupyBackend, emulator  # noqa: F401 (fixture)
from gpunet.backend import NumpyBackend
from kernel_cases import DTYPES, guarded, intact

WAVE_THREADS = 132 * 2048  # every thread an H100 holds at once
SIZES = [1, 1001, 2 * WAVE_THREADS + 7]  # the last needs the grid-stride loop: more elements than threads
STEPS = 3

# (method, slot names, hyperparameters)
CASES = [
    ("sgd_update", (), dict(lr=0.05, momentum=0.0, nesterov=False)),
    ("sgd_update", ("velocity",), dict(lr=0.05, momentum=0.9, nesterov=False)),
    ("sgd_update", ("velocity",), dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("adam_update", ("m", "v"), dict(lr=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-7)),
    ("adam_update", ("m", "v", "vhat"), dict(lr=0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-7)),
    ("rmsprop_update", ("rms",), dict(lr=0.01, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False)),
    ("rmsprop_update", ("rms", "mom"), dict(lr=0.01, rho=0.9, momentum=0.5, epsilon=1e-7, centered=False)),
    ("rmsprop_update", ("rms", "mg"), dict(lr=0.01, rho=0.8, momentum=0.0, epsilon=1e-7, centered=True)),
    ("rmsprop_update", ("rms", "mom", "mg"), dict(lr=0.01, rho=0.9, momentum=0.9, epsilon=1e-7, centered=True)),
    ("adagrad_update", ("accumulator",), dict(lr=0.05, epsilon=1e-7)),
    ("adamax_update", ("m", "v"), dict(lr=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-7)),
    ("nadam_update", ("m", "v"), dict(lr=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-7)),
    ("adadelta_update", ("accum_grad", "accum_var"), dict(lr=1.0, rho=0.95, epsilon=1e-6)),
]
ALL_SLOTS = {"sgd_update": ("velocity",), "adam_update": ("m", "v", "vhat"), "rmsprop_update": ("rms", "mom", "mg"),
             "adagrad_update": ("accumulator",), "adamax_update": ("m", "v"), "nadam_update": ("m", "v"),
             "adadelta_update": ("accum_grad", "accum_var")}


def call(ops, method, p, g, args, hyper, t):
    """One update of step ``t`` as the optimizer classes call it (Nadam's schedule folded in as
    gpunet.optimizers.Nadam folds it)."""
    if method in ("adam_update", "adamax_update"):
        return getattr(ops, method)(p, g, *args, t=t, **hyper)
    if method == "nadam_update":
        u = [hyper["beta_1"] * (1.0 - 0.5 * 0.96**k) for k in range(1, t + 2)]
        return ops.nadam_update(p, g, *args, t=t, u_t=u[t - 1], u_next=u[t], u_product=float(numpy.prod(u[:t])),
                                **hyper)
    return getattr(ops, method)(p, g, *args, **hyper)


def case_id(case):
    method, slots, hyper = case
    extras = [k for k in ("nesterov", "centered") if hyper.get(k)]
    return "-".join([method.split("_")[0], *slots, *extras])


def run_steps(ops, method, slots, hyper, n, dtype, launches=None):
    """STEPS updates with fresh random gradients; returns the parameters and slots."""
    rng = numpy.random.default_rng(7)
    p = guarded(rng.standard_normal(n).astype(dtype))
    state = {s: guarded(numpy.zeros(n, dtype)) for s in slots}  # as Optimizer.build makes them
    for t in range(1, STEPS + 1):
        g = guarded(rng.standard_normal(n).astype(dtype))
        call(ops, method, p, g, [state.get(s) for s in ALL_SLOTS[method]], hyper, t)
        if launches is not None:
            assert len(launches) == t, "one fused launch per step"
        assert intact(g)
    assert intact(p) and all(intact(a) for a in state.values()), "a kernel wrote outside its buffer"
    return p, state


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: numpy.dtype(d).name)
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_kernel_optimizer_matches_numpy(emulator, case, dtype, n):
    method, slots, hyper = case
    emulator.launches.clear()
    got_p, got_state = run_steps(EmulatedCupyBackend(emulator), method, slots, hyper, n, dtype, emulator.launches)
    ref_p, ref_state = run_steps(NumpyBackend(), method, slots, hyper, n, dtype)
    assert emulator.launches[0][0] == f"{method}<{'float' if dtype == numpy.float32 else 'double'}>"
    # same operations in the same order as the reference: only rounding of the CPU's libm may differ
    rtol = 1e-6 if dtype == numpy.float32 else 1e-14
    assert numpy.isfinite(ref_p).all()
    numpy.testing.assert_allclose(got_p, ref_p, rtol=rtol, atol=rtol)
    for s in slots:
        numpy.testing.assert_allclose(got_state[s], ref_state[s], rtol=rtol, atol=rtol, err_msg=s)


def test_kernel_optimizer_grid_is_capped_and_strides(emulator):
    """A buffer larger than a wave of threads gets a wave-sized grid whose threads loop."""
    emulator.launches.clear()
    run_steps(EmulatedCupyBackend(emulator), *CASES[3], SIZES[-1], numpy.float32)
    _, grid, block = emulator.launches[0]
    assert grid[0] * block[0] < SIZES[-1]


def test_kernel_optimizer_mixed_dtypes_fall_back(emulator):
    emulator.launches.clear()
    ops = EmulatedCupyBackend(emulator)
    p, g = numpy.ones(5, numpy.float32), numpy.full(5, 2.0, numpy.float64)
    ops.sgd_update(p, g, None, lr=0.5, momentum=0.0, nesterov=False)
    assert emulator.launches == [] and (p == 0).all()


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: numpy.dtype(d).name)
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_kernel_optimizer_nan_and_inf_as_numpy(emulator, case, dtype):
    """Gradients holding NaN and +-inf: NaN (and inf) in exactly the parameters and
    slots where the reference puts them, amsgrad's running max included."""
    method, slots, hyper = case
    start = numpy.random.default_rng(11).standard_normal(300).astype(dtype)
    results = []
    for ops in (EmulatedCupyBackend(emulator), NumpyBackend()):
        p = start.copy()
        state = {s: numpy.zeros(300, dtype) for s in slots}
        for t in (1, 2):
            g = numpy.random.default_rng(t).standard_normal(300).astype(dtype)
            g[[3, 50, 51, 299]] = [numpy.nan, numpy.inf, -numpy.inf, numpy.nan if t == 2 else 1.0]
            with numpy.errstate(invalid="ignore", over="ignore"):
                call(ops, method, p, g, [state.get(s) for s in ALL_SLOTS[method]], hyper, t)
        results.append((p, state))
    (got_p, got_state), (ref_p, ref_state) = results
    assert numpy.isnan(ref_p).any()
    rtol = 1e-6 if dtype == numpy.float32 else 1e-14
    numpy.testing.assert_allclose(got_p, ref_p, rtol=rtol, atol=rtol)
    for s in slots:
        numpy.testing.assert_allclose(got_state[s], ref_state[s], rtol=rtol, atol=rtol, err_msg=s)


@pytest.mark.parametrize("shape", [(1,), (7,), (33, 1), (5, 300), (130, 65)])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: numpy.dtype(d).name)
@pytest.mark.parametrize("make", [lambda C: C.MaxNorm(0.7), lambda C: C.NonNeg(), lambda C: C.UnitNorm(),
                                  lambda C: C.MinMaxNorm(0.2, 0.9, rate=0.6)],
                         ids=["max-norm", "non-neg", "unit-norm", "min-max-norm"])
def test_constraint_kernel_matches_the_reference(emulator, make, dtype, shape):
    """constrain_columns against gpunet.constraints on NumPy, a column per thread (a bias: one
    vector), with NaN and inf in a column: they stay in it, the other columns are untouched by them."""
    from gpunet import backend as B
    from gpunet import constraints as C
    from gpunet.backend import cuda_kernels as K
    c = make(C)
    rng = numpy.random.default_rng(len(shape) * 100 + shape[0])
    w = guarded((rng.standard_normal(shape) * 0.5).astype(dtype).reshape(-1)).reshape(shape)
    if w.ndim == 2 and w.shape[1] > 2:
        w[0, 1], w[1, 2] = numpy.nan, numpy.inf
    with B.use_backend("numpy"), numpy.errstate(invalid="ignore", over="ignore"):
        expected = numpy.asarray(c(w.copy()))
    kind = type(c).__name__
    a, b, rate = {"MaxNorm": (0.7, 0.0, 1.0), "NonNeg": (0.0, 0.0, 1.0), "UnitNorm": (0.0, 0.0, 1.0),
                  "MinMaxNorm": (0.2, 0.9, 0.6)}[kind]
    emulator(K.plan_constrain(w, K.CONSTRAINT_MODES[kind], a, b, rate, B.epsilon(), 132))
    assert intact(w.reshape(-1))
    tol = 1e-6 if dtype == numpy.float32 else 1e-13
    numpy.testing.assert_allclose(w, expected, rtol=tol, atol=tol)  # NaN where the reference has NaN


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: numpy.dtype(d).name)
def test_lion_kernel_matches_the_optimizer_on_numpy(emulator, dtype, n):
    """lion_update (the GPU step plan's Lion) against gpunet.optimizers.Lion's NumPy update, 3 steps, the
    rate read from a device table as the plan does; NaN and +-inf in the gradients where n allows
    (sign(NaN) is NaN: the parameter becomes NaN, as on NumPy); nothing written outside the buffers."""
    from gpunet.backend import optimizer_launches as OL
    from gpunet.optimizers import Lion
    rng = numpy.random.default_rng(n)
    start = rng.standard_normal(n).astype(dtype)
    grads = [rng.standard_normal(n).astype(dtype) for _ in range(STEPS)]
    if n > 60:
        grads[1][[3, 50, 51]] = [numpy.nan, numpy.inf, -numpy.inf]
    rates = [0.01, 0.005, 0.02]
    ref = Lion(0.01, beta_1=0.8, beta_2=0.95)
    p_ref = start.copy()
    ref.build(NumpyBackend(), p_ref, None)
    p, m = guarded(start.copy()), guarded(numpy.zeros(n, dtype))
    table = numpy.array([[r, 0.0] for r in rates], dtype=dtype)
    index = numpy.zeros(1, numpy.int64)
    emulator.launches.clear()
    for step, (g, rate) in enumerate(zip(grads, rates)):
        ref.learning_rate = rate
        with numpy.errstate(invalid="ignore", over="ignore"):
            ref.apply(p_ref, g.copy())
        index[0] = step
        emulator(OL.plan_lion(p, guarded(g), m, 0.0, 0.8, 0.95, 132, table, index))
    name = f"lion_update<{'float' if dtype == numpy.float32 else 'double'}>"
    assert [k for k, _, _ in emulator.launches] == [name] * 3
    assert intact(p) and intact(m)
    rtol = 1e-6 if dtype == numpy.float32 else 1e-14
    numpy.testing.assert_allclose(p, p_ref, rtol=rtol, atol=rtol)
    numpy.testing.assert_allclose(m, ref.slots()["m"], rtol=rtol, atol=rtol)
    assert numpy.isnan(p).any() == (n > 60)


FTRL = {  # (the float32 values are exact in float32, so the reference's and the kernel's roundings agree)
    "defaults": {},
    "l1-l2": dict(l1_regularization_strength=0.0625, l2_regularization_strength=0.25, initial_accumulator_value=0.125),
    "shrinkage-beta": dict(l2_shrinkage_regularization_strength=0.125, beta=0.5, initial_accumulator_value=0.25),
    "power-0": dict(learning_rate_power=0.0, l1_regularization_strength=0.125, initial_accumulator_value=0.0),
    "power-quarter": dict(learning_rate_power=-0.25, l1_regularization_strength=0.01, beta=0.1),
}


@pytest.mark.parametrize("n", SIZES[:2])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: numpy.dtype(d).name)
@pytest.mark.parametrize("case", sorted(FTRL))
def test_ftrl_kernel_matches_the_optimizer_on_numpy(emulator, case, dtype, n):
    """ftrl_update (the GPU step plan's Ftrl) against gpunet.optimizers.Ftrl's NumPy update, 3 steps, the
    rate read from a device table as the plan does (l2 + beta / (2 lr) folded in the kernel from it);
    NaN and +-inf in a gradient where n allows; nothing written outside the buffers."""
    from gpunet.backend import optimizer_launches as OL
    from gpunet.optimizers import Ftrl
    rng = numpy.random.default_rng(n)
    start = rng.standard_normal(n).astype(dtype)
    grads = [(rng.standard_normal(n) * rng.choice([0.01, 0.3, 3.0], n)).astype(dtype) for _ in range(STEPS)]
    if n > 60:
        grads[1][[3, 50, 51]] = [numpy.nan, numpy.inf, -numpy.inf]
    rates = [0.125, 0.0625, 0.25]
    ref = Ftrl(0.125, **FTRL[case])
    p_ref = start.copy()
    ref.build(NumpyBackend(), p_ref, None)
    p = guarded(start.copy())
    accum = guarded(numpy.full(n, ref.initial_accumulator_value, dtype))
    linear = guarded(numpy.zeros(n, dtype))
    table = numpy.array([[r, 0.0] for r in rates], dtype=dtype)
    index = numpy.zeros(1, numpy.int64)
    emulator.launches.clear()
    for step, (g, rate) in enumerate(zip(grads, rates)):
        ref.learning_rate = rate
        with numpy.errstate(invalid="ignore", over="ignore", divide="ignore"):
            ref.apply(p_ref, g.copy())
        index[0] = step
        emulator(OL.plan_ftrl(p, guarded(g), accum, linear, 0.0, ref, 132, table, index))
    name = f"ftrl_update<{'float' if dtype == numpy.float32 else 'double'}>"
    assert [k for k, _, _ in emulator.launches] == [name] * 3
    assert intact(p) and intact(accum) and intact(linear)
    rtol = 2e-6 if dtype == numpy.float32 else 1e-13  # (powf / pow: the CPU's libm against NumPy's)
    # (accum_new^power - accum^power cancels where g^2 is small against the accumulator, and so does
    # clip(linear, -l1, l1) - linear where |linear| is near l1: an ulp of powf there is an absolute error)
    atol = 1e-5 if dtype == numpy.float32 else 1e-12
    numpy.testing.assert_allclose(p, p_ref, rtol=rtol, atol=atol)
    numpy.testing.assert_allclose(accum, ref.slots()["accumulator"], rtol=rtol, atol=rtol)
    numpy.testing.assert_allclose(linear, ref.slots()["linear"], rtol=rtol, atol=atol)
    assert numpy.isnan(p).any() == (n > 60)
