"""kernels/step.cu and loss.cu under the CPU emulation: the batch gather and the fused loss
gradient against the NumPy backend's losses and activations, on odd shapes,
float32 and float64, with NaN and inf among the inputs."""
import numpy
import pytest

from cuda_emulator import H100_SMS, emulator  # noqa: F401 (fixture)
from gpunet import backend as B
from gpunet import losses
from gpunet.backend import step_kernels as S
from kernel_cases import DTYPES, TOL, guarded, intact

LOSSES = [  # (output activation, loss)
    ("sigmoid", losses.BinaryCrossentropy()), ("softmax", losses.CategoricalCrossentropy()),
    ("softmax", losses.SparseCategoricalCrossentropy()), ("relu", losses.BinaryCrossentropy()),
    ("tanh", losses.CategoricalCrossentropy()), ("sigmoid", losses.SparseCategoricalCrossentropy()),
    ("linear", losses.MeanSquaredError()), ("relu", losses.MeanAbsoluteError()),
    ("linear", losses.BinaryCrossentropy(from_logits=True)),
    ("linear", losses.CategoricalCrossentropy(from_logits=True)),
    ("linear", losses.SparseCategoricalCrossentropy(from_logits=True)),
    ("linear", losses.Huber()), ("tanh", losses.Huber(delta=0.3)), ("linear", losses.LogCosh()),
    ("linear", losses.MeanAbsolutePercentageError()), ("relu", losses.MeanSquaredLogarithmicError()),
    ("sigmoid", losses.KLDivergence()), ("softplus", losses.Poisson()),
    ("tanh", losses.Hinge()), ("linear", losses.SquaredHinge()), ("relu", losses.CategoricalHinge()),
    ("linear", losses.CategoricalHinge()), ("linear", losses.CosineSimilarity()),
]
SHAPES = [(1, 1), (7, 3), (19, 45), (33, 1)]
# the kinds that take the Dense layer's activated output (no activation of their own)
PLAIN = (S.BCE, S.CCE, S.SCCE, S.MAE, S.HUBER, S.LOG_COSH, S.MAPE, S.MSLE, S.KLD, S.POISSON, S.HINGE,
         S.SQUARED_HINGE, S.CATEGORICAL_HINGE, S.COSINE)
# their gradient has no NaN where a prediction is NaN (NumPy's mask of the margin is False there, as TF's is)
MASKED_NAN = (S.HINGE, S.CATEGORICAL_HINGE)


def _case_id(case):
    act, loss = case
    delta = f"-{loss.delta}" if isinstance(loss, losses.Huber) else ""
    return f"{act}-{loss.name}{delta}{'-logits' if getattr(loss, 'from_logits', False) else ''}"


def _data(rng, act, loss, M, N, dtype, weighted):
    z = rng.normal(scale=2.0, size=(M, N)).astype(dtype)
    kernel = S.loss_kernel(act, {}, loss)
    if kernel.sparse:
        y = rng.integers(0, N, size=(M, 1)).astype(dtype)
    elif loss.name in ("categorical_crossentropy", "categorical_hinge"):
        y = numpy.eye(N, dtype=dtype)[rng.integers(0, N, size=M)]
    else:
        y = rng.uniform(size=(M, N)).astype(dtype).round()
    sw = rng.uniform(0.5, 2.0, size=M).astype(dtype) if weighted else None
    return kernel, z, y, sw


