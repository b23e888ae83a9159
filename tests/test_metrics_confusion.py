"""Precision, Recall and AUC (gpunet/metrics/confusion.py, auc.py): tf.keras 2's values, their
confusion counts against a brute-force count, sample weights, configs, and their use in
compile/fit/evaluate (History keys "precision", "recall", "auc") on every training path; their
state is `add_weight` variables, which gpunet.distribute sums over the ranks."""
import numpy as np
import pytest

import gpunet
from cuda_emulator import emulator  # noqa: F401 (fixture)
from gpunet import backend as B
from gpunet import metrics
from gpunet.layers import Dense
from gpunet.metrics import AUC, Precision, Recall
from gpunet.models import Sequential, load_model
from metric_paths import (assert_epoch_at_once_equals_batchwise, assert_paths_agree, assert_two_ranks_sum_to_the_whole,
                          run_on_every_path)

Y_TRUE = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [0, 0, 0], [1, 0, 1],
                   [0, 1, 1], [1, 0, 0], [0, 1, 0], [1, 1, 1], [0, 0, 1], [1, 0, 0]], "float32")
Y_PRED = np.array([[0.9, 0.2, 0.1], [0.4, 0.7, 0.3], [0.5, 0.5, 0.6], [0.8, 0.35, 0.0], [0.1, 0.6, 0.2],
                   [0.55, 0.3, 0.95], [0.2, 0.8, 0.45], [0.3, 0.1, 0.7], [0.65, 0.5, 0.05], [1.0, 0.75, 0.4],
                   [0.15, 0.25, 0.85], [0.45, 0.6, 0.5]], "float32")
SW = np.array([1, 0.5, 2, 0, 1, 1.5, 0.25, 3, 1, 2, 0.5, 1], "float32")

# What tf.keras 2.21 (tf_keras) gives for Y_TRUE, Y_PRED updated in two batches (rows :7 and 7:),
# without and with the sample weights SW (its float32 results).
TF_KERAS = [
    ("Precision", {}, 0.7142857313156128, 0.6521739363670349),
    ("Recall", {}, 0.625, 0.6081081032752991),
    ("Precision", {"thresholds": [0.3, 0.5, 0.7]}, [0.6521739363670349, 0.7142857313156128, 1.0],
     [0.5740740895271301, 0.6521739363670349, 1.0]),
    ("Recall", {"thresholds": [0.0, 0.5, 1.0]}, [1.0, 0.625, 0.0], [1.0, 0.6081081032752991, 0.0]),
    ("Precision", {"top_k": 2}, 0.5833333134651184, 0.5636363625526428),
    ("Recall", {"top_k": 1}, 0.5, 0.4189189076423645),
    ("Precision", {"class_id": 2}, 0.75, 0.5714285969734192),
    ("Recall", {"class_id": 1, "thresholds": 0.4}, 0.800000011920929, 1.0),
    ("AUC", {}, 0.839062511920929, 0.7576477527618408),
    ("AUC", {"curve": "PR"}, 0.8266290426254272, 0.7573899626731873),
    ("AUC", {"curve": "PR", "summation_method": "minoring"}, 0.7496843338012695, 0.6371285915374756),
    ("AUC", {"summation_method": "majoring"}, 0.8531250357627869, 0.7784377336502075),
    ("AUC", {"curve": "PR_GAIN"}, 0.6773428320884705, 0.4516865611076355),
    ("AUC", {"num_thresholds": 5}, 0.84375, 0.7892782688140869),
    ("AUC", {"thresholds": [0.1, 0.35, 0.8]}, 0.8031250238418579, 0.7558656930923462),
    ("AUC", {"multi_label": True}, 0.8444444537162781, 0.7546219229698181),
    ("AUC", {"multi_label": True, "label_weights": [1, 2, 0.5]}, 0.8421768546104431, 0.8125330209732056),
    ("AUC", {"label_weights": [1, 2, 0.5]}, 0.8349626064300537, 0.8057246208190918),
    ("AUC", {"from_logits": True}, 0.8390624523162842, 0.7576477527618408),
]


