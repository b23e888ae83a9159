"""The confusion-count metrics (TruePositives, ..., SensitivityAtSpecificity, ...; gpunet/metrics/counts.py)
and Mean/Sum (reduce.py) against live tf.keras 2 (tf_keras), on awkward inputs (predictions exactly on
the thresholds, at 0 and 1, weights of every shape), updated in two batches; their configs, names, errors;
their use in compile/fit/evaluate on every training path, saved models, a layer's add_metric."""
import numpy as np
import pytest

import gpunet
from cuda_emulator import emulator  # noqa: F401 (fixture)
from gpunet import metrics
from gpunet.layers import Dense, Layer
from gpunet.models import Sequential, load_model
from metric_paths import assert_paths_agree, assert_two_ranks_sum_to_the_whole, run_on_every_path
from keras_support import tf_keras_or_skip

tf_keras = tf_keras_or_skip()

RNG = np.random.default_rng(11)
Y_TRUE = RNG.integers(0, 2, (40, 3)).astype("float32")
Y_PRED = RNG.uniform(0, 1, (40, 3)).astype("float32")
Y_PRED[0, 0], Y_PRED[1, 1], Y_PRED[2, 2], Y_PRED[3, 0], Y_PRED[4, 1] = 0.5, 0.0, 1.0, 0.2, 0.9  # on thresholds
SW = RNG.uniform(0, 2, 40).astype("float32")
SW[5] = 0.0

COUNT_CASES = [
    ("TruePositives", {}), ("FalsePositives", {"thresholds": [0.2, 0.5, 0.9]}),
    ("TrueNegatives", {"thresholds": [0.0, 0.5, 1.0]}), ("FalseNegatives", {"thresholds": 0.3}),
    ("SensitivityAtSpecificity", {"specificity": 0.6}), ("SensitivityAtSpecificity", {"specificity": 1.0}),
    ("SpecificityAtSensitivity", {"sensitivity": 0.7, "num_thresholds": 7}),
    ("PrecisionAtRecall", {"recall": 0.8, "class_id": 1}), ("PrecisionAtRecall", {"recall": 0.5, "num_thresholds": 2}),
    ("RecallAtPrecision", {"precision": 0.55}), ("RecallAtPrecision", {"precision": 0.99, "num_thresholds": 1}),
    ("RecallAtPrecision", {"precision": 0.5, "class_id": 2, "num_thresholds": 13}),
]


def _both(name, kwargs, updates):
    ours, theirs = getattr(metrics, name)(**kwargs), getattr(tf_keras.metrics, name)(**kwargs)
    for args in updates:
        ours.update_state(*args)
        theirs.update_state(*args)
    return ours, theirs


@pytest.mark.parametrize("weighted", [False, True], ids=["plain", "weighted"])
@pytest.mark.parametrize("name, kwargs", COUNT_CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(COUNT_CASES)])
def test_values_are_tf_keras(ops, name, kwargs, weighted):
    updates = [(Y_TRUE[lo:hi], Y_PRED[lo:hi], SW[lo:hi] if weighted else None) for lo, hi in ((0, 17), (17, 40))]
    ours, theirs = _both(name, kwargs, updates)
    got, want = ours.result(), theirs.result().numpy()
    if np.ndim(want):
        assert isinstance(got, np.ndarray) and got.shape == want.shape
    else:
        assert isinstance(got, float)
    # tf.keras sums counts in float32 (and takes true negatives as all negatives less false positives):
    # a count's rounding is relative to the total weight, not to the count
    scale = 1.0 if "At" in name else float(SW.sum() if weighted else SW.size) * 3
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7 * scale)
    config = ours.get_config()
    assert config == {**theirs.get_config(), "name": ours.name}  # (tf.keras numbers repeated names: "_1")
    assert type(ours).from_config(config).get_config() == config


def test_the_four_counts_partition_the_weights(ops):
    counts = {name: getattr(metrics, name)(thresholds=[0.0, 0.3, 0.5, 1.0])
              for name in ("TruePositives", "FalsePositives", "TrueNegatives", "FalseNegatives")}
    for m in counts.values():
        m.update_state(Y_TRUE, Y_PRED, SW)
    total = sum(m.result() for m in counts.values())
    np.testing.assert_allclose(total, np.full(4, 3 * SW.astype("float64").sum()), rtol=1e-12)
    positives = counts["TruePositives"].result() + counts["FalseNegatives"].result()
    np.testing.assert_allclose(positives, (Y_TRUE * SW[:, None]).sum(dtype="float64"), rtol=1e-12)
    assert counts["TruePositives"].accumulator is counts["TruePositives"].true_positives  # tf.keras's name


