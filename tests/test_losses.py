import numpy as np
import pytest

from gpunet import backend as B
from gpunet import losses
from gpunet.testing import check_gradient

EPS = 1e-7
N, C = 6, 4


# ---- float64 references (plain NumPy, Keras's formulas) ---------------------------------------------
def _log_softmax(z):
    s = z - z.max(axis=-1, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=-1, keepdims=True))


def ref_bce(y, p):
    p = np.clip(p, EPS, 1 - EPS)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean(-1)


def ref_bce_logits(y, z):
    return (np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))).mean(-1)


def ref_cce(y, p):
    q = np.clip(p / p.sum(-1, keepdims=True), EPS, 1 - EPS)
    return -(y * np.log(q)).sum(-1)


def _hinge_y(y):
    return 2 * y - 1 if np.all((y == 0) | (y == 1)) else y


def _huber(y, p, delta=1.0):
    d = np.abs(p - y)
    return np.where(d <= delta, 0.5 * d ** 2, delta * d - 0.5 * delta ** 2).mean(-1)


def _cos(y, p):
    return -((y / np.linalg.norm(y, axis=-1, keepdims=True)) * (p / np.linalg.norm(p, axis=-1, keepdims=True))).sum(-1)


def _cat_hinge(y, p):
    return np.maximum(((1 - y) * p).max(-1) - (y * p).sum(-1) + 1, 0)


def _kld(y, p):
    y, p = np.clip(y, EPS, 1), np.clip(p, EPS, 1)
    return (y * np.log(y / p)).sum(-1)


# ---- data away from kinks -------------------------------------------------------------------------------
def _rng(seed):
    return np.random.default_rng(seed)


def binary(seed):
    r = _rng(seed)
    return r.integers(0, 2, (N, C)).astype(float), r.uniform(0.05, 0.95, (N, C))


def onehot(seed, positive=True):
    r = _rng(seed)
    y = np.eye(C)[r.integers(0, C, N)]
    return y, (r.uniform(0.05, 1.0, (N, C)) if positive else r.normal(size=(N, C)))


def real(seed, gap=0.05):
    r = _rng(seed)
    y = r.normal(size=(N, C))
    d = r.uniform(gap, 1.5, (N, C)) * r.choice([-1, 1], (N, C))
    return y, y + d


def positive(seed):
    r = _rng(seed)
    return r.uniform(0.1, 3, (N, C)), r.uniform(0.1, 3, (N, C))


def distribution(seed):
    r = _rng(seed)
    y = r.uniform(0.05, 1, (N, C))
    return y / y.sum(-1, keepdims=True), r.uniform(0.05, 0.9, (N, C))


def hinge_data(seed):
    r = _rng(seed)
    y = r.integers(0, 2, (N, C)).astype(float)
    margin = r.uniform(0.1, 0.9, (N, C)) * r.choice([-1, 1], (N, C))  # 1 - y*p stays away from 0
    return y, (1 - margin) * (2 * y - 1)


def huber_data(seed):
    y, p = real(seed)
    d = p - y
    d = np.where(np.abs(np.abs(d) - 1.0) < 0.05, d * 1.2, d)
    return y, y + d