@pytest.mark.parametrize("name, kwargs, plain, weighted", TF_KERAS,
                         ids=[f"{n}-{'-'.join(map(str, k.values())) or 'default'}" for n, k, _, _ in TF_KERAS])
def test_values_are_tf_keras(ops, name, kwargs, plain, weighted):
    for sw, want in ((None, plain), (SW, weighted)):
        m = getattr(metrics, name)(**kwargs)
        for lo, hi in ((0, 7), (7, 12)):
            m.update_state(Y_TRUE[lo:hi], Y_PRED[lo:hi], sample_weight=None if sw is None else sw[lo:hi])
        got = m.result()
        if isinstance(want, list):
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
        else:
            assert isinstance(got, float) and got == pytest.approx(want, rel=1e-6, abs=1e-7)


def _brute_force(y_true, y_pred, thresholds, w=None):
    """TP, FP, TN, FN per threshold by comparing every prediction with every threshold."""
    w = np.ones(y_true.shape) if w is None else np.broadcast_to(w[:, None], y_true.shape)
    y_true, y_pred, w = y_true.reshape(-1) != 0, y_pred.reshape(-1), w.reshape(-1)
    pos = y_pred[None] > np.asarray(thresholds, y_pred.dtype)[:, None]
    return [((p & t) * w).sum(1) for p, t in ((pos, y_true), (pos, ~y_true), (~pos, ~y_true), (~pos, y_true))]


@pytest.mark.parametrize("weighted", [False, True])
def test_counts_equal_a_brute_force_count(ops, weighted):
    """The counts are those of comparing each prediction with each threshold (AUC's evenly spaced
    thresholds count through buckets, as tf.keras: the same away from the thresholds themselves)."""
    rng = np.random.default_rng(3)
    y_true = (rng.random((600, 2)) > 0.5).astype("float32")
    y_pred = rng.random((600, 2)).astype("float32")
    w = rng.integers(0, 4, 600).astype("float32") if weighted else None
    for m in (AUC(), AUC(num_thresholds=7), AUC(thresholds=[0.2, 0.55]), Precision(thresholds=[0, 0.25, 0.5, 0.75, 1])):
        m.update_state(y_true, y_pred, sample_weight=w)
        thresholds = m.thresholds
        tp, fp, tn, fn = _brute_force(y_true, y_pred, thresholds, w)
        np.testing.assert_array_equal(m.true_positives.numpy(), tp)
        np.testing.assert_array_equal(m.false_positives.numpy(), fp)
        if isinstance(m, AUC):
            np.testing.assert_array_equal(m.true_negatives.numpy(), tn)
            np.testing.assert_array_equal(m.false_negatives.numpy(), fn)


def test_predictions_on_the_thresholds_count_as_tf_keras_counts_them(ops):
    """tf.keras's buckets, ceil(p * 199): a float32 p = k / 199 can land above threshold k / 199.
    tf.keras 2.21 counts 19909 true positives in all here, one more than comparing at 8 thresholds."""
    p = (np.arange(200) / 199.0).astype("float32")
    m = AUC()
    m.update_state(np.ones(200, "float32"), p)
    compared = (p[None] > np.array(m.thresholds, "float32")[:, None]).sum(1)
    above = [31, 53, 62, 103, 106, 111, 119, 124]
    np.testing.assert_array_equal(m.true_positives.numpy() - compared, np.isin(np.arange(200), above))
    assert m.true_positives.numpy().sum() == 19909


def test_integer_weights_count_as_repeated_samples(ops):
    rng = np.random.default_rng(5)
    y_true, y_pred = (rng.random(50) > 0.4).astype("float32"), rng.random(50).astype("float32")
    w = rng.integers(0, 4, 50)
    for make in (Precision, Recall, AUC, lambda: AUC(curve="PR")):
        weighted, repeated = make(), make()
        weighted.update_state(y_true, y_pred, sample_weight=w.astype("float32"))
        repeated.update_state(np.repeat(y_true, w), np.repeat(y_pred, w))
        assert weighted.result() == pytest.approx(repeated.result(), rel=1e-12)


