"""gpunet's losses, metrics and activations against real Keras 3 (torch backend) on awkward float32
inputs: probabilities at and near 0 and 1, negative targets, int labels, (N,) targets against (N, 1)
outputs, a batch of 1, large logits; reductions, sample weights of every shape Keras accepts, a
class axis other than the last, ``ignore_class``; stateful metrics over several weighted updates.

Tolerance: 1e-6 relative (plus 1e-6 absolute for values near 0, where float32 rounding of
exp/tanh differs between NumPy and torch); 4e-6 relative for what runs on CUDA (CuPy as the
backend): its float32 expf, tanhf and log1pf are within 2 ulp and erfcf within 4 (CUDA C++
Programming Guide, mathematical functions), against NumPy's correctly rounded or 1 ulp, and an
activation's gradient composes several of them. Where tf.keras 2.21 (gpunet's reference) differs from
Keras 3, the tf.keras values are constants measured with tf_keras 2.21.0 (named at each use).
"""
import numpy as np
import pytest

from gpunet import activations, losses, metrics
import gpunet.backend as B
from keras_support import keras_on_torch

keras = keras_on_torch()
import torch  # noqa: E402  (Keras on torch is installed, so torch is)

F32 = np.float32
RNG = np.random.default_rng(20)
N, C = 6, 4
PROB = RNG.uniform(0, 1, (N, C)).astype(F32)
PROB[0, :2] = 0.0, 1.0  # saturated: the clip to [eps, 1 - eps] is active
PROB[1, :2] = 1e-8, 1 - 1e-8
LABELS01 = RNG.integers(0, 2, (N, C)).astype(F32)
SOFT = RNG.uniform(0, 1, (N, C)).astype(F32)
REG_T, REG_P = RNG.normal(0, 2, (2, N, C)).astype(F32)
POS_T, POS_P = RNG.uniform(0, 3, (2, N, C)).astype(F32)
LOGITS = RNG.normal(0, 3, (N, C)).astype(F32)
LOGITS[2] = [100, -100, 50, -50]
SOFTMAX = np.exp(LOGITS - LOGITS.max(-1, keepdims=True))
SOFTMAX = (SOFTMAX / SOFTMAX.sum(-1, keepdims=True)).astype(F32)
SPARSE = np.array([0, 3, 1, 1, 2, 3])
ONEHOT = np.eye(C, dtype=F32)[SPARSE]
SW = RNG.uniform(0, 2, N).astype(F32)


def host(a):
    return np.asarray(B.get_backend().to_host(B.get_backend().asarray(a)), dtype=np.float64)


def default_rtol():
    return 1e-6 if B.get_backend().name == "numpy" else 4e-6


def close(got, want, rtol=None, atol=1e-6):
    rtol = default_rtol() if rtol is None else rtol
    want = np.asarray(want, dtype=np.float64)
    np.testing.assert_allclose(host(got).reshape(want.shape), want, rtol=rtol, atol=atol)


def k3(value):
    return np.asarray(value.detach() if hasattr(value, "detach") else value, dtype=np.float64)


# ---- loss functions: per-sample values ---------------------------------------------------------
FUNCTION_CASES = [
    ("binary_crossentropy", LABELS01, PROB), ("binary_crossentropy", SOFT, PROB),
    ("binary_crossentropy", LABELS01.astype(int), PROB),
    ("categorical_crossentropy", ONEHOT, SOFTMAX), ("categorical_crossentropy", SOFT, PROB),
    ("sparse_categorical_crossentropy", SPARSE, SOFTMAX), ("sparse_categorical_crossentropy", SPARSE[:, None], PROB),
    ("sparse_categorical_crossentropy", SPARSE.astype(F32), SOFTMAX),
    ("mean_squared_error", REG_T, REG_P), ("mean_absolute_error", REG_T, REG_P),
    ("mean_absolute_percentage_error", REG_T, REG_P), ("mean_absolute_percentage_error", 0 * REG_T, REG_P),
    ("mean_squared_logarithmic_error", POS_T, POS_P), ("mean_squared_logarithmic_error", REG_T, REG_P),
    ("hinge", LABELS01, REG_P), ("hinge", 2 * LABELS01 - 1, REG_P), ("squared_hinge", LABELS01, REG_P),
    ("squared_hinge", SOFT, REG_P), ("categorical_hinge", ONEHOT, REG_P), ("log_cosh", REG_T, 100 * REG_P),
    ("kl_divergence", SOFT, PROB), ("kl_divergence", REG_T, REG_P), ("poisson", POS_T, POS_P),
    ("poisson", REG_T, POS_P), ("cosine_similarity", REG_T, REG_P), ("cosine_similarity", 0 * REG_T, REG_P),
    ("huber", REG_T, REG_P),
]


