"""IoU metrics (tf.keras 2's `IoU`, `MeanIoU`, `BinaryIoU`, `OneHotIoU`, `OneHotMeanIoU`), Keras 3's
correlation metrics (`PearsonCorrelation`, `ConcordanceCorrelation`) and overlap losses (`Dice`,
`Tversky`): values, names and configs against tf.keras 2.21 / Keras 3, in fit on every training path,
their state summed over ranks, in saved models, gradients by central differences, refusals."""
import re

import numpy as np
import pytest

import gpunet
from cuda_emulator import emulator  # noqa: F401 (fixture)
from gpunet import backend as B
from gpunet import losses, metrics
from gpunet.layers import Dense
from gpunet.models import Sequential, load_model
from graph_gradients import check_loss_gradient
from keras_support import keras_on_torch, tf_keras_or_skip
from metric_paths import (assert_epoch_at_once_equals_batchwise, assert_paths_agree, assert_two_ranks_sum_to_the_whole,
                          run_on_every_path)

tf_keras = tf_keras_or_skip()
RNG = np.random.default_rng(8)
LABELS = RNG.integers(0, 4, (20, 1)).astype("float32")
SCORES = RNG.random((20, 4)).astype("float32")
ONE_HOT = np.eye(4, dtype="float32")[LABELS[:, 0].astype(int)]
WEIGHTS = RNG.random(20).astype("float32")
MASKS = RNG.integers(0, 3, (6, 4, 4)).astype("float32")

IOU_CASES = [  # (class, kwargs, y_true, y_pred, sample_weight)
    ("MeanIoU", {"num_classes": 4, "sparse_y_pred": False}, LABELS, SCORES, WEIGHTS),
    ("IoU", {"num_classes": 4, "target_class_ids": [0, 2], "sparse_y_pred": False}, LABELS, SCORES, None),
    ("MeanIoU", {"num_classes": 4, "sparse_y_pred": False, "ignore_class": 1}, LABELS, SCORES, WEIGHTS),
    ("OneHotMeanIoU", {"num_classes": 4}, ONE_HOT, SCORES, WEIGHTS),
    ("OneHotIoU", {"num_classes": 4, "target_class_ids": [3]}, ONE_HOT, SCORES, None),
    ("BinaryIoU", {}, (LABELS > 1).astype("float32"), SCORES[:, :1], WEIGHTS),
    ("BinaryIoU", {"target_class_ids": [1], "threshold": 0.3}, (LABELS > 1).astype("float32"), SCORES[:, :1], None),
    ("MeanIoU", {"num_classes": 3}, MASKS, np.roll(MASKS, 1, axis=1), RNG.random((6, 4, 4)).astype("float32")),
    ("MeanIoU", {"num_classes": 4}, LABELS, np.array([[0.2], [1.7], [3.9], [2.0]] * 5, "float32"), None),
]
IOU_IDS = [f"{c}-{i}" for i, (c, *_) in enumerate(IOU_CASES)]


@pytest.mark.parametrize("name, kwargs, y_true, y_pred, weight", IOU_CASES, ids=IOU_IDS)
def test_iou_values_names_and_configs_are_tf_keras(ops, name, kwargs, y_true, y_pred, weight):
    with B.use_backend(ops):
        mine, theirs = getattr(metrics, name)(**kwargs), getattr(tf_keras.metrics, name)(**kwargs)
        for half in (slice(0, None, 2), slice(1, None, 2)):  # two updates: the matrix accumulates
            mine.update_state(y_true[half], y_pred[half], None if weight is None else weight[half])
            theirs.update_state(y_true[half], y_pred[half], None if weight is None else weight[half])
        assert mine.result() == pytest.approx(float(theirs.result()), rel=1e-6)
    assert mine.name == re.sub(r"_\d+$", "", theirs.name)  # (tf.keras numbers them per session: README)
    want = {k: list(v) if k == "target_class_ids" else v for k, v in theirs.get_config().items()}
    assert mine.get_config() == {**want, "name": mine.name}
    assert type(metrics.get({"class_name": name, "config": mine.get_config()})) is type(mine)
    mine.reset_state()
    assert mine.result() == 0.0 and not mine.total_cm.numpy().any()


