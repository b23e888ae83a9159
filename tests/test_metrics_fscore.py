"""FBetaScore, F1Score (gpunet/metrics/fscore.py) and R2Score (regression.py) against live tf.keras 2
(tf_keras): every average, threshold kind and class aggregation, adjusted R2, sample weights, several
updates; their argument and shape errors, state (add_weight variables built at the first update,
reset_state, summed over ranks), an epoch at once, configs; compile/fit/evaluate on every training
path, saved models."""
import warnings

import numpy as np
import pytest

import gpunet
from cuda_emulator import emulator  # noqa: F401 (fixture)
from gpunet import metrics
from gpunet.layers import Dense
from gpunet.metrics import F1Score, FBetaScore, R2Score
from gpunet.models import Sequential, load_model
from metric_paths import (assert_epoch_at_once_equals_batchwise, assert_paths_agree, assert_two_ranks_sum_to_the_whole,
                          run_on_every_path)
from keras_support import tf_keras_or_skip

tf_keras = tf_keras_or_skip()

RNG = np.random.default_rng(21)
Y_TRUE = (RNG.random((30, 4)) > 0.6).astype("float32")
Y_TRUE[:, 3] = 0.0  # a class never true: its scores are 0 (divide_no_nan), its weight 0
Y_PRED = RNG.random((30, 4)).astype("float32")
Y_PRED[4] = 0.0  # a row of zeros has no argmax: nothing predicted
Y_PRED[5] = [0.7, 0.7, 0.2, 0.1]  # a tie: both maxima are predicted
Y_PRED[6, :2] = 0.5  # on the threshold 0.5: not above it
SW = RNG.uniform(0, 2, 30).astype("float32")
SW[7] = 0.0
UPDATES = ((0, 9), (9, 10), (10, 30))  # three updates, one of a single row

REG_TRUE = RNG.standard_normal((30, 3)).astype("float32")
REG_PRED = (REG_TRUE + 0.6 * RNG.standard_normal((30, 3))).astype("float32")

F_CASES = [(name, dict(kw, **extra)) for name, extra in (("F1Score", {}), ("FBetaScore", {"beta": 2.0}),
                                                         ("FBetaScore", {"beta": 0.5}))
           for kw in ({}, {"average": "micro"}, {"average": "macro"}, {"average": "weighted"},
                      {"threshold": 0.5}, {"average": "micro", "threshold": 0.3},
                      {"average": "macro", "threshold": 0.5}, {"average": "weighted", "threshold": 0.65})]
R2_CASES = [("R2Score", {"class_aggregation": agg, "num_regressors": p})
            for agg in (None, "uniform_average", "variance_weighted_average") for p in (0, 1, 7)]


def _both(name, kwargs, y_true, y_pred, sw=None, updates=UPDATES):
    ours, theirs = getattr(metrics, name)(**kwargs), getattr(tf_keras.metrics, name)(**kwargs)
    for lo, hi in updates:
        args = (y_true[lo:hi], y_pred[lo:hi], None if sw is None else sw[lo:hi])
        ours.update_state(*args)
        theirs.update_state(*args)
    return ours, theirs


def _check(got, want, rtol=1e-6):
    want = want.numpy()
    if want.ndim:
        assert isinstance(got, np.ndarray) and got.shape == want.shape
    else:
        assert isinstance(got, float)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-7)


@pytest.mark.parametrize("weighted", [False, True], ids=["plain", "weighted"])
@pytest.mark.parametrize("name, kwargs", F_CASES + R2_CASES,
                         ids=[f"{n}-{'-'.join(map(str, k.values())) or 'default'}" for n, k in F_CASES + R2_CASES])