@pytest.mark.parametrize("name,y_true,y_pred", FUNCTION_CASES)
def test_loss_function_values(name, y_true, y_pred):
    want = k3(getattr(keras.losses, name)(y_true, y_pred))
    close(getattr(losses, name)(y_true, y_pred), want)
    close(getattr(losses, name)(y_true[:1], y_pred[:1]), want[:1])  # a batch of one
    if name not in ("categorical_crossentropy", "sparse_categorical_crossentropy", "categorical_hinge"):
        # (N,) targets against (N, 1) outputs read as (N, 1) targets, as Keras's Loss classes and fit
        # do (tf.keras 2's bare functions would broadcast to (N, N))
        close(getattr(losses, name)(y_true[:, 0], y_pred[:, :1]), k3(getattr(keras.losses, name)(y_true[:, :1], y_pred[:, :1])))


@pytest.mark.parametrize("kwargs", [{"from_logits": True}, {"label_smoothing": 0.1},
                                    {"from_logits": True, "label_smoothing": 0.1}, {"axis": 0}])
@pytest.mark.parametrize("name,y_true", [("binary_crossentropy", LABELS01), ("categorical_crossentropy", ONEHOT)])
def test_crossentropy_options(name, y_true, kwargs):
    y_pred = LOGITS if kwargs.get("from_logits") else SOFTMAX
    close(getattr(losses, name)(y_true, y_pred, **kwargs), k3(getattr(keras.losses, name)(y_true, y_pred, **kwargs)))


def test_binary_crossentropy_keeps_keras3_log_of_clipped_probabilities():
    # tf.keras 2.21's function adds eps inside the log (log(clip(p) + 1e-7)): README's deliberate
    # difference. Measured with tf_keras 2.21.0: tf_keras.losses.binary_crossentropy([[0.3]], [[0.0]]).
    tf_keras_value = 10.793752
    got = float(host(losses.binary_crossentropy([[0.3]], [[0.0]]))[0])
    assert got == pytest.approx(-0.7 * np.log1p(-1e-7) - 0.3 * np.log(1e-7), rel=1e-6)
    assert got != pytest.approx(tf_keras_value, rel=1e-3)


