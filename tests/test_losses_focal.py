"""The focal crossentropies against live tf.keras 2.21: values on awkward float32 inputs (every reduction,
sample weights, axis) and gradients (finite differences, TensorFlow's tape). Training, files, configs and
errors: test_losses_focal_training.py."""
import numpy as np
import pytest

from gpunet import backend as B
from gpunet import losses
from gpunet.testing import check_gradient

from keras_support import tf_keras_or_skip

tf_keras = tf_keras_or_skip()
tf = pytest.importorskip("tensorflow")

N, C = 6, 4
RNG = np.random.default_rng(20)

# ---- awkward float32 inputs: probabilities of exactly 0 and 1, saturated logits, soft labels ----------------
Y_B = RNG.integers(0, 2, (N, C)).astype("float32")
Y_B[0] = [0, 1, 0, 1]
Y_B[5, 2] = 0.3  # a soft label
P_B = RNG.uniform(0, 1, (N, C)).astype("float32")
P_B[0] = [0, 1, 1, 0]  # exactly right twice, exactly wrong twice
P_B[1] = [1e-8, 1 - 1e-8, 1e-7, 1 - 1e-7]  # inside the clip's band and at its edges
Z_B = RNG.normal(scale=3, size=(N, C)).astype("float32")
Z_B[0] = [30, -30, 100, -100]
Z_B[1] = [0, 17, -17, 5]

Y_C = np.eye(C, dtype="float32")[RNG.integers(0, C, N)]
Y_C[0], Y_C[1], Y_C[2] = np.eye(C, dtype="float32")[[1, 2, 3]]
Y_C[5] = [0.1, 0.6, 0.3, 0.0]  # soft labels
P_C = RNG.uniform(0, 1, (N, C)).astype("float32")  # rows do not sum to 1: both libraries normalize
P_C[0] = [0, 0, 1, 0]  # the label's probability is 0 (clipped to eps)
P_C[1] = [0, 0, 1, 0]  # exactly right (clipped to 1 - eps)
P_C[2] = [0.5, 0.5, 0, 0]
Z_C = RNG.normal(scale=3, size=(N, C)).astype("float32")
Z_C[0] = [50, -50, 0, 3]
Z_C[1] = [-20, 20, 20, 0]

# rank 3, the class axis in the middle (axis=1): (3, 4, 5)
Y3_B = RNG.integers(0, 2, (3, 4, 5)).astype("float32")
P3_B = RNG.uniform(0, 1, (3, 4, 5)).astype("float32")
P3_B[0, :, 0] = [0, 1, 0.5, 1]
Y3_C = np.moveaxis(np.eye(4, dtype="float32")[RNG.integers(0, 4, (3, 5))], -1, 1)
P3_C = RNG.uniform(0, 1, (3, 4, 5)).astype("float32")

W = RNG.uniform(0.1, 2.0, N).astype("float32")
W3 = RNG.uniform(0.1, 2.0, 3).astype("float32")
ALPHA4 = [0.1, 0.2, 0.3, 0.4]

BINARY, CATEGORICAL = "BinaryFocalCrossentropy", "CategoricalFocalCrossentropy"
CASES = {  # name: (class, constructor arguments, y_true, y_pred, sample weights)
    "binary": (BINARY, {}, Y_B, P_B, W),
    "binary_logits": (BINARY, {"from_logits": True}, Y_B, Z_B, W),
    "binary_balanced": (BINARY, {"apply_class_balancing": True, "alpha": 0.4}, Y_B, P_B, W),
    "binary_balanced_logits": (BINARY, {"apply_class_balancing": True, "gamma": 1.5, "from_logits": True},
                               Y_B, Z_B, W),
    "binary_smoothing": (BINARY, {"label_smoothing": 0.2, "gamma": 3.0}, Y_B, P_B, W),
    "binary_smoothing_logits": (BINARY, {"label_smoothing": 0.1, "gamma": 0.5, "from_logits": True}, Y_B, Z_B, W),
    "binary_gamma0": (BINARY, {"gamma": 0.0}, Y_B, P_B, W),
    "binary_axis1": (BINARY, {"axis": 1, "apply_class_balancing": True}, Y3_B, P3_B, W3),
    "categorical": (CATEGORICAL, {}, Y_C, P_C, W),
    "categorical_logits": (CATEGORICAL, {"from_logits": True}, Y_C, Z_C, W),
    "categorical_alpha_list": (CATEGORICAL, {"alpha": ALPHA4, "gamma": 3.0}, Y_C, P_C, W),
    "categorical_alpha_list_logits": (CATEGORICAL, {"alpha": ALPHA4, "gamma": 0.5, "from_logits": True},
                                      Y_C, Z_C, W),
    "categorical_smoothing": (CATEGORICAL, {"label_smoothing": 0.3}, Y_C, P_C, W),
    "categorical_gamma0": (CATEGORICAL, {"gamma": 0.0}, Y_C, Z_C, W),
    "categorical_axis1": (CATEGORICAL, {"axis": 1, "label_smoothing": 0.2}, Y3_C, P3_C, W3),
    # tf.keras multiplies a list alpha into the last axis (here 5 long), not the class axis
    "categorical_axis1_alpha_last": (CATEGORICAL, {"axis": 1, "alpha": [0.1, 0.2, 0.3, 0.2, 0.2]}, Y3_C, P3_C, W3),
}
REDUCTIONS = ["auto", "sum_over_batch_size", "sum", "none"]