CASES = {
    "binary_crossentropy": (losses.BinaryCrossentropy(), ref_bce, binary),
    "bce_logits": (losses.BinaryCrossentropy(from_logits=True), ref_bce_logits, lambda s: real(s)),
    "bce_smoothing": (losses.BinaryCrossentropy(label_smoothing=0.2), lambda y, p: ref_bce(y * 0.8 + 0.1, p), binary),
    "categorical_crossentropy": (losses.CategoricalCrossentropy(), ref_cce, onehot),
    "cce_logits": (losses.CategoricalCrossentropy(from_logits=True), lambda y, z: -(y * _log_softmax(z)).sum(-1),
                   lambda s: onehot(s, positive=False)),
    "cce_smoothing": (losses.CategoricalCrossentropy(label_smoothing=0.3),
                      lambda y, p: ref_cce(y * 0.7 + 0.3 / C, p), onehot),
    "mean_squared_error": (losses.MeanSquaredError(), lambda y, p: ((y - p) ** 2).mean(-1), real),
    "mean_absolute_error": (losses.MeanAbsoluteError(), lambda y, p: np.abs(y - p).mean(-1), real),
    "mean_absolute_percentage_error": (losses.MeanAbsolutePercentageError(),
                                       lambda y, p: 100 * (np.abs(y - p) / np.maximum(np.abs(y), EPS)).mean(-1),
                                       positive),
    "mean_squared_logarithmic_error": (losses.MeanSquaredLogarithmicError(),
                                       lambda y, p: ((np.log(p + 1) - np.log(y + 1)) ** 2).mean(-1), positive),
    "hinge": (losses.Hinge(), lambda y, p: np.maximum(1 - _hinge_y(y) * p, 0).mean(-1), hinge_data),
    "squared_hinge": (losses.SquaredHinge(), lambda y, p: (np.maximum(1 - _hinge_y(y) * p, 0) ** 2).mean(-1),
                      hinge_data),
    "categorical_hinge": (losses.CategoricalHinge(), _cat_hinge, lambda s: onehot(s, positive=False)),
    "log_cosh": (losses.LogCosh(), lambda y, p: np.log(np.cosh(p - y)).mean(-1), real),
    "kl_divergence": (losses.KLDivergence(), _kld, distribution),
    "poisson": (losses.Poisson(), lambda y, p: (p - y * np.log(p + EPS)).mean(-1), positive),
    "cosine_similarity": (losses.CosineSimilarity(), _cos, real),
    "huber": (losses.Huber(), _huber, huber_data),
    "huber_delta": (losses.Huber(delta=0.5), lambda y, p: _huber(y, p, 0.5), huber_data),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_per_sample_values_and_weighted_reduction(ops, case):
    loss, ref, data = CASES[case]
    y, p = data(0)
    expected = ref(y, p)
    with B.use_backend(ops):
        np.testing.assert_allclose(ops.to_host(loss.call(y, p)), expected, rtol=1e-12, atol=1e-12)
    w = _rng(9).uniform(0.1, 2, N)
    value, grad = loss.compute(ops, ops.asarray(y), ops.asarray(p), ops.asarray(w))
    # Keras's sum_over_batch_size: divided by the number of samples, not by the sum of weights
    np.testing.assert_allclose(float(value), (expected * w).sum() / N, rtol=1e-12)
    assert grad.shape == p.shape
    value32, grad32 = loss.compute(ops, ops.asarray(y, "float32"), ops.asarray(p, "float32"), None)
    assert value32.dtype == np.float32 and grad32.dtype == np.float32
    np.testing.assert_allclose(float(value32), expected.mean(), rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("case", sorted(CASES))
def test_gradient_matches_finite_differences_with_sample_weights(ops, case):
    loss, _, data = CASES[case]
    y, p = data(1)
    y_dev, w = ops.asarray(y), ops.asarray(_rng(3).uniform(0.1, 2, N))
    state = {}

    def forward(x):
        value, state["grad"] = loss.compute(ops, y_dev, ops.asarray(x), w)
        return np.array([float(value)])

    check_gradient(forward, lambda dy: dy[0] * ops.to_host(state["grad"]), p)


def test_sparse_matches_categorical_with_one_hot_labels(ops):
    y, p = onehot(2)
    labels = y.argmax(-1)
    w = ops.asarray(_rng(4).uniform(0.1, 2, N))
    for logits in (False, True):
        sparse = losses.SparseCategoricalCrossentropy(from_logits=logits)
        dense = losses.CategoricalCrossentropy(from_logits=logits)
        vs, gs = sparse.compute(ops, ops.asarray(labels), ops.asarray(p), w)
        vd, gd = dense.compute(ops, ops.asarray(y), ops.asarray(p), w)
        np.testing.assert_allclose(float(vs), float(vd), rtol=1e-12)
        np.testing.assert_allclose(ops.to_host(gs), ops.to_host(gd), rtol=1e-10, atol=1e-14)
    assert sparse.sparse_labels and not dense.sparse_labels
    for logits in (False, True):
        v32, g32 = losses.SparseCategoricalCrossentropy(from_logits=logits).compute(
            ops, ops.asarray(labels), ops.asarray(p, "float32"), ops.asarray(np.ones(N), "float32"))
        assert v32.dtype == np.float32 and g32.dtype == np.float32
    with B.use_backend(ops):  # labels may come as (N, 1) floats in a Keras-style call
        np.testing.assert_allclose(float(sparse(labels[:, None].astype(float), p)), float(dense(y, p)), rtol=1e-12)


def test_sparse_gradient_by_finite_differences(ops):
    _, p = onehot(5)
    labels = ops.asarray(_rng(6).integers(0, C, N))
    for loss in (losses.SparseCategoricalCrossentropy(), losses.SparseCategoricalCrossentropy(from_logits=True)):
        state = {}

        def forward(x):
            value, state["grad"] = loss.compute(ops, labels, ops.asarray(x), None)
            return np.array([float(value)])

        check_gradient(forward, lambda dy: dy[0] * ops.to_host(state["grad"]), p)


def test_from_logits_agrees_with_probabilities(ops):
    z = _rng(7).normal(scale=3, size=(N, C))
    y = _rng(8).integers(0, 2, (N, C)).astype(float)
    sig = 1 / (1 + np.exp(-z))
    v_logit, g_logit = losses.BinaryCrossentropy(from_logits=True).compute(ops, ops.asarray(y), ops.asarray(z))
    v_prob, g_prob = losses.BinaryCrossentropy().compute(ops, ops.asarray(y), ops.asarray(sig))
    np.testing.assert_allclose(float(v_logit), float(v_prob), rtol=1e-9)
    # chain rule through the sigmoid: the two gradients describe the same function
    np.testing.assert_allclose(ops.to_host(g_logit), ops.to_host(g_prob) * sig * (1 - sig), rtol=1e-8, atol=1e-15)
    y1 = np.eye(C)[_rng(9).integers(0, C, N)]
    soft = np.exp(_log_softmax(z))
    v_logit, g_logit = losses.CategoricalCrossentropy(from_logits=True).compute(ops, ops.asarray(y1), ops.asarray(z))
    v_prob, g_prob = losses.CategoricalCrossentropy().compute(ops, ops.asarray(y1), ops.asarray(soft))
    np.testing.assert_allclose(float(v_logit), float(v_prob), rtol=1e-9)
    g_chain = ops.to_host(ops.softmax_backward(g_prob, None, ops.asarray(soft)))
    np.testing.assert_allclose(ops.to_host(g_logit), g_chain, rtol=1e-7, atol=1e-12)


def test_extreme_inputs_stay_finite_and_clipped_entries_get_no_gradient(ops):
    y = ops.asarray(np.array([[1.0, 0.0, 1.0, 0.0]]))
    v, g = losses.BinaryCrossentropy(from_logits=True).compute(ops, y, ops.asarray(np.array([[-500.0, 500.0, 30.0, -30.0]])))
    np.testing.assert_allclose(float(v), (500 + 500 + 2 * np.log1p(np.exp(-30))) / 4, rtol=1e-12)
    np.testing.assert_allclose(ops.to_host(g), [[-0.25, 0.25, -0.25 / (1 + np.exp(30)), 0.25 / (1 + np.exp(30))]],
                               rtol=1e-7, atol=1e-16)
    v, g = losses.BinaryCrossentropy().compute(ops, y, ops.asarray(np.array([[0.0, 1.0, 1.0, 0.0]])))
    np.testing.assert_allclose(float(v), -(2 * np.log(EPS) + 2 * np.log(1 - EPS)) / 4 + 0 * 0, rtol=1e-6)
    np.testing.assert_array_equal(ops.to_host(g), [[0.0, 0.0, 0.0, 0.0]])
    v, g = losses.CategoricalCrossentropy().compute(ops, ops.asarray(np.array([[0.0, 1.0]])),
                                                     ops.asarray(np.array([[1.0, 0.0]])))
    np.testing.assert_allclose(float(v), -np.log(EPS), rtol=1e-9)
    assert ops.isfinite_all(g)
    v, g = losses.CategoricalCrossentropy(from_logits=True).compute(
        ops, ops.asarray(np.array([[0.0, 1.0]])), ops.asarray(np.array([[1000.0, -1000.0]])))
    np.testing.assert_allclose(float(v), 2000.0)
    np.testing.assert_allclose(ops.to_host(g), [[1.0, -1.0]])


KERAS_EXAMPLES = [  # tf-keras docstrings: (loss, y_true, y_pred, value, value with sample_weight, weights, sum)
    (losses.BinaryCrossentropy(from_logits=True), [[0, 1], [0, 0]], [[-18.6, 0.51], [2.94, -12.8]],
     0.865, 0.243, [0.8, 0.2], 1.730),
    (losses.CategoricalCrossentropy(), [[0, 1, 0], [0, 0, 1]], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]],
     1.177, 0.814, [0.3, 0.7], 2.354),
    (losses.SparseCategoricalCrossentropy(), [1, 2], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]], 1.177, 0.814, [0.3, 0.7],
     2.354),
    (losses.MeanSquaredError(), [[0., 1.], [0., 0.]], [[1., 1.], [1., 0.]], 0.5, 0.25, [0.7, 0.3], 1.0),
    (losses.MeanAbsoluteError(), [[0., 1.], [0., 0.]], [[1., 1.], [1., 0.]], 0.5, 0.25, [0.7, 0.3], 1.0),
    (losses.MeanAbsolutePercentageError(), [[2., 1.], [2., 3.]], [[1., 1.], [1., 0.]], 50., 20., [0.7, 0.3], 100.),
    (losses.MeanSquaredLogarithmicError(), [[0., 1.], [0., 0.]], [[1., 1.], [1., 0.]], 0.240, 0.120, [0.7, 0.3],
     0.480),
    (losses.CosineSimilarity(), [[0., 1.], [1., 1.]], [[1., 0.], [1., 1.]], -0.5, -0.0999, [0.8, 0.2], -0.999),
    (losses.Hinge(), [[0., 1.], [0., 0.]], [[0.6, 0.4], [0.4, 0.6]], 1.3, 0.55, [1, 0], 2.6),
    (losses.SquaredHinge(), [[0., 1.], [0., 0.]], [[0.6, 0.4], [0.4, 0.6]], 1.86, 0.73, [1, 0], 3.72),
    (losses.CategoricalHinge(), [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], 1.4, 0.6, [1, 0], 2.8),
    (losses.Poisson(), [[0., 1.], [0., 0.]], [[1., 1.], [0., 0.]], 0.5, 0.4, [0.8, 0.2], 0.999),
    (losses.LogCosh(), [[0., 1.], [0., 0.]], [[1., 1.], [0., 0.]], 0.108, 0.087, [0.8, 0.2], 0.217),
    (losses.KLDivergence(), [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], 0.458, 0.366, [0.8, 0.2], 0.916),
    (losses.Huber(), [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], 0.155, 0.09, [1, 0], 0.31),
]