def test_rate_at_rate_by_brute_force(ops):
    """The best precision at a recall floor, from counts made by hand at each of the thresholds."""
    y, p = Y_TRUE[:, 0], Y_PRED[:, 0]
    m = metrics.PrecisionAtRecall(0.4, num_thresholds=11)
    m.update_state(y, p)
    best = 0.0
    for t in np.linspace(0, 1, 11):
        tp, fp, fn = ((p > t) & (y == 1)).sum(), ((p > t) & (y == 0)).sum(), ((p <= t) & (y == 1)).sum()
        if tp + fn and tp / (tp + fn) >= 0.4 and tp + fp:
            best = max(best, tp / (tp + fp))
    assert m.result() == pytest.approx(best, rel=1e-6)
    m.reset_state()
    assert m.result() == 0.0 and m.true_positives.numpy().tolist() == [0.0] * 11


def test_distributed_ranks_sum_the_counts():
    for make in (metrics.TruePositives, lambda: metrics.FalseNegatives(thresholds=[0.1, 0.6]),
                 lambda: metrics.SensitivityAtSpecificity(0.4), lambda: metrics.RecallAtPrecision(0.5, class_id=1)):
        assert_two_ranks_sum_to_the_whole(make, Y_TRUE, Y_PRED, SW, 13)


@pytest.mark.parametrize("name", ["Mean", "Sum"])
@pytest.mark.parametrize("weights", [None, 2.0, (5,), (5, 1), (5, 3), (5, 3, 1), (1, 3, 2), (5, 3, 2)],
                         ids=lambda w: str(w))
def test_mean_and_sum_are_tf_keras(ops, name, weights):
    values = RNG.normal(0, 1, (5, 3, 2)).astype("float32")
    sw = RNG.uniform(0, 2, weights).astype("float32") if isinstance(weights, tuple) else weights
    ours, theirs = _both(name, {}, [(values, sw), ([1.0, 2.0],), ([[4.0]], [0.5])])
    assert isinstance(ours.result(), float)
    # (tf.keras sums in float32: its rounding is relative to the values' magnitudes, not to a sum near 0)
    assert ours.result() == pytest.approx(float(theirs.result()), rel=1e-6, abs=1e-7 * float(np.abs(values).sum() + 10))
    assert ours.get_config() == {"name": name.lower(), "dtype": "float32"}


def test_mean_and_sum_state_and_errors(ops):
    m = metrics.Mean(name="avg")
    assert m.result() == 0.0  # no weight yet: 0, as divide_no_nan gives
    assert m([1, 3, 5, 7]) == 4.0 and m([2, 4], sample_weight=[3, 1]) == pytest.approx(26 / 8)
    assert (m.total.numpy(), m.count.numpy()) == (26.0, 8.0) and m.total.dtype == "float64"
    m.reset_state()
    assert m.result() == 0.0
    s = metrics.Sum()
    s.update_state(np.ones((2, 3)), sample_weight=np.array([1.0, 2.0]))
    assert s.result() == 9.0
    with pytest.raises(ValueError, match=r"sample_weight of shape \(3,\) cannot weigh values of shape \(2, 4\)"):
        s.update_state(np.ones((2, 4)), sample_weight=np.ones(3))
    net = Sequential([Dense(1, input_dim=4)])
    for bad in (metrics.Mean(), "Sum"):
        with pytest.raises(ValueError, match="cannot be a compile metric.*MeanMetricWrapper"):
            net.compile("sgd", "mse", metrics=[bad])


def test_argument_errors_name_what_was_received():
    for cls, arg in ((metrics.SensitivityAtSpecificity, "specificity"), (metrics.SpecificityAtSensitivity, "sensitivity"),
                     (metrics.PrecisionAtRecall, "recall"), (metrics.RecallAtPrecision, "precision")):
        with pytest.raises(ValueError, match=rf"`{arg}` must be in the range \[0, 1\]. Received: {arg}=1.5"):
            cls(1.5)
        with pytest.raises(ValueError, match="`num_thresholds` must be an integer > 0. Received: num_thresholds=0"):
            cls(0.5, num_thresholds=0)
    with pytest.raises(ValueError, match=r"Threshold values must be in \[0, 1\]"):
        metrics.TruePositives(thresholds=[0.5, 2])