EPOCH_METRICS = {
    "precision": Precision, "precision-3": lambda: Precision(thresholds=[0.2, 0.5, 0.9]),
    "precision-top1": lambda: Precision(top_k=1), "recall-class": lambda: Recall(class_id=1), "auc": AUC,
    "auc-pr": lambda: AUC(curve="PR"), "auc-thresholds": lambda: AUC(thresholds=[0.3, 0.6]),
    "auc-multi": lambda: AUC(multi_label=True), "auc-label-weights": lambda: AUC(label_weights=[1, 2, 0.3]),
    "auc-label-weights-3": lambda: AUC(label_weights=[1, 2, 0.3], thresholds=[0.4]),
}


@pytest.mark.parametrize("weighted", [False, True], ids=["plain", "weighted"])
@pytest.mark.parametrize("case", sorted(EPOCH_METRICS))
def test_an_epoch_at_once_counts_what_batch_by_batch_counts(ops, case, weighted):
    """The fused plans hand over an epoch's outputs at once (update_batches): the state is then
    what updating batch by batch gives (the layer path, batch logs), bit for bit."""
    rng = np.random.default_rng(2)
    y_true, y_pred = (rng.random((101, 3)) > 0.5).astype("float64"), rng.random((101, 3))
    sw = rng.uniform(0.1, 2.0, 101) if weighted else None
    y_true, y_pred, sw = (None if a is None else ops.asarray(a) for a in (y_true, y_pred, sw))
    assert_epoch_at_once_equals_batchwise(ops, EPOCH_METRICS[case], y_true, y_pred, sw, (16, 101, 7))


def test_shapes_labels_and_state():
    m = Precision()
    m.update_state([1, 0, 1, 1], [[0.7], [0.6], [0.2], [0.9]])  # y_pred's trailing 1 dropped, as Keras does
    assert m.result() == pytest.approx(2 / 3)
    m.update_state(np.array([[2], [0]]), [0.8, 0.1])  # any nonzero label is positive
    assert m.result() == pytest.approx(3 / 4)
    assert [v.name for v in m._variables] == ["true_positives", "false_positives"]
    assert m.true_positives.numpy().tolist() == [3.0] and m.true_positives.dtype == "float64"
    m.reset_state()
    assert m.result() == 0.0 and m.false_positives.numpy().tolist() == [0.0]
    with pytest.raises(ValueError, match="not compatible"):
        m.update_state(np.zeros((4, 2)), np.zeros((4, 3)))
    assert Recall()([0, 0], [0.9, 0.1]) == 0.0  # no positive label: 0, not NaN (divide_no_nan)
    auc = AUC(multi_label=True)
    assert auc.result() == 0.0 and not getattr(auc, "_variables", [])  # built at its first update
    auc.update_state(Y_TRUE, Y_PRED)
    assert auc.true_positives.shape == (200, 3)
    with pytest.raises(ValueError, match="num_labels"):
        AUC(num_labels=3)
    for bad in (dict(num_thresholds=1), dict(curve="bad"), dict(summation_method="sum"), dict(label_weights=[-1])):
        with pytest.raises(ValueError):
            AUC(**bad)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        Precision(thresholds=[0.5, 1.5])


def test_names_strings_and_configs():
    assert (Precision().name, Recall().name, AUC().name) == ("precision", "recall", "auc")
    for text, cls in (("AUC", AUC), ("auc", AUC), ("Precision", Precision), ("precision", Precision),
                      ("Recall", Recall), ("recall", Recall)):
        m = metrics.get(text)
        assert type(m) is cls and m.name == cls().name
    auc = AUC(num_thresholds=50, curve="pr", summation_method="Minoring", thresholds=[0.7, 0.2], multi_label=True,
              num_labels=2, label_weights=[1, 3], from_logits=True, name="pr")
    config = auc.get_config()
    assert config == {"name": "pr", "dtype": "float32", "num_thresholds": 4, "curve": "PR",
                      "summation_method": "minoring", "multi_label": True, "num_labels": 2, "label_weights": [1.0, 3.0],
                      "from_logits": True, "thresholds": [0.2, 0.7]}
    assert AUC.from_config(config).get_config() == config
    p = Precision(thresholds=[0.3, 0.6], top_k=2, class_id=1)
    assert p.get_config() == {"name": "precision", "dtype": "float32", "thresholds": [0.3, 0.6], "top_k": 2, "class_id": 1}
    # Keras 3's form of a compiled metric (module and registered_name added)
    keras3 = {"module": "keras.metrics", "class_name": "Recall", "registered_name": None,
              "config": {"name": "recall_1", "dtype": "float32", "thresholds": 0.4, "top_k": None, "class_id": None}}
    r = metrics.get(keras3)
    assert type(r) is Recall and r.name == "recall_1" and r.thresholds == [0.4]
    assert metrics.serialize(auc) == {"class_name": "AUC", "config": config}