@pytest.mark.parametrize("example", KERAS_EXAMPLES, ids=[type(e[0]).__name__ for e in KERAS_EXAMPLES])
def test_keras_documented_values_and_reductions(ops, example):
    loss, y, p, value, weighted, w, total = example
    with B.use_backend(ops):
        assert float(loss(y, p)) == pytest.approx(value, abs=2e-3)
        assert float(loss(y, p, sample_weight=w)) == pytest.approx(weighted, abs=2e-3)
        summed = type(loss)(**{**loss.get_config(), "reduction": "sum"})
        assert float(summed(y, p)) == pytest.approx(total, abs=2e-3)
        none = type(loss)(**{**loss.get_config(), "reduction": None})
        per_sample = ops.to_host(none(y, p))
        assert per_sample.shape == (2,) and per_sample.sum() == pytest.approx(total, abs=2e-3)


def test_hinge_converts_only_all_binary_labels(ops):
    with B.use_backend(ops):
        np.testing.assert_allclose(ops.to_host(losses.hinge([[0.0, 1.0]], [[0.5, 0.5]])), [(1.5 + 0.5) / 2])
        # a -1 label means the batch is already -1/1: 0 stays 0
        np.testing.assert_allclose(ops.to_host(losses.hinge([[0.0, -1.0]], [[0.5, 0.5]])), [(1.0 + 1.5) / 2])