def test_iou_state_sums_over_ranks_and_an_epoch_at_once_is_batch_by_batch(ops):
    with B.use_backend(ops):
        def make():
            return metrics.MeanIoU(4, sparse_y_pred=False)
        assert_two_ranks_sum_to_the_whole(make, LABELS, SCORES, WEIGHTS, 7)
        assert_epoch_at_once_equals_batchwise(ops, make, ops.asarray(LABELS), ops.asarray(SCORES),
                                              ops.asarray(WEIGHTS), [3, 8])


@pytest.mark.parametrize("make, update, message", [
    (lambda: metrics.MeanIoU(3), ([0, 3], [0, 1]), r"MeanIoU: y_true holds class 3, outside \[0, 3\)"),
    (lambda: metrics.MeanIoU(3), ([0, 1], [0, -1]), r"MeanIoU: y_pred holds class -1, outside \[0, 3\)"),
    (lambda: metrics.IoU(3, [0, 3]), None, r"Target class id 3 is out of range, which is \[0, 3\)"),
    (lambda: metrics.IoU(3, []), None, "target_class_ids must name at least one class"),
    (lambda: metrics.MeanIoU(2.5), None, "num_classes must be a non-negative integer, received 2.5"),
    (lambda: metrics.MeanIoU(3), ([0, 1, 2], [0, 1]), "y_true gives 3 and y_pred 2"),
    (lambda: metrics.MeanIoU(3), ([[0, 1], [2, 2]], [[0, 1], [2, 2]], [1.0, 2.0, 3.0]),
     r"sample_weight of shape \(3,\) does not fit the classes' shape \(2, 2\)"),
])
def test_iou_refusals_name_what_was_expected(make, update, message):
    with pytest.raises(ValueError, match=message):
        metric = make()
        metric.update_state(*[np.asarray(a, "float32") for a in update])


def _segmenter(lib, metric_list):
    net = lib.Sequential([lib.layers.Dense(6, input_shape=(4,), activation="tanh"),
                          lib.layers.Dense(3, activation="softmax")])
    net.compile(optimizer=lib.optimizers.SGD(0.2), loss="sparse_categorical_crossentropy", metrics=metric_list)
    return net


X = RNG.standard_normal((90, 4))
Y = (X[:, :3] + 0.7 * RNG.standard_normal((90, 3))).argmax(1).astype("float64")[:, None]


def test_fit_and_evaluate_report_them_on_every_path(emulator):
    def build():
        return _segmenter(gpunet, [metrics.MeanIoU(3, sparse_y_pred=False),
                                   metrics.IoU(3, [1], sparse_y_pred=False, name="iou_1")])
    runs = run_on_every_path(emulator, build, X, Y, eval_weight=RNG.random(90))
    net, history, logs, predictions = runs["numpy-plan"]
    assert net.metrics_names == ["loss", "mean_io_u", "iou_1"]
    want = tf_keras.metrics.MeanIoU(3, sparse_y_pred=False, dtype="float64")
    want.update_state(Y, predictions)
    assert logs["mean_io_u"] == pytest.approx(float(want.result()), rel=1e-9)
    assert len(set(history["mean_io_u"])) > 1
    assert_paths_agree(runs)


def test_correlations_in_fit_on_every_path(emulator):
    targets = X[:, :3] @ RNG.standard_normal((3, 3)) + 0.1 * RNG.standard_normal((90, 3))

    def build():
        net = Sequential([Dense(6, input_dim=4, activation="tanh"), Dense(3)])
        net.compile(optimizer=gpunet.optimizers.SGD(0.1), loss="mse",
                    metrics=[metrics.PearsonCorrelation(), "concordance_correlation"])
        return net
    runs = run_on_every_path(emulator, build, X, targets, eval_weight=RNG.random(90))
    net, history, logs, predictions = runs["numpy-plan"]
    assert net.metrics_names == ["loss", "pearson_correlation", "concordance_correlation"]
    per_row = metrics.pearson_correlation(targets, predictions)
    assert history["pearson_correlation"][-1] > history["pearson_correlation"][0]
    assert net.evaluate(X, targets, verbose=0, return_dict=True)["pearson_correlation"] == pytest.approx(
        float(per_row.mean()), rel=1e-9)
    assert_paths_agree(runs)