def _reference(ops, act, loss, kernel, z, y, sw):
    """(outputs, dz) as the layer path computes them: the Dense activation, then the loss."""
    if kernel.fused or kernel.kind in (S.BCE_LOGITS, S.CCE_LOGITS, S.SCCE_LOGITS, S.MSE):
        a = act if kernel.fused else "linear"
    else:
        a = "linear"  # plain kinds get the already-activated output as z
    p = ops.activation_forward(a, z, {})
    dy = loss.compute(ops, y, p, sw)[1]
    return p, ops.activation_backward(a, dy, z, p, {})


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: numpy.dtype(d).name)
@pytest.mark.parametrize("case", LOSSES, ids=_case_id)
def test_loss_grad_matches_the_losses(emulator, case, dtype, shape, weighted):
    act, loss = case
    M, N = shape
    rng = numpy.random.default_rng(M * 100 + N)
    kernel, z, y, sw = _data(rng, act, loss, M, N, dtype, weighted)
    if not kernel.fused and kernel.kind in PLAIN:
        z = B.resolve("numpy").activation_forward(act, z, {})  # the Dense layer's activated output
    stride, batch = M + 3, 2  # the batch's rows sit at 2 * stride in the epoch's outputs
    out = guarded(numpy.full((3 * stride, N), 7.0, dtype))
    dz = guarded(numpy.empty((M, N), dtype))
    state = numpy.array([-5, batch], numpy.int64)
    scale = 1.0 / M
    emulator(S.plan_loss_grad(kernel, guarded(z), guarded(y), None if sw is None else guarded(sw), out, dz, state,
                              stride, B.epsilon(), scale, H100_SMS))
    ref_p, ref_dz = _reference(B.resolve("numpy"), act, loss, kernel, z, y, sw)
    tol = TOL[dtype]
    numpy.testing.assert_allclose(out[batch * stride:batch * stride + M], ref_p, rtol=tol, atol=tol)
    numpy.testing.assert_allclose(dz, ref_dz, rtol=tol * 10, atol=tol * 10 * max(1.0, abs(ref_dz).max()))
    assert (out[:batch * stride] == 7.0).all() and (out[batch * stride + M:] == 7.0).all()
    assert intact(out) and intact(dz)
    assert state.tolist() == [batch + 1, batch], "loss_grad advances state[0] past the batch it read from state[1]"