def _train(loss, y):
    from gpunet import optimizers
    from gpunet.layers import Dense
    from gpunet.models import Sequential
    from gpunet.utils import set_random_seed
    set_random_seed(1234)  # both runs start from the same weights
    x = _rng(0).normal(size=(96, 5))
    model = Sequential([Dense(16, input_dim=5, activation="relu"), Dense(3, activation="softmax")])
    model.compile(optimizer=optimizers.Adam(learning_rate=0.01), loss=loss, metrics=["accuracy"])
    return model.fit(x, y(x), epochs=10, batch_size=16, shuffle=False, verbose=0).history


def test_training_with_softmax_crossentropy_lowers_the_loss(ops):
    def classes(x):
        return (x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5).astype(int)

    with B.use_backend(ops):
        dense = _train("categorical_crossentropy", lambda x: np.eye(3)[classes(x)])
        sparse = _train("sparse_categorical_crossentropy", classes)
    assert dense["loss"][-1] < 0.6 * dense["loss"][0]
    assert dense["accuracy"][-1] > dense["accuracy"][0] + 0.15
    # integer labels train exactly as one-hot labels do (same seed, same order)
    np.testing.assert_allclose(sparse["loss"], dense["loss"], rtol=1e-5)
    np.testing.assert_allclose(sparse["accuracy"], dense["accuracy"])