# ---- in compile / fit / evaluate, files --------------------------------------------------------------------
X = RNG.standard_normal((90, 4))
Y = (X[:, :1] + 0.8 * RNG.standard_normal((90, 1)) > 0).astype("float64")
W = RNG.uniform(0.2, 2.0, 90)
COMPILED = ["TruePositives", "FalseNegatives", metrics.FalsePositives(thresholds=[0.3, 0.7], name="fp2"),
            metrics.SensitivityAtSpecificity(0.5), metrics.RecallAtPrecision(0.6, num_thresholds=50)]
NAMES = ["loss", "true_positives", "false_negatives", "fp2", "sensitivity_at_specificity", "recall_at_precision"]


def _build():
    net = Sequential([Dense(6, input_dim=4, activation="tanh"), Dense(1, activation="sigmoid")])
    net.compile(optimizer=gpunet.optimizers.SGD(0.1), loss="binary_crossentropy",
                metrics=[m if isinstance(m, str) else type(m).from_config(m.get_config()) for m in COMPILED])
    return net


@pytest.mark.parametrize("weighted", [False, True], ids=["plain", "weighted"])
def test_fit_and_evaluate_report_them_on_every_path(emulator, weighted):
    runs = run_on_every_path(emulator, _build, X, Y, W if weighted else None, epochs=2)
    net, history, logs, predictions = runs["numpy-plan"]
    assert net.metrics_names == NAMES and set(history) == set(NAMES) | {"val_" + n for n in NAMES}
    assert isinstance(history["fp2"][0], np.ndarray) and history["fp2"][0].shape == (2,)
    for m in COMPILED:  # evaluate's values: the metric of the model's predictions, computed standalone
        m = metrics.get(m) if isinstance(m, str) else type(m).from_config(m.get_config())
        m.update_state(Y, predictions)
        np.testing.assert_allclose(logs[m.name], m.result(), rtol=1e-12, err_msg=m.name)
    assert logs["true_positives"] + logs["false_negatives"] == Y.sum()
    assert_paths_agree(runs)


@pytest.mark.parametrize("ext", [".h5", ".keras"])
def test_saved_models_keep_them(tmp_path, ext):
    net = Sequential([Dense(1, input_dim=4, activation="sigmoid")])
    net.compile(optimizer="adam", loss="binary_crossentropy", metrics=COMPILED)
    net.fit(X, Y, epochs=1, verbose=0)
    net.save(tmp_path / ("m" + ext))
    again = load_model(tmp_path / ("m" + ext))
    assert again.metrics_names == NAMES
    for a, b in zip(again.metrics, net.metrics):
        assert type(a) is type(b) and a.get_config() == b.get_config()
    np.testing.assert_equal(again.evaluate(X, Y, verbose=0), net.evaluate(X, Y, verbose=0))


def test_a_tf_keras_compiled_config_is_read():
    """tf.keras 2 writes a compiled metric as {"class_name", "config"}: gpunet reads it back."""
    theirs = tf_keras.metrics.PrecisionAtRecall(0.7, num_thresholds=31, class_id=0, name="par")
    ours = metrics.deserialize(tf_keras.metrics.serialize(theirs))
    assert type(ours) is metrics.PrecisionAtRecall and ours.get_config() == theirs.get_config()


class MeanActivation(Layer):
    """The Keras guide's pattern: a layer logs a statistic of its input through a Mean it owns."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.mean_input = metrics.Mean(name="mean_input")

    def call(self, x):
        self.add_metric(self.mean_input(gpunet.ops.mean(x)))
        return x


def test_a_layer_logs_a_mean_through_add_metric():
    net = Sequential([MeanActivation(input_shape=(4,)), Dense(1)])
    net.compile("sgd", "mse")
    x = np.arange(32, dtype="float32").reshape(8, 4)
    history = net.fit(x, np.zeros((8, 1)), batch_size=4, epochs=2, verbose=0).history
    # each epoch's value: the mean of the two batches' means (the metric is reset every epoch)
    assert history["mean_input"] == [pytest.approx(x.mean())] * 2