def test_distributed_ranks_sum_the_counts():
    """gpunet.distribute sums every add_weight variable over the ranks (metric_sums.sum_variables):
    two ranks' counts summed give the metric of all the data."""
    for make in (Precision, Recall, AUC, lambda: AUC(curve="PR", multi_label=True, num_labels=3)):
        assert_two_ranks_sum_to_the_whole(make, Y_TRUE, Y_PRED, SW, 5)


# ---- in compile / fit / evaluate -------------------------------------------------------------------
RNG = np.random.default_rng(8)
X = RNG.standard_normal((90, 4))
Y = (X[:, :1] + 0.8 * RNG.standard_normal((90, 1)) > 0).astype("float64")
W = RNG.uniform(0.2, 2.0, 90)


def _build():
    net = Sequential([Dense(6, input_dim=4, activation="tanh"), Dense(1, activation="sigmoid")])
    net.compile(optimizer=gpunet.optimizers.SGD(0.1), loss="binary_crossentropy",
                metrics=["AUC", "Precision", Recall(thresholds=0.4), AUC(curve="PR", name="pr_auc")])
    return net


@pytest.mark.parametrize("weighted", [False, True], ids=["plain", "weighted"])
def test_fit_and_evaluate_report_them_on_every_path(emulator, weighted):
    runs = run_on_every_path(emulator, _build, X, Y, W if weighted else None)
    net, history, logs, predictions = runs["numpy-plan"]
    assert net.metrics_names == ["loss", "auc", "precision", "recall", "pr_auc"]
    assert set(history) == {"loss", "auc", "precision", "recall", "pr_auc",
                            "val_loss", "val_auc", "val_precision", "val_recall", "val_pr_auc"}
    assert all(isinstance(v, float) for v in history["auc"]) and len(set(history["auc"])) == 3
    # evaluate: the metrics of the model's predictions, as a standalone metric computes them
    for m, key in ((AUC(), "auc"), (Precision(), "precision"), (Recall(thresholds=0.4), "recall")):
        m.update_state(Y, predictions)
        assert logs[key] == pytest.approx(m.result(), rel=1e-12), key
    assert_paths_agree(runs)


def test_train_and_test_on_batch(ops):
    net = Sequential([Dense(1, input_dim=4, activation="sigmoid")])
    net.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["auc", "recall"])
    x, y = X[:20].astype("float32"), Y[:20].astype("float32")
    loss, auc, recall = net.test_on_batch(x, y)
    p = net.predict(x, verbose=0)
    want = AUC()
    want.update_state(y, p)
    assert auc == pytest.approx(want.result(), rel=1e-6)
    assert net.train_on_batch(x, y, return_dict=True).keys() == {"loss", "auc", "recall"}


@pytest.mark.parametrize("ext", [".h5", ".keras"])
def test_saved_models_keep_the_metrics(tmp_path, ext):
    net = Sequential([Dense(3, input_dim=4, activation="sigmoid")])
    net.compile(optimizer="adam", loss="binary_crossentropy",
                metrics=["AUC", Precision(thresholds=[0.3], class_id=1, name="p1"), Recall(top_k=2),
                         AUC(multi_label=True, num_labels=3, curve="PR", name="ml_auc")])
    y = (RNG.random((90, 3)) > 0.5).astype("float32")
    net.fit(X, y, epochs=1, verbose=0)
    net.save(tmp_path / ("m" + ext))
    again = load_model(tmp_path / ("m" + ext))
    assert again.metrics_names == net.metrics_names == ["loss", "auc", "p1", "recall", "ml_auc"]
    for a, b in zip(again.metrics, net.metrics):
        assert type(a) is type(b) and a.get_config() == b.get_config()
    assert again.evaluate(X, y, verbose=0) == net.evaluate(X, y, verbose=0)


