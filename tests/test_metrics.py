import numpy as np
import pytest

from gpunet import backend as B
from gpunet import losses, metrics


def _update(ops, metric, y_true, y_pred, sample_weight=None):
    with B.use_backend(ops):
        metric.update_state(y_true, y_pred, sample_weight)
    return metric.result()


KERAS_EXAMPLES = [  # tf-keras docstrings: (metric, y_true, y_pred, result, weights, weighted result)
    (metrics.BinaryAccuracy(), [[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]], 0.75, [1, 0, 0, 1], 0.5),
    (metrics.CategoricalAccuracy(), [[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]], 0.5, [0.7, 0.3], 0.3),
    (metrics.SparseCategoricalAccuracy(), [[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]], 0.5, [0.7, 0.3], 0.3),
    (metrics.TopKCategoricalAccuracy(k=1), [[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]], 0.5,
     [0.7, 0.3], 0.3),
    (metrics.SparseTopKCategoricalAccuracy(k=1), [2, 1], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]], 0.5, [0.7, 0.3], 0.3),
    (metrics.Accuracy(), [[1], [2], [3], [4]], [[0], [2], [3], [4]], 0.75, [1, 1, 0, 0], 0.5),
    (metrics.MeanSquaredError(), [[0, 1], [0, 0]], [[1, 1], [0, 0]], 0.25, [1, 0], 0.5),
    (metrics.RootMeanSquaredError(), [[0, 1], [0, 0]], [[1, 1], [0, 0]], 0.5, [1, 0], 0.70710677),
    (metrics.CosineSimilarity(axis=1), [[0., 1.], [1., 1.]], [[1., 0.], [1., 1.]], 0.5, [0.3, 0.7], 0.7),
    (metrics.LogCoshError(), [[0, 1], [0, 0]], [[1, 1], [0, 0]], 0.10844523, [1, 0], 0.21689045),
    (metrics.KLDivergence(), [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], 0.45814306, [1, 0], 0.9162905),
    (metrics.Poisson(), [[0, 1], [0, 0]], [[1, 1], [0, 0]], 0.5, [1, 0], 0.99999994),
]


@pytest.mark.parametrize("example", KERAS_EXAMPLES, ids=[type(e[0]).__name__ for e in KERAS_EXAMPLES])
def test_keras_documented_values(ops, example):
    metric, y_true, y_pred, expected, weights, weighted = example
    metric.reset_state()
    assert _update(ops, metric, y_true, y_pred) == pytest.approx(expected, abs=2e-6)
    metric.reset_state()
    assert metric.result() == 0.0
    assert _update(ops, metric, y_true, y_pred, weights) == pytest.approx(weighted, abs=2e-6)


def test_accumulates_a_weighted_mean_over_batches(ops):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, (40, 1)).astype("float32")
    p = rng.uniform(size=(40, 1)).astype("float32")
    w = rng.uniform(0.1, 2, 40).astype("float32")
    metric = metrics.get("accuracy", losses.get("binary_crossentropy"))
    for lo in range(0, 40, 16):  # uneven batches: 16, 16, 8
        metric.update(ops, ops.asarray(y[lo:lo + 16]), ops.asarray(p[lo:lo + 16]), ops.asarray(w[lo:lo + 16]))
    hits = ((p > 0.5) == (y > 0.5))[:, 0]
    assert metric.result() == pytest.approx((hits * w).sum() / w.sum(), rel=1e-6)
    mse = metrics.get("mse")
    for lo in range(0, 40, 16):
        mse.update(ops, ops.asarray(y[lo:lo + 16]), ops.asarray(p[lo:lo + 16]))
    assert mse.result() == pytest.approx(((y - p) ** 2).mean(), rel=1e-6)


def test_elementwise_values_count_every_element_with_broadcast_weights(ops):
    metric = metrics.Accuracy()
    # 2 samples x 3 values, weights per sample: count is 3 * sum(w)
    result = _update(ops, metric, [[1, 2, 3], [1, 2, 3]], [[1, 0, 3], [0, 0, 0]], [3.0, 1.0])
    assert result == pytest.approx((2 * 3.0 + 0 * 1.0) / (3 * 4.0))


def test_binary_accuracy_threshold_and_exact_label_match(ops):
    assert _update(ops, metrics.BinaryAccuracy(threshold=0.7), [[1], [1], [0]], [[0.6], [0.8], [0.65]]) == \
        pytest.approx(2 / 3)
    # several units: per-sample fraction, then the mean
    assert _update(ops, metrics.BinaryAccuracy(), [[1, 0, 1, 1]], [[0.9, 0.2, 0.4, 0.1]]) == pytest.approx(0.5)
    with B.use_backend(ops):
        values = ops.to_host(metrics.binary_accuracy([[1, 0], [1, 1]], [[0.9, 0.6], [0.7, 0.8]]))
    np.testing.assert_allclose(values, [0.5, 1.0])