def _pair(case, dtype="float32", **extra):
    cls, kwargs, y, p, w = CASES[case]
    kwargs = {**kwargs, **extra}
    return (getattr(losses, cls)(**kwargs), getattr(tf_keras.losses, cls)(**kwargs),
            y.astype(dtype), p.astype(dtype), w.astype(dtype))


def _rtol32(ops):
    """1e-6 on NumPy; on CUDA float32 expf and log1pf are within 2 ulp rather than 1 (CUDA C++ Programming
    Guide, mathematical functions), and the focal factor (1 - p_t) ** gamma magnifies p_t's rounding."""
    return 1e-6 if ops.name == "numpy" else 4e-6


def _host(a):
    """A loss's result (a backend array: NumPy's or CuPy's) as float64 NumPy."""
    return np.asarray(B.get_backend().to_host(a), dtype="float64")


def _check_close(got, want, rtol):
    got, want = _host(got), np.asarray(want, dtype="float64")
    assert got.shape == want.shape
    assert np.isfinite(want).all()
    np.testing.assert_allclose(got, want, rtol=rtol, atol=0)


# ---- values ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", sorted(CASES))
def test_values_match_tf_keras_for_every_reduction_and_weighting(ops, case):
    for reduction in REDUCTIONS:
        ours, theirs, y, p, w = _pair(case, reduction=reduction)
        for sw in (None, w):
            want = theirs(y, p, sample_weight=sw).numpy()
            with B.use_backend(ops):
                got = ops.to_host(ours(y, p, sample_weight=sw))
            assert got.dtype == np.float32
            _check_close(got, want, _rtol32(ops))


@pytest.mark.parametrize("case", sorted(CASES))
def test_function_forms_return_tf_keras_per_sample_values(ops, case):
    cls, kwargs, y, p, _ = CASES[case]
    name = "binary_focal_crossentropy" if cls == BINARY else "categorical_focal_crossentropy"
    want = getattr(tf_keras.losses, name)(y, p, **kwargs).numpy()
    with B.use_backend(ops):
        got = ops.to_host(getattr(losses, name)(y, p, **kwargs))
    assert got.shape == (y.shape[0],) + y.shape[2:] and want.shape == got.shape
    _check_close(got, want, _rtol32(ops))


def test_float64_values_match_to_rounding():
    for case in sorted(CASES):
        for reduction in ("sum", "none"):
            ours, theirs, y, p, w = _pair(case, "float64", reduction=reduction)
            got = ours(y, p, sample_weight=w)
            assert got.dtype == np.float64
            _check_close(got, theirs(y, p, sample_weight=w).numpy(), 1e-12)


def test_tf_keras_documented_examples():
    y, z = [[0, 1], [0, 0]], [[-18.6, 0.51], [2.94, -12.8]]
    bfce = losses.BinaryFocalCrossentropy
    assert float(bfce(gamma=3, from_logits=True)(y, z)) == pytest.approx(0.647, abs=1e-3)
    assert float(bfce(apply_class_balancing=True, gamma=3, from_logits=True)(y, z)) == pytest.approx(0.482, abs=1e-3)
    assert float(bfce(gamma=3, from_logits=True)(y, z, sample_weight=[0.8, 0.2])) == pytest.approx(0.133, abs=1e-3)
    assert float(bfce(gamma=4, from_logits=True, reduction=losses.Reduction.SUM)(y, z)) == pytest.approx(1.222, abs=1e-3)
    np.testing.assert_allclose(_host(bfce(gamma=5, from_logits=True, reduction="none")(y, z)), [0.0017, 1.1561],
                               atol=1e-4)
    cfce = losses.CategoricalFocalCrossentropy()
    yc, pc = [[0., 1., 0.], [0., 0., 1.]], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]]
    assert float(cfce(yc, pc)) == pytest.approx(0.23315276, rel=1e-6)
    assert float(cfce(yc, pc, sample_weight=[0.3, 0.7])) == pytest.approx(0.1632, abs=1e-4)
    np.testing.assert_allclose(_host(losses.CategoricalFocalCrossentropy(reduction="none")(yc, pc)),
                               [3.2058331e-05, 4.6627346e-01], rtol=1e-6)