# ---- loss classes: reductions, sample weights, axis, ignore_class -----------------------------------
CLASS_CASES = [
    ("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.2}, LABELS01, LOGITS),
    ("BinaryCrossentropy", {}, LABELS01, PROB), ("CategoricalCrossentropy", {"label_smoothing": 0.1}, ONEHOT, SOFTMAX),
    ("CategoricalCrossentropy", {"from_logits": True}, ONEHOT, LOGITS),
    ("SparseCategoricalCrossentropy", {"from_logits": True}, SPARSE, LOGITS),
    ("SparseCategoricalCrossentropy", {"ignore_class": 1}, SPARSE, SOFTMAX),
    ("SparseCategoricalCrossentropy", {"from_logits": True, "ignore_class": 3}, SPARSE[:, None], LOGITS),
    ("MeanSquaredError", {}, REG_T, REG_P), ("MeanAbsolutePercentageError", {}, REG_T, REG_P),
    ("Huber", {"delta": 0.7}, REG_T, REG_P), ("Hinge", {}, LABELS01, REG_P), ("SquaredHinge", {}, SOFT, REG_P),
    ("CategoricalHinge", {}, ONEHOT, REG_P), ("LogCosh", {}, REG_T, REG_P), ("KLDivergence", {}, SOFT, PROB),
    ("Poisson", {}, POS_T, POS_P), ("CosineSimilarity", {"axis": 0}, REG_T, REG_P),
    ("CosineSimilarity", {}, REG_T, REG_P), ("BinaryCrossentropy", {"axis": 0}, LABELS01, PROB),
]


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "none"])
@pytest.mark.parametrize("cls,kwargs,y_true,y_pred", CLASS_CASES)
def test_loss_class_reductions_and_weights(cls, kwargs, y_true, y_pred, reduction):
    ours, theirs = getattr(losses, cls)(reduction=reduction, **kwargs), getattr(keras.losses, cls)(reduction=reduction, **kwargs)
    weights = [None, F32(2.5)] if kwargs.get("axis") == 0 else [None, SW, SW[:, None], F32(2.5)]
    if "ignore_class" in kwargs:  # Keras 3 fails on scalar weights and reshapes (N, 1) ones there
        weights = [None, SW]
    for sw in weights:  # (N, 1) weights are squeezed against (N,) losses, as Keras does
        close(ours(y_true, y_pred, sample_weight=sw), k3(theirs(y_true, y_pred, sample_weight=sw)),
              rtol=max(2e-6, default_rtol()))


@pytest.mark.parametrize("cls", ["MeanSquaredError", "BinaryCrossentropy", "CategoricalCrossentropy"])
@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "none"])
def test_per_timestep_weights(cls, reduction):
    rng = np.random.default_rng(5)
    y_pred = rng.uniform(0.01, 0.99, (3, 5, 2)).astype(F32)
    y_true = np.eye(2, dtype=F32)[rng.integers(0, 2, (3, 5))]
    sw = rng.uniform(size=(3, 5)).astype(F32)
    loss = getattr(losses, cls)(reduction=reduction)
    close(loss(y_true, y_pred, sample_weight=sw), k3(getattr(keras.losses, cls)(reduction=reduction)(y_true, y_pred, sample_weight=sw)))
    # per-sample weights of a sequence: tf.keras expands them to (N, 1) and broadcasts (Keras 3 refuses them)
    close(loss(y_true, y_pred, sample_weight=sw[:, 0]), host(loss(y_true, y_pred, sample_weight=np.repeat(sw[:, :1], 5, 1))))


def test_class_axis_and_ignore_class_gradients():
    ops = B.get_backend()
    y_pred = torch.tensor(PROB.T.copy(), requires_grad=True)  # classes on axis 0
    keras.losses.CategoricalCrossentropy(axis=0)(ONEHOT.T, y_pred).backward()
    # (the backend's own arrays: Loss.compute is the backend-level call, CuPy's on a GPU)
    value, grad = losses.CategoricalCrossentropy(axis=0).compute(ops, ops.asarray(ONEHOT.T.copy()),
                                                                 ops.asarray(PROB.T.copy()))
    close(value, k3(keras.losses.CategoricalCrossentropy(axis=0)(ONEHOT.T, PROB.T)))
    close(grad, k3(y_pred.grad))
    logits = torch.tensor(LOGITS, requires_grad=True)
    keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=1)(SPARSE, logits).backward()
    value, grad = losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=1).compute(
        ops, ops.asarray(SPARSE), ops.asarray(LOGITS))
    close(grad, k3(logits.grad))
    assert not host(grad)[SPARSE == 1].any()  # the ignored samples get no gradient
    # an ignored label may lie outside the classes (e.g. -1 or 255 for "no label")
    close(losses.sparse_categorical_crossentropy([-1, 2], SOFTMAX[:2], ignore_class=-1), [0.0, -np.log(SOFTMAX[1, 2])])