# ---- on 2 ranks ------------------------------------------------------------------------------------------
TWO_RANKS = '''
import json, sys
import numpy as np
import gpunet
import gpunet.distribute as dist
from gpunet import backend as B
from gpunet.layers import Dense, LeakyReLU
from gpunet.metrics import AUC, Precision, Recall
from gpunet.models import Sequential


def run(batch_size, distributed):
    B.set_floatx("float64")
    gpunet.utils.set_random_seed(3)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((83, 5))  # odd: the last step gives one rank a padding sample of weight 0
    y = (x[:, :1] + 0.5 * rng.standard_normal((83, 1)) > 0).astype("float64")
    sw = rng.uniform(0.5, 2.0, 83)
    net = Sequential([Dense(6, input_dim=5), LeakyReLU(0.1), Dense(1, activation="sigmoid")])
    opt = gpunet.optimizers.SGD(0.1)
    net.compile(optimizer=dist.DistributedOptimizer(opt) if distributed else opt, loss="binary_crossentropy",
                metrics=["AUC", Precision(), Recall(thresholds=0.4), AUC(curve="PR", name="pr")])
    history = net.fit(x, y, batch_size=batch_size, epochs=2, verbose=0, shuffle=False).history
    weighted = net.fit(x, y, sample_weight=sw, batch_size=batch_size, epochs=1, verbose=0, shuffle=False).history
    return {"history": history, "weighted": weighted,
            "evaluate": net.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)}


if __name__ == "__main__":
    dist.init()
    result = run(8, True)
    with open(sys.argv[1] + f"/rank{dist.rank()}.json", "w") as f:
        json.dump(result, f)
'''


def test_two_ranks_report_what_one_process_reports_on_the_global_batch(tmp_path):
    """The counts are add_weight variables: gpunet.distribute sums them over the ranks, so 2 ranks
    of batch 8 report the metrics of one process with batch 16 (the padding sample weighs 0)."""
    import json
    import os
    import subprocess

    from gpunet.distribute import launcher
    script = tmp_path / "two_ranks.py"
    script.write_text(TWO_RANKS)
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, GPUNET_BACKEND="numpy", PYTHONUNBUFFERED="1",
               PYTHONPATH=repo + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(launcher.command(2, [str(script)], [str(tmp_path)]), capture_output=True, text=True,
                          timeout=180, env=env, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0] == ranks[1]
    namespace = {"__name__": "two_ranks"}
    exec(compile(TWO_RANKS, "two_ranks", "exec"), namespace)
    with B.use_backend("numpy"):
        one = namespace["run"](16, False)
    for part in ("history", "weighted"):
        assert ranks[0][part].keys() == one[part].keys() >= {"auc", "precision", "recall", "pr"}
        for key, values in one[part].items():
            np.testing.assert_allclose(ranks[0][part][key], values, rtol=1e-12, err_msg=f"{part} {key}")
    for key, value in one["evaluate"].items():
        assert ranks[0]["evaluate"][key] == pytest.approx(value, rel=1e-12), key


def test_a_metric_with_one_value_per_threshold_logs_an_array_and_the_bar_shows_its_mean(capsys):
    """As tf.keras: History holds Precision(thresholds=[...])'s array per epoch; the bar its mean."""
    import gpunet
    from gpunet.layers import Dense
    from gpunet.models import Sequential
    rng = np.random.default_rng(0)
    x = rng.random((40, 3))
    y = (x[:, :1] > 0.5) * 1.0
    m = Sequential([Dense(1, input_dim=3, activation="sigmoid")])
    m.compile(loss="binary_crossentropy", optimizer="adam", metrics=[gpunet.metrics.Precision(thresholds=[0.3, 0.7])])
    history = m.fit(x, y, epochs=2, verbose=1).history
    assert [v.shape for v in history["precision"]] == [(2,), (2,)]
    scores = m.evaluate(x, y, verbose=0)
    assert scores[1].shape == (2,)
    assert f"precision: {history['precision'][-1].mean():.4f}" in capsys.readouterr().out