def test_values_are_tf_keras(ops, name, kwargs, weighted):
    y_true, y_pred = (REG_TRUE, REG_PRED) if name == "R2Score" else (Y_TRUE, Y_PRED)
    ours, theirs = _both(name, kwargs, y_true, y_pred, SW if weighted else None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (90 values: no fallback warning here)
        _check(ours.result(), theirs.result())
    config = ours.get_config()
    assert config == theirs.get_config()
    assert type(ours).from_config(config).get_config() == config


def test_soft_labels_float64_and_one_class_as_tf_keras():
    """The arithmetic is tf.keras's for labels other than 0/1 too, in the metric's dtype."""
    soft = np.round(RNG.random((12, 3)), 1).astype("float32")
    pred = RNG.random((12, 3)).astype("float32")
    # (tf.keras's F-scores cannot give a float64 result: their beta ** 2 is a float32 tensor)
    for name, kwargs in (("F1Score", {}), ("F1Score", {"average": "weighted", "threshold": 0.4}),
                         ("FBetaScore", {"beta": 3.0, "average": "micro"}), ("R2Score", {"dtype": "float64"})):
        sw = SW[:12].astype(kwargs.get("dtype", "float32"))  # (tf.keras takes weights of the metric's dtype)
        ours, theirs = _both(name, kwargs, soft, pred, sw, ((0, 5), (5, 12)))
        _check(ours.result(), theirs.result())
    ours, theirs = _both("F1Score", {"threshold": 0.5}, Y_TRUE[:, :1], Y_PRED[:, :1], None)
    _check(ours.result(), theirs.result())  # one class: still an array of one score


def test_r2_weights_of_every_shape_and_constant_targets_as_tf_keras():
    y_true, y_pred = REG_TRUE[:10], REG_PRED[:10]
    for sw in (np.float32(0.5), SW[:10], SW[:10, None], RNG.uniform(0, 2, (10, 3)).astype("float32"),
               np.array([[1.0, 2.0, 0.5]], "float32")):
        ours, theirs = _both("R2Score", {"class_aggregation": None}, y_true, y_pred, None, ())
        ours.update_state(y_true, y_pred, sample_weight=sw)
        theirs.update_state(y_true, y_pred, sample_weight=sw)
        _check(ours.result(), theirs.result())
    # an output with constant targets scores 0 (1 - x/0 is infinite: tf.keras makes it 0), NaN when exact
    const = np.stack([np.ones(6), np.ones(6), np.arange(6)], axis=1).astype("float32")
    pred = const.copy()
    pred[:, 0] += 0.5
    ours, theirs = _both("R2Score", {"class_aggregation": None}, const, pred, None, ((0, 6),))
    got = ours.result()
    _check(got, theirs.result())
    assert got[0] == 0.0 and np.isnan(got[1]) and got[2] == 1.0
    assert np.isnan(R2Score()(const, pred))  # the NaN output makes the mean NaN, as in tf.keras


@pytest.mark.parametrize("p, message", [(29, "Division by zero"), (30, "More independent predictors"),
                                        (500, "More independent predictors")])
def test_adjusted_r2_falls_back_with_tf_keras_warning(p, message):
    """n counts the values (10 rows x 3 outputs = 30), as tf.keras's tf.size does."""
    ours, theirs = _both("R2Score", {"num_regressors": p}, REG_TRUE, REG_PRED, None, ((0, 10),))
    with pytest.warns(UserWarning, match=message):
        got = ours.result()
    with pytest.warns(UserWarning, match=message):
        want = theirs.result()
    _check(got, want)
    plain = R2Score()
    plain.update_state(REG_TRUE[:10], REG_PRED[:10])
    assert got == plain.result()
    ours = R2Score(num_regressors=28)  # n - p - 1 = 1: adjusted
    ours.update_state(REG_TRUE[:10], REG_PRED[:10])
    assert ours.result() == pytest.approx(1 - (1 - plain.result()) * 29, rel=1e-12)


def test_argument_errors_are_tf_keras():
    bad = [(FBetaScore, {"average": "samples"}), (FBetaScore, {"beta": 2}), (FBetaScore, {"beta": 0.0}),
           (FBetaScore, {"beta": -1.0}), (F1Score, {"threshold": 1}), (F1Score, {"threshold": 0.0}),
           (F1Score, {"threshold": 1.5}), (F1Score, {"average": "Macro"}), (R2Score, {"class_aggregation": "mean"}),
           (R2Score, {"num_regressors": -1})]
    for cls, kwargs in bad:
        with pytest.raises(ValueError) as ours:
            cls(**kwargs)
        with pytest.raises(ValueError) as theirs:
            getattr(tf_keras.metrics, cls.__name__)(**kwargs)
        assert str(ours.value) == str(theirs.value)
        assert "Received" in str(ours.value) and repr(list(kwargs.values())[0]).strip("'") in str(ours.value)
    for value in (1.5, None, True):  # tf.keras takes them, then fails in result()
        with pytest.raises(ValueError, match=rf"Expected an integer >= 0. Received: num_regressors={value}"):
            R2Score(num_regressors=value)


@pytest.mark.parametrize("make", [F1Score, R2Score], ids=["F1Score", "R2Score"])
def test_shape_errors_name_expected_and_received(make):
    name = make.__name__
    for y_true, y_pred in ((np.ones(4), np.ones((4, 1))), (np.ones((4, 2, 3)), np.ones((4, 2, 3)))):
        with pytest.raises(ValueError) as ours:
            make().update_state(y_true, y_pred)
        with pytest.raises(ValueError) as theirs:
            getattr(tf_keras.metrics, name)().update_state(y_true, y_pred)
        assert str(ours.value) == str(theirs.value).replace("FBetaScore", name)  # (tf.keras's F1Score says FBetaScore)
        assert "expects 2D inputs with shape (batch_size, output_dim)" in str(ours.value)
    # class indices against probabilities: tf.keras would broadcast them; refused here
    with pytest.raises(ValueError, match=r"same shape .* Received: y_pred.shape=\(4, 3\) and y_true.shape=\(4, 1\)"):
        make().update_state(np.ones((4, 1)), np.ones((4, 3)))
    m = make()
    m.update_state(np.ones((4, 3)), np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"built for output_dim=3 .* Received: y_pred.shape=\(2, 5\)"):
        m.update_state(np.ones((2, 5)), np.ones((2, 5)))
    bad = np.ones((4, 2)) if make is F1Score else np.ones((3,))
    expected = r"\(4,\) or \(4, 1\)" if make is F1Score else r"a scalar, \(4,\), \(4, 1\) or \(4, 3\)"
    with pytest.raises(ValueError, match=rf"{expected}.* Received: sample_weight.shape={re_shape(bad.shape)}"):
        m.update_state(np.ones((4, 3)), np.ones((4, 3)), sample_weight=bad)


def re_shape(shape):
    return str(tuple(shape)).replace("(", r"\(").replace(")", r"\)")


@pytest.mark.parametrize("make", [F1Score, lambda: FBetaScore(average="micro", beta=2.0), R2Score],
                         ids=["F1Score", "FBetaScore-micro", "R2Score"])
def test_state_is_add_weight_variables_built_at_the_first_update(ops, make):
    m = make()
    r2 = isinstance(m, R2Score)
    names = ["num_samples", "squared_sum", "sum", "residual", "count"] if r2 else [
        "true_positives", "false_positives", "false_negatives", "intermediate_weights"]
    assert m.result() == 0.0 and [v.name for v in getattr(m, "_variables", [])] == names[:1 if r2 else 0]
    y_true, y_pred = (REG_TRUE, REG_PRED) if r2 else (Y_TRUE, Y_PRED)
    m.update_state(y_true[:9], y_pred[:9], SW[:9])
    first = m.result()
    assert [v.name for v in m._variables] == names
    assert all(v.dtype == "float64" for v in m._variables)
    shape = () if getattr(m, "average", None) == "micro" else (4 if not r2 else 3,)
    assert all(v.shape == shape for v in m._variables[1 if r2 else 0:])
    m.update_state(y_true[9:], y_pred[9:], SW[9:])
    assert not np.array_equal(m.result(), first)
    m.reset_state()
    assert all(v.shape == (() if r2 and v.name == "num_samples" else shape) and not v.numpy().any()
               for v in m._variables)
    after = m.result()  # tf.keras's result of zero sums: 0 for F-scores, NaN (0/0) for R2
    assert np.isnan(after) if r2 else not np.any(after)
    m.update_state(y_true[:9], y_pred[:9], SW[:9])
    np.testing.assert_array_equal(m.result(), first)


def test_integer_weights_count_as_repeated_rows():
    w = RNG.integers(0, 4, 30)
    for make, y_true, y_pred in ((lambda: F1Score(average="weighted"), Y_TRUE, Y_PRED),
                                 (lambda: FBetaScore(beta=0.5, threshold=0.4), Y_TRUE, Y_PRED),
                                 (lambda: R2Score(class_aggregation="variance_weighted_average", num_regressors=2),
                                  REG_TRUE, REG_PRED)):
        weighted, repeated = make(), make()
        weighted.update_state(y_true, y_pred, sample_weight=w[:, None].astype("float32"))
        repeated.update_state(np.repeat(y_true, w, axis=0), np.repeat(y_pred, w, axis=0))
        if isinstance(weighted, R2Score):  # (but n, for the adjustment, counts the values given)
            weighted.num_samples.assign(repeated.num_samples)
        np.testing.assert_allclose(weighted.result(), repeated.result(), rtol=1e-12)


def test_distributed_ranks_sum_the_state():
    """gpunet.distribute sums every add_weight variable over the ranks (metric_sums.sum_variables)."""
    for make, y_true, y_pred in ((lambda: F1Score(average="macro"), Y_TRUE, Y_PRED),
                                 (lambda: FBetaScore(beta=2.0, average="micro"), Y_TRUE, Y_PRED),
                                 (lambda: R2Score(num_regressors=3), REG_TRUE, REG_PRED)):
        assert_two_ranks_sum_to_the_whole(make, y_true, y_pred, SW, 11)


EPOCH_METRICS = {
    "f1": F1Score, "f1-micro-0.5": lambda: F1Score(average="micro", threshold=0.5),
    "fbeta-weighted": lambda: FBetaScore(average="weighted", beta=2.0), "r2": R2Score,
    "r2-each-adjusted": lambda: R2Score(class_aggregation=None, num_regressors=2),
}


@pytest.mark.parametrize("chunk", [None, 200], ids=["one-pass", "in-chunks"])
@pytest.mark.parametrize("weighted", [False, True], ids=["plain", "weighted"])
@pytest.mark.parametrize("case", sorted(EPOCH_METRICS))
def test_an_epoch_at_once_counts_what_batch_by_batch_counts(ops, case, weighted, chunk, monkeypatch):
    """The fused plans hand over an epoch's outputs at once (update_batches): the state is then
    what updating batch by batch gives (the layer path, batch logs), bit for bit, also when a large
    epoch is taken a few whole batches at a time (``chunk``: float64 terms at once)."""
    if chunk:
        from gpunet.metrics import fscore
        monkeypatch.setattr(fscore, "_CHUNK", chunk)
    rng = np.random.default_rng(2)
    y_pred = rng.random((101, 3))
    y_true = (rng.random((101, 3)) > 0.5) * 1.0 if case[0] == "f" else y_pred + rng.standard_normal((101, 3))
    sw = rng.uniform(0.1, 2.0, 101) if weighted else None
    y_true, y_pred, sw = (None if a is None else ops.asarray(a) for a in (y_true, y_pred, sw))
    assert_epoch_at_once_equals_batchwise(ops, EPOCH_METRICS[case], y_true, y_pred, sw, (16, 101, 7, 200))


def test_names_strings_and_configs():
    assert (F1Score().name, FBetaScore().name, R2Score().name) == ("f1_score", "fbeta_score", "r2_score")
    for cls in (F1Score, FBetaScore, R2Score):
        m = metrics.get(cls.__name__)
        assert type(m) is cls and m.name == cls().name
        assert cls.__name__ in metrics.__all__ and cls.__name__ in metrics.VALID_NAMES
    f = FBetaScore(average="weighted", beta=0.5, threshold=0.3, name="fb", dtype="float64")
    config = {"name": "fb", "dtype": "float64", "average": "weighted", "beta": 0.5, "threshold": 0.3}
    assert f.get_config() == config and FBetaScore.from_config(config).get_config() == config
    assert metrics.serialize(f) == {"class_name": "FBetaScore", "config": config}
    assert F1Score(average="micro").get_config() == {"name": "f1_score", "dtype": "float32", "average": "micro",
                                                     "threshold": None}
    r = R2Score(class_aggregation=None, num_regressors=2, name="r2")
    again = metrics.deserialize(metrics.serialize(r))
    assert type(again) is R2Score and again.get_config() == r.get_config() == {
        "name": "r2", "dtype": "float32", "class_aggregation": None, "num_regressors": 2}
    # tf.keras 2's own serialized form, and Keras 3's (module and registered_name added)
    for config in (tf_keras.metrics.serialize(tf_keras.metrics.F1Score(average="macro", threshold=0.4)),
                   {"module": "keras.metrics", "class_name": "F1Score", "registered_name": None,
                    "config": {"name": "f1_score", "dtype": "float32", "average": "macro", "threshold": 0.4}}):
        m = metrics.get(config)
        assert type(m) is F1Score and (m.average, m.threshold, m.name) == ("macro", 0.4, "f1_score")
    with pytest.raises(ValueError, match="Invalid config for metric R2Score"):
        metrics.get({"class_name": "R2Score", "config": {"beta": 1.0}})


# ---- in compile / fit / evaluate -------------------------------------------------------------------
X = RNG.standard_normal((90, 4))
Y = np.eye(3)[(X[:, :3] + 0.7 * RNG.standard_normal((90, 3))).argmax(1)]
W = RNG.uniform(0.2, 2.0, 90)


def _compiled(metrics_, weighted_metrics=None):
    net = Sequential([Dense(6, input_dim=4, activation="tanh"), Dense(3, activation="softmax")])
    net.compile(optimizer=gpunet.optimizers.SGD(0.2), loss="categorical_crossentropy", metrics=metrics_,
                weighted_metrics=weighted_metrics)
    return net


def _build():
    return _compiled(["F1Score", F1Score(average="micro", threshold=0.4, name="f1_micro"),
                      FBetaScore(beta=2.0, average="weighted", name="f2"), "R2Score",
                      R2Score(class_aggregation=None, name="r2_each")],
                     [F1Score(average="macro", name="wf1"), R2Score(num_regressors=3, name="adj_r2")])


@pytest.mark.parametrize("weighted", [False, True], ids=["plain", "weighted"])
def test_fit_and_evaluate_report_them_on_every_path(emulator, weighted):
    runs = run_on_every_path(emulator, _build, X, Y, W if weighted else None, eval_weight=W)
    net, history, logs, predictions = runs["numpy-plan"]
    keys = ["f1_score", "f1_micro", "f2", "r2_score", "r2_each", "wf1", "adj_r2"]
    assert net.metrics_names == ["loss"] + keys
    assert set(history) == {"loss", *keys, "val_loss", *("val_" + k for k in keys)}
    for key in keys:  # per-class values stay arrays, as tf.keras logs them; the averages are floats
        each = key in ("f1_score", "r2_each")
        assert all(isinstance(v, np.ndarray) and v.shape == (3,) if each else isinstance(v, float)
                   for v in history[key] + history["val_" + key]), key
    assert len({float(v) for v in history["r2_score"]}) == 3  # it changes as the model learns
    # evaluate: tf.keras's metrics of the model's predictions (weighted_metrics with the weights)
    for key, name, kwargs, sw in (
            ("f1_score", "F1Score", {}, None), ("f1_micro", "F1Score", {"average": "micro", "threshold": 0.4}, None),
            ("f2", "FBetaScore", {"beta": 2.0, "average": "weighted"}, None), ("r2_score", "R2Score", {}, None),
            ("r2_each", "R2Score", {"class_aggregation": None}, None), ("wf1", "F1Score", {"average": "macro"}, W),
            ("adj_r2", "R2Score", {"num_regressors": 3}, W)):
        # (in float64 where tf.keras can: its F-scores and adjusted R2 compute in float32)
        dtype = "float64" if name == "R2Score" and "num_regressors" not in kwargs else "float32"
        want = getattr(tf_keras.metrics, name)(**kwargs, dtype=dtype)
        want.update_state(Y.astype(dtype), predictions.astype(dtype), None if sw is None else sw.astype(dtype))
        np.testing.assert_allclose(logs[key], want.result().numpy(), rtol=1e-10 if dtype == "float64" else 1e-6,
                                   atol=1e-7, err_msg=key)
    assert_paths_agree(runs)


def test_one_dimensional_regression_targets_in_fit(ops):
    """fit hands R2Score (batch, 1) targets for 1-D y, as tf.keras 2's compile_utils does."""
    net = Sequential([Dense(1, input_dim=4)])
    net.compile(optimizer="sgd", loss="mse", metrics=["R2Score"])
    y = X[:, 0] * 2 - X[:, 1]
    net.fit(X, y, epochs=2, verbose=0)
    logs = net.evaluate(X, y, verbose=0, return_dict=True)
    want = tf_keras.metrics.R2Score(dtype="float64")
    want.update_state(y[:, None], net.predict(X, verbose=0).astype("float64"))
    assert logs["r2_score"] == pytest.approx(float(want.result()), rel=1e-5)


@pytest.mark.parametrize("ext", [".h5", ".keras"])
def test_saved_models_keep_the_metrics(tmp_path, ext):
    net = _compiled(["F1Score", FBetaScore(beta=0.5, average="micro", threshold=0.3, name="f05")],
                    [R2Score(class_aggregation="variance_weighted_average", num_regressors=1, name="r2")])
    net.fit(X, Y, epochs=1, verbose=0)
    net.save(tmp_path / ("m" + ext))
    again = load_model(tmp_path / ("m" + ext))
    assert again.metrics_names == net.metrics_names == ["loss", "f1_score", "f05", "r2"]
    for a, b in zip(again.metrics, net.metrics):
        assert type(a) is type(b) and a.get_config() == b.get_config()
    got, want = again.evaluate(X, Y, sample_weight=W, verbose=0), net.evaluate(X, Y, sample_weight=W, verbose=0)
    assert len(got) == len(want) == 4 and got[1].shape == (3,)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


def test_one_unit_output_logs_its_one_per_class_score_as_a_float():
    """average=None on a one-unit output: one class, one value, logged as a float (the log's conversion of a
    one-value array failed on NumPy 2)."""
    rng = np.random.default_rng(4)
    x, y = rng.random((20, 3)), rng.integers(0, 2, (20, 1)).astype("float32")
    net = Sequential([Dense(1, input_dim=3, activation="sigmoid")])
    net.compile("sgd", "binary_crossentropy", metrics=[F1Score(threshold=0.5)])
    history = net.fit(x, y, epochs=1, verbose=0).history
    want = F1Score(threshold=0.5)
    want.update_state(y, net.predict(x, verbose=0))
    assert isinstance(history["f1_score"][0], float)
    assert net.evaluate(x, y, verbose=0, return_dict=True)["f1_score"] == pytest.approx(float(want.result()[0]))