def test_gamma_zero_is_tf_keras_binary_crossentropy():
    """With gamma=0 the focal factor is 1: tf.keras 2's own binary crossentropy (its ``log(clip(p) + eps)``,
    which differs from gpunet's BinaryCrossentropy by log(2) where p is exactly 0 or 1)."""
    got = _host(losses.binary_focal_crossentropy(Y_B, P_B, gamma=0.0))
    _check_close(got, tf_keras.losses.binary_crossentropy(Y_B, P_B).numpy(), 1e-6)
    assert abs(got[0] - _host(losses.binary_crossentropy(Y_B[:1], P_B[:1]))[0]) > 0.1


# ---- gradients -----------------------------------------------------------------------------------------------
def _smooth_data(cls, logits, shape, seed):
    """Inputs away from the clip's edges and the focal factor's zero (finite differences need them)."""
    r = np.random.default_rng(seed)
    if logits:
        x = r.normal(scale=2, size=shape)
    else:
        x = r.uniform(0.03, 0.97, shape)
    if cls == BINARY:
        y = r.integers(0, 2, shape).astype(float)
        y.flat[0] = 0.3
    else:
        y = r.uniform(0, 1, shape)  # soft labels exercise every term
    return y, x


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum"])
def test_gradient_matches_finite_differences_in_float64(ops, case, reduction):
    cls, kwargs, y, p, _ = CASES[case]
    loss = getattr(losses, cls)(**kwargs, reduction=reduction)
    y, x = _smooth_data(cls, kwargs.get("from_logits", False), y.shape, seed=len(case))
    y_dev = ops.asarray(y)
    w = ops.asarray(np.random.default_rng(5).uniform(0.1, 2.0, y.shape[0]))  # a random upstream gradient per sample
    state = {}

    def forward(v):
        value, state["grad"] = loss.compute(ops, y_dev, ops.asarray(v), w)
        return np.array([float(value)])

    analytic, _ = check_gradient(forward, lambda dy: dy[0] * ops.to_host(state["grad"]), x, rtol=1e-6, atol=1e-9)
    assert np.abs(analytic).max() > 1e-3  # not vacuous


@pytest.mark.parametrize("case", sorted(c for c in CASES if c != "binary_gamma0"))
def test_gradient_matches_tensorflow_tape_on_awkward_inputs(case):
    """Clipped probabilities, exact 0/1 and saturated logits included: TensorFlow's gradient, in float64."""
    ours, theirs, y, p, w = _pair(case, "float64")
    var = tf.Variable(p)
    with tf.GradientTape() as tape:
        value = theirs(y, var, sample_weight=w)
    want = tape.gradient(value, var).numpy()
    got_value, got = losses.get(ours).compute(B.resolve("numpy"), y, p, w)
    assert float(got_value) == pytest.approx(float(value.numpy()), rel=1e-12)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12 * np.abs(want).max())


def test_gamma_zero_gradient_is_finite_where_tensorflow_gives_nan():
    """TensorFlow differentiates ``pow(x, 0)`` at x = 0 as 0 * 0 ** -1 = NaN (where p equals its label
    exactly); the focal factor is the constant 1 there, so gpunet gives tf.keras's crossentropy gradient."""
    y, p, w = Y_B.astype("float64"), P_B.astype("float64"), W.astype("float64")
    var = tf.Variable(p)
    with tf.GradientTape() as tape:
        value = tf_keras.losses.BinaryCrossentropy()(y, var, sample_weight=w)
    want = tape.gradient(value, var).numpy()
    got = losses.BinaryFocalCrossentropy(gamma=0.0).compute(B.resolve("numpy"), y, p, w)[1]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


def test_saturated_logits_keep_a_finite_gradient_below_gamma_one():
    """sigmoid(30) is 1.0 in float32: with gamma < 1 TensorFlow's chain rule gives inf * 0 = NaN there.
    The true derivative tends to 0: gpunet gives what float64 (where the sigmoid is not saturated) gives."""
    loss = losses.BinaryFocalCrossentropy(gamma=0.5, from_logits=True)
    ops = B.resolve("numpy")
    z = np.array([[30.0, -30.0, 20.0, -20.0]])
    y = np.array([[1.0, 0.0, 1.0, 0.0]])
    g32 = loss.compute(ops, y.astype("float32"), z.astype("float32"))[1]
    g64 = loss.compute(ops, y, z)[1]
    assert np.isfinite(g32).all()
    np.testing.assert_allclose(g32, g64, atol=1e-6)