def test_top_k_counts_ties_at_the_boundary_as_tensorflow_does(ops):
    y_pred = [[0.1, 0.5, 0.5, 0.3]]
    with B.use_backend(ops):
        host = ops.to_host
        assert host(metrics.sparse_top_k_categorical_accuracy([2], y_pred, k=1))[0] == 1.0
        assert host(metrics.sparse_top_k_categorical_accuracy([1], y_pred, k=1))[0] == 1.0
        assert host(metrics.sparse_top_k_categorical_accuracy([3], y_pred, k=2))[0] == 0.0
        assert host(metrics.sparse_top_k_categorical_accuracy([3], y_pred, k=3))[0] == 1.0
        assert host(metrics.top_k_categorical_accuracy([[0, 0, 0, 1]], y_pred, k=3))[0] == 1.0
        assert host(metrics.top_k_categorical_accuracy([[1, 0, 0, 0]], y_pred))[0] == 1.0  # k=5 default


@pytest.mark.parametrize("loss,y_true,y_pred,resolved", [
    ("binary_crossentropy", [[1], [0]], [[0.8], [0.3]], "binary_accuracy"),
    ("binary_crossentropy", [[1, 0, 1]], [[0.8, 0.3, 0.9]], "binary_accuracy"),  # multi-label: still binary
    ("categorical_crossentropy", [[0, 1, 0]], [[0.2, 0.7, 0.1]], "categorical_accuracy"),
    ("sparse_categorical_crossentropy", [1], [[0.2, 0.7, 0.1]], "sparse_categorical_accuracy"),
    ("mse", [[1.0]], [[0.7]], "binary_accuracy"),  # one output unit
    ("mse", [[0, 1, 0]], [[0.2, 0.7, 0.1]], "categorical_accuracy"),
    ("mse", [1], [[0.2, 0.7, 0.1]], "sparse_categorical_accuracy"),  # labels of lower rank
    ("mse", [[1]], [[0.2, 0.7, 0.1]], "sparse_categorical_accuracy"),  # last dimension 1 vs several
])
def test_accuracy_resolves_from_loss_then_shapes(ops, loss, y_true, y_pred, resolved):
    for spelling in ("accuracy", "acc", "Accuracy"):
        metric = metrics.get(spelling, losses.get(loss))
        assert metric.name == spelling
        assert _update(ops, metric, y_true, y_pred) == 1.0
        assert metric.fn_name == resolved
        assert metrics.serialize(metric)["config"] == {"name": spelling, "dtype": "float32", "fn": resolved}


def test_crossentropy_metric_resolves_and_matches_the_loss(ops):
    y, p = [[0, 1, 0], [1, 0, 0]], [[0.2, 0.7, 0.1], [0.5, 0.3, 0.2]]
    metric = metrics.get("ce", losses.get("categorical_crossentropy"))
    result = _update(ops, metric, y, p)
    assert metric.name == "ce" and metric.fn_name == "categorical_crossentropy"
    assert result == pytest.approx(-(np.log(0.7) + np.log(0.5)) / 2, rel=1e-6)
    binary = metrics.get("crossentropy", losses.get("binary_crossentropy"))
    assert _update(ops, binary, [[1.0]], [[0.25]]) == pytest.approx(-np.log(0.25), rel=1e-6)
    assert binary.fn_name == "binary_crossentropy"
    # the loss may also be given by name; a sparse loss decides before any data is seen
    assert metrics.get("acc", "sparse_categorical_crossentropy").fn_name == "sparse_categorical_accuracy"


def test_names_are_what_keras_2_shows():
    assert metrics.get("mse").name == "mse"
    assert metrics.get("MSE").name == "MSE"
    assert metrics.get("mean_absolute_error").name == "mean_absolute_error"
    assert metrics.get("binary_accuracy").name == "binary_accuracy"
    assert metrics.get("top_k_categorical_accuracy").name == "top_k_categorical_accuracy"
    assert metrics.get("BinaryAccuracy").name == "binary_accuracy"
    assert metrics.get(metrics.CategoricalAccuracy).name == "categorical_accuracy"
    assert metrics.get(metrics.mse).name == "mean_squared_error"
    assert metrics.get(metrics.binary_accuracy).name == "binary_accuracy"
    assert metrics.BinaryAccuracy(name="ba", threshold=0.3).name == "ba"
    assert metrics.LogCoshError().name == "logcosh"
    assert metrics.KLDivergence().name == "kullback_leibler_divergence"
    m = metrics.MeanSquaredError()
    assert metrics.get(m) is m

    def my_metric(y_true, y_pred):
        return abs(y_true - y_pred).max(axis=-1)
    assert metrics.get(my_metric).name == "my_metric"