@pytest.mark.parametrize("ext", [".h5", ".keras"])
def test_saved_models_keep_them_and_tf_keras_reads_the_h5(tmp_path, ext):
    net = _segmenter(gpunet, [metrics.MeanIoU(3, sparse_y_pred=False),
                              metrics.IoU(3, [0, 2], sparse_y_pred=False, name="iou_02")])
    net.fit(X, Y, epochs=1, verbose=0)
    net.save(tmp_path / ("m" + ext))
    again = load_model(tmp_path / ("m" + ext))
    assert again.metrics_names == net.metrics_names
    for a, b in zip(again.metrics, net.metrics):
        assert type(a) is type(b) and a.get_config() == b.get_config()
    if ext == ".h5":
        ref = tf_keras.models.load_model(tmp_path / "m.h5")
        logs = ref.evaluate(X, Y, verbose=0, return_dict=True)
        assert logs["mean_io_u"] == pytest.approx(net.evaluate(X, Y, verbose=0, return_dict=True)["mean_io_u"],
                                                  rel=1e-5)


# ---- correlation metrics --------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["PearsonCorrelation", "ConcordanceCorrelation"])
def test_correlations_are_keras_3s(ops, name):
    keras = keras_on_torch()
    y_true = RNG.random((10, 3)).astype("float32")
    y_pred = (y_true + 0.3 * RNG.random((10, 3))).astype("float32")
    with B.use_backend(ops):
        mine = getattr(metrics, name)()
        for half in (slice(0, 5), slice(5, 10)):
            mine.update_state(y_true[half], y_pred[half], WEIGHTS[half])
        function = getattr(metrics, mine.name)
        per_row = ops.to_host(function(y_true, y_pred))
    theirs = getattr(keras.metrics, name)()
    for half in (slice(0, 5), slice(5, 10)):
        theirs.update_state(y_true[half], y_pred[half], WEIGHTS[half])
    assert mine.result() == pytest.approx(float(theirs.result()), rel=1e-6)
    assert mine.get_config() == theirs.get_config()
    np.testing.assert_allclose(per_row, getattr(keras.metrics, mine.name)(y_true, y_pred).numpy(), rtol=1e-5)


# ---- overlap losses ---------------------------------------------------------------------------------

TRUE_MASKS = (RNG.random((6, 4, 4, 1)) > 0.5).astype("float32")
PRED_MASKS = RNG.random((6, 4, 4, 1)).astype("float32")
LOSS_CASES = [("Dice", {}), ("Dice", {"axis": (1, 2, 3)}), ("Tversky", {"alpha": 0.3, "beta": 0.7}),
              ("Tversky", {"alpha": 0.7, "beta": 0.3, "axis": [1, 2, 3]})]


@pytest.mark.parametrize("name, kwargs", LOSS_CASES, ids=[f"{n}-{len(k)}" for n, k in LOSS_CASES])
def test_overlap_losses_are_keras_3s(ops, name, kwargs):
    keras = keras_on_torch()
    theirs = getattr(keras.losses, name)(**kwargs)
    with B.use_backend(ops):
        mine = getattr(losses, name)(**kwargs)
        for weight in (None, WEIGHTS[:6]):
            got = float(ops.to_host(mine(TRUE_MASKS, PRED_MASKS, sample_weight=weight)))
            assert got == pytest.approx(float(theirs(TRUE_MASKS, PRED_MASKS, sample_weight=weight)), rel=1e-6)
    assert {**mine.get_config(), "reduction": None} == {**theirs.get_config(), "reduction": None,
                                                        "axis": mine.get_config()["axis"]}
    assert type(losses.get({"class_name": name, "config": mine.get_config()})) is type(mine)
    function = getattr(losses, name.lower())
    np.testing.assert_allclose(B.get_backend().to_host(function(TRUE_MASKS, PRED_MASKS)),
                               getattr(keras.losses, name.lower())(TRUE_MASKS, PRED_MASKS).numpy(), rtol=1e-6)


@pytest.mark.parametrize("loss", ["dice", losses.Tversky(alpha=0.2, beta=0.8, axis=(1,))],
                         ids=["dice", "tversky-per-sample"])
def test_overlap_losses_train_with_exact_gradients(f64, loss):
    net = Sequential([Dense(5, input_dim=4, activation="tanh"), Dense(3, activation="sigmoid")])
    net.compile("sgd", loss)
    y = (RNG.random((12, 3)) > 0.5).astype("float64")
    x = RNG.standard_normal((12, 4))
    check_loss_gradient(net, x, y, points=2)
    before = net.evaluate(x, y, verbose=0)
    net.compile(gpunet.optimizers.SGD(0.5), loss)
    net.fit(x, y, epochs=20, batch_size=12, verbose=0)
    assert net.evaluate(x, y, verbose=0) < before