# ---- stateful metrics: several weighted updates, result, reset ---------------------------------------
METRIC_CASES = [
    ("BinaryAccuracy", {}, LABELS01, PROB), ("BinaryAccuracy", {"threshold": 0.3}, LABELS01, PROB),
    ("CategoricalAccuracy", {}, ONEHOT, PROB), ("SparseCategoricalAccuracy", {}, SPARSE[:, None], PROB),
    ("TopKCategoricalAccuracy", {"k": 2}, ONEHOT, PROB), ("SparseTopKCategoricalAccuracy", {"k": 2}, SPARSE, PROB),
    ("MeanSquaredError", {}, REG_T, REG_P), ("RootMeanSquaredError", {}, REG_T, REG_P),
    ("MeanAbsolutePercentageError", {}, REG_T, REG_P), ("LogCoshError", {}, REG_T, REG_P),
    ("KLDivergence", {}, SOFT, PROB), ("Poisson", {}, POS_T, POS_P), ("CategoricalHinge", {}, ONEHOT, REG_P),
    ("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.1}, LABELS01, LOGITS),
    ("SparseCategoricalCrossentropy", {"from_logits": True}, SPARSE, LOGITS),
    ("Precision", {"thresholds": [0.3, 0.6]}, LABELS01, PROB), ("Recall", {"top_k": 2}, LABELS01, PROB),
    ("Precision", {"class_id": 1}, LABELS01, PROB), ("AUC", {}, LABELS01, PROB),
    ("AUC", {"curve": "PR", "num_thresholds": 7, "summation_method": "minoring"}, LABELS01, PROB),
    ("AUC", {"multi_label": True, "label_weights": [1, 2, 0, 1]}, LABELS01, PROB),
]


# (N, C) weights: only BinaryAccuracy weighs elementwise values in tf.keras 2 (metrics_utils.binary_matches)
@pytest.mark.parametrize("cls,kwargs,y_true,y_pred,weights", [
    case + (w,) for case in METRIC_CASES for w in ("none", "per_sample", "column")] + [
    case + ("per_value",) for case in METRIC_CASES[:2]])
def test_stateful_metrics(cls, kwargs, y_true, y_pred, weights):
    rng = np.random.default_rng(len(cls))
    shape = {"none": None, "per_sample": (N,), "column": (N, 1), "per_value": (N, C)}[weights]
    sw = None if shape is None else rng.uniform(0, 2, shape).astype(F32)
    ours, theirs = getattr(metrics, cls)(**kwargs), getattr(keras.metrics, cls)(**kwargs)
    for lo, hi in ((0, 2), (2, 3), (3, 6)):  # three updates of unequal sizes accumulate
        part = None if sw is None else sw[lo:hi]
        ours.update_state(y_true[lo:hi], y_pred[lo:hi], sample_weight=part)
        theirs.update_state(y_true[lo:hi], y_pred[lo:hi], sample_weight=part)
    close(ours.result(), k3(theirs.result()))
    ours.reset_state()
    theirs.reset_state()
    close(ours.result(), k3(theirs.result()))
    ours.update_state(y_true[:1], y_pred[:1])
    theirs.update_state(y_true[:1], y_pred[:1])
    close(ours.result(), k3(theirs.result()))


def test_metric_targets_of_rank_one_against_one_unit_outputs():
    ours, theirs = metrics.BinaryAccuracy(), keras.metrics.BinaryAccuracy()
    ours.update_state(LABELS01[:, 0], PROB[:, :1], sample_weight=SW)
    theirs.update_state(LABELS01[:, 0], PROB[:, :1], sample_weight=SW)
    close(ours.result(), k3(theirs.result()))


# ---- activations: values and gradients (torch autograd through Keras 3) ------------------------------
X = np.concatenate([RNG.normal(0, 3, 40), [0.0, 1e-8, -1e-8, 6.0, 6.0001, 4.0, 0.5, -1.0, 1.0, 20, -20, 88, -88]]).astype(F32)
ACTIVATION_CASES = [
    ("linear", {}), ("relu", {}), ("relu", {"max_value": 4.0}), ("relu", {"threshold": 1.0}), ("sigmoid", {}),
    ("tanh", {}), ("softplus", {}), ("softsign", {}), ("elu", {}), ("elu", {"alpha": 0.5}), ("selu", {}),
    ("exponential", {}), ("swish", {}), ("silu", {}), ("gelu", {}), ("gelu", {"approximate": True}),
    ("leaky_relu", {}), ("leaky_relu", {"negative_slope": 0.01}), ("relu6", {}), ("mish", {}),
    ("softmax", {}), ("softmax", {"axis": 0}), ("log_softmax", {}),
]


@pytest.mark.parametrize("name,kwargs", ACTIVATION_CASES)
def test_activation_values_and_gradients(name, kwargs):
    x = X[:40].reshape(-1, 4) * 10 if "softmax" in name else X  # large logits for the softmaxes
    xt = torch.tensor(x, requires_grad=True)
    dy = np.linspace(0.5, 1.5, x.size, dtype=F32).reshape(x.shape)
    y = getattr(keras.activations, name)(xt, **kwargs)
    (y * torch.tensor(dy)).sum().backward()
    close(getattr(activations, name)(x, **kwargs), k3(y), atol=1e-6)
    spec, ops = activations.get(name), B.get_backend()
    params = {"alpha": kwargs["negative_slope"]} if "negative_slope" in kwargs else dict(kwargs)
    xd, dyd = ops.asarray(x), ops.asarray(dy)  # (the backend's own arrays: CuPy's on a GPU)
    out = ops.activation_forward(spec.name, xd, params)
    # 5e-6 absolute: approximate gelu's derivative deep in the left tail is float32 cancellation
    grad, want = host(ops.activation_backward(spec.name, dyd, xd, out, params)), k3(xt.grad)
    if name == "selu":  # at 0 exactly torch takes the left slope, tf.keras the scale (see the kink test)
        grad, want = grad[x != 0], want[x != 0]
    close(grad, want, atol=5e-6)


@pytest.mark.parametrize("name,params,x,want", [
    # tf.keras 2.21's subgradients at kinks (measured with tf_keras 2.21.0, tf.GradientTape over
    # tf_keras.activations.<name>(x, **params)): relu with alpha alone is tf.nn.leaky_relu (alpha at 0),
    # max_value 6 is tf.nn.relu6 (0 at 6), selu's SeluGrad gives the scale at 0.
    ("relu", {"alpha": 0.1}, 0.0, 0.1), ("relu", {"max_value": 6.0}, 6.0, 0.0), ("relu", {"max_value": 4.0}, 4.0, 1.0),
    ("relu", {"alpha": 0.3, "max_value": 6.0}, 6.0, 0.0), ("selu", {}, 0.0, 1.0507009873554805),
    ("relu", {"alpha": 0.2, "threshold": -1.0}, -1.0, 0.0),
])
def test_tf_keras_subgradients_at_kinks(name, params, x, want):
    ops = B.get_backend()
    x, dy = ops.asarray(np.array([x], dtype=F32)), ops.ones((1,), "float32")
    assert host(ops.activation_backward(name, dy, x, ops.activation_forward(name, x, params), params))[0] == pytest.approx(want)


def test_hard_sigmoid_is_keras2s():
    x = np.array([-3.0, -2.5, -1.0, 0.0, 1.0, 2.5, 3.0], F32)
    close(activations.hard_sigmoid(x), np.clip(0.2 * x + 0.5, 0, 1))  # Keras 3's is relu6(x + 3) / 6


def test_ignore_class_trains_layer_by_layer_on_the_gpu_plan():
    from gpunet.backend.step_kernels import loss_kernel
    assert loss_kernel("softmax", {}, losses.SparseCategoricalCrossentropy()) is not None
    assert loss_kernel("softmax", {}, losses.SparseCategoricalCrossentropy(ignore_class=0)) is None  # no such kernel