def test_loss_named_metrics_average_the_per_sample_losses(ops):
    rng = np.random.default_rng(1)
    y, p = rng.uniform(0.1, 1, (8, 3)), rng.uniform(0.1, 1, (8, 3))
    for name in ("mse", "mae", "mape", "msle", "hinge", "squared_hinge", "logcosh", "kld", "poisson",
                 "binary_crossentropy", "huber"):
        with B.use_backend(ops):
            expected = float(ops.to_host(losses.get(name).call(y, p)).mean())
        assert _update(ops, metrics.get(name), y, p) == pytest.approx(expected, rel=1e-9), name
    with B.use_backend(ops):
        expected = -float(ops.to_host(losses.cosine_similarity(y, p)).mean())
    assert _update(ops, metrics.get("cosine_similarity"), y, p) == pytest.approx(expected, rel=1e-9)
    assert expected > 0  # the metric is the similarity itself, the loss its negative


def test_user_function_metric(ops):
    def max_error(y_true, y_pred):
        return abs(y_true - y_pred).max(axis=-1)
    assert _update(ops, metrics.get(max_error), [[0.0, 1.0], [0.0, 0.0]], [[0.5, 1.0], [0.0, 2.0]]) == \
        pytest.approx(1.25)


def test_serialize_and_config_round_trips():
    tf_keras = {"class_name": "MeanMetricWrapper", "config": {"name": "accuracy", "dtype": "float32",
                                                              "fn": "binary_accuracy"}}
    metric = metrics.get(tf_keras)
    assert metric.name == "accuracy" and metrics.serialize(metric) == tf_keras
    assert metrics.serialize(metrics.get("mse"))["config"]["fn"] == "mean_squared_error"
    ba = metrics.BinaryAccuracy(threshold=0.7)
    config = metrics.serialize(ba)
    assert config == {"class_name": "BinaryAccuracy",
                      "config": {"name": "binary_accuracy", "dtype": "float32", "threshold": 0.7}}
    again = metrics.get(config)
    assert isinstance(again, metrics.BinaryAccuracy) and again.threshold == 0.7
    keras3 = {"module": "keras.metrics", "class_name": "TopKCategoricalAccuracy", "registered_name": None,
              "config": {"name": "top3", "dtype": "float32", "k": 3}}
    top = metrics.get(keras3)
    assert top.name == "top3" and top.k == 3
    assert metrics.get({"class_name": "function", "config": "mae"}).name == "mae"
    with pytest.raises(ValueError, match="not resolved yet"):
        metrics.serialize(metrics.get("accuracy", losses.get("mse")))


def test_unknown_metrics_raise_clear_errors():
    with pytest.raises(ValueError, match=r"Unknown metric 'accuracyy'\. Valid names: \[.*'binary_accuracy'"):
        metrics.get("accuracyy")
    with pytest.raises(ValueError, match="Unknown metric 'nope'"):
        metrics.get({"class_name": "MeanMetricWrapper", "config": {"name": "x", "fn": "nope"}})
    with pytest.raises(TypeError, match="Could not interpret metric"):
        metrics.get(3)


def test_compiled_model_reports_keras_names_and_values(ops):
    from gpunet.layers import Dense
    from gpunet.models import Sequential
    rng = np.random.default_rng(2)
    x = rng.normal(size=(50, 4))
    y = (x[:, 0] > 0).astype("float32")
    with B.use_backend(ops):
        model = Sequential([Dense(3, input_dim=4, activation="tanh"), Dense(1, activation="sigmoid")])
        model.compile("sgd", "binary_crossentropy", metrics=["acc", "mse", metrics.BinaryAccuracy(threshold=0.6)])
        assert model.metrics_names == ["loss", "acc", "mse", "binary_accuracy"]
        loss, acc, mse, ba = model.evaluate(x, y, batch_size=16, verbose=0)
        p = model.predict(x, verbose=0)[:, 0]
    assert acc == pytest.approx(((p > 0.5) == y).mean(), abs=1e-7)
    assert ba == pytest.approx(((p > 0.6) == y).mean(), abs=1e-7)
    assert mse == pytest.approx(((p - y) ** 2).mean(), rel=1e-5)
    assert loss == pytest.approx(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean(), rel=1e-5)