@pytest.mark.parametrize("case", LOSSES, ids=_case_id)
def test_loss_grad_propagates_nan_and_inf(emulator, case):
    """A NaN in a row's logits makes that row's gradient NaN (as NumPy's does) and leaves
    the other rows alone; an inf gives what the reference gives."""
    act, loss = case
    dtype, M, N = numpy.float64, 4, 3
    kernel, z, y, sw = _data(numpy.random.default_rng(5), act, loss, M, N, dtype, False)
    if not kernel.fused and kernel.kind in PLAIN:
        z = B.resolve("numpy").activation_forward(act, z, {})
    z[1, 0] = numpy.nan
    z[2, 1] = numpy.inf if kernel.kind not in (S.BCE, S.CCE, S.SCCE) else 0.5
    out, dz = numpy.empty((M, N), dtype), numpy.empty((M, N), dtype)
    emulator(S.plan_loss_grad(kernel, z, y, None, out, dz, numpy.zeros(2, numpy.int64), M, B.epsilon(), 1.0 / M,
                              H100_SMS))
    with numpy.errstate(all="ignore"):
        ref_p, ref_dz = _reference(B.resolve("numpy"), act, loss, kernel, z, y, None)
    assert numpy.isnan(ref_dz[1]).any() != (kernel.kind in MASKED_NAN)
    numpy.testing.assert_array_equal(numpy.isnan(dz), numpy.isnan(ref_dz))
    finite = numpy.isfinite(ref_dz)
    numpy.testing.assert_allclose(dz[finite], ref_dz[finite], rtol=1e-10, atol=1e-12)
    numpy.testing.assert_allclose(dz[[0, 3]], ref_dz[[0, 3]], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("labels", ["zero-one", "signs", "one-soft-label", "all-ones"])
@pytest.mark.parametrize("loss", [losses.Hinge(), losses.SquaredHinge()], ids=lambda l: l.name)
def test_hinge_kernels_decide_the_labels_over_the_whole_batch(emulator, loss, labels):
    """Keras reads 0/1 labels as -1/1 only when every label of the batch is 0 or 1: the kernel decides
    over all of the batch's rows (one block; the soft label sits in the last row, past the first
    block's 8)."""
    M, N = 37, 2
    rng = numpy.random.default_rng(11)
    y = rng.integers(0, 2, size=(M, N)).astype(numpy.float64)
    if labels == "signs":
        y = 2 * y - 1
    elif labels == "one-soft-label":
        y[-1, -1] = 0.5
    elif labels == "all-ones":
        y[...] = 1.0
    z = rng.normal(size=(M, N))
    kernel = S.loss_kernel("linear", {}, loss)
    plan = S.plan_loss_grad(kernel, z, y, None, numpy.empty((M, N)), dz := numpy.empty((M, N)),
                            numpy.zeros(2, numpy.int64), M, B.epsilon(), 1.0 / M, H100_SMS)
    assert plan.grid == (1, 1, 1)
    emulator(plan)
    ref = loss.compute(B.resolve("numpy"), y, z)[1]
    numpy.testing.assert_allclose(dz, ref, rtol=1e-12, atol=1e-15)
    converted = loss.compute(B.resolve("numpy"), 2 * y - 1, z)[1]
    assert numpy.allclose(dz, converted) == (labels in ("zero-one", "all-ones")), "converted where Keras converts"


@pytest.mark.parametrize("shuffled", [False, True], ids=["in-order", "shuffled"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_batch_gather_takes_the_batch_in_state(emulator, shuffled, weighted):
    rng = numpy.random.default_rng(3)
    n, kx, ky, stride = 23, 5, 2, 7
    x, y = rng.normal(size=(n, kx)), rng.normal(size=(n, ky))
    sw = rng.uniform(size=n) if weighted else None
    order = rng.permutation(n).astype(numpy.int64) if shuffled else None
    rows_of = order if shuffled else numpy.arange(n)
    for batch, rows in ((0, stride), (2, stride), (3, n - 3 * stride)):  # the last batch is short
        xb, yb = guarded(numpy.zeros((rows, kx))), guarded(numpy.zeros((rows, ky)))
        swb = guarded(numpy.zeros(rows)) if weighted else None
        state = numpy.array([batch, -1], numpy.int64)
        sources = S.source_addresses(x, y, sw, order)
        emulator(S.plan_batch_gather(sources, xb, yb, swb, state, rows, stride, H100_SMS))
        picked = rows_of[batch * stride:batch * stride + rows]
        numpy.testing.assert_array_equal(xb, x[picked])
        numpy.testing.assert_array_equal(yb, y[picked])
        if weighted:
            numpy.testing.assert_array_equal(swb, sw[picked])
        assert state.tolist() == [batch, batch] and intact(xb) and intact(yb)


@pytest.mark.parametrize("activation,loss,expected", [
    ("sigmoid", losses.BinaryCrossentropy(), (S.BCE_SIGMOID, "sigmoid")),
    ("softmax", losses.CategoricalCrossentropy(), (S.CCE_SOFTMAX, "softmax")),
    ("relu", losses.MeanSquaredError(), (S.MSE, None)),
    ("linear", losses.BinaryCrossentropy(from_logits=True), (S.BCE_LOGITS, None)),
    # (label smoothing: the plan smooths the targets; "sum": the gradient not divided by the rows)
    ("sigmoid", losses.BinaryCrossentropy(label_smoothing=0.1), (S.BCE_SIGMOID, "sigmoid")),
    ("softmax", losses.CategoricalCrossentropy(label_smoothing=0.1, from_logits=True), (S.CCE_LOGITS, None)),
    ("sigmoid", losses.BinaryCrossentropy(reduction="sum"), (S.BCE_SIGMOID, "sigmoid")),
    ("sigmoid", losses.BinaryCrossentropy(reduction="mean_with_sample_weight"), None),
    ("sigmoid", losses.BinaryFocalCrossentropy(label_smoothing=0.1), None),
    ("sigmoid", losses.BinaryFocalCrossentropy(), (S.BFOCAL, None)),
    ("linear", losses.BinaryFocalCrossentropy(from_logits=True, reduction="sum"), (S.BFOCAL_LOGITS, None)),
    ("softmax", losses.SparseCategoricalCrossentropy(ignore_class=0), None),
    ("linear", losses.Huber(delta=0.5), (S.HUBER, None)),
    ("linear", losses.LogCosh(), (S.LOG_COSH, None)),
    ("relu", losses.Poisson(), (S.POISSON, None)),
    ("softmax", losses.KLDivergence(), (S.KLD, None)),  # (the plan then leaves it to the layer path)
    ("linear", losses.Hinge(), (S.HINGE, None)),
    ("tanh", losses.CosineSimilarity(), (S.COSINE, None)),
    ("tanh", losses.CosineSimilarity(axis=0), None),
])
def test_loss_kernel_choice(activation, loss, expected):
    got = S.loss_kernel(activation, {}, loss)
    assert (None if got is None else (got.kind, got.fused)) == expected
    if got is not None:  # (the gradient's scale: Keras's default reduction divides by the batch's rows)
        assert got.scale(8) == (1.0 if loss.reduction == "sum" else 1.0 / 8)
        assert got.smoothing_of(loss) == getattr(loss, "label_smoothing", 0.0)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: numpy.dtype(d).name)
def test_dropout_kernels(emulator, dtype):
    """Masks are 0 or 1 / (1 - rate), kept at the rate's odds, fresh for each batch and layer,
    the same again for the same seed and batch; y = x m exactly; backward multiplies by m."""
    rate, n = 0.3, 20011
    x = numpy.random.default_rng(1).standard_normal(n).astype(dtype)
    x[5] = numpy.nan

    def draw(batch, seed, salt):
        y, m = guarded(numpy.empty(n, dtype)), guarded(numpy.empty(n, dtype))
        emulator(S.plan_dropout_forward(x, y, m, rate, numpy.array([0, batch, seed], numpy.int64), salt, H100_SMS))
        assert intact(y) and intact(m)
        return y.copy(), m.copy()

    y, m = draw(3, 77, 1)
    scale = dtype(1.0 / (1.0 - rate))
    assert set(numpy.unique(m)) == {dtype(0), scale}
    assert abs((m == 0).mean() - rate) < 0.015
    numpy.testing.assert_array_equal(y, x * m)  # NaN stays NaN, kept or not
    same_y, same_m = draw(3, 77, 1)
    numpy.testing.assert_array_equal(same_m, m)
    for other in (draw(4, 77, 1)[1], draw(3, 78, 1)[1], draw(3, 77, 2)[1]):
        assert 0.3 < (other != m).mean() < 0.55  # independent masks differ in 2 r (1 - r) = 42% of places
    g = guarded(numpy.random.default_rng(2).standard_normal(n).astype(dtype))
    expected = g * m
    emulator(S.plan_dropout_backward(g, m, H100_SMS))
    numpy.testing.assert_array_equal(g, expected)


@pytest.mark.parametrize("n", [1, 255, 257, 70001])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: numpy.dtype(d).name)
@pytest.mark.parametrize("l1, l2", [(0.0, 0.01), (0.02, 0.0), (0.003, 0.05)])
def test_reg_grad_kernel(emulator, dtype, n, l1, l2):
    """The regularizer's gradient added as gpunet.regularizers.L1L2 computes it, and its penalty
    in the step's row of per-block partials; NaN in a weight stays NaN in its gradient and the
    penalty, inf gives inf."""
    from gpunet import regularizers
    rng = numpy.random.default_rng(n)
    w = rng.standard_normal(n).astype(dtype)
    w[0] = 0.0
    if n > 300:
        w[7], w[300] = numpy.nan, -numpy.inf
    g = guarded(rng.standard_normal(n).astype(dtype))
    blocks = S.reg_blocks(n, H100_SMS)
    partial = numpy.full((3, blocks + 2), -7.0, dtype)
    state = numpy.array([2, 1, 0], numpy.int64)  # batch 1 of the epoch: row 1
    expected_g = g.copy()
    with B.use_backend("numpy"), numpy.errstate(invalid="ignore"):
        reg = regularizers.L1L2(l1=l1, l2=l2)
        expected_g += reg.gradient(w)
        expected_penalty = float(reg(w))
    emulator(S.plan_reg_grad(w, g, reg.l1, reg.l2, partial, state, 1, H100_SMS))
    assert intact(g)
    numpy.testing.assert_allclose(g, expected_g, rtol=TOL[dtype], atol=TOL[dtype])
    assert (partial[[0, 2]] == -7.0).all() and partial[1, 0] == -7.0 and partial[1, blocks + 1] == -7.0
    got = float(partial[1, 1:blocks + 1].astype(numpy.float64).sum())
    if n > 300:
        assert numpy.isnan(got) and numpy.isnan(g[7]) == (l1 != 0 or l2 != 0)
        assert g[300] == (-numpy.inf if l2 else expected_g[300])
    else:
        assert got == pytest.approx(expected_penalty, rel=TOL[dtype] * 10)