@pytest.mark.parametrize("make", [lambda: losses.CategoricalCrossentropy(axis=1), lambda: losses.BinaryCrossentropy(axis=0),
                                  lambda: losses.CosineSimilarity(axis=1), lambda: losses.CategoricalFocalCrossentropy(axis=1),
                                  lambda: losses.KLDivergence(), lambda: losses.CategoricalCrossentropy(axis=-2)],
                         ids=["cce-axis1", "bce-axis0", "cosine-axis1", "focal-axis1", "kld-last", "cce-axis-2"])
def test_a_loss_called_on_tensors_sends_the_gradient_back_along_its_axis(make):
    """``loss_fn(y_true, y_pred)`` on tape tensors (a user's layer or loss) reduces over the loss's axis:
    the upstream gradient of each value returns along that axis (it was broadcast along the last)."""
    from gpunet.autodiff import Tensor, gradients, nn
    from gpunet.testing import numeric_gradient
    loss = make()
    rng = np.random.default_rng(2)
    y_true, y_pred = rng.uniform(0, 1, (2, 3, 4)), rng.uniform(0.1, 0.9, (2, 3, 4))
    ops = B.get_backend()  # (CuPy's arrays on a GPU)
    pred = Tensor(ops.asarray(y_pred), requires_grad=True)
    values = nn.loss_values(loss, ops.asarray(y_true), pred)
    upstream = rng.standard_normal(values.shape)
    got = ops.to_host(gradients(values, [pred], upstream=ops.asarray(upstream))[0])
    host = B.resolve("numpy")
    want = numeric_gradient(lambda: float(np.sum(loss.per_sample(host, y_true, y_pred) * upstream)), y_pred, 1e-6)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)
